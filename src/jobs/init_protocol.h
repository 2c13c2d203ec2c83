// The contract between the worker (spawn.cc) and the job's init program (init/main.cc): which
// fds the init starts with, how its argv carries the job, and how it reports a setup failure.
// The init is a separate static program, so this header is plain C++ with no library types.
#ifndef GATEHOUSE_JOBS_INIT_PROTOCOL_H_
#define GATEHOUSE_JOBS_INIT_PROTOCOL_H_

namespace gatehouse::jobs::init_protocol {

// The init starts with 0 /dev/null, 1 and 2 the output pipe, and these two pipes' write ends
// (the job gets 0, 1 and 2 only):
// the exec status: end-of-file once the job's execve succeeded, else one SetupFailure;
constexpr int kExecStatusFd = 3;
// the job's wait status (an int) once the job's process has ended.
constexpr int kExitStatusFd = 4;
// The init closes every fd from here up.
constexpr int kFirstUnusedFd = 5;

// argv of the init: these fixed positions, then the job's argc (decimal) job argv strings, a
// separator (any string; the init overwrites its slot with the argv terminator), and the job's
// environment entries up to the argv terminator. The init's own environment is empty.
enum Argument : int {
  kArgHostname = 1,
  kArgUid,  // decimal, or "" to keep root
  kArgGid,  // decimal, or "" to keep root
  kArgWorkingDir,
  kArgExecutable,  // the path the job's process execs
  kArgJobArgc,
  kArgFirstJobArg,
};

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
};

}  // namespace gatehouse::jobs::init_protocol

#endif  // GATEHOUSE_JOBS_INIT_PROTOCOL_H_
