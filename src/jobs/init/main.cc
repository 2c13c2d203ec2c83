// gatehouse-init: PID 1 of every job's namespaces. The worker starts it vfork-style already in
// the job's namespaces and cgroups (see spawn.h) and it never sees a file of its own: the
// library carries it and executes it from a sealed memfd.
//
// It reads the job's spec from its fd, makes every mount private, mounts a fresh /proc, enters a
// cgroup namespace and hides /sys/fs/cgroup, sets the hostname, brings `lo` up, sets
// no_new_privs, forwards SIGTERM/SIGINT/SIGHUP/SIGQUIT/SIGUSR1/SIGUSR2 to the job, starts the
// job's process (which starts a session, resets its open-file limit, empties its capability
// bounding and ambient sets, drops to the job's uid/gid, asks for SIGKILL should the init die,
// changes directory and execs the command) and reaps every orphan. When the job's process ends it
// reports the wait status and exits; the kernel then kills whatever is left in the namespace. Why
// an init rather than the job as PID 1: PID 1 ignores signals it has no handler for and must reap
// orphans, and a job should not have to know either.
//
// A static musl program with its own memory: it holds no copy-on-write image of the worker,
// whatever the worker's size, and it may use libc freely (one thread, no inherited locks). It is
// C++ without the C++ library (musl has none): C headers, no exceptions. The fds it starts with
// and the spec it reads are described in init_protocol.h.
#include <errno.h>  // NOLINT(modernize-deprecated-headers): musl has no C++ library
#include <fcntl.h>
#include <grp.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>  // NOLINT(modernize-deprecated-headers)
#include <stdlib.h>  // NOLINT(modernize-deprecated-headers)
#include <string.h>  // NOLINT(modernize-deprecated-headers)
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jobs/init_protocol.h"

