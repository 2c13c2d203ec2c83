// AdminServer: the daemon's admin HTTP endpoint, loopback by default.
//
//   GET /healthz  200 "ok\n" while the server runs (liveness).
//   GET /readyz   200 "ready\n" or 503 "not ready\n", as the `is_ready` callback says.
//   GET /metrics  200, the registry in the Prometheus text format (version 0.0.4).
// HEAD is answered like GET without the body. The query string is ignored for routing. Other
// paths get 404; other methods on these paths 405 with `Allow: GET, HEAD`. Malformed requests
// get 400, request heads over `max_request_bytes` 431, HTTP versions other than 1.x 505, and a
// request that has not fully arrived within `request_timeout` 408 (see admin/http_request.h for
// what is accepted). Every response carries `Content-Length` and `Connection: close`, and the
// connection is closed after it: one request per connection, no keep-alive, request bodies are
// never read.
//
// What it does not do: TLS, authentication, keep-alive, chunked bodies, or counting its own
// requests (the registry is borrowed read-only). Anyone who can connect can read /metrics, which
// names apps, upstreams and counts. Bind it to loopback or a management network; Start logs a
// warning when the address is not a loopback one.
//
// Why hand-written HTTP on Asio: Debian 12 packages no HTTP/1.1 server library that runs on
// standalone Asio. Boost.Beast (libboost1.81-dev) and cpprestsdk are built on Boost.Asio, a second
// Asio with its own io_context; cpp-httplib, civetweb, libmicrohttpd and Pistache each bring their
// own threads and event loop. Serving three fixed GET routes needs only the strict request-head
// parser in admin/http_request.h.
//
// Hardening: every fd is opened with SOCK_CLOEXEC (accept4, not Asio's accept, so the admin
// sockets never leak into spawned jobs); at most `max_connections` connections are open in all
// and `max_connections_per_peer` from one source IP address, and a connection over either cap is
// closed as soon as it is accepted, without touching the others; the request head is
// size-limited; the request, the response write and the lingering close after it are each
// bounded by `request_timeout`. So a peer that opens idle connections holds at most its own
// share for at most 3 x `request_timeout` each, and a prober from another address (a
// Kubernetes kubelet, Prometheus) still gets /healthz answered. The per-peer cap counts exact
// addresses: a client with many addresses (an IPv6 /64) gets a share per address, up to the
// total.
#ifndef GATEHOUSE_ADMIN_ADMIN_SERVER_H_
#define GATEHOUSE_ADMIN_ADMIN_SERVER_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include <asio.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "base/metrics.h"
#include "base/mutex.h"
#include "base/unique_fd.h"

namespace gatehouse::admin {

struct AdminServerOptions {
  // IP literal to bind (IPv4 or IPv6); not a host name.
  std::string host = "127.0.0.1";
  // 0 picks a free port (tests); `AdminServer::port()` tells which.
  uint16_t port = 9901;
  // The whole request head must arrive within this; writing the response and the lingering close
  // after it are each bounded by it too.
  std::chrono::milliseconds request_timeout{5000};
  // Limit on the request line plus header fields, including the blank line.
  size_t max_request_bytes = 8192;
  // Connections beyond this many open ones are closed as soon as they are accepted. Each open
  // connection costs a descriptor and about 5 KiB.
  size_t max_connections = 256;
  // Likewise for connections from one source IP address (IPv4-mapped IPv6 counts as the IPv4
  // address). Keeps one peer from taking every slot.
  size_t max_connections_per_peer = 8;
  // A listening socket to serve on instead of binding one (handed over by a binary upgrade's
  // predecessor); used only if it listens on `host`:`port`. Start owns it from the call on.
  int inherited_socket = -1;
};

// Thread-safe. Owns one thread running its own `asio::io_context`; connections, sockets and
// timers are confined to that thread.
class AdminServer {
 public:
  // Binds, listens and starts serving. `metrics` is borrowed and must outlive the server.
  // `is_ready` is called on the server thread for every /readyz request and must be thread-safe
  // and quick. Logs a warning when `host` is not a loopback address (the endpoint has no
  // authentication). Errors: InvalidArgument for a host that is not an IP literal, a null
  // `metrics` or `is_ready`, or a zero limit or timeout. A socket, bind or listen failure names the
  // address and carries the code absl::ErrnoToStatus gives the errno, e.g. FailedPrecondition `bind
  // 127.0.0.1:9901: Address already in use`.
  static absl::StatusOr<std::unique_ptr<AdminServer>> Start(AdminServerOptions options,
                                                            const base::MetricsRegistry* metrics,
                                                            std::function<bool()> is_ready);

  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;
  AdminServer(AdminServer&&) = delete;
  AdminServer& operator=(AdminServer&&) = delete;
  // Calls Stop(). Must not run on the server thread (that is a bug: it cannot join itself).
  ~AdminServer();

