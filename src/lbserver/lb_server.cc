#include "lbserver/lb_server.h"

#include <sched.h>

#include <algorithm>
#include <future>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "base/clock.h"
#include "base/logging.h"
#include "base/mutex.h"
#include "base/status_macros.h"
#include "config/config.h"
#include "lb/forwarder.h"
#include "lbserver/launch_spec.h"
#include "lbserver/listen_socket.h"
#include "spdlog/spdlog.h"
#include "upgrade/adopt_listener.h"

namespace gatehouse::lbserver {
namespace {

// A config that loads must give options the forwarder accepts, or every connection would fail.
static_assert(config::kMinBandwidthBytesPerSecond == lb::kMinBytesPerSecond &&
              config::kMaxBandwidthBytesPerSecond == lb::kMaxBytesPerSecond);

using asio::ip::tcp;

lb::BalancingAlgorithm ToAlgorithm(config::Balancing balancing) {
  switch (balancing) {
    case config::Balancing::kRoundRobin:
      return lb::BalancingAlgorithm::kRoundRobin;
    case config::Balancing::kLeastConnections:
      return lb::BalancingAlgorithm::kLeastConnections;
    case config::Balancing::kPowerOfTwoChoices:
      return lb::BalancingAlgorithm::kPowerOfTwoChoices;
    case config::Balancing::kHash:
      return lb::BalancingAlgorithm::kHash;
  }
  return lb::BalancingAlgorithm::kRoundRobin;
}

absl::StatusOr<tcp::endpoint> ToEndpoint(const config::Address& address) {
  std::error_code error;
  const asio::ip::address ip = asio::ip::make_address(address.host, error);
  if (error) {
    return absl::InvalidArgumentError(
        absl::StrCat("address ", address.ToString(), ": ", error.message()));
  }
  return tcp::endpoint(ip, address.port);
}

bool SameRateLimit(const config::RateLimitConfig& a, const config::RateLimitConfig& b) {
  return a.connections_per_second == b.connections_per_second && a.burst == b.burst &&
         a.max_concurrent == b.max_concurrent;
}

bool SameHealthCheck(const config::HealthCheckConfig& a, const config::HealthCheckConfig& b) {
  return a.interval == b.interval && a.timeout == b.timeout && a.rise == b.rise && a.fall == b.fall;
}

bool IsRateLimited(const config::RateLimitConfig& limit) {
  return limit.connections_per_second > 0 || limit.max_concurrent > 0;
}

// One per CPU this process may run on (taskset, cgroup cpusets), as HAProxy's nbthread does.
size_t DefaultWorkerCount() {
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  if (::sched_getaffinity(0, sizeof(cpus), &cpus) == 0) {
    const int count = CPU_COUNT(&cpus);
    if (count > 0) return static_cast<size_t>(count);
  }
  return std::max(1U, std::thread::hardware_concurrency());
}

// Returns once every worker has taken a change in, so a caller that reloads and then connects is
// served under the new configuration. A worker stuck for seconds is a bug; the wait is bounded
// so that it cannot hang the daemon's signal thread, and the change still applies when it wakes.
void WaitForWorkers(std::vector<std::future<void>>& changes) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (std::future<void>& change : changes) {
    if (change.wait_until(deadline) != std::future_status::ready) {
      spdlog::error("lb: a worker did not take a configuration change within 5 s");
      return;
    }
  }
}

std::vector<std::string> UpstreamNames(const App& app) {
  std::vector<std::string> names;
  for (const auto& upstream : app.balancer->upstreams()) names.push_back(upstream->name());
  return names;
}

// One route of the tls: sni app `app_name`; its app is in `built` (the config checked that it
// exists and is not tls: sni).
absl::StatusOr<SniRoute> BuildRoute(
    const std::string& app_name, const config::SniRouteConfig& config,
    const LbServerSettings& settings,
    const std::map<std::string, std::shared_ptr<const App>>& built) {
  const auto target = built.find(config.app);
  if (target == built.end() || target->second->config.tls == config::AppTls::kSni) {
    return absl::InvalidArgumentError(absl::StrCat("lb app ", app_name, ": the route for ",
                                                   config.server_name, " names app ", config.app,
                                                   ", which is not a routable app"));
  }
  SniRoute route;
  route.app = target->second;
  if (config.certificate.has_value()) {
    security::TlsFiles files = settings.tls_files;
    files.cert_file = config.certificate->cert_file;
    files.key_file = config.certificate->key_file;
    absl::StatusOr<security::SslCtxPtr> context =
        security::BuildTlsContext(security::TlsRole::kServer, files);
    if (!context.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("lb app ", app_name, ": the certificate of ",
                                                     config.server_name, ": ",
                                                     context.status().message()));
    }
    route.tls_context = std::shared_ptr<SSL_CTX>(std::move(*context));
  }
  return route;
}

}  // namespace

