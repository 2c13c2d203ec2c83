#include "jobs/spawn.h"

#include <fcntl.h>
#include <linux/sched.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace gatehouse::jobs {
namespace {

// The init's fds once it has arranged them (the job keeps only 0, 1 and 2).
constexpr int kExecStatusFd = 3;
constexpr int kExitStatusFd = 4;
constexpr int kGoFd = 5;
constexpr int kFirstFreeFd = 6;
// Where fds are moved before being put in place, so no dup2 target is still a source.
constexpr int kScratchFdFloor = 16;

constexpr int kForwardedSignals[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

// Everything the child needs, ready before the clone: it only reads this.
struct PreparedSpawn {
  std::string executable;
  std::vector<std::string> argv_storage;
  std::vector<std::string> env_storage;
  std::vector<char*> argv;
  std::vector<char*> envp;
  const SpawnRequest* request = nullptr;
  base::UniqueFd dev_null;
  base::UniqueFd go_read;
  base::UniqueFd exec_status_write;
  base::UniqueFd exit_status_write;
  // The stack the job's process runs on between the init's vfork-style clone and its exec.
  std::vector<char> job_stack;
};

constexpr size_t kJobStackBytes = size_t{64} * 1024;

// The job's pid, for the init's signal handlers.
volatile sig_atomic_t g_job_pid = 0;

void ForwardSignal(int signal_number) {
  if (g_job_pid > 0) ::kill(g_job_pid, signal_number);
}

// --- Child side: async-signal-safe system calls only from here to ChildMain's end. ---

[[noreturn]] void Fail(SetupStep step) {
  const SetupFailure failure{step, errno};
  // Best effort: if the parent is gone there is nobody to tell.
  (void)!::write(kExecStatusFd, &failure, sizeof(failure));
  ::_exit(127);
}

bool MoveFd(int& fd) {
  const int moved = ::fcntl(fd, F_DUPFD, kScratchFdFloor);
  if (moved < 0) return false;
  fd = moved;
  return true;
}

// 0 /dev/null, 1 and 2 the output, 3 exec status, 4 exit status, 5 go; everything else closed.
bool ArrangeFds(const PreparedSpawn& spawn) {
  int dev_null = spawn.dev_null.get();
  int output = spawn.request->output_fd;
  int exec_status = spawn.exec_status_write.get();
  int exit_status = spawn.exit_status_write.get();
  int go = spawn.go_read.get();
  if (!MoveFd(dev_null) || !MoveFd(output) || !MoveFd(exec_status) || !MoveFd(exit_status) ||
      !MoveFd(go)) {
    return false;
  }
  if (::dup2(dev_null, STDIN_FILENO) < 0 || ::dup2(output, STDOUT_FILENO) < 0 ||
      ::dup2(output, STDERR_FILENO) < 0 || ::dup2(exec_status, kExecStatusFd) < 0 ||
      ::dup2(exit_status, kExitStatusFd) < 0 || ::dup2(go, kGoFd) < 0) {
    return false;
  }
  // The status pipes must not reach the job: exec closes them there.
  if (::fcntl(kExecStatusFd, F_SETFD, FD_CLOEXEC) < 0 ||
      ::fcntl(kExitStatusFd, F_SETFD, FD_CLOEXEC) < 0) {
    return false;
  }
  return ::syscall(SYS_close_range, kFirstFreeFd, ~0U, 0) == 0;
}

bool WaitForGo() {
  char byte = 0;
  ssize_t n = 0;
  do {
    n = ::read(kGoFd, &byte, 1);
  } while (n < 0 && errno == EINTR);
  ::close(kGoFd);
  if (n == 1) return true;
  if (n == 0) errno = ECANCELED;  // the parent closed the pipe without letting us go
  return false;
}

bool BringLoopbackUp() {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  ifreq request{};
  request.ifr_name[0] = 'l';
  request.ifr_name[1] = 'o';
  bool ok = ::ioctl(fd, SIOCGIFFLAGS, &request) == 0;
  if (ok) {
    request.ifr_flags =
        static_cast<short>(request.ifr_flags | IFF_UP);  // NOLINT(google-runtime-int)
    ok = ::ioctl(fd, SIOCSIFFLAGS, &request) == 0;
  }
  const int saved = errno;
  ::close(fd);
  errno = saved;
  return ok;
}

bool InstallForwarders() {
  struct sigaction action {};
  action.sa_handler = ForwardSignal;
  sigemptyset(&action.sa_mask);
  for (const int signal_number : kForwardedSignals) {
    if (::sigaction(signal_number, &action, nullptr) != 0) return false;
  }
  return true;
}

[[noreturn]] void ExecJob(const PreparedSpawn& spawn) {
  // Default dispositions and an empty mask: the worker ignores SIGPIPE, the init forwards
  // signals, and neither must leak into the job.
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  for (int signal_number = 1; signal_number < NSIG; ++signal_number) {
    ::sigaction(signal_number, &default_action, nullptr);  // fails harmlessly for KILL/STOP
  }
  sigset_t empty;
  sigemptyset(&empty);
  ::sigprocmask(SIG_SETMASK, &empty, nullptr);  // NOLINT(concurrency-mt-unsafe): one thread
  const SpawnRequest& request = *spawn.request;
  // Raw system calls: glibc's setuid/setgid/setgroups broadcast to every thread it believes
  // the process has, and after a raw clone3 its thread list is the worker's: they would wait
  // forever on threads that do not exist here. This process has one thread, so the per-thread
  // kernel calls are the whole story.
  if (request.gid.has_value() || request.uid.has_value()) {
    if (::syscall(SYS_setgroups, 0, nullptr) != 0) Fail(kStepGroups);
  }
  if (request.gid.has_value() && ::syscall(SYS_setgid, *request.gid) != 0) Fail(kStepSetGid);
  if (request.uid.has_value() && ::syscall(SYS_setuid, *request.uid) != 0) Fail(kStepSetUid);
  if (::chdir(request.working_dir.c_str()) != 0) Fail(kStepChdir);
  ::execve(spawn.executable.c_str(), spawn.argv.data(), spawn.envp.data());
  Fail(kStepExec);
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define GATEHOUSE_JOBS_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define GATEHOUSE_JOBS_SANITIZED 1
#endif
#endif

// Starts the job's process from the init; returns its pid (-1 on failure, errno set).
pid_t StartJobProcess(const PreparedSpawn& spawn) {
#ifdef GATEHOUSE_JOBS_SANITIZED
  // The sanitizers object to the vfork-style path below: ThreadSanitizer intercepts clone() and,
  // in this raw copy of the worker, aborts; AddressSanitizer warns (into the job's output) about
  // the switch to the job's stack. Sanitized builds fork with a raw system call instead.
  const auto job = static_cast<pid_t>(::syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0));
  if (job == 0) ExecJob(spawn);
  return job;
#else
  auto entry = [](void* prepared) -> int { ExecJob(*static_cast<const PreparedSpawn*>(prepared)); };
  // vfork-style: the job's process shares this memory on its own stack until it execs, so no
  // page table is copied and no page is touched twice (about 1.5 ms per job start on the
  // development VM); the init waits meanwhile. glibc's clone() is a bare wrapper, where fork and
  // _Fork would tidy up thread state that, after a raw clone3, describes the worker's threads.
  char* stack_top = const_cast<char*>(spawn.job_stack.data()) + spawn.job_stack.size();
  return ::clone(entry, stack_top, CLONE_VM | CLONE_VFORK | SIGCHLD,
                 const_cast<PreparedSpawn*>(&spawn));
#endif
}

// PID 1: reaps every process of the namespace until the job's own process ends.
[[noreturn]] void ReapUntilJobEnds(pid_t job) {
  while (true) {
    int status = 0;
    const pid_t reaped = ::waitpid(-1, &status, 0);
    if (reaped == job) {
      (void)!::write(kExitStatusFd, &status, sizeof(status));
      ::_exit(0);
    }
    if (reaped < 0 && errno == ECHILD) ::_exit(0);
  }
}

[[noreturn]] void ChildMain(const PreparedSpawn& spawn) {
  // Nothing else is open yet to report through: an fd failure ends the init with 127, which
  // the parent reports.
  if (!ArrangeFds(spawn)) ::_exit(127);
  if (!WaitForGo()) Fail(kStepWaitGo);
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) Fail(kStepMountPrivate);
  if (::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
    Fail(kStepMountProc);
  }
  const std::string& hostname = spawn.request->hostname;
  if (::sethostname(hostname.data(), hostname.size()) != 0) Fail(kStepHostname);
  if (!BringLoopbackUp()) Fail(kStepLoopback);
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) Fail(kStepNoNewPrivs);
  // Signals stay blocked from here until the job's pid is known, so none is lost or sent to 0.
  sigset_t all;
  sigfillset(&all);
  // NOLINTNEXTLINE(concurrency-mt-unsafe): the init has one thread
  if (::sigprocmask(SIG_BLOCK, &all, nullptr) != 0 || !InstallForwarders()) Fail(kStepSignals);
  const pid_t job = StartJobProcess(spawn);
  if (job < 0) Fail(kStepForkJob);
  g_job_pid = job;
  ::close(kExecStatusFd);  // the parent sees EOF once the job's exec has closed its copy
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);  // NOLINT(concurrency-mt-unsafe): one thread
  ReapUntilJobEnds(job);
}

