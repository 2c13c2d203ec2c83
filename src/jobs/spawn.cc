#include "jobs/spawn.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace gatehouse::jobs {

namespace protocol = init_protocol;

namespace {

// Where the child moves its fds before putting them in place, so no dup2 target is still a
// source.
constexpr int kScratchFdFloor = 16;
constexpr size_t kCloneStackBytes = size_t{16} * 1024;
constexpr int kNamespaces = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC;

// Everything the child reads, ready before the clone: plain values and pointers, so the child
// calls no library function, not even an inline one, to get at them.
struct ChildPlan {
  const int* cgroup_procs = nullptr;
  size_t cgroup_procs_count = 0;
  int dev_null = -1;
  int output = -1;
  int exec_status = -1;
  int exit_status = -1;
  int init = -1;
  int spec = -1;
  char* const* argv = nullptr;
  char* const* envp = nullptr;
};

struct PreparedSpawn {
  std::string argv0 = "gatehouse-init";
  std::vector<char*> argv;
  std::vector<char*> envp;  // empty: the job's environment travels in the spec
  base::UniqueFd spec;
  base::UniqueFd dev_null;
  base::UniqueFd exec_status_write;
  base::UniqueFd exit_status_write;
  std::vector<char> stack;
};

// --- Child side: it shares the worker's memory while the calling thread waits in clone(). Raw
// system calls only, and no sanitizer hook (their bookkeeping belongs to the waiting thread). ---

#define GATEHOUSE_CHILD_CODE __attribute__((no_sanitize("address", "thread", "undefined")))

// Reports `step` with the failed call's errno, or with EIO when `has_errno` is false (a call that
// failed without setting one), and exits.
[[noreturn]] GATEHOUSE_CHILD_CODE void ChildFail(int report_fd, int step, bool has_errno = true) {
  const protocol::SetupFailure failure{step, has_errno ? errno : EIO};
  // Best effort: if the worker is gone there is nobody to tell.
  ::syscall(SYS_write, report_fd, &failure, sizeof(failure));
  ::syscall(SYS_exit_group, 127);
  __builtin_unreachable();
}

// The duplicate, at kScratchFdFloor or above, of `fd`; -1 on failure.
GATEHOUSE_CHILD_CODE int ToScratch(int fd) {
  return static_cast<int>(::syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, kScratchFdFloor));
}

// dup2 clears close-on-exec on the copy: these are the fds the init starts with.
GATEHOUSE_CHILD_CODE bool PutInPlace(int from, int to) {
  return ::syscall(SYS_dup3, from, to, 0) == to;
}

GATEHOUSE_CHILD_CODE int EnterInit(void* data) {
  const ChildPlan& plan = *static_cast<const ChildPlan*>(data);
  for (size_t i = 0; i < plan.cgroup_procs_count; ++i) {
    // "0" is the writer itself: every process of the job descends from here.
    const long written = ::syscall(SYS_write, plan.cgroup_procs[i], "0", 1);  // NOLINT
    if (written != 1) ChildFail(plan.exec_status, protocol::kStepJoinCgroup, written < 0);
  }
  const int dev_null = ToScratch(plan.dev_null);
  const int output = ToScratch(plan.output);
  const int exec_status = ToScratch(plan.exec_status);
  const int exit_status = ToScratch(plan.exit_status);
  const int init = ToScratch(plan.init);
  const int spec = ToScratch(plan.spec);
  if (dev_null < 0 || output < 0 || exec_status < 0 || exit_status < 0 || init < 0 || spec < 0) {
    ChildFail(plan.exec_status, protocol::kStepStdio);
  }
  if (!PutInPlace(dev_null, STDIN_FILENO) || !PutInPlace(output, STDOUT_FILENO) ||
      !PutInPlace(output, STDERR_FILENO) || !PutInPlace(exec_status, protocol::kExecStatusFd) ||
      !PutInPlace(exit_status, protocol::kExitStatusFd) || !PutInPlace(spec, protocol::kSpecFd)) {
    ChildFail(exec_status, protocol::kStepStdio);
  }
  ::syscall(SYS_execveat, init, "", plan.argv, plan.envp, AT_EMPTY_PATH);
  ChildFail(protocol::kExecStatusFd, protocol::kStepExecInit);
}

#undef GATEHOUSE_CHILD_CODE

// --- Parent side. ---

#if defined(__SANITIZE_THREAD__)
#define GATEHOUSE_JOBS_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GATEHOUSE_JOBS_TSAN 1
#endif
#endif