struct LbServer::UpstreamGauges {
  struct Entry {
    std::shared_ptr<lb::Upstream> upstream;
    base::Gauge* eligible = nullptr;
    base::Gauge* open_connections = nullptr;
  };
  base::Mutex mu;
  std::vector<Entry> entries ABSL_GUARDED_BY(mu);

  void Refresh() {
    base::MutexLock lock(&mu);
    for (const Entry& entry : entries) {
      entry.eligible->Set(entry.upstream->is_eligible() ? 1 : 0);
      entry.open_connections->Set(entry.upstream->open_connections());
    }
  }
};

LbServer::LbServer(base::MetricsRegistry* metrics)
    : metrics_(metrics),
      global_limits_(metrics),
      port_steering_(metrics->GetGauge(
          "gatehouse_lb_steered_ports",
          "Ports whose connections BPF sk_lookup steers into the load balancer's sockets.")),
      upstream_gauges_(std::make_shared<UpstreamGauges>()) {
  const std::string help = "Errors accepting client connections, by kind.";
  accept_metrics_.resource_errors = metrics_->GetCounter("gatehouse_lb_accept_errors_total", help,
                                                         {{"reason", "out_of_resources"}});
  accept_metrics_.other_errors =
      metrics_->GetCounter("gatehouse_lb_accept_errors_total", help, {{"reason", "other"}});
  metrics_->GetGauge("gatehouse_lb_max_connections",
                     "Open client connections allowed, all apps together.");
  gauge_collector_ = std::make_shared<const std::function<void()>>(
      [gauges = upstream_gauges_] { gauges->Refresh(); });
  metrics_->AddCollector(gauge_collector_);
}

absl::StatusOr<std::unique_ptr<LbServer>> LbServer::Start(const LbServerSettings& settings,
                                                          base::MetricsRegistry* metrics,
                                                          upgrade::ListenerSockets inherited) {
  std::unique_ptr<LbServer> server(new LbServer(metrics));
  server->inherited_ = std::move(inherited);
  const size_t workers = settings.lb.workers > 0 ? settings.lb.workers : DefaultWorkerCount();
  for (size_t i = 0; i < workers; ++i) {
    server->workers_.push_back(std::make_unique<Worker>(&server->count_, server->accept_metrics_));
  }
  GH_RETURN_IF_ERROR(server->Apply(settings, /*is_start=*/true));
  for (const auto& [key, sockets] : server->inherited_) {
    spdlog::info("lb: handed-over listener {} is not in the configuration; closing it", key);
  }
  server->inherited_.clear();
  for (auto& worker : server->workers_) worker->Start();
  WaitForWorkers(server->pending_);
  spdlog::info("lb: {} worker(s), {} app(s)", workers, server->snapshot_->apps.size());
  return server;
}

LbServer::~LbServer() { Shutdown(std::chrono::nanoseconds(0)); }

absl::Status LbServer::Reload(const LbServerSettings& settings) {
  if (is_shut_down_) return absl::FailedPreconditionError("the lb service is shutting down");
  if (settings.lb.workers != 0 && settings.lb.workers != workers_.size()) {
    spdlog::warn("lb.workers changed to {}; it applies after a restart, still running {}",
                 settings.lb.workers, workers_.size());
  }
  return Apply(settings, /*is_start=*/false);
}