// --- Parent side. ---

absl::Status MakePipe(base::UniqueFd& read_end, base::UniqueFd& write_end) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return absl::ErrnoToStatus(errno, "pipe2 for a job");
  read_end.Reset(fds[0]);
  write_end.Reset(fds[1]);
  return absl::OkStatus();
}

absl::StatusOr<PreparedSpawn> Prepare(const SpawnRequest& request, SpawnedInit& init) {
  PreparedSpawn spawn;
  spawn.request = &request;
  std::string path_list = "/usr/local/bin:/usr/bin:/bin";
  for (const std::string& entry : request.env) {
    if (entry.rfind("PATH=", 0) == 0) path_list = entry.substr(5);
  }
  auto executable = ResolveExecutable(request.executable, path_list);
  if (!executable.ok()) return executable.status();
  spawn.executable = *std::move(executable);
  spawn.argv_storage.push_back(request.executable);
  spawn.argv_storage.insert(spawn.argv_storage.end(), request.args.begin(), request.args.end());
  spawn.env_storage = request.env;
  for (std::string& arg : spawn.argv_storage) spawn.argv.push_back(arg.data());
  spawn.argv.push_back(nullptr);
  for (std::string& entry : spawn.env_storage) spawn.envp.push_back(entry.data());
  spawn.envp.push_back(nullptr);
  spawn.job_stack.resize(kJobStackBytes);
  spawn.dev_null.Reset(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!spawn.dev_null.is_valid()) return absl::ErrnoToStatus(errno, "open /dev/null");
  if (absl::Status status = MakePipe(spawn.go_read, init.go); !status.ok()) return status;
  if (absl::Status status = MakePipe(init.exec_status, spawn.exec_status_write); !status.ok()) {
    return status;
  }
  if (absl::Status status = MakePipe(init.exit_status, spawn.exit_status_write); !status.ok()) {
    return status;
  }
  return spawn;
}

