#include "lbserver/connection.h"

#include <openssl/ssl.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "asio/experimental/as_tuple.hpp"
#include "asio/steady_timer.hpp"
#include "asio/this_coro.hpp"
#include "asio/use_awaitable.hpp"
#include "asio/write.hpp"
#include "lb/client_hello.h"
#include "lb/dialer.h"
#include "lb/forwarder.h"
#include "lb/maglev_table.h"
#include "lb/proxy_protocol.h"
#include "lbserver/access_log.h"
#include "lbserver/launcher.h"
#include "net/tls_stream.h"
#include "security/identity.h"

namespace gatehouse::lbserver {
namespace {

using asio::ip::tcp;

constexpr auto kAsTuple = asio::experimental::as_tuple(asio::use_awaitable);

void Count(base::Counter* counter, uint64_t n = 1) {
  if (counter != nullptr && n > 0) counter->Increment(n);
}

// One open client connection against lb.max_connections and the app's max_connections,
// given back on every exit path. Confined to its connection's coroutine. A routed connection
// holds one of the tls: sni app and one of its route's app, but counts once globally.
class ConnectionSlot {
 public:
  ConnectionSlot(ConnectionCount* count, const App& app, uint32_t max_connections,
                 bool counts_globally = true)
      : count_(counts_globally ? count : nullptr), app_(app) {
    // fetch_add then check: a burst may briefly count past the cap, but never admits past it.
    // Relaxed: the counts order nothing else.
    const uint32_t open =
        count_ != nullptr ? count_->open.fetch_add(1, std::memory_order_relaxed) + 1 : 0;
    const uint32_t app_open =
        app_.state->open_connections.fetch_add(1, std::memory_order_relaxed) + 1;
    if (open > max_connections) {
      refusal_ = CloseReason::kMaxConnections;
    } else if (app_.config.max_connections != 0 && app_open > app_.config.max_connections) {
      refusal_ = CloseReason::kAppMaxConnections;
    }
    app_.metrics.active->Add(1);
  }
  ConnectionSlot(const ConnectionSlot&) = delete;
  ConnectionSlot& operator=(const ConnectionSlot&) = delete;
  ConnectionSlot(ConnectionSlot&&) = delete;
  ConnectionSlot& operator=(ConnectionSlot&&) = delete;
  ~ConnectionSlot() {
    app_.metrics.active->Add(-1);
    app_.state->open_connections.fetch_sub(1, std::memory_order_relaxed);
    if (count_ != nullptr) count_->open.fetch_sub(1, std::memory_order_relaxed);
  }

  std::optional<CloseReason> refusal() const { return refusal_; }

