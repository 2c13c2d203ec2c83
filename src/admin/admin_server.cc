#include "admin/admin_server.h"

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <cerrno>
#include <system_error>
#include <utility>

#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/deferred.hpp>
#include <asio/experimental/parallel_group.hpp>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "admin/http_request.h"
#include "base/logging.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"
#include "spdlog/spdlog.h"
#include "upgrade/adopt_listener.h"

namespace gatehouse::admin {
namespace {

using asio::ip::tcp;

constexpr auto kDeferred = asio::experimental::deferred;
constexpr auto kAsTuple = asio::experimental::as_tuple(asio::use_awaitable);

constexpr size_t kReadChunkBytes = 4096;
// After accept4 fails for lack of descriptors or memory the listening socket stays readable;
// waiting this long before the next try keeps the loop from spinning.
constexpr std::chrono::milliseconds kAcceptRetryDelay{100};

constexpr absl::string_view kTextContentType = "text/plain; charset=utf-8";
constexpr absl::string_view kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

// "127.0.0.1:9901" or "[::1]:9901". `to_string()` only throws when inet_ntop fails, which it
// cannot for a valid address and a buffer of the maximum size that Asio passes.
std::string FormatEndpoint(const asio::ip::address& address, uint16_t port) {
  if (address.is_v6()) {
    return absl::StrCat("[", address.to_string(), "]:", port);
  }
  return absl::StrCat(address.to_string(), ":", port);
}

// The key a connection counts under for max_connections_per_peer. On a dual-stack IPv6 listener
// an IPv4 client arrives as ::ffff:a.b.c.d; counting it as a.b.c.d keeps one client one key.
asio::ip::address PeerKey(const asio::ip::address& address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
  }
  return address;
}

// Asio reports errno values in its own "asio.system" category, not std::system_category().
absl::Status ErrorCodeToStatus(const std::error_code& error, absl::string_view operation) {
  if (error.category() == asio::error::get_system_category() ||
      error.category() == std::system_category()) {
    return absl::ErrnoToStatus(error.value(), operation);
  }
  return absl::UnknownError(absl::StrCat(operation, ": ", error.message()));
}

struct IoResult {
  bool is_expired = false;  // The timer ran out first and the operation was cancelled.
  std::error_code error;
  size_t bytes = 0;
};

// Runs `operation`, a deferred socket operation completing with (error_code, size_t), raced
// against `timer`: whichever finishes first cancels the other. Errors are values; nothing throws.
template <typename Operation>
asio::awaitable<IoResult> RunUntilExpiry(asio::steady_timer* timer, Operation operation) {
  auto [order, error, bytes, timer_error] =
      co_await asio::experimental::make_parallel_group(std::move(operation),
                                                       timer->async_wait(kDeferred))
          .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
  static_cast<void>(timer_error);
  if (order[0] == 1) {
    co_return IoResult{true, {}, 0};
  }
  co_return IoResult{false, error, bytes};
}

struct Response {
  int status_code = 0;
  absl::string_view reason;
  std::string body;
  absl::string_view content_type = kTextContentType;
  bool has_allow_header = false;
};

Response MakeResponse(int status_code, absl::string_view reason, std::string body) {
  Response response;
  response.status_code = status_code;
  response.reason = reason;
  response.body = std::move(body);
  return response;
}

Response Route(const HttpParseResult& parsed, const base::MetricsRegistry& metrics,
               const std::function<bool()>& is_ready) {
  switch (parsed.outcome) {
    case HttpParseOutcome::kComplete:
      break;
    case HttpParseOutcome::kIncomplete:  // Not reached: the caller waits for a finished parse.
      return MakeResponse(500, "Internal Server Error", "internal error\n");
    case HttpParseOutcome::kBadRequest:
      return MakeResponse(400, "Bad Request", "bad request\n");
    case HttpParseOutcome::kHeadersTooLarge:
      return MakeResponse(431, "Request Header Fields Too Large",
                          "request header fields too large\n");
    case HttpParseOutcome::kVersionNotSupported:
      return MakeResponse(505, "HTTP Version Not Supported", "HTTP version not supported\n");
  }
  const HttpRequest& request = parsed.request;
  const bool is_healthz = request.path == "/healthz";
  const bool is_readyz = request.path == "/readyz";
  const bool is_metrics = request.path == "/metrics";
  if (!is_healthz && !is_readyz && !is_metrics) {
    return MakeResponse(404, "Not Found", "not found\n");
  }
  if (request.method != "GET" && request.method != "HEAD") {
    Response response = MakeResponse(405, "Method Not Allowed", "method not allowed\n");
    response.has_allow_header = true;
    return response;
  }
  if (is_healthz) {
    return MakeResponse(200, "OK", "ok\n");
  }
  if (is_readyz) {
    return is_ready() ? MakeResponse(200, "OK", "ready\n")
                      : MakeResponse(503, "Service Unavailable", "not ready\n");
  }
  Response response = MakeResponse(200, "OK", metrics.RenderPrometheusText());
  response.content_type = kPrometheusContentType;
  return response;
}

// HEAD gets the headers of the GET response, Content-Length included, without the body
// (RFC 9110 section 9.3.2).
std::string SerializeResponse(const Response& response, bool include_body) {
  std::string out = absl::StrCat("HTTP/1.1 ", response.status_code, " ", response.reason,
                                 "\r\nContent-Type: ", response.content_type,
                                 "\r\nContent-Length: ", response.body.size(), "\r\n");
  if (response.has_allow_header) {
    out += "Allow: GET, HEAD\r\n";
  }
  out += "Connection: close\r\n\r\n";
  if (include_body) {
    out += response.body;
  }
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<AdminServer>> AdminServer::Start(
    AdminServerOptions options, const base::MetricsRegistry* metrics,
    std::function<bool()> is_ready) {
  base::UniqueFd inherited(options.inherited_socket);  // closed on every error below
  if (metrics == nullptr) {
    return absl::InvalidArgumentError("admin server: metrics is null");
  }
  if (!is_ready) {
    return absl::InvalidArgumentError("admin server: is_ready is empty");
  }
  if (options.request_timeout <= std::chrono::milliseconds::zero() ||
      options.max_request_bytes == 0 || options.max_connections == 0 ||
      options.max_connections_per_peer == 0) {
    return absl::InvalidArgumentError(
        "admin server: request_timeout, max_request_bytes, max_connections and "
        "max_connections_per_peer must be positive");
  }
  std::error_code error;
  const asio::ip::address address = asio::ip::make_address(options.host, error);
  if (error) {
    return absl::InvalidArgumentError(
        absl::StrCat("admin server host \"", options.host, "\": not an IP address literal"));
  }

  std::unique_ptr<AdminServer> server(
      new AdminServer(std::move(options), metrics, std::move(is_ready)));
  GH_RETURN_IF_ERROR(server->Listen(address, std::move(inherited)));
  asio::co_spawn(server->io_context_, server->AcceptLoop(), asio::detached);
  spdlog::info("admin endpoint listening on {}", server->endpoint_name_);
  // 0.0.0.0, ::, or any routable address: whoever reaches it reads /metrics (app and upstream
  // names, traffic) and can hold connections; nothing asks who they are.
  if (!PeerKey(address).is_loopback()) {
    spdlog::warn(
        "admin endpoint {} is not on a loopback address and has no authentication: anyone who "
        "can reach it can read /metrics; bind it to 127.0.0.1 or ::1, or to a management "
        "network that only trusted hosts reach",
        server->endpoint_name_);
  }
  {
    base::MutexLock lock(&server->stop_mu_);
    server->thread_ = std::thread([raw = server.get()] { raw->io_context_.run(); });
  }
  return {std::move(server)};
}

AdminServer::AdminServer(AdminServerOptions options, const base::MetricsRegistry* metrics,
                         std::function<bool()> is_ready)
    : options_(std::move(options)), metrics_(metrics), is_ready_(std::move(is_ready)) {}

AdminServer::~AdminServer() {
  GH_CHECK(!io_context_.get_executor().running_in_this_thread());
  Stop();
}

absl::Status AdminServer::Listen(const asio::ip::address& address, base::UniqueFd inherited) {
  const tcp::endpoint endpoint(address, options_.port);
  const std::string requested = FormatEndpoint(address, options_.port);
  std::error_code error;
  if (inherited.is_valid()) {
    if (const absl::Status adoptable = upgrade::CheckAdoptable(inherited.get(), endpoint);
        !adoptable.ok()) {
      spdlog::warn("admin endpoint: {}; binding {} instead", adoptable.message(), requested);
    } else {
      acceptor_.assign(endpoint.protocol(), inherited.get(), error);
      if (error) return ErrorCodeToStatus(error, absl::StrCat("assign ", requested));
      listening_fd_ = inherited.Release();  // `acceptor_` owns it now.
      return FinishListen(address, requested);
    }
  }
  // Our own socket() rather than acceptor_.open(): Asio does not set close-on-exec, and a
  // listening socket inherited by a spawned job would outlive the daemon.
  base::UniqueFd fd(
      ::socket(endpoint.protocol().family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.is_valid()) {
    return absl::ErrnoToStatus(errno, absl::StrCat("socket ", requested));
  }
  acceptor_.assign(endpoint.protocol(), fd.get(), error);
  if (error) {
    return ErrorCodeToStatus(error, absl::StrCat("assign ", requested));
  }
  listening_fd_ = fd.Release();  // `acceptor_` owns it now.
  // SO_REUSEADDR lets a restarted daemon bind while old connections sit in TIME_WAIT; Linux
  // still refuses the bind while another socket listens on the port.
  acceptor_.set_option(tcp::acceptor::reuse_address(true), error);
  if (error) {
    return ErrorCodeToStatus(error, absl::StrCat("setsockopt SO_REUSEADDR ", requested));
  }
  acceptor_.bind(endpoint, error);
  if (error) {
    return ErrorCodeToStatus(error, absl::StrCat("bind ", requested));
  }
  acceptor_.listen(asio::socket_base::max_listen_connections, error);
  if (error) {
    return ErrorCodeToStatus(error, absl::StrCat("listen ", requested));
  }
  return FinishListen(address, requested);
}

absl::Status AdminServer::FinishListen(const asio::ip::address& address,
                                       const std::string& requested) {
  std::error_code error;
  local_endpoint_ = acceptor_.local_endpoint(error);
  if (error) {
    return ErrorCodeToStatus(error, absl::StrCat("getsockname ", requested));
  }
  port_ = local_endpoint_.port();
  endpoint_name_ = FormatEndpoint(address, port_);
  return absl::OkStatus();
}

asio::awaitable<void> AdminServer::AcceptLoop() {
  while (!is_stopping_) {
    auto [error] = co_await acceptor_.async_wait(tcp::acceptor::wait_read, kAsTuple);
    if (is_stopping_) {
      break;
    }
    if (error) {
      spdlog::error("admin endpoint {}: waiting for connections: {}; no longer accepting",
                    endpoint_name_, error.message());
      break;
    }
    if (!AcceptPending()) {
      asio::steady_timer timer(io_context_, kAcceptRetryDelay);
      auto [timer_error] = co_await timer.async_wait(kAsTuple);
      static_cast<void>(timer_error);
    }
  }
}

bool AdminServer::AcceptPending() {
  assert(io_context_.get_executor().running_in_this_thread());
  while (true) {
    // accept4 rather than acceptor_.accept(): Asio's accept does not set close-on-exec.
    base::UniqueFd fd(
        ::accept4(acceptor_.native_handle(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!fd.is_valid()) {
      const int error = errno;
      switch (error) {
        case EAGAIN:
          return true;
        // accept(2): Linux reports network errors already pending on the new connection through
        // accept; they concern that connection only, so go on with the next one.
        case EINTR:
        case ECONNABORTED:
        case ENETDOWN:
        case EPROTO:
        case ENOPROTOOPT:
        case EHOSTDOWN:
        case ENONET:
        case EHOSTUNREACH:
        case EOPNOTSUPP:
        case ENETUNREACH:
          continue;
        default:  // EMFILE, ENFILE, ENOBUFS, ENOMEM: retry after a pause.
          spdlog::warn("admin endpoint {}: accept: {}", endpoint_name_,
                       std::error_code(error, std::system_category()).message());
          return false;
      }
    }
    if (open_connections_.load(std::memory_order_relaxed) >= options_.max_connections) {
      spdlog::debug("admin endpoint {}: {} connections open, closing a new one", endpoint_name_,
                    options_.max_connections);
      continue;  // `fd` closes it.
    }
    tcp::socket socket(io_context_);
    std::error_code error;
    socket.assign(local_endpoint_.protocol(), fd.get(), error);
    if (error) {
      spdlog::warn("admin endpoint {}: assign: {}", endpoint_name_, error.message());
      continue;
    }
    fd.Release();  // `socket` owns it now, and closes it on `continue`.
    const tcp::endpoint peer_endpoint = socket.remote_endpoint(error);
    if (error) {
      continue;  // Reset by the peer already (ENOTCONN): nobody to serve.
    }
    const asio::ip::address peer = PeerKey(peer_endpoint.address());
    const auto counted = connections_per_peer_.find(peer);
    // Closed at once, before any read: the peer over its cap costs one accept, and the other
    // peers' connections go on untouched.
    if (counted != connections_per_peer_.end() &&
        counted->second >= options_.max_connections_per_peer) {
      spdlog::debug("admin endpoint {}: {} connections open from {}, closing a new one",
                    endpoint_name_, counted->second, peer.to_string());
      continue;
    }
    // Counted here, not in ServeConnection, so a burst of accepts cannot overshoot the limits
    // before the spawned coroutines first run.
    open_connections_.fetch_add(1, std::memory_order_relaxed);
    ++connections_per_peer_[peer];
    asio::co_spawn(io_context_, ServeConnection(std::move(socket), peer), asio::detached);
  }
}

void AdminServer::ReleaseConnection(const asio::ip::address& peer) {
  open_connections_.fetch_sub(1, std::memory_order_relaxed);
  const auto counted = connections_per_peer_.find(peer);
  GH_CHECK(counted != connections_per_peer_.end() && counted->second > 0);
  if (--counted->second == 0) connections_per_peer_.erase(counted);
}

asio::awaitable<void> AdminServer::ServeConnection(tcp::socket socket,
                                                   asio::ip::address peer_address) {
  // Runs when the coroutine frame is destroyed: on the server thread, or when `io_context_` is
  // destroyed with the frame still pending; `connections_per_peer_` outlives both.
  const absl::Cleanup release = [this, peer_address] { ReleaseConnection(peer_address); };
  // Shutdown may have run between co_spawn and this first resumption, without seeing `socket`.
  if (is_stopping_) {
    co_return;
  }
  open_sockets_.insert(&socket);
  const absl::Cleanup unregister = [this, &socket] { open_sockets_.erase(&socket); };

  std::error_code error;
  const tcp::endpoint peer_endpoint = socket.remote_endpoint(error);
  const std::string peer =
      error ? "unknown peer" : FormatEndpoint(peer_endpoint.address(), peer_endpoint.port());

  // One deadline for the whole request head, however it is split into segments: a client that
  // trickles a byte at a time gets no more time than one that sends nothing.
  asio::steady_timer timer(socket.get_executor(), options_.request_timeout);
  std::array<char, kReadChunkBytes> chunk{};
  std::string received;
  HttpParseResult parsed = ParseHttpRequest(received, options_.max_request_bytes);
  bool is_timed_out = false;
  while (parsed.outcome == HttpParseOutcome::kIncomplete) {
    // While incomplete, received.size() <= max_request_bytes. Reading at most one byte past the
    // limit is enough to tell 431, and bounds the buffer.
    const size_t room = std::min(chunk.size(), options_.max_request_bytes + 1 - received.size());
    const IoResult read = co_await RunUntilExpiry(
        &timer, socket.async_read_some(asio::buffer(chunk.data(), room), kDeferred));
    if (read.is_expired) {
      is_timed_out = true;
      break;
    }
    if (read.error) {
      // EOF or reset before a whole request arrived, or Stop closed the socket: nobody to answer.
      spdlog::debug("admin {}: closed before a complete request: {}", peer, read.error.message());
      co_return;
    }
    received.append(chunk.data(), read.bytes);
    parsed = ParseHttpRequest(received, options_.max_request_bytes);
  }

  bool include_body = true;
  Response response;
  if (is_timed_out) {
    response = MakeResponse(408, "Request Timeout", "request timeout\n");
    spdlog::debug("admin {}: no complete request within {} ms -> 408", peer,
                  options_.request_timeout.count());
  } else {
    response = Route(parsed, *metrics_, is_ready_);
    if (parsed.outcome == HttpParseOutcome::kComplete) {
      include_body = parsed.request.method != "HEAD";
      spdlog::debug("admin {}: {} {} -> {}", peer, parsed.request.method, parsed.request.target,
                    response.status_code);
    } else {
      // fmt cannot format Debian's absl::string_view.
      const absl::string_view outcome = HttpParseOutcomeName(parsed.outcome);
      spdlog::debug("admin {}: {} ({}) -> {}", peer, std::string(outcome.data(), outcome.size()),
                    parsed.error, response.status_code);
    }
  }
  const std::string bytes = SerializeResponse(response, include_body);

  // A client that does not read gets no longer than request_timeout to take the response.
  timer.expires_after(options_.request_timeout);
  const IoResult written =
      co_await RunUntilExpiry(&timer, asio::async_write(socket, asio::buffer(bytes), kDeferred));
  if (written.is_expired || written.error) {
    spdlog::debug("admin {}: response not delivered: {}", peer,
                  written.is_expired ? "timed out" : written.error.message());
    co_return;
  }

  // Lingering close. Closing a socket that still has unread input makes Linux send RST instead
  // of FIN (RFC 1122 section 4.2.2.13), and an RST can destroy the response in the client's
  // receive buffer before it is read: typical after a 431 or 405 whose request is still arriving.
  // So half-close first (the client sees the response, then EOF) and discard input until the
  // client closes too, for at most request_timeout.
  socket.shutdown(tcp::socket::shutdown_send, error);
  if (error) {
    co_return;
  }
  timer.expires_after(options_.request_timeout);
  while (true) {
    const IoResult drained =
        co_await RunUntilExpiry(&timer, socket.async_read_some(asio::buffer(chunk), kDeferred));
    if (drained.is_expired || drained.error) {
      break;
    }
  }
}

void AdminServer::Shutdown() {
  assert(io_context_.get_executor().running_in_this_thread());
  if (is_stopping_) {
    return;
  }
  is_stopping_ = true;
  std::error_code ignored;  // Closing cannot fail in a way that would change what we do next.
  acceptor_.close(ignored);
  // Pending operations complete with operation_aborted; their handlers are posted, never run
  // inside close(), so the coroutines erase themselves from `open_sockets_` only after this loop.
  for (tcp::socket* socket : open_sockets_) {
    socket->close(ignored);
  }
}

void AdminServer::Stop() {
  if (io_context_.get_executor().running_in_this_thread()) {
    // The server thread cannot join itself: start the shutdown and let another thread join.
    asio::post(io_context_, [this] { Shutdown(); });
    return;
  }
  bool has_joined = false;
  {
    base::MutexLock lock(&stop_mu_);
    if (thread_.joinable()) {
      asio::post(io_context_, [this] { Shutdown(); });
      thread_.join();
      has_joined = true;
    }
  }
  if (has_joined) {
    spdlog::info("admin endpoint {} stopped", endpoint_name_);
  }
}

}  // namespace gatehouse::admin
