// LbServer: the load balancer service of gatehoused (the `lbserver` component of RFD 0001): an
// mTLS (or plain TCP) front door that forwards each app's clients to its upstreams.
//
// It runs `lb.workers` Workers (thread-per-core event loops, each with its own SO_REUSEPORT
// socket per listen address), one TcpHealthChecker per app with a health check, and publishes
// per-app and per-upstream metrics. See connection.h for what happens to one connection.
//
// Reload builds a complete new configuration (apps, balancers, limiters, listeners) and only
// then hands it to the workers; on any error nothing changes. What stays carries over: a listen
// address kept keeps its sockets (no connection is refused across a reload), an app kept keeps
// its upstreams' health, ejection and connection counts, its rate-limit state while its
// limits are the same, and its on-demand server while its launch is the same. A launch that
// changes or goes away gets a new launcher; the old one stops its server once the connections
// that use it have ended (the last App holding it goes). Connections already open keep the
// configuration they started under.
//
// Thread-compatible for its control methods (Start, Reload, Shutdown, BoundEndpoints): the
// daemon calls them from one thread. Connections run on the workers.
#ifndef GATEHOUSE_LBSERVER_LB_SERVER_H_
#define GATEHOUSE_LBSERVER_LB_SERVER_H_

#include <openssl/ssl.h>

#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "asio/ip/tcp.hpp"
#include "base/metrics.h"
#include "config/config.h"
#include "jobs/job_runner.h"
#include "lb/health_checker.h"
#include "lbserver/app.h"
#include "lbserver/global_limits.h"
#include "lbserver/port_steering.h"
#include "lbserver/snapshot.h"
#include "lbserver/worker.h"
#include "security/policy.h"
#include "security/tls_context.h"
#include "upgrade/handoff.h"

namespace gatehouse::lbserver {

// What the service needs from a loaded configuration.
struct LbServerSettings {
  config::LbConfig lb;
  // Server context for TLS apps; may be null when every app is plain TCP.
  std::shared_ptr<SSL_CTX> tls_context;
  // The files `tls_context` was built from: a tls: sni route with its own certificate gets a
  // context of that certificate with these CA and CRL files (clients are verified the same way).
  security::TlsFiles tls_files;
  std::shared_ptr<const security::AuthorizationPolicy> policy;
  // Runs the servers of launch apps (borrowed; must outlive the server). Null when the job
  // worker is off (not root): launch apps then start nothing, and say so in the log.
  jobs::JobRunner* job_runner = nullptr;
  // Port ranges are steered with BPF sk_lookup when it attaches (port_steering.h); false serves
  // them with plain listeners, as without BPF.
  bool sk_lookup_steering = true;
  // Where apps with rate_limit scope: global keep their buckets; unset when none has one.
  std::optional<config::GlobalRateLimitsConfig> global_rate_limits;
};

class LbServer {
 public:
  // Binds every listener, starts the workers and health checks. `metrics` is borrowed and must
  // outlive the server. Errors (nothing keeps running): a listen address that cannot be bound
  // (FailedPrecondition/PermissionDenied naming it), InvalidArgument for settings the lb library
  // refuses.
  // `inherited`: listening sockets a binary upgrade's predecessor handed over, by listener key
  // (ListenerDescriptors); a key of the configuration serves on them instead of binding (as
  // many workers as there are sockets; more workers get new sockets), and the rest are closed.
  static absl::StatusOr<std::unique_ptr<LbServer>> Start(const LbServerSettings& settings,
                                                         base::MetricsRegistry* metrics,
                                                         upgrade::ListenerSockets inherited = {});

  // The listening sockets by listener key, one per worker (borrowed), for a binary upgrade's
  // successor. Control thread only, like Reload.
  std::map<std::string, std::vector<int>> ListenerDescriptors() const;

  LbServer(const LbServer&) = delete;
  LbServer& operator=(const LbServer&) = delete;
  LbServer(LbServer&&) = delete;
  LbServer& operator=(LbServer&&) = delete;
  // Shutdown(0s) if not shut down yet.
  ~LbServer();

  // Applies `settings` to new connections, all or nothing (see above). `lb.workers` applies only
  // at start; a change is logged and ignored.
  absl::Status Reload(const LbServerSettings& settings);

  // Stops accepting (clients are refused from now on), waits up to `drain` for open connections
  // to end, then closes the rest and stops every thread. Idempotent.
  void Shutdown(std::chrono::nanoseconds drain);

