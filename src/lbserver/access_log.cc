#include "lbserver/access_log.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace gatehouse::lbserver {
namespace {

// Text values are bare when they are plain tokens, and quoted with C escapes otherwise, so a
// space or quote in a value cannot start a new field.
std::string TextValue(const std::string& value) {
  if (value.empty()) return "-";
  const bool is_plain = std::all_of(value.begin(), value.end(), [](char c) {
    return c > 0x20 && c < 0x7F && c != '"' && c != '\\' && c != '=';
  });
  if (is_plain) return value;
  return absl::StrCat("\"", absl::CHexEscape(value), "\"");
}

}  // namespace

std::string FormatAccessRecord(const AccessRecord& record, base::LogFormat format) {
  const int64_t duration_us =
      std::chrono::duration_cast<std::chrono::microseconds>(record.duration).count();
  if (format == base::LogFormat::kJson) {
    const nlohmann::ordered_json fields = {
        {"app", record.app},
        {"client", record.client},
        {"identity", record.identity},
        {"upstream", record.upstream},
        {"client_to_upstream_bytes", record.client_to_upstream_bytes},
        {"upstream_to_client_bytes", record.upstream_to_client_bytes},
        {"duration_us", duration_us},
        {"end", absl::StrCat(CloseReasonName(record.end))},
        {"detail", record.detail},
        {"server_name", record.server_name},
    };
    // Invalid UTF-8 is replaced, never thrown about: the text may come from a client.
    const std::string object =
        fields.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    return object.substr(1, object.size() - 2);  // the members, without the braces
  }
  return absl::StrCat(
      "app=", TextValue(record.app), " client=", TextValue(record.client),
      " identity=", TextValue(record.identity), " upstream=", TextValue(record.upstream),
      " client_to_upstream_bytes=", record.client_to_upstream_bytes,
      " upstream_to_client_bytes=", record.upstream_to_client_bytes, " duration_us=", duration_us,
      " end=", CloseReasonName(record.end), " detail=", TextValue(record.detail),
      " server_name=", TextValue(record.server_name));
}

void WriteAccessLog(const AccessRecord& record) {
  spdlog::logger* logger = base::AccessLogger();
  if (!logger->should_log(spdlog::level::info)) return;
  logger->info("{}", FormatAccessRecord(record, base::CurrentLogFormat()));
}

}  // namespace gatehouse::lbserver