absl::StatusOr<std::shared_ptr<Launcher>> LbServer::LauncherFor(const config::LbAppConfig& config,
                                                                const LbServerSettings& settings,
                                                                const AppState& state) {
  if (settings.job_runner == nullptr) {
    // As a proxy with a backend and no server: the rest of the node still serves.
    spdlog::warn(
        "lb app {}: its launch needs the job worker, which is off (it needs root); its "
        "connections are closed",
        config.name);
    return std::shared_ptr<Launcher>();
  }
  if (state.launcher != nullptr && state.launch == config.launch &&
      state.launcher_runner == settings.job_runner) {
    return state.launcher;
  }
  LaunchOptions options;
  options.app = config.name;
  options.spec = LaunchJobSpec(config.name, *config.launch);
  options.port = config.launch->port;
  options.ready_timeout = config.launch->ready_timeout;
  options.idle_timeout = config.launch->idle_timeout;
  options.max_waiting = config.launch->max_waiting;
  return std::make_shared<Launcher>(std::move(options), settings.job_runner,
                                    RegisterLaunchMetrics(*metrics_, config.name));
}

absl::StatusOr<std::shared_ptr<const App>> LbServer::BuildApp(
    const config::LbAppConfig& config, const LbServerSettings& settings,
    const std::map<std::string, std::shared_ptr<const App>>& built) {
  auto app = std::make_shared<App>();
  app->config = config;
  std::shared_ptr<AppState>& state = app_states_[config.name];
  if (state == nullptr) state = std::make_shared<AppState>();
  app->state = state;
  std::vector<std::shared_ptr<lb::Upstream>> upstreams;
  for (const config::Address& address : config.upstreams) {
    GH_ASSIGN_OR_RETURN(const tcp::endpoint endpoint, ToEndpoint(address));
    upstreams.push_back(state->upstreams.Get(endpoint));
  }
  app->balancer = lb::MakeBalancer(ToAlgorithm(config.balancing), std::move(upstreams));
  if (config.rate_limit.scope == config::RateLimitScope::kGlobal) {
    GH_ASSIGN_OR_RETURN(app->global_limiter, global_limits_.LimiterFor(config, *state));
  } else if (IsRateLimited(config.rate_limit)) {
    if (state->rate_limiter != nullptr && SameRateLimit(state->rate_limit, config.rate_limit)) {
      app->rate_limiter = state->rate_limiter;
    } else {
      lb::RateLimitOptions options;
      options.connections_per_second = config.rate_limit.connections_per_second;
      options.burst = config.rate_limit.burst;
      options.max_concurrent = config.rate_limit.max_concurrent;
      absl::StatusOr<std::unique_ptr<lb::RateLimiter>> limiter =
          lb::RateLimiter::Create(options, &base::SystemClock());
      if (!limiter.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("lb app ", config.name, ": ", limiter.status().message()));
      }
      app->rate_limiter = std::move(*limiter);
    }
  }
  if (config.launch.has_value()) {
    GH_ASSIGN_OR_RETURN(app->launcher, LauncherFor(config, settings, *state));
  }
  app->dial.connect_timeout = config.connect_timeout;
  app->forward.idle_timeout = config.idle_timeout;
  app->forward.client_to_upstream_bytes_per_second = config.bandwidth.upload_bytes_per_second;
  app->forward.upstream_to_client_bytes_per_second = config.bandwidth.download_bytes_per_second;
  if (config.tls == config::AppTls::kNone && settings.policy != nullptr) {
    const auto& rules = settings.policy->rules().apps;
    const auto rule = rules.find(config.name);
    app->admits_anonymous = rule != rules.end() &&
                            std::find(rule->second.users.begin(), rule->second.users.end(), "*") !=
                                rule->second.users.end();
  }
  for (const config::SniRouteConfig& route_config : config.routes) {
    GH_ASSIGN_OR_RETURN(app->routes[route_config.server_name],
                        BuildRoute(config.name, route_config, settings, built));
  }
  app->metrics = RegisterAppMetrics(*metrics_, config.name);
  app->dial.failed_attempts = app->metrics.dial_failures;
  return std::shared_ptr<const App>(std::move(app));
}

