// Process-wide logging setup on spdlog: text for people, JSON lines for log pipelines.
// Libraries log through spdlog's default logger and never print; only apps/ call Configure.
#ifndef GATEHOUSE_BASE_LOGGING_H_
#define GATEHOUSE_BASE_LOGGING_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "fmt/format.h"
#include "spdlog/spdlog.h"

namespace gatehouse::base {

enum class LogFormat { kText, kJson };

// Parses "text" or "json". InvalidArgument otherwise.
absl::Status ParseLogFormat(absl::string_view text, LogFormat* format);

// Checks a level name: trace, debug, info, warn, error, critical, off.
absl::Status ValidateLogLevel(absl::string_view level);

// Makes the default logger write to stderr in `format` at `level`. The first call installs the
// logger; later calls (a reload) reconfigure it in place, which is safe while other threads log.
// Calls to ConfigureLogging itself must not race each other.
absl::Status ConfigureLogging(LogFormat format, absl::string_view level);

// The format ConfigureLogging set last (text before the first call). Thread-safe.
LogFormat CurrentLogFormat();

// The access log: one line per finished client connection, written at info level to stderr like
// the default logger (whole lines: spdlog's console sinks share one lock), and filtered by the
// same level. The
// caller formats the fields for CurrentLogFormat(): in text, "key=value" pairs, written after
// "<time> access "; in JSON, the members of an object without braces ("\"app\":\"web\",..."),
// written inside {"time":...,"level":"info","log":"access",<fields>}. Never null once
// ConfigureLogging has run; before, it is spdlog's default logger.
spdlog::logger* AccessLogger();

}  // namespace gatehouse::base

// Debian's Abseil has its own string_view type, which fmt (and so spdlog) cannot format unaided.
template <>
struct fmt::formatter<absl::string_view> : fmt::formatter<fmt::string_view> {
  template <typename FormatContext>
  auto format(absl::string_view text, FormatContext& ctx) const {
    return fmt::formatter<fmt::string_view>::format(fmt::string_view(text.data(), text.size()),
                                                    ctx);
  }
};

// Logs a Status as "CODE: message".
template <>
struct fmt::formatter<absl::Status> : fmt::formatter<fmt::string_view> {
  template <typename FormatContext>
  auto format(const absl::Status& status, FormatContext& ctx) const {
    const std::string text = status.ToString();
    return fmt::formatter<fmt::string_view>::format(fmt::string_view(text), ctx);
  }
};

#endif  // GATEHOUSE_BASE_LOGGING_H_
