// SpawnInit: starts a job's init process in fresh PID, mount, network, UTS and IPC namespaces
// with clone3(2), optionally straight into a cgroup2 directory (CLONE_INTO_CGROUP).
//
// The init is PID 1 of its namespace. It waits for the parent's go-ahead (so the parent can
// first place it in v1 cgroups: not one instruction of the job runs outside its limits), makes
// every mount private, mounts a fresh /proc, sets the hostname, brings `lo` up, sets
// no_new_privs, installs handlers that forward SIGTERM/SIGINT/SIGHUP/SIGQUIT/SIGUSR1/SIGUSR2 to
// the job, forks the job's process (which execs the command) and reaps every orphan. When the
// job's process ends, init reports its wait status and exits; the kernel then kills whatever is
// left in the namespace. Why an init rather than the job as PID 1: PID 1 ignores signals it has
// no handler for and must reap orphans, and a job should not have to know either.
//
// Between clone3 and execve only async-signal-safe system calls run: argv, envp, paths and fds
// are all prepared before the clone, in a PreparedSpawn.
//
// The child's fd contract: 0 /dev/null, 1 and 2 the output pipe, nothing else (every other fd
// is closed with close_range); the status pipes live on fds the job never sees.
#ifndef GATEHOUSE_JOBS_SPAWN_H_
#define GATEHOUSE_JOBS_SPAWN_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/unique_fd.h"

namespace gatehouse::jobs {

struct SpawnRequest {
  std::string executable;         // a path; a bare name is looked up in the PATH of `env`
  std::vector<std::string> args;  // argv[1..]; argv[0] is the executable as given
  std::vector<std::string> env;
  std::string working_dir = "/";
  std::string hostname;
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
  int cgroup_fd = -1;  // borrowed cgroup2 directory for CLONE_INTO_CGROUP; -1: none
  int output_fd = -1;  // borrowed write end of the output pipe (stdout and stderr)
};

// A started init, waiting for Release().
struct SpawnedInit {
  pid_t pid = -1;              // in the worker's PID namespace
  base::UniqueFd pidfd;        // for reaping and signals without PID-reuse races
  base::UniqueFd go;           // write end: Release() lets the init run
  base::UniqueFd exec_status;  // read end: EOF once the job has exec'd, else a SetupFailure
  base::UniqueFd exit_status;  // read end: the job's wait status (int) once it has ended
};

// Why the job did not start: the step and its errno. Written by the child, read by the parent.
struct SetupFailure {
  int step = 0;  // a SetupStep
  int error = 0;
};

enum SetupStep : int {
  kStepWaitGo = 1,
  kStepMountPrivate,
  kStepMountProc,
  kStepHostname,
  kStepLoopback,
  kStepNoNewPrivs,
  kStepSignals,
  kStepStdio,
  kStepForkJob,
  kStepGroups,
  kStepSetGid,
  kStepSetUid,
  kStepChdir,
  kStepExec,
};

// "exec /bin/nope: No such file or directory": the step's name, its argument and the errno text.
std::string DescribeSetupFailure(const SetupFailure& failure, const SpawnRequest& request);

// Finds `name` in `path_list` (colon-separated) as an executable regular file. A name with a
// slash is returned as is. NotFound naming the name and the list.
absl::StatusOr<std::string> ResolveExecutable(const std::string& name,
                                              const std::string& path_list);

// Clones the init (see above). The caller then places it in v1 cgroups if needed and calls
// Release(). Errors: the clone failed (errno text), or a pipe could not be made.
absl::StatusOr<SpawnedInit> SpawnInit(const SpawnRequest& request);

// Sends `signal_number` through `pidfd` (borrowed). glibc 2.36's <sys/pidfd.h> lacks C
// linkage for C++, so this goes through syscall(2).
absl::Status SignalPidfd(int pidfd, int signal_number);

// Lets the init go. After a failure the caller kills it through the pidfd.
absl::Status Release(SpawnedInit& init);

}  // namespace gatehouse::jobs

#endif  // GATEHOUSE_JOBS_SPAWN_H_
