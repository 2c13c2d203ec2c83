// App: one load-balancer app as the workers see it while a configuration is in force: its
// settings, its balancer over its upstreams, its rate limiter and its counters.
//
// An App is built for each configuration (a reload builds new ones) and is immutable once
// built; workers share it through std::shared_ptr<const App>, and a connection keeps the App it
// was accepted under until it ends. What must outlive one configuration lives in AppState, kept
// by name across reloads: the app's upstreams (so health, passive ejection and open-connection
// counts carry over), its rate limiter (while its limits stay the same) and its open-connection
// count (so the per-app cap holds across a reload) and its launcher (so a running on-demand
// server survives a reload that does not change its launch). Thread-safe: App is immutable;
// AppState's mutable parts are atomics, lb::RateLimiter and lb::UpstreamRegistry, all thread-safe.
#ifndef GATEHOUSE_LBSERVER_APP_H_
#define GATEHOUSE_LBSERVER_APP_H_

#include <openssl/types.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "base/metrics.h"
#include "config/config.h"
#include "globallimit/global_rate_limiter.h"
#include "globallimit/redis_leaser.h"
#include "lb/balancer.h"
#include "lb/dialer.h"
#include "lb/forwarder.h"
#include "lb/rate_limiter.h"
#include "lb/tcp_proxy.h"
#include "lb/upstream_registry.h"
#include "lbserver/close_reason.h"
#include "lbserver/launcher.h"

namespace gatehouse::lbserver {

// Kept by app name across reloads (see above).
struct AppState {
  lb::UpstreamRegistry upstreams;
  // Open client connections of the app, all configurations together.
  std::atomic<uint32_t> open_connections{0};
  // The limiter of the configuration in force and its settings, reused by the next one while
  // the settings stay the same. Read and written by the control thread only (LbServer).
  std::shared_ptr<lb::RateLimiter> rate_limiter;
  config::RateLimitConfig rate_limit;
  // As `rate_limiter`, for a scope: global limit, with the leaser it was built on.
  std::shared_ptr<globallimit::GlobalRateLimiter> global_limiter;
  std::shared_ptr<globallimit::RedisLeaser> global_leaser;
  std::optional<config::GlobalRateLimitsConfig> global_config;
  // The launcher of the configuration in force (launch apps), reused by the next one while the
  // launch settings stay the same, so a reload keeps a running server. Control thread only.
  std::shared_ptr<Launcher> launcher;
  std::optional<config::LaunchConfig> launch;
  jobs::JobRunner* launcher_runner = nullptr;
};

// Counters of one app, registered once per name (the registry returns the same series on a
// reload, so counts continue).
struct AppMetrics {
  base::Counter* accepted = nullptr;  // client connections accepted
  base::Gauge* active = nullptr;      // client connections open now
  lb::ProxyMetrics proxy;             // forwarded, bytes each way, idle timeouts, errors
  // Connections closed before forwarding, by reason (CloseReason); null for the reasons that
  // are not refusals.
  std::array<base::Counter*, kCloseReasonCount> refused{};
  // Handshake failures by reason (HandshakeFailure).
  std::array<base::Counter*, kHandshakeFailureCount> handshake_failures{};
  base::Counter* dial_failures = nullptr;  // failed connect attempts to upstreams
};

AppMetrics RegisterAppMetrics(base::MetricsRegistry& registry, const std::string& app);

struct App;

// Where a tls: sni app sends the connections for one server name.
struct SniRoute {
  std::shared_ptr<const App> app;  // never a tls: sni app
  // The context to terminate TLS with when the route has its own certificate; null: the
  // server's context (a tls: mutual app), or none at all (a tls: none app: passthrough).
  std::shared_ptr<SSL_CTX> tls_context;
};

struct App {
  config::LbAppConfig config;
  std::shared_ptr<AppState> state;
  std::unique_ptr<lb::Balancer> balancer;
  // Null when the app has no rate limit, or a scope: global one.
  std::shared_ptr<lb::RateLimiter> rate_limiter;
  // Null unless the app's rate limit has scope: global (then `rate_limiter` is null).
  std::shared_ptr<globallimit::GlobalRateLimiter> global_limiter;
  lb::DialOptions dial;
  lb::ForwarderOptions forward;
  // Launch apps: starts and stops the app's server; null without a launch, or when the job
  // worker is off. An app with both tries its upstreams first and launches only when none of
  // them can be reached.
  std::shared_ptr<Launcher> launcher;
  // A plain-TCP app admits clients only under an explicit users ["*"] rule.
  bool admits_anonymous = false;
  // tls: sni apps: lower-case server name -> route. Empty for other apps.
  std::map<std::string, SniRoute, std::less<>> routes;
  AppMetrics metrics;
};

}  // namespace gatehouse::lbserver

#endif  // GATEHOUSE_LBSERVER_APP_H_
