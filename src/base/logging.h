// Process-wide logging setup on spdlog: text for people, JSON lines for log pipelines.
// Libraries log through spdlog's default logger and never print; only apps/ call Configure.
#ifndef GATEHOUSE_BASE_LOGGING_H_
#define GATEHOUSE_BASE_LOGGING_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace gatehouse::base {

enum class LogFormat { kText, kJson };

// Parses "text" or "json". InvalidArgument otherwise.
absl::Status ParseLogFormat(absl::string_view text, LogFormat* format);

// Checks a level name: trace, debug, info, warn, error, critical, off.
absl::Status ValidateLogLevel(absl::string_view level);

// Replaces the default logger with one writing to stderr in `format` at `level`.
// Not thread-safe against concurrent logging: call at start-up or on reload from one thread.
absl::Status ConfigureLogging(LogFormat format, absl::string_view level);

}  // namespace gatehouse::base

#endif  // GATEHOUSE_BASE_LOGGING_H_
