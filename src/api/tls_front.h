// TlsFront: the job API's network side. It accepts TCP connections on the API's address,
// terminates TLS with the security core (TLS 1.3 only, our suites and groups, client certificate
// required and verified with the lb's EKU rule, CRL, ALPN "h2", no resumption), takes the
// identity from the client certificate, and hands the decrypted stream to the in-process gRPC
// server as one end of a socketpair (grpc::AddInsecureChannelFromFd), forwarding bytes between
// the two. gRPC itself listens on no network address.
//
// Why: gRPC 1.51's C++ API can neither restrict TLS to 1.3 nor choose groups, and the identity
// rules (CN, OUs, character checks) are the security core's. This keeps one TLS implementation
// for the whole node (RFD 0001 section 4).
//
// One thread runs the accept loop and every connection's forwarding (the API's traffic is small
// next to the lb's). Thread-safe: Stop() and the destructor may be called from any thread.
#ifndef GATEHOUSE_API_TLS_FRONT_H_
#define GATEHOUSE_API_TLS_FRONT_H_

#include <openssl/ssl.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "api/peer_identities.h"
#include "asio/awaitable.hpp"
#include "asio/io_context.hpp"
#include "asio/ip/tcp.hpp"
#include "base/unique_fd.h"
#include "grpcpp/server.h"

namespace gatehouse::api {

struct TlsFrontOptions {
  asio::ip::tcp::endpoint listen;
  // The context for the next handshake (with ALPN "h2": security::TlsFiles::alpn_h2).
  std::function<std::shared_ptr<SSL_CTX>()> tls_context;
  std::chrono::nanoseconds handshake_timeout = std::chrono::seconds(5);
  // Connections open at once; more are closed as soon as they are accepted.
  uint32_t max_connections = 256;
  // A listening socket to serve on instead of binding one (handed over by a binary upgrade's
  // predecessor); used only if it listens on `listen`. Start owns it from the call on.
  int inherited_socket = -1;
};

class TlsFront {
 public:
  // Binds and starts accepting. Borrows `server` and `identities`, which must outlive it.
  static absl::StatusOr<std::unique_ptr<TlsFront>> Start(TlsFrontOptions options,
                                                         grpc::Server* server,
                                                         PeerIdentities* identities);
  TlsFront(const TlsFront&) = delete;
  TlsFront& operator=(const TlsFront&) = delete;
  TlsFront(TlsFront&&) = delete;
  TlsFront& operator=(TlsFront&&) = delete;
  ~TlsFront();

  // Stops accepting and closes every connection. Idempotent.
  void Stop();
  // Stops accepting; connections go on (a binary upgrade's successor serves the socket now).
  void StopAccepting();
  // The listening socket, to hand over to a binary upgrade's successor (borrowed).
  int listening_fd() const { return listening_fd_; }
  asio::ip::tcp::endpoint endpoint() const { return endpoint_; }
  uint32_t open_connections() const { return open_.load(std::memory_order_relaxed); }

 private:
  TlsFront(TlsFrontOptions options, grpc::Server* server, PeerIdentities* identities);
  // Serves on `inherited` if it listens on options_.listen, else binds a new socket.
  absl::Status Listen(base::UniqueFd inherited);
  asio::awaitable<void> AcceptLoop();
  asio::awaitable<void> Serve(asio::ip::tcp::socket socket);

  const TlsFrontOptions options_;
  grpc::Server* const server_;
  PeerIdentities* const identities_;
  asio::io_context io_{1};
  asio::ip::tcp::acceptor acceptor_{io_};
  asio::ip::tcp::endpoint endpoint_;
  int listening_fd_ = -1;  // set in Start, before the thread runs
  std::atomic<uint32_t> open_{0};
  std::thread thread_;
};

}  // namespace gatehouse::api

#endif  // GATEHOUSE_API_TLS_FRONT_H_
