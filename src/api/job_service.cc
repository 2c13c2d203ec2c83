#include "api/job_service.h"

#include <chrono>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "api/output_stream.h"
#include "jobs/job_id.h"

namespace gatehouse::api {
namespace {

grpc::ServerUnaryReactor* Reply(grpc::CallbackServerContext* context, const grpc::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(status);
  return reactor;
}

absl::Status NoSuchJob(const std::string& id) {
  return absl::NotFoundError(absl::StrCat("job ", id, " not found"));
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  const std::string message(status.message());
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return grpc::Status::OK;
    case absl::StatusCode::kInvalidArgument:
      return {grpc::StatusCode::INVALID_ARGUMENT, message};
    case absl::StatusCode::kNotFound:
      return {grpc::StatusCode::NOT_FOUND, message};
    case absl::StatusCode::kResourceExhausted:
      return {grpc::StatusCode::RESOURCE_EXHAUSTED, message};
    case absl::StatusCode::kPermissionDenied:
      return {grpc::StatusCode::PERMISSION_DENIED, message};
    case absl::StatusCode::kUnauthenticated:
      return {grpc::StatusCode::UNAUTHENTICATED, message};
    default:
      return {grpc::StatusCode::INTERNAL, message};
  }
}

JobService::JobService(jobs::JobRunner* runner, const PeerIdentities* identities,
                       base::MetricsRegistry* metrics, JobServiceOptions options)
    : runner_(runner), identities_(identities), options_(std::move(options)) {
  started_ = metrics->GetCounter("gatehouse_jobs_started_total",
                                 "Jobs started through the API (FAILED_TO_START included).");
  failed_to_start_ = metrics->GetCounter("gatehouse_jobs_failed_to_start_total",
                                         "Jobs started through the API that failed to start.");
  refused_ = metrics->GetCounter("gatehouse_jobs_api_refused_total",
                                 "Job API calls refused: no identity, not allowed, or not found.");
  streams_open_ =
      metrics->GetGauge("gatehouse_jobs_output_streams", "StreamOutput calls in progress.");
  bytes_streamed_ = metrics->GetCounter("gatehouse_jobs_output_bytes_streamed_total",
                                        "Job output bytes sent to StreamOutput clients.");
}

absl::StatusOr<JobService::Caller> JobService::CallerOf(
    const grpc::CallbackServerContext& context) const {
  std::optional<security::Identity> identity = identities_->Find(context.peer());
  if (!identity.has_value()) {
    refused_->Increment();
    return absl::UnauthenticatedError("this connection has no client identity");
  }
  return Caller{*std::move(identity), options_.policy()};
}

absl::StatusOr<jobs::JobStatus> JobService::VisibleJob(const Caller& caller, const std::string& id,
                                                       security::JobAction action) const {
  if (!jobs::IsJobId(id)) {
    refused_->Increment();
    return absl::InvalidArgumentError(absl::StrCat("\"", id, "\" is not a job id"));
  }
  absl::StatusOr<jobs::JobStatus> status = runner_->Status(id);
  if (!status.ok() || !caller.policy->MayDoJobAction(caller.identity, action, status->owner)) {
    refused_->Increment();
    return NoSuchJob(id);
  }
  return status;
}

grpc::ServerUnaryReactor* JobService::Start(grpc::CallbackServerContext* context,
                                            const v1::StartRequest* request,
                                            v1::StartResponse* response) {
  absl::StatusOr<Caller> caller = CallerOf(*context);
  if (!caller.ok()) return Reply(context, ToGrpcStatus(caller.status()));
  if (!caller->policy->MayDoJobAction(caller->identity, security::JobAction::kStart, "")) {
    refused_->Increment();
    return Reply(context, {grpc::StatusCode::PERMISSION_DENIED,
                           absl::StrCat(caller->identity.user, " may not start jobs")});
  }
  absl::StatusOr<jobs::JobSpec> spec =
      SpecFromRequest(*request, options_.limits(), caller->identity.user);
  if (!spec.ok()) return Reply(context, ToGrpcStatus(spec.status()));
  absl::StatusOr<jobs::JobId> id = runner_->Start(*std::move(spec));
  if (!id.ok()) return Reply(context, ToGrpcStatus(id.status()));
  started_->Increment();
  response->set_job_id(*id);
  // The reply waits, holding no thread, until the job has left STARTING (RFD 0001, section 4):
  // its init reports within milliseconds of the exec.
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const absl::Status waiting = runner_->NotifyWhenStarted(
      *id, [reactor, failed = failed_to_start_](const jobs::JobStatus& status) {
        if (status.state == jobs::JobState::kFailedToStart) failed->Increment();
        reactor->Finish(grpc::Status::OK);
      });
  // Only a job already ended and pruned is unknown here: it has started, and has its id.
  if (!waiting.ok()) reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* JobService::Stop(grpc::CallbackServerContext* context,
                                           const v1::StopRequest* request,
                                           v1::StopResponse* response) {
  absl::StatusOr<Caller> caller = CallerOf(*context);
  if (!caller.ok()) return Reply(context, ToGrpcStatus(caller.status()));
  absl::StatusOr<jobs::JobStatus> job =
      VisibleJob(*caller, request->job_id(), security::JobAction::kStop);
  if (!job.ok()) return Reply(context, ToGrpcStatus(job.status()));
  if (absl::Status stopped = runner_->Stop(job->id); !stopped.ok()) {
    return Reply(context, ToGrpcStatus(stopped));
  }
  absl::StatusOr<jobs::JobStatus> after = runner_->Status(job->id);
  *response->mutable_status() = ToProto(after.ok() ? *after : *job);
  return Reply(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* JobService::Status(grpc::CallbackServerContext* context,
                                             const v1::StatusRequest* request,
                                             v1::StatusResponse* response) {
  absl::StatusOr<Caller> caller = CallerOf(*context);
  if (!caller.ok()) return Reply(context, ToGrpcStatus(caller.status()));
  absl::StatusOr<jobs::JobStatus> job =
      VisibleJob(*caller, request->job_id(), security::JobAction::kStatus);
  if (!job.ok()) return Reply(context, ToGrpcStatus(job.status()));
  *response->mutable_status() = ToProto(*job);
  return Reply(context, grpc::Status::OK);
}

grpc::ServerUnaryReactor* JobService::List(grpc::CallbackServerContext* context,
                                           const v1::ListRequest* /*request*/,
                                           v1::ListResponse* response) {
  absl::StatusOr<Caller> caller = CallerOf(*context);
  if (!caller.ok()) return Reply(context, ToGrpcStatus(caller.status()));
  for (const jobs::JobStatus& job : runner_->List()) {
    if (caller->policy->MayDoJobAction(caller->identity, security::JobAction::kStatus, job.owner)) {
      *response->add_jobs() = ToProto(job);
    }
  }
  return Reply(context, grpc::Status::OK);
}

grpc::ServerWriteReactor<v1::OutputChunk>* JobService::StreamOutput(
    grpc::CallbackServerContext* context, const v1::StreamOutputRequest* request) {
  // A reactor that only reports an error.
  class Refusal final : public grpc::ServerWriteReactor<v1::OutputChunk> {
   public:
    explicit Refusal(const grpc::Status& status) { Finish(status); }
    void OnDone() override { delete this; }
  };
  absl::StatusOr<Caller> caller = CallerOf(*context);
  if (!caller.ok()) return new Refusal(ToGrpcStatus(caller.status()));
  absl::StatusOr<jobs::JobStatus> job =
      VisibleJob(*caller, request->job_id(), security::JobAction::kStream);
  if (!job.ok()) return new Refusal(ToGrpcStatus(job.status()));
  absl::StatusOr<std::unique_ptr<jobs::OutputReader>> reader = runner_->OpenOutput(job->id);
  if (!reader.ok()) return new Refusal(ToGrpcStatus(reader.status()));
  streams_open_->Add(1);
  return new OutputStream(
      *std::move(reader), [bytes = bytes_streamed_](size_t n) { bytes->Increment(n); },
      [open = streams_open_] { open->Add(-1); });
}

}  // namespace gatehouse::api