using CloneFunction = int (*)(int (*)(void*), void*, int, void*, ...);

// glibc's clone(). ThreadSanitizer replaces clone() with a wrapper that treats every child as a
// fork of the calling thread and aborts on this shared-memory one, so a ThreadSanitizer build
// calls the C library's own function past the wrapper (the child runs no instrumented code).
CloneFunction LibcClone() {
#ifdef GATEHOUSE_JOBS_TSAN
  static const auto kLibcClone = reinterpret_cast<CloneFunction>(::dlsym(RTLD_NEXT, "clone"));
  return kLibcClone;
#else
  return ::clone;
#endif
}

absl::Status MakePipe(base::UniqueFd& read_end, base::UniqueFd& write_end) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return absl::ErrnoToStatus(errno, "pipe2 for a job");
  read_end.Reset(fds[0]);
  write_end.Reset(fds[1]);
  return absl::OkStatus();
}

// The spec as init_protocol.h lays it out: NUL-terminated fields, then the job's argv and env.
std::string SpecOf(const SpawnRequest& request) {
  std::string spec;
  const auto add = [&spec](absl::string_view field) {
    spec.append(field.data(), field.size());
    spec.push_back('\0');
  };
  add(request.hostname);
  add(absl::StrCat(request.uid));
  add(absl::StrCat(request.gid));
  add(request.working_dir);
  add(request.executable);
  add(SearchPathOf(request.env));
  add(absl::StrCat(request.args.size() + 1));
  add(request.executable);
  for (const std::string& arg : request.args) add(arg);
  for (const std::string& entry : request.env) add(entry);
  return spec;
}

// A sealed memfd holding `contents`: the init reads it from offset 0 and nothing can change it.
absl::StatusOr<base::UniqueFd> SealedMemfd(const std::string& contents) {
  base::UniqueFd fd(::memfd_create("gatehouse-job-spec", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd.is_valid()) return absl::ErrnoToStatus(errno, "memfd_create for a job's spec");
  size_t written = 0;
  while (written < contents.size()) {
    const ssize_t n = ::write(fd.get(), contents.data() + written, contents.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return absl::ErrnoToStatus(errno, "write a job's spec");
    written += static_cast<size_t>(n);
  }
  if (::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) !=
      0) {
    return absl::ErrnoToStatus(errno, "seal a job's spec");
  }
  return fd;
}

absl::StatusOr<PreparedSpawn> Prepare(const SpawnRequest& request, SpawnedInit& init) {
  if (request.init_fd < 0 || request.output_fd < 0) {
    return absl::InvalidArgumentError("a spawn needs the init program's and the output's fds");
  }
  if (request.executable.empty()) {
    return absl::InvalidArgumentError("the job's executable is empty");
  }
  PreparedSpawn spawn;
  auto spec = SealedMemfd(SpecOf(request));
  if (!spec.ok()) return spec.status();
  spawn.spec = *std::move(spec);
  spawn.argv.push_back(spawn.argv0.data());
  spawn.argv.push_back(nullptr);
  spawn.envp.push_back(nullptr);
  spawn.stack.resize(kCloneStackBytes);
  spawn.dev_null.Reset(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!spawn.dev_null.is_valid()) return absl::ErrnoToStatus(errno, "open /dev/null");
  if (absl::Status status = MakePipe(init.exec_status, spawn.exec_status_write); !status.ok()) {
    return status;
  }
  if (absl::Status status = MakePipe(init.exit_status, spawn.exit_status_write); !status.ok()) {
    return status;
  }
  return spawn;
}

// Pointers into `spawn` and `request`, which outlive the clone.
ChildPlan MakePlan(const SpawnRequest& request, const PreparedSpawn& spawn) {
  ChildPlan plan;
  plan.cgroup_procs = request.cgroup_procs_fds.data();
  plan.cgroup_procs_count = request.cgroup_procs_fds.size();
  plan.dev_null = spawn.dev_null.get();
  plan.output = request.output_fd;
  plan.exec_status = spawn.exec_status_write.get();
  plan.exit_status = spawn.exit_status_write.get();
  plan.init = request.init_fd;
  plan.spec = spawn.spec.get();
  plan.argv = spawn.argv.data();
  plan.envp = spawn.envp.data();
  return plan;
}

const char* StepName(int step) {
  switch (step) {
    case protocol::kStepJoinCgroup:
      return "join the job's cgroups";
    case protocol::kStepStdio:
      return "set up stdio";
    case protocol::kStepExecInit:
      return "start the job's init";
    case protocol::kStepArguments:
      return "read the job's spec";
    case protocol::kStepMountPrivate:
      return "make mounts private";
    case protocol::kStepMountProc:
      return "mount /proc";
    case protocol::kStepHostname:
      return "set hostname";
    case protocol::kStepLoopback:
      return "bring up lo";
    case protocol::kStepNoNewPrivs:
      return "set no_new_privs";
    case protocol::kStepSignals:
      return "install signal handlers";
    case protocol::kStepForkJob:
      return "fork the job";
    case protocol::kStepGroups:
      return "drop supplementary groups";
    case protocol::kStepSetGid:
      return "setgid";
    case protocol::kStepSetUid:
      return "setuid";
    case protocol::kStepChdir:
      return "chdir";
    case protocol::kStepExec:
      return "exec";
    case protocol::kStepSession:
      return "start a session";
    case protocol::kStepCapabilities:
      return "drop capabilities";
    case protocol::kStepLimits:
      return "reset resource limits";
    case protocol::kStepParentDeath:
      return "set the parent-death signal";
    case protocol::kStepCgroupNamespace:
      return "enter a cgroup namespace";
    default:
      return "set up the job";
  }
}

}  // namespace