absl::StatusOr<std::shared_ptr<const LbSnapshot>> LbServer::BuildSnapshot(
    const LbServerSettings& settings, const ListenPlan& plan) {
  if (settings.policy == nullptr) return absl::InvalidArgumentError("lb: no authorization policy");
  auto snapshot = std::make_shared<LbSnapshot>();
  snapshot->tls_context = settings.tls_context;
  snapshot->policy = settings.policy;
  snapshot->handshake_timeout = settings.lb.handshake_timeout;
  snapshot->max_connections = settings.lb.max_connections;
  // tls: sni apps last: their routes point at the others.
  std::map<std::string, std::shared_ptr<const App>> built;
  for (const bool routing : {false, true}) {
    for (const config::LbAppConfig& app_config : settings.lb.apps) {
      if ((app_config.tls == config::AppTls::kSni) != routing) continue;
      if (app_config.tls == config::AppTls::kMutual && settings.tls_context == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("lb app ", app_config.name, " needs TLS, and no certificate is loaded"));
      }
      GH_ASSIGN_OR_RETURN(std::shared_ptr<const App> app, BuildApp(app_config, settings, built));
      built[app_config.name] = app;
      snapshot->apps.push_back(std::move(app));
    }
  }
  for (const auto& [key, listener] : plan.listeners) {
    snapshot->app_by_listener[key] = built.at(listener.app);
  }
  return std::shared_ptr<const LbSnapshot>(std::move(snapshot));
}

absl::StatusOr<std::map<std::string, LbServer::OpenedListener>> LbServer::OpenListeners(
    const std::map<std::string, config::Address>& addresses,
    const std::map<std::string, std::set<SteeredPort>>& steered) {
  std::map<std::string, OpenedListener> opened;
  for (const auto& [key, address] : addresses) {
    GH_ASSIGN_OR_RETURN(tcp::endpoint endpoint, ToEndpoint(address));
    // A steered group's sockets are reached through the steering map, which picks the worker:
    // no other socket may join them in a reuseport group and take a share of their connections.
    const PortSharing sharing =
        steered.contains(key) ? PortSharing::kExclusive : PortSharing::kShared;
    OpenedListener& listener = opened[key];
    std::vector<ListenerSocket>& sockets = listener.sockets;
    std::vector<base::UniqueFd> handed = TakeInherited(key, endpoint);
    if (handed.size() > workers_.size()) {
      spdlog::warn("lb listener {}: {} handed-over sockets for {} worker(s); closing the rest",
                   address.ToString(), handed.size(), workers_.size());
    }
    for (size_t i = 0; i < workers_.size(); ++i) {
      base::UniqueFd fd;
      if (i < handed.size()) {
        fd = std::move(handed[i]);
      } else {
        absl::StatusOr<base::UniqueFd> opened_fd = OpenListenSocket(endpoint, sharing);
        if (!opened_fd.ok()) {
          return absl::Status(
              opened_fd.status().code(),
              absl::StrCat("lb listener ", address.ToString(), ": ", opened_fd.status().message()));
        }
        fd = *std::move(opened_fd);
      }
      if (sockets.empty()) {
        GH_ASSIGN_OR_RETURN(listener.bound, BoundEndpoint(fd.get()));
        // Port 0: the first socket got a free port; the other workers' sockets share it.
        if (sharing == PortSharing::kShared) endpoint = listener.bound;
      }
      listener.fds.push_back(fd.get());
      sockets.push_back(ListenerSocket{key, std::move(fd)});
    }
  }
  return opened;
}

std::vector<base::UniqueFd> LbServer::TakeInherited(const std::string& key,
                                                    const tcp::endpoint& endpoint) {
  const auto found = inherited_.find(key);
  if (found == inherited_.end()) return {};
  std::vector<base::UniqueFd> sockets = std::move(found->second);
  inherited_.erase(found);
  for (const base::UniqueFd& socket : sockets) {
    if (const absl::Status adoptable = upgrade::CheckAdoptable(socket.get(), endpoint);
        !adoptable.ok()) {
      spdlog::warn("lb listener {}: {}; opening new sockets", key, adoptable.message());
      return {};
    }
  }
  spdlog::info("lb listener {}: serving on {} handed-over socket(s)", key, sockets.size());
  return sockets;
}

std::map<std::string, std::vector<int>> LbServer::ListenerDescriptors() const {
  std::map<std::string, std::vector<int>> descriptors;
  for (const auto& [key, listener] : listeners_) descriptors[key] = listener.fds;
  return descriptors;
}