  // The bound port.
  uint16_t port() const { return port_; }
  // The listening socket, to hand over to a binary upgrade's successor (borrowed).
  int listening_fd() const { return listening_fd_; }

  // Closes the listening socket and every open connection (clients see EOF or a reset), then
  // joins the server thread. Idempotent; concurrent callers all return once it has stopped.
  // Called on the server thread (from `is_ready`), it only starts the shutdown and returns; a
  // later Stop() or the destructor, on another thread, joins.
  void Stop();

  // Connections accepted and not yet closed.
  size_t OpenConnectionsForTest() const {
    return open_connections_.load(std::memory_order_relaxed);
  }

 private:
  AdminServer(AdminServerOptions options, const base::MetricsRegistry* metrics,
              std::function<bool()> is_ready);

  // Serves on `inherited` if it listens on the configured address, else binds a new socket.
  absl::Status Listen(const asio::ip::address& address, base::UniqueFd inherited);
  // Records the bound address once the acceptor listens.
  absl::Status FinishListen(const asio::ip::address& address, const std::string& requested);
  asio::awaitable<void> AcceptLoop();
  // Accepts every pending connection; returns false when accept4 failed for lack of resources.
  bool AcceptPending();
  // `peer` is the source address, counted in `connections_per_peer_` until the coroutine ends.
  asio::awaitable<void> ServeConnection(asio::ip::tcp::socket socket, asio::ip::address peer);
  // Undoes AcceptPending's count for one connection from `peer`.
  void ReleaseConnection(const asio::ip::address& peer);
  // Runs on the server thread: closes the acceptor and all open sockets.
  void Shutdown();

  const AdminServerOptions options_;
  const base::MetricsRegistry* const metrics_;
  const std::function<bool()> is_ready_;
  // Set in Listen, before the server thread starts; constant afterwards.
  asio::ip::tcp::endpoint local_endpoint_;
  uint16_t port_ = 0;
  int listening_fd_ = -1;
  std::string endpoint_name_;  // "127.0.0.1:9901" or "[::1]:9901", for logs.

  // Confined to the server thread. Declared before `io_context_` so they outlive the coroutine
  // frames that `io_context_` destroys.
  bool is_stopping_ = false;
  std::unordered_set<asio::ip::tcp::socket*> open_sockets_;
  // Open connections by source address; an entry is erased when its count drops to zero, so
  // the map holds at most `max_connections` entries.
  std::unordered_map<asio::ip::address, size_t> connections_per_peer_;
  // Written only on the server thread; atomic only so OpenConnectionsForTest can read it. Relaxed:
  // the reader needs the value, not ordering with other memory.
  std::atomic<size_t> open_connections_{0};

  asio::io_context io_context_{1};
  asio::ip::tcp::acceptor acceptor_{io_context_};

  base::Mutex stop_mu_;
  // Held across the join in Stop: the server thread never takes `stop_mu_`, so that cannot
  // deadlock, and a second caller waits until the first has finished stopping.
  std::thread thread_ ABSL_GUARDED_BY(stop_mu_);
};

}  // namespace gatehouse::admin

#endif  // GATEHOUSE_ADMIN_ADMIN_SERVER_H_
