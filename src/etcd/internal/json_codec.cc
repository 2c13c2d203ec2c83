#include "etcd/internal/json_codec.h"

#include <algorithm>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "nlohmann/json.hpp"

namespace gatehouse::etcd::internal {
namespace {

using Json = nlohmann::json;

// Codes etcd sends are gRPC codes, which absl::StatusCode numbers the same way (0..16).
constexpr int kMaxStatusCode = 16;

// Debian's Abseil has its own string_view, not std::string_view.
absl::string_view Absl(std::string_view text) { return {text.data(), text.size()}; }

std::string Base64(std::string_view bytes) { return absl::Base64Escape(Absl(bytes)); }

absl::StatusOr<Json> Parse(std::string_view text, std::string_view what) {
  // allow_exceptions = false: malformed input yields a discarded value instead of a throw.
  Json json = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) {
    return absl::InternalError(
        absl::StrCat("malformed ", Absl(what),
                     " from etcd: ", Absl(text.substr(0, std::min<size_t>(text.size(), 200)))));
  }
  return json;
}

// The object member `name`, or null when it is absent or not an object.
const Json* Object(const Json& json, const char* name) {
  const auto it = json.find(name);
  if (it == json.end() || !it->is_object()) return nullptr;
  return &*it;
}

// An int64 field: a JSON string (proto3 JSON) or number; absent means 0.
absl::StatusOr<int64_t> Int64(const Json& json, const char* name) {
  const auto it = json.find(name);
  if (it == json.end() || it->is_null()) return 0;
  if (it->is_number_integer()) return it->get<int64_t>();
  int64_t value = 0;
  if (it->is_string() && absl::SimpleAtoi(it->get_ref<const std::string&>(), &value)) {
    return value;
  }
  return absl::InternalError(absl::StrCat("etcd sent a bad int64 in \"", name, "\": ", it->dump()));
}

bool Bool(const Json& json, const char* name) {
  const auto it = json.find(name);
  return it != json.end() && it->is_boolean() && it->get<bool>();
}

std::string String(const Json& json, const char* name) {
  const auto it = json.find(name);
  if (it == json.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

// A bytes field (base64); absent means empty.
absl::StatusOr<std::string> Bytes(const Json& json, const char* name) {
  const auto it = json.find(name);
  if (it == json.end() || it->is_null()) return std::string();
  std::string bytes;
  if (!it->is_string() || !absl::Base64Unescape(it->get_ref<const std::string&>(), &bytes)) {
    return absl::InternalError(absl::StrCat("etcd sent bad base64 in \"", name, "\""));
  }
  return bytes;
}

absl::StatusOr<int64_t> HeaderRevision(const Json& json) {
  const Json* header = Object(json, "header");
  if (header == nullptr) return 0;
  return Int64(*header, "revision");
}

// A RangeResponse object: {"header":{...},"kvs":[{...}],"count":"1"}.
absl::StatusOr<RangeResult> Range(const Json& json) {
  RangeResult result;
  GH_ASSIGN_OR_RETURN(result.header_revision, HeaderRevision(json));
  const auto kvs = json.find("kvs");
  if (kvs == json.end() || !kvs->is_array() || kvs->empty()) return result;
  const Json& kv = kvs->front();
  if (!kv.is_object()) return absl::InternalError("etcd sent a range result that is not an object");
  result.found = true;
  GH_ASSIGN_OR_RETURN(result.value, Bytes(kv, "value"));
  GH_ASSIGN_OR_RETURN(result.mod_revision, Int64(kv, "mod_revision"));
  return result;
}

}  // namespace

std::string EncodeRangeRequest(std::string_view key) { return Json{{"key", Base64(key)}}.dump(); }

std::string EncodeCompareAndPutRequest(std::string_view key, std::string_view value,
                                       int64_t expected_mod_revision) {
  const std::string key64 = Base64(key);
  Json compare = {{"key", key64},
                  {"target", "MOD"},
                  {"result", "EQUAL"},
                  {"mod_revision", std::to_string(expected_mod_revision)}};
  Json put = {{"request_put", {{"key", key64}, {"value", Base64(value)}}}};
  Json range = {{"request_range", {{"key", key64}}}};
  return Json{{"compare", Json::array({std::move(compare)})},
              {"success", Json::array({std::move(put)})},
              {"failure", Json::array({std::move(range)})}}
      .dump();
}

std::string EncodeWatchCreateRequest(std::string_view key, int64_t start_revision) {
  Json create = {{"key", Base64(key)}};
  if (start_revision > 0) create["start_revision"] = std::to_string(start_revision);
  return Json{{"create_request", std::move(create)}}.dump();
}

absl::StatusOr<RangeResult> DecodeRangeResponse(std::string_view body) {
  GH_ASSIGN_OR_RETURN(const Json json, Parse(body, "range response"));
  return Range(json);
}

absl::StatusOr<TxnResult> DecodeCompareAndPutResponse(std::string_view body) {
  GH_ASSIGN_OR_RETURN(const Json json, Parse(body, "txn response"));
  TxnResult result;
  GH_ASSIGN_OR_RETURN(result.header_revision, HeaderRevision(json));
  result.succeeded = Bool(json, "succeeded");
  if (result.succeeded) return result;
  // The failure branch holds one request_range, so one response_range.
  const auto responses = json.find("responses");
  if (responses == json.end() || !responses->is_array() || responses->empty() ||
      !responses->front().is_object()) {
    return absl::InternalError("etcd sent a failed txn without its range response");
  }
  const Json* range = Object(responses->front(), "response_range");
  if (range == nullptr) return absl::InternalError("etcd sent a failed txn without response_range");
  GH_ASSIGN_OR_RETURN(result.current, Range(*range));
  return result;
}

absl::StatusOr<WatchMessage> DecodeWatchMessage(std::string_view line) {
  GH_ASSIGN_OR_RETURN(const Json json, Parse(line, "watch message"));
  if (const Json* error = Object(json, "error")) {
    GH_ASSIGN_OR_RETURN(const int64_t code, Int64(*error, "grpc_code"));
    const std::string message = absl::StrCat("watch stream failed: ", String(*error, "message"));
    if (code <= 0 || code > kMaxStatusCode) return absl::UnavailableError(message);
    return absl::Status(static_cast<absl::StatusCode>(code), message);
  }
  const Json* result = Object(json, "result");
  if (result == nullptr) return absl::InternalError("etcd sent a watch message without a result");
  WatchMessage message;
  GH_ASSIGN_OR_RETURN(message.header_revision, HeaderRevision(*result));
  message.created = Bool(*result, "created");
  message.canceled = Bool(*result, "canceled");
  GH_ASSIGN_OR_RETURN(message.compact_revision, Int64(*result, "compact_revision"));
  message.cancel_reason = String(*result, "cancel_reason");
  const auto events = result->find("events");
  if (events == result->end() || !events->is_array()) return message;
  for (const Json& event : *events) {
    const Json* kv = event.is_object() ? Object(event, "kv") : nullptr;
    if (kv == nullptr) return absl::InternalError("etcd sent a watch event without a kv");
    WatchEvent decoded;
    decoded.is_delete = String(event, "type") == "DELETE";
    GH_ASSIGN_OR_RETURN(decoded.mod_revision, Int64(*kv, "mod_revision"));
    GH_ASSIGN_OR_RETURN(decoded.value, Bytes(*kv, "value"));
    message.events.push_back(std::move(decoded));
  }
  return message;
}

absl::Status DecodeErrorResponse(long http_status, std::string_view body) {
  Json json = Json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (json.is_object()) {
    const auto code = Int64(json, "code");
    if (code.ok() && *code > 0 && *code <= kMaxStatusCode) {
      return {static_cast<absl::StatusCode>(*code), String(json, "message")};
    }
  }
  std::string message = absl::StrCat("HTTP ", http_status, ": ",
                                     Absl(body.substr(0, std::min<size_t>(body.size(), 200))));
  switch (http_status) {
    case 400:
      return absl::InvalidArgumentError(message);
    case 401:
      return absl::UnauthenticatedError(message);
    case 403:
      return absl::PermissionDeniedError(message);
    case 404:
      return absl::NotFoundError(message);
    case 503:
      return absl::UnavailableError(message);
    default:
      return absl::UnknownError(message);
  }
}

}  // namespace gatehouse::etcd::internal
