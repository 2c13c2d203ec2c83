// JobService: the job API (proto/gatehouse/v1/jobs.proto) over a jobs::JobRunner, on gRPC's
// callback API, with the authorization of RFD 0001 section 4:
//   - the caller is the identity its client certificate gave the connection (PeerIdentities);
//     a connection without one is UNAUTHENTICATED;
//   - Start needs the policy's job_start rule (else PERMISSION_DENIED); the job is the caller's;
//   - Status, StreamOutput and Stop see the caller's own jobs, or every job for the admin role;
//     anyone else's job answers NOT_FOUND, as an unknown id does, so ids cannot be probed;
//   - List shows what Status would.
// Unary calls block their gRPC thread for at most a job's start (clone and exec, milliseconds);
// StreamOutput holds no thread while it waits for output (OutputStream).
//
// Thread-safe.
#ifndef GATEHOUSE_API_JOB_SERVICE_H_
#define GATEHOUSE_API_JOB_SERVICE_H_

#include <functional>
#include <memory>

#include "api/job_conversion.h"
#include "api/peer_identities.h"
#include "base/metrics.h"
#include "gatehouse/v1/jobs.grpc.pb.h"
#include "jobs/job_runner.h"
#include "security/policy.h"

namespace gatehouse::api {

struct JobServiceOptions {
  // The policy in force: read on every call, so a reload applies to the next one.
  std::function<std::shared_ptr<const security::AuthorizationPolicy>()> policy;
  std::function<LimitsPolicy()> limits;
};

class JobService final : public v1::JobService::CallbackService {
 public:
  // Borrows `runner`, `identities` and `metrics`; they must outlive the service.
  JobService(jobs::JobRunner* runner, const PeerIdentities* identities,
             base::MetricsRegistry* metrics, JobServiceOptions options);

  grpc::ServerUnaryReactor* Start(grpc::CallbackServerContext* context,
                                  const v1::StartRequest* request,
                                  v1::StartResponse* response) override;
  grpc::ServerUnaryReactor* Stop(grpc::CallbackServerContext* context,
                                 const v1::StopRequest* request,
                                 v1::StopResponse* response) override;
  grpc::ServerUnaryReactor* Status(grpc::CallbackServerContext* context,
                                   const v1::StatusRequest* request,
                                   v1::StatusResponse* response) override;
  grpc::ServerUnaryReactor* List(grpc::CallbackServerContext* context,
                                 const v1::ListRequest* request,
                                 v1::ListResponse* response) override;
  grpc::ServerWriteReactor<v1::OutputChunk>* StreamOutput(
      grpc::CallbackServerContext* context, const v1::StreamOutputRequest* request) override;

 private:
  struct Caller {
    security::Identity identity;
    std::shared_ptr<const security::AuthorizationPolicy> policy;
  };
  absl::StatusOr<Caller> CallerOf(const grpc::CallbackServerContext& context) const;
  // The job's status if `caller` may do `action` on it; NotFound otherwise (unknown or not
  // theirs, alike).
  absl::StatusOr<jobs::JobStatus> VisibleJob(const Caller& caller, const std::string& id,
                                             security::JobAction action) const;

  jobs::JobRunner* const runner_;
  const PeerIdentities* const identities_;
  const JobServiceOptions options_;
  base::Counter* started_;
  base::Counter* failed_to_start_;
  base::Counter* refused_;
  base::Gauge* streams_open_;
  base::Counter* bytes_streamed_;
};

// The gRPC status for a library error: InvalidArgument, NotFound, ResourceExhausted,
// PermissionDenied and Unauthenticated keep their code and message; anything else is INTERNAL.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace gatehouse::api

#endif  // GATEHOUSE_API_JOB_SERVICE_H_