namespace {

using gatehouse::jobs::init_protocol::SetupFailure;
using gatehouse::jobs::init_protocol::SetupStep;
namespace protocol = gatehouse::jobs::init_protocol;

constexpr int kForwardedSignals[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
constexpr size_t kJobStackBytes = size_t{64} * 1024;

struct Job {
  const char* hostname = nullptr;
  uid_t uid = 0;
  gid_t gid = 0;
  const char* working_dir = nullptr;
  const char* executable = nullptr;
  const char* search_path = nullptr;
  char** argv = nullptr;
  char** envp = nullptr;
};

// The job's pid, for the signal handlers.
volatile sig_atomic_t g_job_pid = 0;

// The stack the job's process runs on between the vfork-style clone and its exec.
alignas(16) char g_job_stack[kJobStackBytes];

void ForwardSignal(int signal_number) {
  const int saved = errno;
  if (g_job_pid > 0) ::kill(g_job_pid, signal_number);
  errno = saved;
}

[[noreturn]] void Fail(SetupStep step) {
  const SetupFailure failure{step, errno};
  // Best effort: if the worker is gone there is nobody to tell.
  (void)!::write(protocol::kExecStatusFd, &failure, sizeof(failure));
  ::_exit(127);
}

// A decimal id. False for anything else.
bool ParseId(const char* text, unsigned int& id) {
  char* end = nullptr;
  errno = 0;
  const unsigned long value = ::strtoul(text, &end, 10);  // NOLINT(google-runtime-int)
  if (errno != 0 || text[0] == '\0' || *end != '\0' || text[0] == '-' || value > 0xfffffffeUL) {
    return false;
  }
  id = static_cast<unsigned int>(value);
  return true;
}

// Reads the spec (init_protocol.h) from its fd into memory of its own and splits it into
// strings: `fields` gets a null-terminated array of them. False if it cannot be read or does not
// end with a NUL.
bool ReadSpec(char**& fields, int& count) {
  struct stat info {};
  if (::fstat(protocol::kSpecFd, &info) != 0 || info.st_size <= 0) return false;
  const auto size = static_cast<size_t>(info.st_size);
  auto* bytes = static_cast<char*>(::malloc(size));
  if (bytes == nullptr) return false;
  size_t done = 0;
  while (done < size) {
    const ssize_t n =
        ::pread(protocol::kSpecFd, bytes + done, size - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  ::close(protocol::kSpecFd);
  if (bytes[size - 1] != '\0') return false;
  count = 0;
  for (size_t i = 0; i < size; ++i) count += bytes[i] == '\0' ? 1 : 0;
  fields = static_cast<char**>(::calloc(static_cast<size_t>(count) + 1, sizeof(char*)));
  if (fields == nullptr) return false;
  char* next = bytes;
  for (int i = 0; i < count; ++i) {
    fields[i] = next;
    next += ::strlen(next) + 1;
  }
  return true;
}

bool ParseSpec(Job& job) {
  char** fields = nullptr;
  int count = 0;
  if (!ReadSpec(fields, count) || count <= protocol::kFieldFirstJobArg) return false;
  job.hostname = fields[protocol::kFieldHostname];
  if (!ParseId(fields[protocol::kFieldUid], job.uid) ||
      !ParseId(fields[protocol::kFieldGid], job.gid)) {
    return false;
  }
  job.working_dir = fields[protocol::kFieldWorkingDir];
  job.executable = fields[protocol::kFieldExecutable];
  job.search_path = fields[protocol::kFieldSearchPath];
  char* end = nullptr;
  errno = 0;
  const long job_argc = ::strtol(fields[protocol::kFieldJobArgc], &end, 10);  // NOLINT
  if (errno != 0 || *end != '\0' || job_argc < 1 ||
      job_argc > count - protocol::kFieldFirstJobArg) {
    return false;
  }
  const int first_env = protocol::kFieldFirstJobArg + static_cast<int>(job_argc);
  // The job's argv and envp both need a terminator: the argv's is a copy of the pointers up to
  // it; envp runs to the end of `fields`, which calloc terminated.
  auto** argv = static_cast<char**>(::calloc(static_cast<size_t>(job_argc) + 1, sizeof(char*)));
  if (argv == nullptr) return false;
  for (long i = 0; i < job_argc; ++i) argv[i] = fields[protocol::kFieldFirstJobArg + i];  // NOLINT
  job.argv = argv;
  job.envp = fields + first_env;
  return true;
}

// The worker's vfork-style child put 0-5 in place with close-on-exec cleared; the status pipes
// and the spec must not reach the job, and nothing else the worker had open may reach the init.
bool TidyFds() {
  return ::fcntl(protocol::kExecStatusFd, F_SETFD, FD_CLOEXEC) == 0 &&
         ::fcntl(protocol::kExitStatusFd, F_SETFD, FD_CLOEXEC) == 0 &&
         ::fcntl(protocol::kSpecFd, F_SETFD, FD_CLOEXEC) == 0 &&
         ::syscall(SYS_close_range, protocol::kFirstUnusedFd, ~0U, 0) == 0;
}

// Empties the capability bounding set and the ambient set: nothing the job execs, even as root
// or through a file with capabilities, gains one.
bool DropCapabilities() {
  for (int capability = 0; ::prctl(PR_CAPBSET_READ, capability, 0, 0, 0) >= 0; ++capability) {
    if (::prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0) return false;
  }
  return ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) == 0;
}

// The worker may have raised its own open-file limit far past what a job should start with.
bool ResetLimits() {
  struct rlimit files {};
  if (::getrlimit(RLIMIT_NOFILE, &files) != 0) return false;
  if (files.rlim_cur <= protocol::kJobOpenFileLimit) return true;
  files.rlim_cur = protocol::kJobOpenFileLimit;
  return ::setrlimit(RLIMIT_NOFILE, &files) == 0;
}

// A cgroup namespace rooted at the job's own cgroup (the init is in it already), and an empty,
// read-only tmpfs over /sys/fs/cgroup in the job's mount namespace: the job sees neither the
// host's cgroup tree nor any other job's.
bool IsolateCgroups() {
  if (::unshare(CLONE_NEWCGROUP) != 0) return false;
  if (::mount("none", "/sys/fs/cgroup", "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
              "size=4k,mode=0555") != 0) {
    return errno == ENOENT;  // a host without that mount point has no tree there to hide
  }
  return true;
}

bool BringLoopbackUp() {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  ifreq request{};
  ::strncpy(request.ifr_name, "lo", sizeof(request.ifr_name) - 1);
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

// Execs the job's executable, looking a name without '/' up in its search path as execvp does:
// a directory where it is missing is skipped, EACCES is reported if no directory had it
// executable, any other error at once. Returns only on failure, with errno set.
void ExecSearching(const Job& job) {
  if (::strchr(job.executable, '/') != nullptr) {
    ::execve(job.executable, job.argv, job.envp);
    return;
  }
  const size_t name_length = ::strlen(job.executable);
  int error = ENOENT;
  char candidate[4096];
  for (const char* directory = job.search_path;; ++directory) {
    const char* end = ::strchrnul(directory, ':');
    const auto length = static_cast<size_t>(end - directory);
    if (length > 0 && length + 1 + name_length < sizeof(candidate)) {
      ::memcpy(candidate, directory, length);
      candidate[length] = '/';
      ::memcpy(candidate + length + 1, job.executable, name_length + 1);
      ::execve(candidate, job.argv, job.envp);
      if (errno == EACCES) {
        error = EACCES;
      } else if (errno != ENOENT && errno != ENOTDIR) {
        return;
      }
    }
    if (*end == '\0') break;
    directory = end;
  }
  errno = error;
}

// The job's process, on its own stack in the init's memory until it execs.
[[noreturn]] void ExecJob(const Job& job) {
  // Default dispositions and an empty mask: the worker ignores SIGPIPE (exec keeps ignored
  // signals ignored), the init forwards signals, and neither must leak into the job.
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  // Fails harmlessly for KILL and STOP, and for the real-time signals libc reserves (32-34 in
  // musl): those are never ignored by the worker, whose libc handles them, so exec has already
  // reset them to the default.
  for (int signal_number = 1; signal_number < NSIG; ++signal_number) {
    ::sigaction(signal_number, &default_action, nullptr);
  }
  sigset_t empty;
  sigemptyset(&empty);
  ::sigprocmask(SIG_SETMASK, &empty, nullptr);  // NOLINT(concurrency-mt-unsafe): one thread
  // A session of its own: no controlling terminal, so no TIOCSTI into an operator's.
  if (::setsid() < 0) Fail(protocol::kStepSession);
  if (!ResetLimits()) Fail(protocol::kStepLimits);
  if (!DropCapabilities()) Fail(protocol::kStepCapabilities);
  if (::setgroups(0, nullptr) != 0) Fail(protocol::kStepGroups);
  if (::setgid(job.gid) != 0) Fail(protocol::kStepSetGid);
  if (::setuid(job.uid) != 0) Fail(protocol::kStepSetUid);
  // After the ids change, which clears it. The init is the parent; were it gone already, the
  // kernel would have killed the namespace, this process included.
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) Fail(protocol::kStepParentDeath);
  if (::chdir(job.working_dir) != 0) Fail(protocol::kStepChdir);
  ExecSearching(job);
  Fail(protocol::kStepExec);
}

// vfork-style: the job's process shares this memory until it execs, so no page table is copied
// and the init waits meanwhile, which also means a failed exec has been reported on return.
pid_t StartJobProcess(Job& job) {
  auto entry = [](void* job_data) -> int { ExecJob(*static_cast<const Job*>(job_data)); };
  return ::clone(entry, g_job_stack + sizeof(g_job_stack), CLONE_VM | CLONE_VFORK | SIGCHLD, &job);
}

// PID 1: reaps every process of the namespace until the job's own process ends.
[[noreturn]] void ReapUntilJobEnds(pid_t job) {
  while (true) {
    int status = 0;
    const pid_t reaped = ::waitpid(-1, &status, 0);
    if (reaped == job) {
      g_job_pid = 0;  // its pid may be reused from here on
      (void)!::write(protocol::kExitStatusFd, &status, sizeof(status));
      ::_exit(0);
    }
    if (reaped < 0 && errno == ECHILD) ::_exit(0);
  }
}

}  // namespace

int main() {
  // Every signal stays blocked until the job's pid is known, so none is lost or forwarded to
  // nobody. (The worker blocked them around the clone already; this does not depend on it.)
  sigset_t all;
  sigfillset(&all);
  ::sigprocmask(SIG_BLOCK, &all, nullptr);  // NOLINT(concurrency-mt-unsafe): one thread
  // An ignored SIGCHLD survives exec and would make the kernel reap the job behind our back.
  ::signal(SIGCHLD, SIG_DFL);
  ::prctl(PR_SET_NAME, "gatehouse-init", 0, 0, 0);
  if (!TidyFds()) Fail(protocol::kStepStdio);
  Job job;
  if (!ParseSpec(job)) {
    errno = EINVAL;
    Fail(protocol::kStepArguments);
  }
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    Fail(protocol::kStepMountPrivate);
  }
  if (::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
    Fail(protocol::kStepMountProc);
  }
  if (!IsolateCgroups()) Fail(protocol::kStepCgroupNamespace);
  if (::sethostname(job.hostname, ::strlen(job.hostname)) != 0) Fail(protocol::kStepHostname);
  if (!BringLoopbackUp()) Fail(protocol::kStepLoopback);
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) Fail(protocol::kStepNoNewPrivs);
  if (!InstallForwarders()) Fail(protocol::kStepSignals);
  const pid_t job_pid = StartJobProcess(job);
  if (job_pid < 0) Fail(protocol::kStepForkJob);
  g_job_pid = job_pid;
  ::close(protocol::kExecStatusFd);  // the worker sees EOF: the job's exec closed its copy
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);  // NOLINT(concurrency-mt-unsafe): one thread
  ReapUntilJobEnds(job_pid);
}