std::string DescribeSetupFailure(const SetupFailure& failure, const SpawnRequest& request) {
  std::string what = StepName(failure.step);
  if (failure.step == protocol::kStepExec) {
    absl::StrAppend(&what, " ", request.executable);
    // Looked up by the init as the job's user (init_protocol.h, kFieldSearchPath).
    if (failure.error == ENOENT && request.executable.find('/') == std::string::npos) {
      return absl::StrCat(what, ": not found in PATH \"", SearchPathOf(request.env), "\"");
    }
  }
  if (failure.step == protocol::kStepChdir) absl::StrAppend(&what, " ", request.working_dir);
  char text[256];
  // GNU strerror_r: thread-safe, returns the message (in `text` or a static string).
  return absl::StrCat(what, ": ", ::strerror_r(failure.error, text, sizeof(text)));
}

std::string SearchPathOf(const std::vector<std::string>& env) {
  std::string path = "/usr/local/bin:/usr/bin:/bin";
  for (const std::string& entry : env) {
    if (entry.rfind("PATH=", 0) == 0) path = entry.substr(5);
  }
  return path;
}

absl::StatusOr<std::string> ResolveExecutable(const std::string& name,
                                              const std::string& path_list) {
  if (name.empty()) return absl::InvalidArgumentError("the job's executable is empty");
  if (name.find('/') != std::string::npos) return name;
  for (const absl::string_view directory : absl::StrSplit(path_list, ':', absl::SkipEmpty())) {
    std::string candidate = absl::StrCat(directory, "/", name);
    struct stat info {};
    if (::stat(candidate.c_str(), &info) == 0 && S_ISREG(info.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return absl::NotFoundError(
      absl::StrCat("exec ", name, ": not found in PATH \"", path_list, "\""));
}

absl::StatusOr<SpawnedInit> SpawnInit(const SpawnRequest& request) {
  SpawnedInit init;
  auto prepared = Prepare(request, init);
  if (!prepared.ok()) return prepared.status();
  PreparedSpawn& spawn = *prepared;
  ChildPlan plan = MakePlan(request, spawn);
  const CloneFunction clone_function = LibcClone();
  if (clone_function == nullptr) return absl::InternalError("no clone() found in the C library");
  // No handler of the worker's may run in the child, which shares its memory: every signal is
  // blocked across the clone, and the init unblocks them once its own handlers are in place.
  sigset_t all;
  sigset_t previous;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &previous);
  int pidfd = -1;
  const pid_t pid =
      clone_function(EnterInit, spawn.stack.data() + spawn.stack.size(),
                     CLONE_VM | CLONE_VFORK | CLONE_PIDFD | kNamespaces | SIGCHLD, &plan, &pidfd);
  const int clone_error = errno;
  ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  if (pid < 0) return absl::ErrnoToStatus(clone_error, "clone of a job's init");
  init.pid = pid;
  init.pidfd.Reset(pidfd);
  return init;
}

absl::Status SignalPidfd(int pidfd, int signal_number) {
  if (::syscall(SYS_pidfd_send_signal, pidfd, signal_number, nullptr, 0) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("signal ", signal_number, " via pidfd"));
  }
  return absl::OkStatus();
}

}  // namespace gatehouse::jobs
