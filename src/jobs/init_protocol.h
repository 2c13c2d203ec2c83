// The contract between the worker (spawn.cc) and the job's init program (init/main.cc): which
// fds the init starts with, how its spec fd carries the job, and how it reports a setup failure.
// The init is a separate static program, so this header is plain C++ with no library types.
#ifndef GATEHOUSE_JOBS_INIT_PROTOCOL_H_
#define GATEHOUSE_JOBS_INIT_PROTOCOL_H_

namespace gatehouse::jobs::init_protocol {

// The init starts with 0 /dev/null, 1 and 2 the output pipe, and these fds (the job gets 0, 1
// and 2 only):
// the exec status: end-of-file once the job's execve succeeded, else one SetupFailure;
constexpr int kExecStatusFd = 3;
// the job's wait status (an int) once the job's process has ended;
constexpr int kExitStatusFd = 4;
// the job's spec, a sealed memfd read from offset 0 (see Field below). It travels on an fd, not
// in argv, because any local user can read a process's argv in /proc/PID/cmdline, and the
// job's environment may hold secrets.
constexpr int kSpecFd = 5;
// The init closes every fd from here up.
constexpr int kFirstUnusedFd = 6;

// The spec: NUL-terminated strings, these fixed fields first, then the job's argc (decimal) job
// argv strings, then the job's environment entries to the end. No string may contain a NUL
// (the worker refuses such a job). The init's own argv is only its name, its environment empty.
enum Field : int {
  kFieldHostname = 0,
  kFieldUid,  // decimal
  kFieldGid,  // decimal
  kFieldWorkingDir,
  // What the job's process execs: a path, or a name without '/' that the init looks up in
  // kFieldSearchPath after it has become the job's user (so a job cannot learn through the
  // worker whether a file exists where only root may look).
  kFieldExecutable,
  kFieldSearchPath,  // directories separated by ':'; empty entries are skipped
  kFieldJobArgc,
  kFieldFirstJobArg,
};

// The soft open-file limit a job starts with (the worker's may be raised far above it for its
// own connections); the hard limit is left as it is.
constexpr unsigned long kJobOpenFileLimit = 1024;  // NOLINT(google-runtime-int): rlim_t

struct SetupFailure {
  int step = 0;  // a SetupStep
  int error = 0;
};

enum SetupStep : int {
  kStepJoinCgroup = 1,
  kStepStdio,
  kStepExecInit,
  kStepArguments,
  kStepMountPrivate,
  kStepMountProc,
  kStepHostname,
  kStepLoopback,
  kStepNoNewPrivs,
  kStepSignals,
  kStepForkJob,
  kStepGroups,
  kStepSetGid,
  kStepSetUid,
  kStepChdir,
  kStepExec,
  kStepSession,
  kStepCapabilities,
  kStepLimits,
  kStepParentDeath,
  kStepCgroupNamespace,
};

}  // namespace gatehouse::jobs::init_protocol

#endif  // GATEHOUSE_JOBS_INIT_PROTOCOL_H_
