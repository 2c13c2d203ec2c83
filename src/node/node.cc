#include "node/node.h"

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "base/logging.h"
#include "base/open_file_limit.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"
#include "lb/upstream.h"
#include "lbserver/launch_spec.h"
#include "security/dev_pki.h"
#include "spdlog/spdlog.h"

namespace gatehouse::node {
namespace {

// On shutdown, calls in progress (output streams) get this long to end before jobs are killed.
constexpr auto kJobsShutdownGrace = std::chrono::seconds(2);

constexpr char kVersion[] = "0.1.0";

// The names of the listening sockets a binary upgrade hands over (ListenerDescriptors).
constexpr absl::string_view kAdminListener = "admin";
constexpr absl::string_view kJobsListener = "jobs";
constexpr absl::string_view kLbListenerPrefix = "lb:";

// The one handed-over socket named `name`, taken out of `inherited` (empty if none).
base::UniqueFd TakeOne(upgrade::ListenerSockets& inherited, absl::string_view name) {
  const auto found = inherited.find(static_cast<std::string>(name));
  if (found == inherited.end() || found->second.empty()) return {};
  base::UniqueFd socket = std::move(found->second.front());
  inherited.erase(found);
  return socket;
}

std::string AbsolutePath(const std::string& path) {
  std::error_code error;
  std::filesystem::path absolute = std::filesystem::absolute(path, error);
  return error ? path : absolute.lexically_normal().string();
}

absl::Status PrepareDevPki(const config::Config& config) {
  if (!config.dev_pki.has_value()) return absl::OkStatus();
  const std::string dir = AbsolutePath(config.dev_pki->dir);
  GH_ASSIGN_OR_RETURN(const bool created, security::EnsureDevPki(dir));
  if (created) {
    spdlog::info(
        "created a development PKI in {}: ca.pem, server.pem (localhost, 127.0.0.1, ::1) and an "
        "admin client certificate admin.pem/admin.key (role admin); not for production",
        dir);
  } else {
    spdlog::info("using the development PKI in {}", dir);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const security::AuthorizationPolicy>> BuildPolicy(
    const config::Config& config) {
  GH_ASSIGN_OR_RETURN(security::AuthorizationPolicy policy,
                      security::AuthorizationPolicy::Create(config.authorization));
  return std::make_shared<const security::AuthorizationPolicy>(std::move(policy));
}

// Each proxied connection holds two sockets; the rest covers listeners, health checks, the
// admin endpoint, logs and jobs.
constexpr uint64_t kSpareFileDescriptors = 1024;

void RaiseOpenFileLimitFor(const config::LbConfig& lb) {
  const uint64_t wanted = uint64_t{2} * lb.max_connections + kSpareFileDescriptors;
  const absl::StatusOr<base::OpenFileLimit> limit = base::RaiseOpenFileLimit(wanted);
  if (!limit.ok()) {
    spdlog::warn("open file limit: {}", limit.status());
    return;
  }
  if (limit->soft < wanted) {
    spdlog::warn(
        "open file limit is {} (hard {}); lb.max_connections {} needs {}: connections past the "
        "limit will fail to accept or dial (raise the hard limit: LimitNOFILE=, ulimit -Hn)",
        limit->soft, limit->hard, lb.max_connections, wanted);
  } else {
    spdlog::info("open file limit is {} (hard {})", limit->soft, limit->hard);
  }
}

lbserver::LbServerSettings LbSettings(const config::LbConfig& lb, std::shared_ptr<SSL_CTX> tls,
                                      const security::TlsFiles& tls_files,
                                      std::shared_ptr<const security::AuthorizationPolicy> policy,
                                      api::JobApi* jobs,
                                      const std::optional<config::GlobalRateLimitsConfig>& global) {
  lbserver::LbServerSettings settings;
  settings.lb = lb;
  settings.global_rate_limits = global;
  settings.tls_context = std::move(tls);
  settings.tls_files = tls_files;
  settings.policy = std::move(policy);
  settings.job_runner = jobs != nullptr ? &jobs->runner() : nullptr;
  return settings;
}

}  // namespace

api::LimitsPolicy LimitsOf(const config::JobsConfig& jobs) {
  return api::LimitsPolicy{lbserver::ToJobLimits(jobs.default_limits),
                           lbserver::ToJobLimits(jobs.max_limits)};
}

absl::StatusOr<api::JobApiSettings> JobSettings(
    const config::JobsConfig& jobs, const security::TlsFiles& files,
    std::shared_ptr<const security::AuthorizationPolicy> policy) {
  api::JobApiSettings settings;
  std::error_code error;
  const asio::ip::address host = asio::ip::make_address(jobs.listen.host, error);
  if (error) {
    return absl::InvalidArgumentError(
        absl::StrCat("jobs.listen ", jobs.listen.ToString(), ": ", error.message()));
  }
  settings.listen = asio::ip::tcp::endpoint(host, jobs.listen.port);
  settings.tls = files;
  settings.runner.state_dir = jobs.state_dir;
  settings.runner.cgroup_parent = jobs.cgroup_parent;
  settings.runner.stop_grace =
      std::chrono::duration_cast<std::chrono::milliseconds>(jobs.stop_grace);
  settings.runner.default_uid = jobs.run_as_uid;
  settings.runner.default_gid = jobs.run_as_gid;
  settings.runner.max_jobs = jobs.max_jobs;
  settings.runner.max_output_bytes = jobs.max_output_bytes;
  settings.runner.max_readers_per_job = jobs.max_readers_per_job;
  settings.runner.ended_job_retention = jobs.ended_job_retention;
  settings.runner.max_ended_jobs = jobs.max_ended_jobs;
  settings.limits = LimitsOf(jobs);
  settings.policy = std::move(policy);
  return settings;
}

// Starts the job service of `config`, or leaves it off (with a warning) when this process is
// not root: jobs need cgroups and namespaces, and `make run` as an ordinary user should still
// bring up the lb.
// `inherited` is the listening socket a binary upgrade's predecessor handed over (or empty);
// `is_successor` keeps the predecessor's job cgroups.
absl::StatusOr<std::unique_ptr<api::JobApi>> StartJobs(
    const config::JobsConfig& jobs, const security::TlsFiles& files,
    std::shared_ptr<const security::AuthorizationPolicy> policy, base::MetricsRegistry* metrics,
    base::UniqueFd inherited = base::UniqueFd(), bool is_successor = false) {
  if (::geteuid() != 0) {
    spdlog::warn("jobs: the job service needs root (cgroups and namespaces); it is off");
    return std::unique_ptr<api::JobApi>();
  }
  GH_ASSIGN_OR_RETURN(api::JobApiSettings settings, JobSettings(jobs, files, std::move(policy)));
  settings.inherited_listener = inherited.Release();
  settings.runner.remove_stale_cgroups = !is_successor;
  GH_ASSIGN_OR_RETURN(std::unique_ptr<api::JobApi> api, api::JobApi::Start(settings, metrics));
  spdlog::info("jobs: API listening on {}", lb::EndpointName(api->endpoint()));
  return api;
}

// The keys of `jobs` that a reload cannot apply to a running worker, where `now` differs from
// what it started with.
std::vector<std::string> JobsKeysNeedingRestart(const config::JobsConfig& started,
                                                const config::JobsConfig& now) {
  std::vector<std::string> changed;
  const auto check = [&changed](bool differs, const char* key) {
    if (differs) changed.emplace_back(key);
  };
  check(started.listen.ToString() != now.listen.ToString(), "listen");
  check(started.state_dir != now.state_dir, "state_dir");
  check(started.cgroup_parent != now.cgroup_parent, "cgroup_parent");
  check(started.stop_grace != now.stop_grace, "stop_grace");
  check(started.max_jobs != now.max_jobs, "max_jobs");
  check(started.max_output_bytes != now.max_output_bytes, "max_output");
  check(started.max_readers_per_job != now.max_readers_per_job, "max_readers_per_job");
  check(started.ended_job_retention != now.ended_job_retention, "ended_job_retention");
  check(started.max_ended_jobs != now.max_ended_jobs, "max_ended_jobs");
  check(started.run_as_uid != now.run_as_uid || started.run_as_gid != now.run_as_gid, "run_as");
  return changed;
}

security::TlsFiles ServerTlsFiles(const config::Config& config) {
  if (config.tls.has_value()) {
    return {config.tls->ca_file, config.tls->cert_file, config.tls->key_file, config.tls->crl_file};
  }
  const security::DevPkiPaths paths =
      security::DevPkiPathsIn(config.dev_pki.has_value() ? config.dev_pki->dir : "");
  return {paths.ca_cert, paths.server_cert, paths.server_key, ""};
}

absl::Status Validate(const config::Config& config) {
  GH_RETURN_IF_ERROR(BuildPolicy(config).status());
  if (config.tls.has_value()) {
    GH_RETURN_IF_ERROR(
        security::BuildTlsContext(security::TlsRole::kServer, ServerTlsFiles(config)).status());
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Node>> Node::Start(const config::Config& config,
                                                  StartContext context) {
  std::unique_ptr<Node> node(new Node());
  upgrade::ListenerSockets lb_inherited;
  for (auto& [name, sockets] : context.inherited) {
    absl::string_view key = name;
    if (absl::ConsumePrefix(&key, kLbListenerPrefix)) {
      lb_inherited[static_cast<std::string>(key)] = std::move(sockets);
    }
  }
  GH_RETURN_IF_ERROR(PrepareDevPki(config));
  GH_ASSIGN_OR_RETURN(node->credentials_, security::TlsCredentials::Load(security::TlsRole::kServer,
                                                                         ServerTlsFiles(config)));
  GH_ASSIGN_OR_RETURN(auto policy, BuildPolicy(config));
  {
    base::MutexLock lock(&node->mu_);
    node->policy_ = std::move(policy);
  }

  base::MetricsRegistry& metrics = node->metrics_;
  metrics
      .GetGauge("gatehouse_build_info", "Gatehouse version; the value is always 1.",
                {{"version", kVersion}})
      ->Set(1);
  metrics.GetGauge("gatehouse_start_time_seconds", "Start time of the daemon, Unix seconds.")
      ->Set(std::chrono::duration_cast<std::chrono::seconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count());
  const std::string reloads_help = "Configuration reloads (SIGHUP), by result.";
  node->reloads_ok_ =
      metrics.GetCounter("gatehouse_config_reloads_total", reloads_help, {{"result", "success"}});
  node->reloads_failed_ =
      metrics.GetCounter("gatehouse_config_reloads_total", reloads_help, {{"result", "failure"}});

  // An expired CRL makes OpenSSL refuse every client; this makes that visible before it happens.
  node->crl_collector_ = std::make_shared<const std::function<void()>>(
      [credentials = node->credentials_.get(), &metrics] {
        const std::optional<std::chrono::system_clock::time_point> next_update =
            credentials->CrlNextUpdate();
        const auto now = std::chrono::system_clock::now();
        metrics
            .GetGauge("gatehouse_tls_crl_next_update_seconds",
                      "nextUpdate of the loaded CRL (the earliest, if several), Unix seconds; 0 "
                      "without a CRL.")
            ->Set(next_update.has_value() ? std::chrono::duration_cast<std::chrono::seconds>(
                                                next_update->time_since_epoch())
                                                .count()
                                          : 0);
        metrics
            .GetGauge("gatehouse_tls_crl_expired",
                      "1 when the CRL's nextUpdate has passed: every client certificate is then "
                      "refused until a fresh CRL is loaded (SIGHUP).")
            ->Set(credentials->IsCrlExpired(now) ? 1 : 0);
      });
  metrics.AddCollector(node->crl_collector_);

  admin::AdminServerOptions admin_options;
  admin_options.host = config.admin.listen.host;
  admin_options.port = config.admin.listen.port;
  admin_options.inherited_socket = TakeOne(context.inherited, kAdminListener).Release();
  std::atomic<bool>* is_ready = &node->is_ready_;
  GH_ASSIGN_OR_RETURN(node->admin_,
                      admin::AdminServer::Start(admin_options, &node->metrics_, [is_ready] {
                        return is_ready->load(std::memory_order_acquire);
                      }));
  node->admin_listen_ = config.admin.listen;
  // Jobs first: the lb runs launch apps' servers on the job worker.
  if (config.jobs.has_value()) {
    GH_ASSIGN_OR_RETURN(
        node->jobs_,
        StartJobs(*config.jobs, ServerTlsFiles(config), node->policy(), &node->metrics_,
                  TakeOne(context.inherited, kJobsListener), context.is_successor));
    node->jobs_started_with_ = *config.jobs;
  }
  if (config.lb.has_value()) {
    RaiseOpenFileLimitFor(*config.lb);
    GH_ASSIGN_OR_RETURN(
        node->lb_, lbserver::LbServer::Start(
                       LbSettings(*config.lb, node->credentials_->Current(), ServerTlsFiles(config),
                                  node->policy(), node->jobs_.get(), config.global_rate_limits),
                       &node->metrics_, std::move(lb_inherited)));
    node->drain_timeout_ = config.lb->drain_timeout;
  }
  node->is_ready_.store(true, std::memory_order_release);
  spdlog::info("gatehoused {} ready", kVersion);
  return node;
}

Node::~Node() { Stop(); }

absl::Status Node::Reload(const absl::StatusOr<config::Config>& loaded) {
  if (!loaded.ok()) {
    reloads_failed_->Increment();
    return loaded.status();
  }
  const config::Config& config = *loaded;
  // Everything is built and checked before anything is swapped, so a failure changes nothing;
  // the policy is checked before a new dev PKI directory would be written.
  absl::Status status = [&]() -> absl::Status {
    GH_ASSIGN_OR_RETURN(auto policy, BuildPolicy(config));
    GH_RETURN_IF_ERROR(PrepareDevPki(config));
    const security::TlsFiles files = ServerTlsFiles(config);
    GH_ASSIGN_OR_RETURN(security::SslCtxPtr context,
                        security::BuildTlsContext(security::TlsRole::kServer, files));
    const std::shared_ptr<SSL_CTX> shared_context(context.release(), SSL_CTX_free);
    if (jobs_ != nullptr && config.jobs.has_value()) {
      GH_RETURN_IF_ERROR(jobs_->Reload(files, policy, LimitsOf(*config.jobs)));
    } else if (jobs_ == nullptr && config.jobs.has_value()) {
      GH_ASSIGN_OR_RETURN(jobs_, StartJobs(*config.jobs, files, policy, &metrics_));
      jobs_started_with_ = *config.jobs;
    }
    const config::LbConfig no_apps;
    const config::LbConfig& lb = config.lb.has_value() ? *config.lb : no_apps;
    if (lb_ != nullptr) {
      GH_RETURN_IF_ERROR(lb_->Reload(
          LbSettings(lb, shared_context, files, policy, jobs_.get(), config.global_rate_limits)));
    } else if (config.lb.has_value()) {
      RaiseOpenFileLimitFor(lb);
      GH_ASSIGN_OR_RETURN(
          lb_, lbserver::LbServer::Start(LbSettings(lb, shared_context, files, policy, jobs_.get(),
                                                    config.global_rate_limits),
                                         &metrics_));
    }
    drain_timeout_ = lb.drain_timeout;
    // The files were just read; a failure here means they changed meanwhile, and the lb then
    // serves with the context built above while other users keep the old one until next time.
    GH_RETURN_IF_ERROR(credentials_->Reload(files));
    base::MutexLock lock(&mu_);
    policy_ = std::move(policy);
    return absl::OkStatus();
  }();
  if (!status.ok()) {
    reloads_failed_->Increment();
    return status;
  }
  if (jobs_ != nullptr && config.jobs.has_value()) {
    const std::vector<std::string> changed =
        JobsKeysNeedingRestart(jobs_started_with_, *config.jobs);
    if (!changed.empty()) {
      spdlog::warn(
          "jobs: {} changed; applied after a restart (TLS, authorization and limits "
          "were applied now)",
          absl::StrJoin(changed, ", "));
    }
  }
  if (jobs_ != nullptr && !config.jobs.has_value()) {
    spdlog::warn("the jobs section was removed; the job service stops at the next restart");
  }
  if (config.admin.listen.ToString() != admin_listen_.ToString()) {
    spdlog::warn("admin.listen changed to {}; it applies after a restart, still serving on {}",
                 config.admin.listen.ToString(), admin_listen_.ToString());
  }
  reloads_ok_->Increment();
  return absl::OkStatus();
}

void Node::Stop() {
  if (is_stopped_.exchange(true)) return;
  is_ready_.store(false, std::memory_order_release);
  if (lb_ != nullptr) {
    spdlog::info("lb: draining {} open connection(s) for up to {} ms", lb_->open_connections(),
                 std::chrono::duration_cast<std::chrono::milliseconds>(drain_timeout_).count());
    lb_->Shutdown(drain_timeout_);
  }
  if (jobs_ != nullptr) {
    // Running jobs are killed: they do not survive the daemon (RFD 0001, section 8).
    jobs_->Shutdown(kJobsShutdownGrace);
    jobs_.reset();
  }
  if (admin_ != nullptr) admin_->Stop();
}

std::map<std::string, std::vector<int>> Node::ListenerDescriptors() const {
  std::map<std::string, std::vector<int>> descriptors;
  descriptors[static_cast<std::string>(kAdminListener)] = {admin_->listening_fd()};
  if (jobs_ != nullptr) {
    descriptors[static_cast<std::string>(kJobsListener)] = {jobs_->listening_fd()};
  }
  if (lb_ != nullptr) {
    for (auto& [key, fds] : lb_->ListenerDescriptors()) {
      descriptors[absl::StrCat(kLbListenerPrefix, key)] = std::move(fds);
    }
  }
  return descriptors;
}

void Node::StopAfterHandover() {
  admin_->Stop();
  if (jobs_ != nullptr) jobs_->StopAccepting();
  Stop();
}

std::shared_ptr<const security::AuthorizationPolicy> Node::policy() const {
  base::MutexLock lock(&mu_);
  return policy_;
}

}  // namespace gatehouse::node