const char* StepName(int step) {
  switch (step) {
    case kStepWaitGo:
      return "wait for the worker";
    case kStepMountPrivate:
      return "make mounts private";
    case kStepMountProc:
      return "mount /proc";
    case kStepHostname:
      return "set hostname";
    case kStepLoopback:
      return "bring up lo";
    case kStepNoNewPrivs:
      return "set no_new_privs";
    case kStepSignals:
      return "install signal handlers";
    case kStepStdio:
      return "set up stdio";
    case kStepForkJob:
      return "fork the job";
    case kStepGroups:
      return "drop supplementary groups";
    case kStepSetGid:
      return "setgid";
    case kStepSetUid:
      return "setuid";
    case kStepChdir:
      return "chdir";
    case kStepExec:
      return "exec";
    default:
      return "set up the job";
  }
}

}  // namespace

std::string DescribeSetupFailure(const SetupFailure& failure, const SpawnRequest& request) {
  std::string what = StepName(failure.step);
  if (failure.step == kStepExec) absl::StrAppend(&what, " ", request.executable);
  if (failure.step == kStepChdir) absl::StrAppend(&what, " ", request.working_dir);
  char text[256];
  // GNU strerror_r: thread-safe, returns the message (in `text` or a static string).
  return absl::StrCat(what, ": ", ::strerror_r(failure.error, text, sizeof(text)));
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
  const PreparedSpawn& spawn = *prepared;
  int pidfd = -1;
  clone_args args{};
  args.flags =
      CLONE_PIDFD | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC;
  args.pidfd = reinterpret_cast<uintptr_t>(&pidfd);
  args.exit_signal = SIGCHLD;
  if (request.cgroup_fd >= 0) {
    args.flags |= CLONE_INTO_CGROUP;
    args.cgroup = static_cast<uint64_t>(request.cgroup_fd);
  }
  const long pid = ::syscall(SYS_clone3, &args, sizeof(args));  // NOLINT(google-runtime-int)
  if (pid == 0) ChildMain(spawn);
  if (pid < 0) return absl::ErrnoToStatus(errno, "clone3 of a job's init");
  init.pid = static_cast<pid_t>(pid);
  init.pidfd.Reset(pidfd);
  return init;
}

absl::Status SignalPidfd(int pidfd, int signal_number) {
  if (::syscall(SYS_pidfd_send_signal, pidfd, signal_number, nullptr, 0) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("signal ", signal_number, " via pidfd"));
  }
  return absl::OkStatus();
}

absl::Status Release(SpawnedInit& init) {
  const char go = 1;
  ssize_t n = 0;
  do {
    n = ::write(init.go.get(), &go, 1);
  } while (n < 0 && errno == EINTR);
  if (n != 1) return absl::ErrnoToStatus(errno, absl::StrCat("release job init ", init.pid));
  init.go.Reset();
  return absl::OkStatus();
}

}  // namespace gatehouse::jobs
