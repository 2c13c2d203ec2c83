// RunProcess: runs a program with arguments (no shell), feeds it `input`, collects its stdout and
// stderr, and kills it if it outlives `timeout`. Thread-compatible.
#ifndef GATEHOUSE_TESTS_TESTING_SUBPROCESS_H_
#define GATEHOUSE_TESTS_TESTING_SUBPROCESS_H_

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "base/mutex.h"

namespace gatehouse::testing {

struct ProcessResult {
  // Exit status when it exited, or -1 when killed by a signal (then `signal` is set).
  int exit_code = -1;
  int signal = 0;
  bool timed_out = false;
  std::string output;  // stdout and stderr, interleaved as written
};

ProcessResult RunProcess(const std::vector<std::string>& argv, const std::string& input = "",
                         std::chrono::milliseconds timeout = std::chrono::seconds(30));

// ChildProcess: a long-running program (a daemon under test) with its stdout and stderr on one
// pipe. A thread of its own reads the pipe as the program writes, so a test that looks at the
// output only now and then never blocks the program on a full pipe (a daemon that logs a line
// per connection would otherwise stall under load). The destructor kills and reaps it if the
// test did not. Thread-safe.
class ChildProcess {
 public:
  // Starts `argv` in `cwd` (empty = the test's cwd). Fails the test if it cannot start.
  explicit ChildProcess(const std::vector<std::string>& argv, const std::string& cwd = "");
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ChildProcess(ChildProcess&&) = delete;
  ChildProcess& operator=(ChildProcess&&) = delete;
  ~ChildProcess();

  // Waits until the output contains `text` (true), or the deadline passes or the output ends
  // (false).
  bool WaitForOutput(const std::string& text,
                     std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Everything read so far.
  std::string output() const;
  void Signal(int signal_number) const;
  // Waits for exit; returns the result (timed_out if it did not exit).
  ProcessResult WaitForExit(std::chrono::milliseconds timeout = std::chrono::seconds(10));

 private:
  void ReadOutput();
  void StopReading();

  int pid_ = -1;
  int output_fd_ = -1;
  bool reaped_ = false;
  std::atomic<bool> stop_reading_{false};
  std::thread reader_;
  mutable base::Mutex mu_;
  base::CondVar changed_;
  std::string output_ ABSL_GUARDED_BY(mu_);
  bool output_ended_ ABSL_GUARDED_BY(mu_) = false;
};

// Path of a program built by this project ($GATEHOUSE_BIN_DIR/name).
std::string BuiltProgram(const std::string& name);

}  // namespace gatehouse::testing

#endif  // GATEHOUSE_TESTS_TESTING_SUBPROCESS_H_
