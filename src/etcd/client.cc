#include "etcd/client.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/escape_for_log.h"
#include "base/status_macros.h"
#include "etcd/internal/http_transport.h"
#include "etcd/internal/json_codec.h"

namespace gatehouse::etcd {
namespace {

constexpr absl::string_view kHttps = "https://";

// Debian's Abseil has its own string_view, not std::string_view.
absl::string_view Absl(std::string_view text) { return {text.data(), text.size()}; }

absl::Status CheckReadable(const std::string& path, absl::string_view what) {
  if (path.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("etcd client: ", what, " is required (mutual TLS)"));
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("etcd client: open ", what, " \"", path, "\""));
  }
  ::close(fd);
  return absl::OkStatus();
}

absl::StatusOr<std::string> NormalizeEndpoint(std::string endpoint) {
  while (absl::EndsWith(endpoint, "/")) endpoint.pop_back();
  if (absl::StartsWithIgnoreCase(endpoint, "http://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("etcd endpoint \"", base::EscapeForLog(endpoint),
                     "\" is plain HTTP; only https:// with mutual TLS is allowed"));
  }
  if (!absl::StartsWithIgnoreCase(endpoint, kHttps) || endpoint.size() == kHttps.size() ||
      endpoint.find('/', kHttps.size()) != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("etcd endpoint \"", base::EscapeForLog(endpoint),
                                                   "\" is not https://host:port"));
  }
  return endpoint;
}

std::string Describe(std::string_view operation, std::string_view key) {
  return absl::StrCat("etcd ", Absl(operation), " \"", base::EscapeForLog(Absl(key)), "\"");
}

}  // namespace

absl::StatusOr<std::unique_ptr<Client>> Client::Create(ClientOptions options) {
  if (options.endpoints.empty()) return absl::InvalidArgumentError("etcd client: no endpoints");
  for (std::string& endpoint : options.endpoints) {
    GH_ASSIGN_OR_RETURN(endpoint, NormalizeEndpoint(std::move(endpoint)));
  }
  GH_RETURN_IF_ERROR(CheckReadable(options.tls.ca_file, "tls.ca_file"));
  GH_RETURN_IF_ERROR(CheckReadable(options.tls.cert_file, "tls.cert_file"));
  GH_RETURN_IF_ERROR(CheckReadable(options.tls.key_file, "tls.key_file"));
  if (options.request_timeout.count() <= 0) {
    return absl::InvalidArgumentError("etcd client: request_timeout must be positive");
  }
  internal::EnsureCurlInitialized();
  return std::unique_ptr<Client>(new Client(std::move(options)));
}

Client::Client(ClientOptions options) : options_(std::move(options)) {}

void Client::set_preferred_endpoint(size_t index) const {
  if (index < options_.endpoints.size()) preferred_.store(index, std::memory_order_relaxed);
}

absl::StatusOr<std::string> Client::Call(std::string_view operation, std::string_view key,
                                         std::string_view path, const std::string& body,
                                         bool idempotent) const {
  const size_t count = options_.endpoints.size();
  const size_t start = preferred_endpoint();
  std::vector<std::string> failures;
  absl::StatusCode last_code = absl::StatusCode::kUnavailable;
  for (size_t i = 0; i < count; ++i) {
    const size_t index = (start + i) % count;
    const std::string& endpoint = options_.endpoints[index];
    internal::PostRequest request;
    request.url = absl::StrCat(endpoint, Absl(path));
    request.body = body;
    request.tls = &options_.tls;
    request.connect_timeout = options_.request_timeout;
    request.total_timeout = options_.request_timeout;
    internal::PostResult result = internal::Post(request);
    if (result.transport.ok() && result.http_status == 200) {
      set_preferred_endpoint(index);
      return std::move(result.body);
    }
    absl::Status error = result.transport.ok()
                             ? internal::DecodeErrorResponse(result.http_status, result.body)
                             : result.transport;
    // Unavailable from the gateway itself means etcd behind it could not be reached.
    const bool retryable = error.code() == absl::StatusCode::kUnavailable ||
                           error.code() == absl::StatusCode::kDeadlineExceeded;
    if (!retryable) {
      return absl::Status(error.code(), absl::StrCat(Describe(operation, key), " at ", endpoint,
                                                     ": ", error.message()));
    }
    if (!idempotent && result.request_sent) {
      return absl::Status(
          error.code(), absl::StrCat(Describe(operation, key), " at ", endpoint, ": ",
                                     error.message(), " (outcome unknown: the request was sent)"));
    }
    failures.push_back(absl::StrCat(endpoint, ": ", error.message()));
    last_code = error.code();
  }
  return absl::Status(last_code, absl::StrCat(Describe(operation, key), ": no endpoint answered: ",
                                              absl::StrJoin(failures, "; ")));
}

absl::StatusOr<KeyValue> Client::Get(std::string_view key) const {
  GH_ASSIGN_OR_RETURN(const std::string body,
                      Call("get", key, "/v3/kv/range", internal::EncodeRangeRequest(key),
                           /*idempotent=*/true));
  absl::StatusOr<internal::RangeResult> range = internal::DecodeRangeResponse(body);
  if (!range.ok()) {
    return absl::Status(range.status().code(),
                        absl::StrCat(Describe("get", key), ": ", range.status().message()));
  }
  KeyValue kv;
  kv.found = range->found;
  kv.value = std::move(range->value);
  kv.mod_revision = range->mod_revision;
  kv.revision = range->header_revision;
  return kv;
}

absl::StatusOr<int64_t> Client::CompareAndPut(std::string_view key, std::string_view value,
                                              int64_t expected_mod_revision) const {
  if (expected_mod_revision < 0) {
    return absl::InvalidArgumentError(absl::StrCat(Describe("compare-and-put", key),
                                                   ": negative expected mod_revision ",
                                                   expected_mod_revision));
  }
  GH_ASSIGN_OR_RETURN(const std::string body,
                      Call("compare-and-put", key, "/v3/kv/txn",
                           internal::EncodeCompareAndPutRequest(key, value, expected_mod_revision),
                           /*idempotent=*/false));
  const absl::StatusOr<internal::TxnResult> txn = internal::DecodeCompareAndPutResponse(body);
  if (!txn.ok()) {
    return absl::Status(txn.status().code(), absl::StrCat(Describe("compare-and-put", key), ": ",
                                                          txn.status().message()));
  }
  if (txn->succeeded) return txn->header_revision;
  return absl::FailedPreconditionError(
      absl::StrCat(Describe("compare-and-put", key), ": expected mod_revision ",
                   expected_mod_revision, ", current mod_revision ", txn->current.mod_revision,
                   txn->current.found ? "" : " (the key does not exist)"));
}

}  // namespace gatehouse::etcd