absl::StatusOr<std::map<std::string, LbServer::HealthCheck>> LbServer::PlanHealthChecks(
    const LbSnapshot& snapshot) {
  std::map<std::string, HealthCheck> planned;
  for (const auto& app : snapshot.apps) {
    if (!app->config.health_check.has_value()) continue;
    HealthCheck check;
    check.upstreams = UpstreamNames(*app);
    check.options = *app->config.health_check;
    const auto kept = health_checks_.find(app->config.name);
    if (kept != health_checks_.end() && kept->second.upstreams == check.upstreams &&
        SameHealthCheck(kept->second.options, check.options)) {
      planned.emplace(app->config.name, std::move(check));  // checker null: keep the running one
      continue;
    }
    lb::HealthCheckOptions options;
    options.interval = check.options.interval;
    options.timeout = check.options.timeout;
    options.rise = check.options.rise;
    options.fall = check.options.fall;
    absl::StatusOr<std::unique_ptr<lb::TcpHealthChecker>> checker =
        lb::TcpHealthChecker::Start(app->balancer->upstreams(), options);
    if (!checker.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("lb app ", app->config.name, " health_check: ", checker.status().message()));
    }
    check.checker = std::move(*checker);
    planned.emplace(app->config.name, std::move(check));
  }
  return planned;
}

LbServer::ListenerChanges LbServer::DiffListeners(const ListenPlan& plan) const {
  ListenerChanges changes;
  for (const auto& [key, listener] : plan.listeners) {
    if (!listeners_.contains(key)) changes.to_open.emplace(key, listener.bind);
  }
  for (const auto& [key, listener] : listeners_) {
    if (!plan.listeners.contains(key)) changes.to_close.push_back(key);
  }
  return changes;
}

void LbServer::CommitHealthChecks(std::map<std::string, HealthCheck> planned,
                                  const LbSnapshot& snapshot) {
  for (auto& [name, check] : planned) {
    if (check.checker == nullptr) check.checker = std::move(health_checks_[name].checker);
  }
  health_checks_.swap(planned);
  std::vector<std::string> unchecked;  // apps that stay and lost their health check
  for (const auto& [name, check] : planned) {
    if (health_checks_.count(name) == 0) unchecked.push_back(name);
  }
  planned.clear();  // stops the checkers no app needs any more
  // With no checker left, an upstream the last one marked down would stay down for good: the
  // app now trusts its dials (and passive ejection) alone. Its upstreams are its own, so this
  // touches no other app.
  for (const auto& app : snapshot.apps) {
    if (std::find(unchecked.begin(), unchecked.end(), app->config.name) == unchecked.end()) {
      continue;
    }
    for (const auto& upstream : app->balancer->upstreams()) upstream->SetHealthy(true);
  }
}

void LbServer::CommitAppState(const LbSnapshot& snapshot, jobs::JobRunner* runner) {
  global_limits_.Commit(snapshot.apps);
  base::MutexLock lock(&upstream_gauges_->mu);
  upstream_gauges_->entries.clear();
  for (const auto& app : snapshot.apps) {
    app->state->rate_limiter = app->rate_limiter;
    app->state->rate_limit = app->config.rate_limit;
    app->state->global_limiter = app->global_limiter;
    app->state->global_leaser = app->global_limiter != nullptr ? global_limits_.leaser() : nullptr;
    app->state->global_config = global_limits_.config();
    app->state->launcher = app->launcher;
    app->state->launch = app->config.launch;
    app->state->launcher_runner = app->launcher != nullptr ? runner : nullptr;
    for (const auto& upstream : app->balancer->upstreams()) {
      const base::MetricLabels labels = {{"app", app->config.name}, {"upstream", upstream->name()}};
      upstream_gauges_->entries.push_back(
          {upstream,
           metrics_->GetGauge("gatehouse_lb_upstream_eligible",
                              "1 when the upstream may get new connections (healthy and not "
                              "ejected), else 0.",
                              labels),
           metrics_->GetGauge("gatehouse_lb_upstream_open_connections",
                              "Connections open or being dialed to the upstream.", labels)});
    }
  }
  std::erase_if(app_states_, [&snapshot](const auto& entry) {
    return std::none_of(snapshot.apps.begin(), snapshot.apps.end(),
                        [&entry](const auto& app) { return app->config.name == entry.first; });
  });
}

