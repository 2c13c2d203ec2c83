#include "job_bench_support.h"

#include <poll.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"
#include "jobs/cgroup.h"
#include "jobs/cgroup_layout.h"
#include "jobs/job.h"

namespace gatehouse::bench {

std::string WaitLimitText() {
  return absl::StrCat(std::chrono::duration_cast<std::chrono::seconds>(kWaitLimit).count(), " s");
}

absl::StatusOr<pid_t> SpawnWithJobEnvironment(const std::vector<std::string>& argv, int stdout_fd) {
  // exec's argument form: pointers into strings that outlive the call, then a null.
  const auto pointers = [](std::vector<std::string>& strings) {
    std::vector<char*> result;
    result.reserve(strings.size() + 1);
    for (std::string& string : strings) result.push_back(string.data());
    result.push_back(nullptr);
    return result;
  };
  std::vector<std::string> argument_strings = argv;
  std::vector<std::string> environment = jobs::JobSpec{}.env;
  std::vector<char*> args = pointers(argument_strings);
  std::vector<char*> env = pointers(environment);
  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  // dup2 onto 1 clears close-on-exec there: the child keeps only that copy of the fd.
  if (stdout_fd >= 0) ::posix_spawn_file_actions_adddup2(&actions, stdout_fd, STDOUT_FILENO);
  pid_t pid = -1;
  const int error = ::posix_spawn(&pid, args[0], &actions, nullptr, args.data(), env.data());
  ::posix_spawn_file_actions_destroy(&actions);
  if (error != 0) return absl::ErrnoToStatus(error, "posix_spawn " + argv[0]);
  return pid;
}

double NearestRank(const std::vector<double>& sorted, double percent) {
  const auto rank =
      static_cast<size_t>(std::ceil(percent / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

absl::StatusOr<uint64_t> StatusKiB(const std::string& key) {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind(key, 0) != 0) continue;
    uint64_t kib = 0;
    if (std::istringstream(line.substr(key.size())) >> kib) return kib;
  }
  return absl::NotFoundError("no " + key + " in /proc/self/status");
}

absl::Status ResetPeakRss() {
  std::ofstream clear_refs("/proc/self/clear_refs");
  clear_refs << "5";
  clear_refs.flush();
  if (!clear_refs) return absl::InternalError("cannot write 5 to /proc/self/clear_refs");
  return absl::OkStatus();
}

void ReadToEnd(const jobs::JobRunner& runner, const jobs::JobId& id, ReaderResult& result) {
  constexpr size_t kReadBufferBytes = size_t{256} << 10;
  auto reader = runner.OpenOutput(id);
  if (!reader.ok()) {
    result.status = reader.status();
    return;
  }
  std::vector<char> buffer(kReadBufferBytes);
  while (true) {
    absl::StatusOr<size_t> read = (*reader)->Read(absl::MakeSpan(buffer));
    if (!read.ok()) {
      result.status = read.status();
      return;
    }
    result.bytes += *read;
    if (*read > 0) continue;
    if ((*reader)->at_end()) break;
    if (!(*reader)->WaitReadable(Clock::now() + kWaitLimit)) {
      result.status = absl::DeadlineExceededError("no output for " + WaitLimitText());
      return;
    }
  }
  result.end = Clock::now();
}

absl::StatusOr<std::unique_ptr<ScratchDir>> ScratchDir::Create() {
  std::string path = "/var/tmp/gatehouse-bench-XXXXXX";
  if (::mkdtemp(path.data()) == nullptr) return absl::ErrnoToStatus(errno, "mkdtemp " + path);
  return std::unique_ptr<ScratchDir>(new ScratchDir(std::move(path)));
}

ScratchDir::~ScratchDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

absl::StatusOr<std::unique_ptr<BenchRunner>> BenchRunner::Create(const std::string& state_dir) {
  jobs::JobRunnerOptions options;
  options.state_dir = state_dir;
  options.cgroup_parent = absl::StrCat("gatehouse-bench-", ::getpid());
  options.stop_grace = std::chrono::seconds(1);
  std::string parent = options.cgroup_parent;
  GH_ASSIGN_OR_RETURN(std::unique_ptr<jobs::JobRunner> runner,
                      jobs::JobRunner::Create(std::move(options)));
  return std::unique_ptr<BenchRunner>(new BenchRunner(std::move(runner), std::move(parent)));
}

absl::Status BenchRunner::Close() {
  if (runner_ == nullptr) return absl::OkStatus();
  const jobs::CgroupLayout layout = runner_->layout();
  runner_.reset();
  return jobs::Cgroup::RemoveParent(layout, parent_);
}

absl::Status CheckExitedZero(const jobs::JobId& id, const jobs::JobStatus& status) {
  if (status.state != jobs::JobState::kExited || status.exit_code != 0) {
    return absl::InternalError(absl::StrCat("job ", id, " ended ", jobs::JobStateName(status.state),
                                            " ", status.exit_code.value_or(-1), " ", status.error));
  }
  return absl::OkStatus();
}

absl::Status ReapWithin(pid_t pid, const std::string& name) {
  const base::UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  absl::Status waited;
  if (!pidfd.is_valid()) {
    waited = absl::ErrnoToStatus(errno, "pidfd_open " + name);
  } else {
    pollfd exited{pidfd.get(), POLLIN, 0};
    int ready = 0;
    do {
      ready = ::poll(&exited, 1, kWaitLimitMs);
    } while (ready < 0 && errno == EINTR);
    if (ready < 0) waited = absl::ErrnoToStatus(errno, "poll the pidfd of " + name);
    if (ready == 0) {
      waited =
          absl::DeadlineExceededError(absl::StrCat(name, " did not exit within ", WaitLimitText()));
    }
  }
  // Whatever went wrong above, the child is killed and reaped: nothing is left behind.
  if (!waited.ok()) ::kill(pid, SIGKILL);
  int wait_status = 0;
  if (::waitpid(pid, &wait_status, 0) != pid) return absl::ErrnoToStatus(errno, "waitpid " + name);
  if (!waited.ok()) return waited;
  if (!WIFEXITED(wait_status) || WEXITSTATUS(wait_status) != 0) {
    return absl::InternalError(absl::StrCat(name, " ended with wait status ", wait_status));
  }
  return absl::OkStatus();
}

int ExitCode(std::string_view program, const absl::Status& status) {
  if (status.ok()) return 0;
  std::cerr << program << ": " << status << "\n";
  return 1;
}

int RunCatchingExceptions(std::string_view program, absl::FunctionRef<int()> run) {
  try {
    return run();
  } catch (const std::exception& error) {
    std::cerr << program << ": " << error.what() << "\n";
    return 1;
  }
}

}  // namespace gatehouse::bench
