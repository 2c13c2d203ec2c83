// SpawnInit: starts a job's init program (init/main.cc) in fresh PID, mount, network, UTS and
// IPC namespaces, already inside the job's cgroups.
//
// The worker clones with CLONE_VM | CLONE_VFORK and the namespace flags: the child borrows the
// worker's memory on a stack of its own, so no page table is copied whatever the worker's size,
// and the calling thread waits until the child has exec'd. In between the child only makes raw
// system calls on data prepared before the clone: it writes "0" into every cgroup.procs of the
// job (joining each hierarchy itself, so not one instruction of the init or the job runs outside
// the limits, on v1, v2 and hybrid hosts alike), puts its fds in place and execs the init from
// the sealed memfd of LoadJobInit(). The init is a separate static program because a process
// that keeps running in a copy of the worker would pin a copy-on-write image of all of it, and
// would have inherited the state of libc's locks and thread list from a multi-threaded process.
//
// The init's fd contract (init_protocol.h): 0 /dev/null, 1 and 2 the output pipe, 3 the exec
// status, 4 the exit status and 5 the job's spec (none of these reaches the job); every other fd
// is closed.
#ifndef GATEHOUSE_JOBS_SPAWN_H_
#define GATEHOUSE_JOBS_SPAWN_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/unique_fd.h"
#include "jobs/init_protocol.h"

namespace gatehouse::jobs {

struct SpawnRequest {
  std::string executable;         // a path; a bare name is looked up in the PATH of `env`
  std::vector<std::string> args;  // argv[1..]; argv[0] is the executable as given
  std::vector<std::string> env;
  std::string working_dir = "/";
  std::string hostname;
  // The job's process drops to these (no supplementary groups); 0 keeps root, which the init
  // leaves without any capability all the same.
  uid_t uid = 0;
  gid_t gid = 0;
  int init_fd = -1;                   // borrowed: the init program, from LoadJobInit()
  std::vector<int> cgroup_procs_fds;  // borrowed: cgroup.procs of each of the job's hierarchies
  int output_fd = -1;                 // borrowed write end of the output pipe (stdout and stderr)
};

// A started init: it runs in the job's namespaces and cgroups.
struct SpawnedInit {
  pid_t pid = -1;              // in the worker's PID namespace
  base::UniqueFd pidfd;        // for reaping and signals without PID-reuse races
  base::UniqueFd exec_status;  // read end: EOF once the job has exec'd, else a SetupFailure
  base::UniqueFd exit_status;  // read end: the job's wait status (int) once it has ended
};

using init_protocol::SetupFailure;

// "exec /bin/nope: No such file or directory": the step's name, its argument and the errno text.
std::string DescribeSetupFailure(const SetupFailure& failure, const SpawnRequest& request);

// The search path a job's environment gives: its last PATH= entry, else
// "/usr/local/bin:/usr/bin:/bin".
std::string SearchPathOf(const std::vector<std::string>& env);

// Finds `name` in `path_list` (colon-separated) as an executable regular file, with the caller's
// rights: for the worker's own tools (benchmarks), never for a job's command, which its init
// looks up as the job's user. A name with a slash is returned as is. NotFound naming the name
// and the list.
absl::StatusOr<std::string> ResolveExecutable(const std::string& name,
                                              const std::string& path_list);

// Starts the init (see above) and returns once it has exec'd, or once it has failed to (then
// its exec status holds the SetupFailure). Errors: the clone failed (errno text), or a pipe
// could not be made.
absl::StatusOr<SpawnedInit> SpawnInit(const SpawnRequest& request);

// Sends `signal_number` through `pidfd` (borrowed). glibc 2.36's <sys/pidfd.h> lacks C
// linkage for C++, so this goes through syscall(2).
absl::Status SignalPidfd(int pidfd, int signal_number);

}  // namespace gatehouse::jobs

#endif  // GATEHOUSE_JOBS_SPAWN_H_
