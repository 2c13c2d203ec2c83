#include "api/job_api.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "base/unique_fd.h"
#include "grpcpp/server_builder.h"

namespace gatehouse::api {
namespace {

// Requests are small (a command line, limits, an id); 4 MiB is gRPC's own default.
constexpr int kMaxRequestBytes = 1 << 20;

void AddStateGauges(base::MetricsRegistry* metrics, jobs::JobRunner* runner,
                    std::shared_ptr<const std::function<void()>>& collector) {
  std::vector<std::pair<jobs::JobState, base::Gauge*>> gauges;
  for (const jobs::JobState state :
       {jobs::JobState::kStarting, jobs::JobState::kRunning, jobs::JobState::kExited,
        jobs::JobState::kStopped, jobs::JobState::kOomKilled, jobs::JobState::kFailedToStart}) {
    gauges.emplace_back(state, metrics->GetGauge("gatehouse_jobs",
                                                 "Jobs kept by the worker, by state (ended "
                                                 "jobs until their retention ends).",
                                                 {{"state", jobs::JobStateName(state)}}));
  }
  collector = std::make_shared<const std::function<void()>>([runner, gauges] {
    std::vector<int64_t> counts(gauges.size(), 0);
    for (const jobs::JobStatus& job : runner->List()) {
      for (size_t i = 0; i < gauges.size(); ++i) {
        if (gauges[i].first == job.state) ++counts[i];
      }
    }
    for (size_t i = 0; i < gauges.size(); ++i) gauges[i].second->Set(counts[i]);
  });
  metrics->AddCollector(collector);
}

}  // namespace

absl::StatusOr<std::unique_ptr<JobApi>> JobApi::Start(JobApiSettings settings,
                                                      base::MetricsRegistry* metrics) {
  // Closed on an error before the front takes it.
  base::UniqueFd inherited(std::exchange(settings.inherited_listener, -1));
  if (settings.policy == nullptr) return absl::InvalidArgumentError("job API: no policy");
  std::unique_ptr<JobApi> api(new JobApi());
  settings.tls.alpn_h2 = true;
  auto tls = security::TlsCredentials::Load(security::TlsRole::kServer, settings.tls);
  if (!tls.ok()) return tls.status();
  api->tls_ = *std::move(tls);
  auto runner = jobs::JobRunner::Create(settings.runner);
  if (!runner.ok()) {
    return absl::Status(runner.status().code(),
                        absl::StrCat("job worker: ", runner.status().message()));
  }
  api->runner_ = *std::move(runner);
  {
    base::MutexLock lock(&api->mu_);
    api->policy_ = settings.policy;
    api->limits_ = settings.limits;
  }
  JobServiceOptions options;
  JobApi* raw = api.get();
  options.policy = [raw] {
    base::MutexLock lock(&raw->mu_);
    return raw->policy_;
  };
  options.limits = [raw] {
    base::MutexLock lock(&raw->mu_);
    return raw->limits_;
  };
  api->service_ = std::make_unique<JobService>(api->runner_.get(), &api->identities_, metrics,
                                               std::move(options));
  AddStateGauges(metrics, api->runner_.get(), api->collector_);

  grpc::ServerBuilder builder;
  builder.RegisterService(api->service_.get());
  builder.SetMaxReceiveMessageSize(kMaxRequestBytes);
  // Clients ping every 30 s to find a dead server (the CLI does); allow that, and ping idle
  // clients to find dead ones.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 20000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20000);
  api->server_ = builder.BuildAndStart();
  if (api->server_ == nullptr) return absl::InternalError("job API: gRPC server did not start");

  TlsFrontOptions front;
  front.listen = settings.listen;
  front.handshake_timeout = settings.handshake_timeout;
  front.inherited_socket = inherited.Release();
  security::TlsCredentials* credentials = api->tls_.get();
  front.tls_context = [credentials] { return credentials->Current(); };
  auto started = TlsFront::Start(std::move(front), api->server_.get(), &api->identities_);
  if (!started.ok()) return started.status();
  api->front_ = *std::move(started);
  return api;
}

JobApi::~JobApi() { Shutdown(std::chrono::nanoseconds(0)); }

absl::Status JobApi::Reload(const security::TlsFiles& tls,
                            std::shared_ptr<const security::AuthorizationPolicy> policy,
                            const LimitsPolicy& limits) {
  security::TlsFiles files = tls;
  files.alpn_h2 = true;
  if (absl::Status status = tls_->Reload(files); !status.ok()) return status;
  base::MutexLock lock(&mu_);
  policy_ = std::move(policy);
  limits_ = limits;
  return absl::OkStatus();
}

void JobApi::Shutdown(std::chrono::nanoseconds grace) {
  if (shut_down_) return;
  shut_down_ = true;
  if (front_ != nullptr) front_->Stop();
  // A Start call waiting for its job to leave STARTING is answered now, so that gRPC's shutdown
  // does not wait on it.
  if (runner_ != nullptr) runner_->ReleaseStartWaits();
  if (server_ != nullptr) {
    server_->Shutdown(std::chrono::system_clock::now() +
                      std::chrono::duration_cast<std::chrono::system_clock::duration>(grace));
  }
  runner_.reset();
}

}  // namespace gatehouse::api
