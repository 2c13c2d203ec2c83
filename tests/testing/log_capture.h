// ScopedLogCapture: records what the code under test logs through spdlog's default logger, so a
// test can check that a warning was (or was not) given.
//
// While it lives, the default logger is a capturing one at level `trace`; the destructor puts the
// previous logger back. spdlog's default-logger pointer is not synchronized against concurrent
// logging, so construct it before, and destroy it after, every thread that might log (declare it
// before the server under test). Thread-safe otherwise: Lines() may run while other threads log.
#ifndef GATEHOUSE_TESTS_TESTING_LOG_CAPTURE_H_
#define GATEHOUSE_TESTS_TESTING_LOG_CAPTURE_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "spdlog/logger.h"
#include "spdlog/sinks/ringbuffer_sink.h"
#include "spdlog/spdlog.h"

namespace gatehouse::testing {

class ScopedLogCapture {
 public:
  ScopedLogCapture()
      : sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(kMaxLines)),
        previous_(spdlog::default_logger()) {
    sink_->set_pattern("[%l] %v");
    auto logger = std::make_shared<spdlog::logger>("capture", sink_);
    logger->set_level(spdlog::level::trace);
    spdlog::set_default_logger(std::move(logger));
  }
  ScopedLogCapture(const ScopedLogCapture&) = delete;
  ScopedLogCapture& operator=(const ScopedLogCapture&) = delete;
  ScopedLogCapture(ScopedLogCapture&&) = delete;
  ScopedLogCapture& operator=(ScopedLogCapture&&) = delete;
  ~ScopedLogCapture() { spdlog::set_default_logger(previous_); }

  // The most recent lines (at most kMaxLines), oldest first, as "[warning] message".
  std::vector<std::string> Lines() const { return sink_->last_formatted(); }

  // Lines() joined, each ending in '\n'.
  std::string Text() const {
    std::string text;
    for (const std::string& line : Lines()) {
      text += line;
      if (text.empty() || text.back() != '\n') text += '\n';
    }
    return text;
  }

 private:
  static constexpr size_t kMaxLines = 1000;

  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
  std::shared_ptr<spdlog::logger> previous_;
};

}  // namespace gatehouse::testing

#endif  // GATEHOUSE_TESTS_TESTING_LOG_CAPTURE_H_
