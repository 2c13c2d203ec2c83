#include "testing/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "absl/status/status.h"
#include "base/unique_fd.h"
#include "gtest/gtest.h"

extern char** environ;  // NOLINT(readability-identifier-naming): POSIX name

namespace gatehouse::testing {
namespace {

using base::UniqueFd;

bool MakePipe(UniqueFd* read_end, UniqueFd* write_end) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return false;
  read_end->Reset(fds[0]);
  write_end->Reset(fds[1]);
  return true;
}

// Feeds `input` and reads output until both pipes are done or the deadline passes.
bool Pump(UniqueFd& in, UniqueFd& out, const std::string& input, std::string* output,
          std::chrono::steady_clock::time_point deadline) {
  size_t written = 0;
  if (input.empty()) in.Reset();
  while (out.is_valid()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd fds[2] = {{out.get(), POLLIN, 0}, {in.is_valid() ? in.get() : -1, POLLOUT, 0}};
    if (::poll(fds, 2, static_cast<int>(left.count())) < 0 && errno != EINTR) return false;
    if ((fds[1].revents & (POLLOUT | POLLERR | POLLHUP)) != 0) {
      const ssize_t n = ::write(in.get(), input.data() + written, input.size() - written);
      if (n > 0) written += static_cast<size_t>(n);
      if (n < 0 || written == input.size()) in.Reset();
    }
    if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      char buffer[4096];
      const ssize_t n = ::read(out.get(), buffer, sizeof(buffer));
      if (n > 0) {
        output->append(buffer, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        out.Reset();
      }
    }
  }
  return true;
}

}  // namespace

ProcessResult RunProcess(const std::vector<std::string>& argv, const std::string& input,
                         std::chrono::milliseconds timeout) {
  ProcessResult result;
  UniqueFd stdin_read, stdin_write, out_read, out_write;
  if (!MakePipe(&stdin_read, &stdin_write) || !MakePipe(&out_read, &out_write)) {
    ADD_FAILURE() << "pipe2 failed";
    return result;
  }
  // A child that exits before reading all input must not kill the test with SIGPIPE.
  ::signal(SIGPIPE, SIG_IGN);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, stdin_read.get(), 0);
  posix_spawn_file_actions_adddup2(&actions, out_write.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, out_write.get(), 2);
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int spawn_error = ::posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawn_error != 0) {
    ADD_FAILURE() << absl::ErrnoToStatus(spawn_error, "posix_spawn " + argv[0]);
    return result;
  }
  stdin_read.Reset();
  out_write.Reset();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  if (!Pump(stdin_write, out_read, input, &result.output, deadline)) {
    result.timed_out = true;
    ::kill(pid, SIGKILL);
  }
  int status = 0;
  // The child may close its output and keep running: the deadline covers its exit too.
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() >= deadline) {
      result.timed_out = true;
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // polling, bounded by deadline
  }
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
  }
  return result;
}

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const std::string& cwd) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2 failed";
    return;
  }
  // argv is built before fork: the test may have other threads, so the child must not allocate.
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    // Child of a test process: only async-signal-safe calls until exec.
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    const int null_fd = ::open("/dev/null", O_RDONLY);
    ::dup2(null_fd, 0);
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(126);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  if (pid < 0) {
    ::close(fds[0]);
    ADD_FAILURE() << "fork failed";
    return;
  }
  pid_ = pid;
  output_fd_ = fds[0];
  reader_ = std::thread([this] { ReadOutput(); });
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !reaped_) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  StopReading();
  if (output_fd_ >= 0) ::close(output_fd_);
}

void ChildProcess::ReadOutput() {
  char buffer[4096];
  while (!stop_reading_.load()) {
    // A bounded poll, so that StopReading ends the thread even if a grandchild of the program
    // still holds the pipe open.
    pollfd fd{output_fd_, POLLIN, 0};
    if (::poll(&fd, 1, 50) <= 0) continue;
    const ssize_t n = ::read(output_fd_, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    base::MutexLock lock(&mu_);
    if (n <= 0) {
      output_ended_ = true;
      changed_.NotifyAll();
      return;
    }
    output_.append(buffer, static_cast<size_t>(n));
    changed_.NotifyAll();
  }
}

void ChildProcess::StopReading() {
  stop_reading_.store(true);
  if (reader_.joinable()) reader_.join();
}

bool ChildProcess::WaitForOutput(const std::string& text, std::chrono::milliseconds timeout) {
  base::MutexLock lock(&mu_);
  changed_.WaitUntil(&mu_, std::chrono::steady_clock::now() + timeout,
                     [this, &text]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
                       return output_.find(text) != std::string::npos || output_ended_;
                     });
  return output_.find(text) != std::string::npos;
}

std::string ChildProcess::output() const {
  base::MutexLock lock(&mu_);
  return output_;
}

void ChildProcess::Signal(int signal_number) const {
  if (pid_ > 0 && !reaped_) ::kill(pid_, signal_number);
}

ProcessResult ChildProcess::WaitForExit(std::chrono::milliseconds timeout) {
  ProcessResult result;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (!reaped_ && pid_ > 0) {
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      reaped_ = true;
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      result.timed_out = true;
      result.output = output();
      return result;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // polling, bounded by deadline
  }
  // The rest of the output: it ends when the program's end closes the pipe.
  {
    base::MutexLock lock(&mu_);
    changed_.WaitUntil(&mu_, std::chrono::steady_clock::now() + std::chrono::seconds(2),
                       [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return output_ended_; });
  }
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
  result.output = output();
  return result;
}

std::string BuiltProgram(const std::string& name) {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): tests never modify the environment.
  const char* dir = std::getenv("GATEHOUSE_BIN_DIR");
  if (dir == nullptr) {
    ADD_FAILURE() << "GATEHOUSE_BIN_DIR is not set (run the test through ctest)";
    return name;
  }
  return std::string(dir) + "/" + name;
}

}  // namespace gatehouse::testing
