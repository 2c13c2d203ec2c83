// ClientConnection: one load-generating connection, plain or TLS, with the request exchange
// of each mode. Every operation has a deadline. Confined to the load thread that owns it.
#ifndef GATEHOUSE_LOADGEN_CLIENT_CONNECTION_H_
#define GATEHOUSE_LOADGEN_CLIENT_CONNECTION_H_

#include <openssl/ssl.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "absl/strings/string_view.h"
#include "asio/any_io_executor.hpp"
#include "asio/awaitable.hpp"
#include "asio/ip/tcp.hpp"
#include "loadgen/stats.h"
#include "net/byte_stream.h"
#include "net/tls_stream.h"
#include "security/openssl_ptr.h"

namespace gatehouse::loadgen {

// What a connection needs to know about the target; shared by all connections of a run.
struct ConnectTarget {
  asio::ip::tcp::endpoint endpoint;
  // Above the endpoint's port: each connection dials a random port from it to this one.
  uint16_t last_port = 0;
  SSL_CTX* tls_context = nullptr;  // null: plain TCP
  std::string server_name;         // TLS: checked against the server certificate
  bool resume_sessions = false;
  std::chrono::nanoseconds timeout{0};
};

// The outcome of one request.
struct ExchangeResult {
  std::optional<ErrorKind> error;  // unset: success
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
};

class ClientConnection {
 public:
  explicit ClientConnection(asio::any_io_executor executor) : executor_(std::move(executor)) {}

  bool is_open() const { return stream_ != nullptr; }

  // Connects (and runs the TLS handshake) within the target's timeout. The error's kind on
  // failure.
  asio::awaitable<std::optional<ErrorKind>> Open(const ConnectTarget& target);

  // rr and connrate: sends `payload` while reading the reply: `expected_bytes` bytes, which
  // must equal the payload when `is_echo`. Closes the connection on any failure.
  asio::awaitable<ExchangeResult> Exchange(absl::string_view payload, uint64_t expected_bytes,
                                           bool is_echo, std::chrono::nanoseconds timeout);

  // tput: writes `payload` over and over until `keep_going()` is false or a write fails, while
  // reading and discarding whatever comes back; reports bytes as they move.
  asio::awaitable<std::optional<ErrorKind>> Stream(absl::string_view payload,
                                                   const std::function<bool()>& keep_going,
                                                   StatsSink& stats);

  void Close();

 private:
  asio::awaitable<ExchangeResult> ExchangeOnce(absl::string_view payload, uint64_t expected_bytes,
                                               bool is_echo);
  // Reads the reply into `result` (bytes, or the error that ended it).
  asio::awaitable<void> ReadReply(absl::string_view payload, uint64_t expected_bytes, bool is_echo,
                                  ExchangeResult& result);

  asio::any_io_executor executor_;
  std::unique_ptr<asio::ip::tcp::socket> socket_;  // plain connections
  std::unique_ptr<net::ByteStream> stream_;        // over socket_, or a TlsStream
  net::TlsStream* tls_ = nullptr;                  // stream_, when TLS with resumption asked for
  security::SslSessionPtr last_session_;           // the session to resume on the next Open
  std::vector<char> read_buffer_;                  // replies land here; grows to the largest
};

}  // namespace gatehouse::loadgen

#endif  // GATEHOUSE_LOADGEN_CLIENT_CONNECTION_H_
