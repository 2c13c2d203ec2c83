#include "base/logging.h"

#include <array>
#include <atomic>
#include <memory>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "spdlog/pattern_formatter.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"

namespace gatehouse::base {
namespace {

constexpr char kLoggerName[] = "gatehouse";
constexpr char kAccessLoggerName[] = "gatehouse.access";

std::atomic<LogFormat> current_format{LogFormat::kText};
constexpr std::array<absl::string_view, 7> kLevels = {"trace", "debug",    "info", "warn",
                                                      "error", "critical", "off"};

// Writes the log message as the body of a JSON string: spdlog's %v is not escaped, and a
// message can carry client-controlled text (certificate names, paths).
class JsonEscapedMessageFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm& /*tm_time*/,
              spdlog::memory_buf_t& dest) override {
    for (const char c : std::string_view(msg.payload.data(), msg.payload.size())) {
      switch (c) {
        case '"':
          dest.append(std::string_view("\\\""));
          break;
        case '\\':
          dest.append(std::string_view("\\\\"));
          break;
        case '\n':
          dest.append(std::string_view("\\n"));
          break;
        case '\r':
          dest.append(std::string_view("\\r"));
          break;
        case '\t':
          dest.append(std::string_view("\\t"));
          break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            const std::string escaped = fmt::format("\\u{:04x}", static_cast<unsigned>(c));
            dest.append(escaped.data(), escaped.data() + escaped.size());
          } else {
            dest.push_back(c);
          }
      }
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonEscapedMessageFlag>();
  }
};

}  // namespace

absl::Status ParseLogFormat(absl::string_view text, LogFormat* format) {
  if (text == "text") {
    *format = LogFormat::kText;
    return absl::OkStatus();
  }
  if (text == "json") {
    *format = LogFormat::kJson;
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat("log format \"", text, "\" is not one of: text, json"));
}

absl::Status ValidateLogLevel(absl::string_view level) {
  for (const absl::string_view known : kLevels) {
    if (level == known) return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "log level \"", level, "\" is not one of: trace, debug, info, warn, error, critical, off"));
}

absl::Status ConfigureLogging(LogFormat format, absl::string_view level) {
  if (absl::Status status = ValidateLogLevel(level); !status.ok()) return status;
  std::shared_ptr<spdlog::logger> logger = spdlog::get(kLoggerName);
  if (logger == nullptr) {
    auto sink =
        std::make_shared<spdlog::sinks::stderr_color_sink_mt>(spdlog::color_mode::automatic);
    logger = std::make_shared<spdlog::logger>(std::string(kLoggerName), std::move(sink));
    logger->flush_on(spdlog::level::info);
    spdlog::register_logger(logger);
    // Installed once: other threads may hold the raw default logger, so it is never replaced,
    // only reconfigured below through spdlog's thread-safe setters.
    spdlog::set_default_logger(logger);
  }
  if (format == LogFormat::kJson) {
    auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    formatter->add_flag<JsonEscapedMessageFlag>('*').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","thread":%t,"msg":"%*"})");
    logger->set_formatter(std::move(formatter));
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%fZ %^%-5l%$ [%t] %v", spdlog::pattern_time_type::utc);
  }
  logger->set_level(spdlog::level::from_str(static_cast<std::string>(level)));

  std::shared_ptr<spdlog::logger> access = spdlog::get(kAccessLoggerName);
  if (access == nullptr) {
    // A sink of its own, because a sink holds the line format. spdlog's console sinks share one
    // process-wide mutex, so an access line and a log line still never mix.
    access = std::make_shared<spdlog::logger>(
        std::string(kAccessLoggerName),
        std::make_shared<spdlog::sinks::stderr_color_sink_mt>(spdlog::color_mode::automatic));
    access->flush_on(spdlog::level::info);
    spdlog::register_logger(access);
  }
  if (format == LogFormat::kJson) {
    access->set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","log":"access",%v})",
                        spdlog::pattern_time_type::utc);
  } else {
    access->set_pattern("%Y-%m-%dT%H:%M:%S.%fZ access %v", spdlog::pattern_time_type::utc);
  }
  access->set_level(logger->level());
  current_format.store(format, std::memory_order_release);
  return absl::OkStatus();
}

LogFormat CurrentLogFormat() { return current_format.load(std::memory_order_acquire); }

spdlog::logger* AccessLogger() {
  // spdlog::get takes the registry lock; the pointer is cached once it exists, since the logger
  // is never dropped from the registry.
  static std::atomic<spdlog::logger*> cached{nullptr};
  spdlog::logger* access = cached.load(std::memory_order_acquire);
  if (access != nullptr) return access;
  std::shared_ptr<spdlog::logger> registered = spdlog::get(kAccessLoggerName);
  if (registered == nullptr) return spdlog::default_logger_raw();
  cached.store(registered.get(), std::memory_order_release);
  return registered.get();
}

}  // namespace gatehouse::base
