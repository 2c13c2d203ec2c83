// RunProcess: runs a program with arguments (no shell), feeds it `input`, collects its stdout and
// stderr, and kills it if it outlives `timeout`. Thread-compatible.
#ifndef GATEHOUSE_TESTS_TESTING_SUBPROCESS_H_
#define GATEHOUSE_TESTS_TESTING_SUBPROCESS_H_

#include <chrono>
#include <string>
#include <vector>

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

// Path of a program built by this project ($GATEHOUSE_BIN_DIR/name).
std::string BuiltProgram(const std::string& name);

}  // namespace gatehouse::testing

#endif  // GATEHOUSE_TESTS_TESTING_SUBPROCESS_H_