 private:
  ConnectionCount* const count_;
  const App& app_;
  std::optional<CloseReason> refusal_;
};

// The rate limiter's answer for `key`, then authorization: nullopt and a permit to hold while
// the connection lives, or why it is refused.
std::optional<CloseReason> Admit(const App& app, const LbSnapshot& snapshot,
                                 const security::Identity* identity, const std::string& key,
                                 lb::RateLimitPermit* permit) {
  if (app.rate_limiter != nullptr || app.global_limiter != nullptr) {
    lb::RateLimitDecision decision =
        app.rate_limiter != nullptr ? app.rate_limiter->Admit(key) : app.global_limiter->Admit(key);
    switch (decision.verdict) {
      case lb::RateLimitVerdict::kAdmitted:
        *permit = std::move(decision.permit);
        break;
      case lb::RateLimitVerdict::kRateLimited:
        return CloseReason::kRateLimited;
      case lb::RateLimitVerdict::kConcurrencyLimited:
        return CloseReason::kConcurrencyLimited;
      case lb::RateLimitVerdict::kTooManyKeys:
        return CloseReason::kTooManyClients;
    }
  }
  const bool is_allowed = identity != nullptr
                              ? snapshot.policy->MayUseApp(*identity, app.config.name)
                              : app.admits_anonymous;
  if (!is_allowed) return CloseReason::kNotAllowed;
  return std::nullopt;
}

template <size_t N>
uint64_t HashOfBytes(const std::array<unsigned char, N>& bytes) {
  return lb::StableHash(absl::string_view(reinterpret_cast<const char*>(bytes.data()), N));
}

// The key `balancing: hash` keeps a client on one upstream by; nullopt for other algorithms.
// `record.identity` is set (after the handshake) for tls: mutual apps, which the config requires
// of client_identity. An IPv4 client seen on a dual-stack listener (::ffff:a.b.c.d) hashes as
// its IPv4 address, so it keeps its upstream on any listener.
std::optional<uint64_t> HashKeyOf(const App& app, const tcp::endpoint& client_endpoint,
                                  const AccessRecord& record) {
  if (app.config.balancing != config::Balancing::kHash) return std::nullopt;
  if (app.config.hash_key == config::HashKey::kClientIdentity) {
    return lb::StableHash(record.identity);
  }
  const asio::ip::address address = client_endpoint.address();
  if (address.is_v4()) return HashOfBytes(address.to_v4().to_bytes());
  const asio::ip::address_v6 v6 = address.to_v6();
  if (v6.is_v4_mapped()) {
    return HashOfBytes(asio::ip::make_address_v4(asio::ip::v4_mapped, v6).to_bytes());
  }
  return HashOfBytes(v6.to_bytes());
}

tcp::socket& SocketOf(tcp::socket& client) { return client; }
tcp::socket& SocketOf(std::unique_ptr<net::TlsStream>& client) { return client->socket(); }

// PROXY header, then forward both ways until both directions end. `Client` is a plain socket
// or a TLS stream after its handshake.
template <typename Client>
asio::awaitable<void> HeaderThenForward(Client client, tcp::socket upstream, const App& app,
                                        const lb::ProxyTlsInfo* tls_info,
                                        tcp::endpoint client_endpoint, tcp::endpoint local_endpoint,
                                        AccessRecord& record) {
  if (app.config.proxy_protocol == config::ProxyProtocol::kV2) {
    const absl::StatusOr<std::string> header =
        lb::EncodeProxyV2Header(client_endpoint, local_endpoint, tls_info);
    std::error_code error;
    if (header.ok()) {
      // clang-tidy 14 reads the coroutine's resumption as a loop back to here after the move
      // below; it runs once.
      std::tie(error, std::ignore) =
          // NOLINTNEXTLINE(bugprone-use-after-move)
          co_await asio::async_write(upstream, asio::buffer(*header), kAsTuple);
    }
    if (!header.ok() || error) {
      Count(app.metrics.refused[static_cast<size_t>(CloseReason::kProxyHeaderFailed)]);
      record.end = CloseReason::kProxyHeaderFailed;
      record.detail = header.ok() ? error.message() : absl::StrCat(header.status().message());
      co_return;
    }
  }
  Count(app.metrics.proxy.connections);
  std::error_code ignored;  // latency only
  SocketOf(client).set_option(tcp::no_delay(true), ignored);
  const lb::ForwardResult result =
      co_await lb::Forward(std::move(client), std::move(upstream), app.forward);
  record.client_to_upstream_bytes = result.client_to_upstream_bytes;
  record.upstream_to_client_bytes = result.upstream_to_client_bytes;
  Count(app.metrics.proxy.client_to_upstream_bytes, result.client_to_upstream_bytes);
  Count(app.metrics.proxy.upstream_to_client_bytes, result.upstream_to_client_bytes);
  switch (result.end) {
    case lb::ForwardEnd::kClosed:
      record.end = CloseReason::kClosed;
      break;
    case lb::ForwardEnd::kIdleTimeout:
      record.end = CloseReason::kIdleTimeout;
      Count(app.metrics.proxy.idle_timeouts);
      break;
    case lb::ForwardEnd::kError:
      record.end = CloseReason::kForwardError;
      record.detail = result.error.message();
      Count(app.metrics.proxy.errors);
      break;
  }
}

// Dial (the app's upstreams, else its on-demand server), then HeaderThenForward. The upstream's
// lease (least-connections counts) or the server's (the idle stop) is held until forwarding ends.
template <typename Client>
asio::awaitable<void> ProxyTo(Client client, const App& app, const lb::ProxyTlsInfo* tls_info,
                              tcp::endpoint client_endpoint, tcp::endpoint local_endpoint,
                              AccessRecord& record) {
  std::string no_upstream;
  if (!app.balancer->upstreams().empty()) {
    absl::StatusOr<lb::DialedUpstream> dialed =
        co_await lb::Dial(*app.balancer, app.dial, HashKeyOf(app, client_endpoint, record));
    if (dialed.ok()) {
      record.upstream = dialed->lease.upstream().name();
      const lb::UpstreamLease lease = std::move(dialed->lease);
      co_await HeaderThenForward(std::move(client), std::move(dialed->socket), app, tls_info,
                                 client_endpoint, local_endpoint, record);
      co_return;
    }
    no_upstream = absl::StrCat(dialed.status().message());
  }
  if (app.launcher == nullptr) {
    Count(app.metrics.proxy.no_upstream);
    record.end = CloseReason::kNoUpstream;
    record.detail = app.config.launch.has_value() ? "its launch needs the job worker, which is off"
                                                  : std::move(no_upstream);
    co_return;
  }
  absl::StatusOr<Launcher::Lease> lease = co_await app.launcher->Acquire();
  if (!lease.ok()) {
    record.end = CloseReason::kNoInstance;
    record.detail = absl::StrCat(lease.status().message());
    co_return;
  }
  record.upstream = absl::StrCat("job:", lease->job());
  tcp::socket upstream(co_await asio::this_coro::executor);
  if (const std::error_code error =
          co_await ConnectToInstance(upstream, *lease, app.dial.connect_timeout)) {
    Count(app.metrics.dial_failures);
    app.launcher->ReportDialFailure(*lease);
    record.end = CloseReason::kNoInstance;
    record.detail = absl::StrCat("connect to port ", lease->port(), " of job ", lease->job(), ": ",
                                 error.message());
    co_return;
  }
  co_await HeaderThenForward(std::move(client), std::move(upstream), app, tls_info, client_endpoint,
                             local_endpoint, record);
}

std::string EndpointText(const tcp::endpoint& endpoint) { return lb::EndpointName(endpoint); }

// Sets how many bytes must be queued before the socket reports itself readable.
std::error_code SetReceiveLowWatermark(tcp::socket& socket, size_t bytes) {
  std::error_code error;
  socket.set_option(asio::socket_base::receive_low_watermark(static_cast<int>(bytes)), error);
  return error;
}

// The server name of the ClientHello at the head of `client`, from bytes peeked and left in
// place, within `timeout`. The socket's receive low watermark is raised to the bytes the
// record still needs, so each wait ends when they have arrived (or the client closed), not
// whenever a few more trickle in; it is back to one byte on return.
asio::awaitable<absl::StatusOr<std::string>> PeekServerName(tcp::socket& client,
                                                            std::chrono::nanoseconds timeout) {
  // The deadline's handler may already be queued when the peek ends, and then runs after this
  // frame and `client` are gone: it shares `watch` and touches the socket only while the peek
  // is still on. One worker thread runs both, so the flags need no lock.
  struct Watch {
    tcp::socket* client;
    bool is_peeking = true;
    bool timed_out = false;
  };
  const auto watch = std::make_shared<Watch>(Watch{&client});
  asio::steady_timer deadline(co_await asio::this_coro::executor, timeout);
  deadline.async_wait([watch](const std::error_code& error) {
    if (error || !watch->is_peeking) return;
    watch->timed_out = true;
    std::error_code ignored;
    watch->client->cancel(ignored);
  });
  std::string buffer(lb::kMaxClientHelloPeekBytes, '\0');
  size_t wanted = lb::kTlsRecordHeaderBytes;
  absl::StatusOr<std::string> result = absl::DeadlineExceededError("no ClientHello");
  while (true) {
    if (const std::error_code error = SetReceiveLowWatermark(client, wanted)) {
      result = absl::InternalError(absl::StrCat("SO_RCVLOWAT: ", error.message()));
      break;
    }
    auto [error] = co_await client.async_wait(tcp::socket::wait_read, kAsTuple);
    if (watch->timed_out) {
      result = absl::DeadlineExceededError("no whole ClientHello within lb.handshake_timeout");
      break;
    }
    if (error) {
      result = absl::UnavailableError(error.message());
      break;
    }
    const ssize_t peeked =
        ::recv(client.native_handle(), buffer.data(), buffer.size(), MSG_PEEK | MSG_DONTWAIT);
    if (peeked == 0) {
      result = absl::UnavailableError("the client closed before its ClientHello");
      break;
    }
    if (peeked < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
      result = absl::UnavailableError(std::error_code(errno, std::system_category()).message());
      break;
    }
    const absl::string_view bytes(buffer.data(), static_cast<size_t>(peeked));
    absl::StatusOr<lb::ClientHello> hello = lb::ParseClientHello(bytes);
    if (hello.ok()) {
      result = std::move(hello->server_name);
      break;
    }
    if (hello.status().code() != absl::StatusCode::kOutOfRange) {
      result = hello.status();
      break;
    }
    // The record header is in (the parser got past it): wait for the whole record.
    wanted = bytes.size() < lb::kTlsRecordHeaderBytes
                 ? lb::kTlsRecordHeaderBytes
                 : lb::kTlsRecordHeaderBytes +
                       ((static_cast<size_t>(static_cast<uint8_t>(bytes[3])) << 8) |
                        static_cast<uint8_t>(bytes[4]));
  }
  watch->is_peeking = false;
  deadline.cancel();
  SetReceiveLowWatermark(client, 1);
  co_return result;
}

asio::awaitable<void> Serve(tcp::socket client, const LbSnapshot& snapshot, const App& app,
                            SSL_CTX* tls_context, tcp::endpoint client_endpoint,
                            tcp::endpoint local_endpoint, AccessRecord& record);

// tls: sni apps: read the server name, then serve the connection as its route's app would
// (under that app's caps, admission and metrics, with the route's certificate if it has one).
asio::awaitable<void> Route(tcp::socket client, const LbSnapshot& snapshot, const App& app,
                            ConnectionCount* count, tcp::endpoint client_endpoint,
                            tcp::endpoint local_endpoint, AccessRecord& record) {
  absl::StatusOr<std::string> name = co_await PeekServerName(client, snapshot.handshake_timeout);
  if (!name.ok()) {
    record.end = CloseReason::kBadClientHello;
    record.detail = absl::StrCat(name.status().message());
    Count(app.metrics.refused[static_cast<size_t>(CloseReason::kBadClientHello)]);
    co_return;
  }
  record.server_name = *name;
  const auto route = app.routes.find(*name);
  if (route == app.routes.end()) {
    record.end = CloseReason::kUnknownServerName;
    record.detail = name->empty() ? "the ClientHello has no server name" : "no route for it";
    Count(app.metrics.refused[static_cast<size_t>(CloseReason::kUnknownServerName)]);
    co_return;
  }
  const App& target = *route->second.app;
  record.app = target.config.name;
  Count(target.metrics.accepted);
  const ConnectionSlot slot(count, target, snapshot.max_connections, /*counts_globally=*/false);
  if (const std::optional<CloseReason> refusal = slot.refusal()) {
    Count(target.metrics.refused[static_cast<size_t>(*refusal)]);
    record.end = *refusal;
    co_return;
  }
  SSL_CTX* const tls_context = route->second.tls_context != nullptr
                                   ? route->second.tls_context.get()
                                   : snapshot.tls_context.get();
  co_await Serve(std::move(client), snapshot, target, tls_context, client_endpoint, local_endpoint,
                 record);
}

// After the caps: handshake (TLS apps), admission, then proxying. Fills `record`.
asio::awaitable<void> Serve(tcp::socket client, const LbSnapshot& snapshot, const App& app,
                            SSL_CTX* tls_context, tcp::endpoint client_endpoint,
                            tcp::endpoint local_endpoint, AccessRecord& record) {
  const std::string client_ip = client_endpoint.address().to_string();
  lb::RateLimitPermit permit;
  if (app.config.tls == config::AppTls::kNone) {
    if (const std::optional<CloseReason> refusal =
            Admit(app, snapshot, /*identity=*/nullptr, client_ip, &permit)) {
      record.end = *refusal;
      Count(app.metrics.refused[static_cast<size_t>(*refusal)]);
      co_return;
    }
    co_await ProxyTo(std::move(client), app, /*tls_info=*/nullptr, client_endpoint, local_endpoint,
                     record);
    co_return;
  }

  auto stream = std::make_unique<net::TlsStream>(std::move(client), tls_context);
  if (const std::error_code error = co_await stream->Handshake(snapshot.handshake_timeout)) {
    const HandshakeFailure failure = ClassifyHandshakeFailure(stream->ssl(), error);
    Count(app.metrics.handshake_failures[static_cast<size_t>(failure)]);
    record.end = CloseReason::kHandshakeFailed;
    record.detail = absl::StrCat(HandshakeFailureName(failure), ": ", error.message());
    co_return;
  }
  const absl::StatusOr<security::Identity> identity =
      security::IdentityFromCertificate(SSL_get0_peer_certificate(stream->ssl()));
  if (!identity.ok()) {
    Count(app.metrics.refused[static_cast<size_t>(CloseReason::kBadIdentity)]);
    record.end = CloseReason::kBadIdentity;
    record.detail = absl::StrCat(identity.status().message());
    co_return;
  }
  record.identity = identity->user;
  if (const std::optional<CloseReason> refusal =
          Admit(app, snapshot, &*identity, identity->user, &permit)) {
    record.end = *refusal;
    Count(app.metrics.refused[static_cast<size_t>(*refusal)]);
    co_return;
  }
  lb::ProxyTlsInfo tls_info;
  tls_info.common_name = identity->user;
  tls_info.roles = identity->roles;
  co_await ProxyTo(std::move(stream), app, &tls_info, client_endpoint, local_endpoint, record);
}

}  // namespace

asio::awaitable<void> ServeConnection(tcp::socket client,
                                      std::shared_ptr<const LbSnapshot> snapshot,
                                      std::shared_ptr<const App> app, ConnectionCount* count) {
  const auto start = std::chrono::steady_clock::now();
  std::error_code error;
  const tcp::endpoint client_endpoint = client.remote_endpoint(error);
  const tcp::endpoint local_endpoint = client.local_endpoint(error);
  AccessRecord record;
  record.app = app->config.name;
  record.client = EndpointText(client_endpoint);
  Count(app->metrics.accepted);
  {
    const ConnectionSlot slot(count, *app, snapshot->max_connections);
    if (const std::optional<CloseReason> refusal = slot.refusal()) {
      Count(app->metrics.refused[static_cast<size_t>(*refusal)]);
      record.end = *refusal;
      client.close(error);
    } else if (app->config.tls == config::AppTls::kSni) {
      co_await Route(std::move(client), *snapshot, *app, count, client_endpoint, local_endpoint,
                     record);
    } else {
      co_await Serve(std::move(client), *snapshot, *app, snapshot->tls_context.get(),
                     client_endpoint, local_endpoint, record);
    }
  }
  record.duration = std::chrono::steady_clock::now() - start;
  WriteAccessLog(record);
}

}  // namespace gatehouse::lbserver
