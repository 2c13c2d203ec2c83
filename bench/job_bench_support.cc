#include "job_bench_support.h"

#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <iostream>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"
#include "jobs/cgroup.h"
#include "jobs/cgroup_layout.h"

namespace gatehouse::bench {

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
  if (!pidfd.is_valid()) return absl::ErrnoToStatus(errno, "pidfd_open " + name);
  pollfd exited{pidfd.get(), POLLIN, 0};
  const int ready = ::poll(&exited, 1, static_cast<int>(kWaitLimit / std::chrono::milliseconds(1)));
  if (ready <= 0) ::kill(pid, SIGKILL);
  int wait_status = 0;
  if (::waitpid(pid, &wait_status, 0) != pid) return absl::ErrnoToStatus(errno, "waitpid " + name);
  if (ready <= 0) return absl::DeadlineExceededError(name + " did not exit within 60 s");
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