  // Where each configured listen address ("127.0.0.1:0") is bound (with the port the kernel
  // chose for port 0).
  std::map<std::string, asio::ip::tcp::endpoint> BoundEndpoints() const;

  // Client connections open now, all apps.
  uint32_t open_connections() const { return count_.open.load(std::memory_order_relaxed); }
  size_t worker_count() const { return workers_.size(); }

 private:
  struct Listener {
    asio::ip::tcp::endpoint bound;
    std::vector<int> fds;  // one per worker, owned by the workers
  };
  struct OpenedListener {
    asio::ip::tcp::endpoint bound;
    std::vector<ListenerSocket> sockets;  // one per worker
    std::vector<int> fds;                 // the sockets' descriptors, which the workers take
  };
  struct HealthCheck {
    std::vector<std::string> upstreams;
    config::HealthCheckConfig options;
    std::unique_ptr<lb::TcpHealthChecker> checker;
  };
  // Mirrors upstream health and open connections into gauges at every scrape (shared with the
  // metrics registry's collector, which may run on the admin thread).
  struct UpstreamGauges;

  explicit LbServer(base::MetricsRegistry* metrics);

  absl::StatusOr<std::shared_ptr<const LbSnapshot>> BuildSnapshot(const LbServerSettings& settings,
                                                                  const ListenPlan& plan);
  // The app's launcher: the kept one while its launch is unchanged, else a new one.
  absl::StatusOr<std::shared_ptr<Launcher>> LauncherFor(const config::LbAppConfig& config,
                                                        const LbServerSettings& settings,
                                                        const AppState& state);
  // `built`: the apps built so far by name; a tls: sni app's routes point into it.
  absl::StatusOr<std::shared_ptr<const App>> BuildApp(
      const config::LbAppConfig& config, const LbServerSettings& settings,
      const std::map<std::string, std::shared_ptr<const App>>& built);
  // The handed-over sockets of `key` that listen on `endpoint` (none if one does not: the
  // configuration changed), taken out of `inherited_`.
  std::vector<base::UniqueFd> TakeInherited(const std::string& key,
                                            const asio::ip::tcp::endpoint& endpoint);
  // Opens `workers_.size()` sockets per listener key and address; all or none. The keys of
  // `steered` (steered groups) get exclusive sockets, each on a port of its own.
  absl::StatusOr<std::map<std::string, OpenedListener>> OpenListeners(
      const std::map<std::string, config::Address>& addresses,
      const std::map<std::string, std::set<SteeredPort>>& steered);
  // The checkers the snapshot's apps need: kept ones are moved out of `health_checks_`.
  absl::StatusOr<std::map<std::string, HealthCheck>> PlanHealthChecks(const LbSnapshot& snapshot);
  struct ListenerChanges {
    std::map<std::string, config::Address> to_open;  // by listener key
    std::vector<std::string> to_close;
  };
  ListenerChanges DiffListeners(const ListenPlan& plan) const;
  // Installs the planned checkers (keeping the running ones marked as kept) and stops the rest.
  void CommitHealthChecks(std::map<std::string, HealthCheck> planned, const LbSnapshot& snapshot);
  // What carries over to the next reload, and the per-upstream gauges.
  void CommitAppState(const LbSnapshot& snapshot, jobs::JobRunner* runner);
  absl::Status Apply(const LbServerSettings& settings, bool is_start);

  base::MetricsRegistry* const metrics_;
  GlobalLimits global_limits_;
  AcceptMetrics accept_metrics_;
  ConnectionCount count_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::map<std::string, Listener> listeners_;
  // Sockets handed over by a binary upgrade's predecessor, until Start's Apply takes them.
  upgrade::ListenerSockets inherited_;
  PortSteering port_steering_;
  std::map<std::string, std::shared_ptr<AppState>> app_states_;
  std::map<std::string, HealthCheck> health_checks_;
  std::shared_ptr<const LbSnapshot> snapshot_;
  std::shared_ptr<UpstreamGauges> upstream_gauges_;
  std::shared_ptr<const std::function<void()>> gauge_collector_;
  // The first configuration, queued to the workers before their threads start.
  std::vector<std::future<void>> pending_;
  bool is_shut_down_ = false;
};

}  // namespace gatehouse::lbserver

#endif  // GATEHOUSE_LBSERVER_LB_SERVER_H_
