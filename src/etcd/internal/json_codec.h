// Requests to and responses from etcd v3's JSON gateway (grpc-gateway over the KV and Watch
// services). The gateway speaks proto3 JSON: keys and values are base64, int64 fields are JSON
// strings, and fields holding their default (false, 0, "", a PUT event type) are left out.
// Decoding never throws; malformed input becomes an Internal status. Thread-safe (pure functions).
#ifndef GATEHOUSE_ETCD_INTERNAL_JSON_CODEC_H_
#define GATEHOUSE_ETCD_INTERNAL_JSON_CODEC_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace gatehouse::etcd::internal {

// POST /v3/kv/range for exactly `key`.
std::string EncodeRangeRequest(std::string_view key);
// POST /v3/kv/txn: put `value` if the key's mod_revision equals `expected_mod_revision` (0 for a
// key that does not exist), else read the key.
std::string EncodeCompareAndPutRequest(std::string_view key, std::string_view value,
                                       int64_t expected_mod_revision);
// POST /v3/watch: watch exactly `key` from `start_revision` (0: from the next revision).
std::string EncodeWatchCreateRequest(std::string_view key, int64_t start_revision);

struct RangeResult {
  int64_t header_revision = 0;
  bool found = false;
  std::string value;
  int64_t mod_revision = 0;
};
absl::StatusOr<RangeResult> DecodeRangeResponse(std::string_view body);

struct TxnResult {
  int64_t header_revision = 0;  // On success, the revision of the put.
  bool succeeded = false;
  RangeResult current;  // On failure: the key as the failure branch read it.
};
absl::StatusOr<TxnResult> DecodeCompareAndPutResponse(std::string_view body);

struct WatchEvent {
  bool is_delete = false;
  int64_t mod_revision = 0;
  std::string value;
};
// One line of a watch stream: {"result":{...}} or, when the stream fails, {"error":{...}}.
struct WatchMessage {
  int64_t header_revision = 0;
  bool created = false;
  bool canceled = false;
  int64_t compact_revision = 0;  // Non-zero when the start revision was compacted away.
  std::string cancel_reason;
  std::vector<WatchEvent> events;
};
// An {"error":...} line becomes a status with its gRPC code and message.
absl::StatusOr<WatchMessage> DecodeWatchMessage(std::string_view line);

// The status a non-200 gateway response stands for: the body's gRPC "code" (the same numbers as
// absl::StatusCode) and "message", or, for a body that is not such JSON, one from the HTTP status.
absl::Status DecodeErrorResponse(long http_status, std::string_view body);

}  // namespace gatehouse::etcd::internal

#endif  // GATEHOUSE_ETCD_INTERNAL_JSON_CODEC_H_
