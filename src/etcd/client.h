// gatehouse::etcd: a small etcd v3 client over etcd's JSON gateway (HTTP/1.1 with mutual TLS,
// libcurl): read one key (`Client::Get`), write it only if it did not change since it was read
// (`Client::CompareAndPut`), and follow it (`Watch`, in watch.h). It does not do leases, locks,
// prefixes, deletes, auth tokens or plain HTTP.
//
// Errors are absl::Status messages naming the operation, the key and the endpoint. The library
// never prints and never exits.
#ifndef GATEHOUSE_ETCD_CLIENT_H_
#define GATEHOUSE_ETCD_CLIENT_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "etcd/tls_files.h"

namespace gatehouse::etcd {

struct ClientOptions {
  // "https://host:port" (a trailing "/" is allowed). Tried in order, starting with the one that
  // answered last; a call moves on to the next when one cannot be reached. An "http://" endpoint
  // is refused: the client only speaks mutual TLS.
  std::vector<std::string> endpoints;
  TlsFiles tls;
  // Deadline for one attempt at one endpoint (connect, TLS, request and response). A call that
  // tries every endpoint may take endpoints.size() times as long.
  std::chrono::milliseconds request_timeout{2000};
};

// One key as etcd has it.
struct KeyValue {
  bool found = false;        // False when the key does not exist (then `value` is empty).
  std::string value;         // Any bytes.
  int64_t mod_revision = 0;  // The revision of the key's last change; 0 when not found.
  int64_t revision = 0;      // The store's revision when this was read (the response header's).
};

// Thread-safe: every call uses its own curl handle and shares only the index of the endpoint
// that answered last.
class Client {
 public:
  // Checks the options: at least one endpoint, every one https://; all three TLS files given and
  // readable; a positive timeout. InvalidArgument otherwise (NotFound / PermissionDenied for a
  // file that is missing or unreadable). Does not contact etcd.
  static absl::StatusOr<std::unique_ptr<Client>> Create(ClientOptions options);

  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  Client(Client&&) = delete;
  Client& operator=(Client&&) = delete;
  ~Client() = default;

  // Reads `key`. A missing key is not an error: `found` is false. When no endpoint answers:
  // Unavailable or DeadlineExceeded; an error etcd reports keeps etcd's code.
  absl::StatusOr<KeyValue> Get(std::string_view key) const;

  // Writes `value` to `key` only if the key's mod_revision is still `expected_mod_revision`
  // (0: the key must not exist), in one etcd transaction. Returns the revision of the write (the
  // key's new mod_revision). If the key changed meanwhile: FailedPrecondition, and the message
  // says the current mod_revision ("current mod_revision 7"). The write is retried on another
  // endpoint only if the request never left this process; otherwise a failure is Unavailable or
  // DeadlineExceeded with "outcome unknown", and the caller should Get to find out.
  absl::StatusOr<int64_t> CompareAndPut(std::string_view key, std::string_view value,
                                        int64_t expected_mod_revision) const;

  const ClientOptions& options() const { return options_; }

  // Index into options().endpoints of the endpoint that answered last (where a call starts).
  size_t preferred_endpoint() const { return preferred_.load(std::memory_order_relaxed); }
  // Records that endpoint `index` answered, so later calls start there. Ignored when out of range.
  void set_preferred_endpoint(size_t index) const;

 private:
  explicit Client(ClientOptions options);

  // Posts `body` to `path` on each endpoint in turn; returns the body of a 200 response.
  // `idempotent` false: stop at an endpoint that may have received the request.
  absl::StatusOr<std::string> Call(std::string_view operation, std::string_view key,
                                   std::string_view path, const std::string& body,
                                   bool idempotent) const;

  const ClientOptions options_;
  // Only a hint of where to start: relaxed is enough, any value in range is correct.
  mutable std::atomic<size_t> preferred_{0};
};

}  // namespace gatehouse::etcd

#endif  // GATEHOUSE_ETCD_CLIENT_H_
