// JobApi: the `worker` service of gatehoused (RFD 0001, the `api` component): a jobs::JobRunner,
// the gRPC JobService over it, and the TlsFront that is its only way in.
//
// The process must ignore SIGPIPE (gatehoused does): the TLS front writes to client sockets
// through OpenSSL, whose write(2) to a peer that has gone raises it.
//
// Thread-safe: Reload and the accessors may be called from any thread; Shutdown once.
#ifndef GATEHOUSE_API_JOB_API_H_
#define GATEHOUSE_API_JOB_API_H_

#include <chrono>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "api/job_conversion.h"
#include "api/job_service.h"
#include "api/peer_identities.h"
#include "api/tls_front.h"
#include "base/metrics.h"
#include "base/mutex.h"
#include "grpcpp/server.h"
#include "jobs/job_runner.h"
#include "security/policy.h"
#include "security/tls_context.h"
#include "security/tls_credentials.h"

namespace gatehouse::api {

struct JobApiSettings {
  asio::ip::tcp::endpoint listen;
  security::TlsFiles tls;  // the node's; alpn_h2 is set here
  jobs::JobRunnerOptions runner;
  LimitsPolicy limits;
  std::shared_ptr<const security::AuthorizationPolicy> policy;
  std::chrono::nanoseconds handshake_timeout = std::chrono::seconds(5);
  // The listening socket a binary upgrade's predecessor handed over, or -1 (TlsFrontOptions).
  int inherited_listener = -1;
};

class JobApi {
 public:
  static absl::StatusOr<std::unique_ptr<JobApi>> Start(JobApiSettings settings,
                                                       base::MetricsRegistry* metrics);
  JobApi(const JobApi&) = delete;
  JobApi& operator=(const JobApi&) = delete;
  JobApi(JobApi&&) = delete;
  JobApi& operator=(JobApi&&) = delete;
  ~JobApi();

  // What a reload may change live: the TLS files, the policy and the limits. The runner's
  // options and the listen address apply after a restart.
  absl::Status Reload(const security::TlsFiles& tls,
                      std::shared_ptr<const security::AuthorizationPolicy> policy,
                      const LimitsPolicy& limits);
  // Closes every connection, ends calls in progress (streams end with CANCELLED within
  // `grace`), then kills the jobs still running (JobRunner's destructor).
  void Shutdown(std::chrono::nanoseconds grace);

  asio::ip::tcp::endpoint endpoint() const { return front_->endpoint(); }
  // The listening socket, to hand over to a binary upgrade's successor (borrowed).
  int listening_fd() const { return front_->listening_fd(); }
  // Stops accepting (the successor serves the socket now); calls in progress go on.
  void StopAccepting() { front_->StopAccepting(); }
  jobs::JobRunner& runner() { return *runner_; }

 private:
  JobApi() = default;

  std::unique_ptr<jobs::JobRunner> runner_;
  std::unique_ptr<security::TlsCredentials> tls_;
  PeerIdentities identities_;
  mutable base::Mutex mu_;
  std::shared_ptr<const security::AuthorizationPolicy> policy_ ABSL_GUARDED_BY(mu_);
  LimitsPolicy limits_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<JobService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<TlsFront> front_;
  std::shared_ptr<const std::function<void()>> collector_;
  bool shut_down_ = false;
};

}  // namespace gatehouse::api

#endif  // GATEHOUSE_API_JOB_API_H_