absl::Status LbServer::Apply(const LbServerSettings& settings, bool is_start) {
  GH_ASSIGN_OR_RETURN(const ListenPlan plan,
                      port_steering_.Plan(settings.lb, settings.sk_lookup_steering));
  GH_RETURN_IF_ERROR(global_limits_.Prepare(settings.global_rate_limits, settings.lb.apps));
  GH_ASSIGN_OR_RETURN(std::shared_ptr<const LbSnapshot> snapshot, BuildSnapshot(settings, plan));
  const ListenerChanges changes = DiffListeners(plan);
  GH_ASSIGN_OR_RETURN(auto opened, OpenListeners(changes.to_open, plan.steered));
  std::map<std::string, std::vector<int>> new_groups;
  for (const auto& [key, listener] : opened) {
    if (!plan.steered.contains(key)) continue;
    for (const ListenerSocket& socket : listener.sockets) {
      new_groups[key].push_back(socket.fd.get());
    }
  }
  GH_RETURN_IF_ERROR(port_steering_.AddGroups(new_groups));
  // Last, because a started checker governs its upstreams' health: nothing may fail after it.
  absl::StatusOr<std::map<std::string, HealthCheck>> health_checks = PlanHealthChecks(*snapshot);
  if (!health_checks.ok()) {
    port_steering_.AbandonGroups(new_groups);
    return health_checks.status();
  }

  // Commit: nothing below fails. Steering first: the new groups' sockets queue what they are
  // sent until their workers accept, and a port that moves never lacks an owner.
  port_steering_.Commit(plan);
  std::vector<std::future<void>> applied;
  applied.reserve(workers_.size());
  for (size_t i = 0; i < workers_.size(); ++i) {
    std::vector<ListenerSocket> added;
    added.reserve(opened.size());
    for (auto& [address, listener] : opened) added.push_back(std::move(listener.sockets[i]));
    applied.push_back(workers_[i]->Apply(snapshot, std::move(added), changes.to_close));
  }
  // Before Start the workers' threads do not run yet: Start waits once they do.
  if (is_start) {
    pending_ = std::move(applied);
  } else {
    WaitForWorkers(applied);
  }
  for (const std::string& address : changes.to_close) {
    spdlog::info("lb: stopped listening on {}", address);
    listeners_.erase(address);
  }
  for (const auto& [address, listener] : opened) {
    const std::string app = snapshot->app_by_listener.at(address)->config.name;
    if (plan.steered.contains(address)) {
      spdlog::info("lb app {}: steered connections arrive at {}", app,
                   lb::EndpointName(listener.bound));
    } else {
      spdlog::info("lb app {} listening on {}", app, lb::EndpointName(listener.bound));
    }
    listeners_[address] = Listener{listener.bound, listener.fds};
  }
  CommitHealthChecks(*std::move(health_checks), *snapshot);
  CommitAppState(*snapshot, settings.job_runner);
  metrics_
      ->GetGauge("gatehouse_lb_max_connections",
                 "Open client connections allowed, all apps together.")
      ->Set(settings.lb.max_connections);
  snapshot_ = std::move(snapshot);
  if (!is_start) spdlog::info("lb: reloaded, {} app(s)", snapshot_->apps.size());
  return absl::OkStatus();
}

void LbServer::Shutdown(std::chrono::nanoseconds drain) {
  if (is_shut_down_) return;
  is_shut_down_ = true;
  port_steering_.Detach();
  std::vector<std::future<void>> stopped;
  // A start that failed has workers whose threads never ran: nothing to wait for there.
  for (auto& worker : workers_) {
    if (worker->is_running()) stopped.push_back(worker->StopAccepting());
  }
  WaitForWorkers(stopped);
  const auto deadline = std::chrono::steady_clock::now() + drain;
  // The daemon's shutdown path, not a test: polling a counter every 10 ms costs nothing and needs
  // no signal from the workers' hot path.
  while (open_connections() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const uint32_t left = open_connections();
  if (left > 0 && drain.count() > 0) {
    spdlog::warn("lb: drain deadline passed; closing {} open connection(s)", left);
  }
  for (auto& worker : workers_) worker->Stop();
  workers_.clear();  // destroys the connections still open, which releases what they hold
  health_checks_.clear();
  listeners_.clear();
  // The last holders of the apps: their launchers stop their servers now, while the job runner
  // (which the daemon shuts down after the lb) still exists.
  snapshot_.reset();
  app_states_.clear();
}

std::map<std::string, tcp::endpoint> LbServer::BoundEndpoints() const {
  std::map<std::string, tcp::endpoint> bound;
  for (const auto& [address, listener] : listeners_) bound[address] = listener.bound;
  return bound;
}

}  // namespace gatehouse::lbserver
