// RedisConnection: one synchronous hiredis connection (TCP, optional AUTH) that runs commands,
// one at a time or pipelined. It owns the `redisContext` and frees it on destruction; replies
// are copied into `RedisValue`s, so no hiredis object escapes. It does not reconnect: after a
// connection-level error (`is_broken()`) the owner drops it and connects again.
//
// Errors are absl::Status values naming `host:port` and the command: Unavailable for connect and
// I/O failures (including timeouts, which hiredis reports as I/O errors), Unauthenticated when
// AUTH is refused. An error *reply* to a command (e.g. NOSCRIPT) is not a Status error: it is a
// `RedisValue` of type kError, and the connection stays usable.
#ifndef GATEHOUSE_GLOBALLIMIT_INTERNAL_REDIS_CONNECTION_H_
#define GATEHOUSE_GLOBALLIMIT_INTERNAL_REDIS_CONNECTION_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "globallimit/redis_options.h"

struct redisContext;

namespace gatehouse::globallimit::internal {

// A reply, copied out of hiredis.
struct RedisValue {
  enum class Type { kNil, kString, kStatus, kError, kInteger, kArray };
  Type type = Type::kNil;
  std::string str;  // kString, kStatus, kError
  int64_t integer = 0;
  std::vector<RedisValue> elements;  // kArray

  bool is_error() const { return type == Type::kError; }
};

// Thread-compatible: one thread uses a connection at a time.
class RedisConnection {
 public:
  // Connects within `options.timeout`, sets that timeout for every later read and write, and
  // sends AUTH when `options.password` is set. Never prints.
  static absl::StatusOr<std::unique_ptr<RedisConnection>> Connect(const RedisOptions& options);

  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;
  RedisConnection(RedisConnection&&) = delete;
  RedisConnection& operator=(RedisConnection&&) = delete;
  ~RedisConnection();

  // Runs one command given as its arguments (binary-safe).
  absl::StatusOr<RedisValue> Command(const std::vector<std::string>& argv);

  // Sends every command, then reads every reply (one round trip for the lot). Replies are in
  // command order. A connection-level error fails the whole call and breaks the connection.
  absl::StatusOr<std::vector<RedisValue>> Pipeline(
      const std::vector<std::vector<std::string>>& commands);

  // True after a connection-level error: the connection must not be used again.
  bool is_broken() const { return broken_; }

  // "host:port", for messages.
  const std::string& address() const { return address_; }

 private:
  RedisConnection(redisContext* context, std::string address);

  // The Status for the context's current error, for `command`; marks the connection broken.
  absl::Status IoError(absl::string_view command);

  redisContext* const context_;  // owned; freed by the destructor
  const std::string address_;
  bool broken_ = false;
};

}  // namespace gatehouse::globallimit::internal

#endif  // GATEHOUSE_GLOBALLIMIT_INTERNAL_REDIS_CONNECTION_H_
