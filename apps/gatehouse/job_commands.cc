#include "gatehouse/job_commands.h"

#include <cerrno>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "base/status_macros.h"
#include "gatehouse/exit_codes.h"
#include "gatehouse/interrupt_watcher.h"
#include "grpcpp/client_context.h"

namespace gatehouse::cli {
namespace {

int Report(const FailureReport& report) {
  std::cerr << report.line << "\n";
  return report.exit_code;
}

// For failures that are ours rather than the job service's: the message only.
int ReportError(const absl::Status& status, int exit_code) {
  std::cerr << "gatehouse: " << EscapeControlCharacters(status.message()) << "\n";
  return exit_code;
}

RequestScope ScopeOf(const JobClient& client, absl::string_view job_id) {
  return {.server = client.server(), .job_id = job_id, .deadline = kUnaryRpcDeadline};
}

absl::StatusOr<JobClient> Connect(const ConnectionFlags& flags) {
  GH_ASSIGN_OR_RETURN(const ConnectionSettings settings, ResolveConnectionSettings(flags));
  return JobClient::Create(settings);
}

// Straight through stdio's buffer, so that output shows as it comes.
absl::Status WriteToStdout(absl::string_view data) {
  if (std::fwrite(data.data(), 1, data.size(), stdout) != data.size() || std::fflush(stdout) != 0) {
    return absl::ErrnoToStatus(errno, "cannot write to stdout");
  }
  return absl::OkStatus();
}

int PrintResult(absl::string_view text) {
  const absl::Status written = WriteToStdout(text);
  return written.ok() ? 0 : ReportError(written, kExitFailure);
}

absl::StatusOr<v1::StartRequest> BuildStartRequest(const RunFlags& flags) {
  if (flags.command.empty()) return absl::InvalidArgumentError("no command to run");
  v1::StartRequest request;
  request.set_command(flags.command.front());
  for (auto arg = flags.command.begin() + 1; arg != flags.command.end(); ++arg) {
    request.add_args(*arg);
  }
  GH_ASSIGN_OR_RETURN(*request.mutable_limits(), ParseLimits(flags.limits));
  GH_ASSIGN_OR_RETURN(const auto env, ParseEnv(flags.env));
  request.mutable_env()->insert(env.begin(), env.end());
  request.set_working_dir(flags.working_dir);
  return request;
}

// Copies the job's output to stdout as it comes until the job has ended and all of it was sent;
// Ctrl-C cancels. Empty then; otherwise the exit code, after printing why (nothing for Ctrl-C).
std::optional<int> CopyOutput(JobClient& client, const std::string& job_id) {
  grpc::ClientContext context;
  // Declared after `context`, so destroyed before it: the callback never sees a dead context.
  absl::StatusOr<std::unique_ptr<InterruptWatcher>> watcher =
      InterruptWatcher::Start([&context] { context.TryCancel(); });
  if (!watcher.ok()) return ReportError(watcher.status(), kExitFailure);

  bool received_output = false;
  absl::Status written;
  const absl::Status streamed = client.StreamOutput(job_id, &context, [&](absl::string_view data) {
    received_output = true;
    written = WriteToStdout(data);
    return written.ok();
  });
  if ((*watcher)->interrupted()) return kExitInterrupted;
  if (!written.ok()) return ReportError(written, kExitFailure);
  if (!streamed.ok()) {
    return Report(DescribeStreamFailure(streamed, ScopeOf(client, job_id), received_output));
  }
  return std::nullopt;
}

// After the output of a followed job ended: the job's exit code.
int ExitAsJobDid(JobClient& client, const std::string& job_id) {
  absl::StatusOr<v1::JobStatus> ended = client.GetStatus(job_id);
  if (!ended.ok()) return Report(DescribeFailure(ended.status(), ScopeOf(client, job_id)));
  // The service ends the stream only once the job has ended; say so if it ever does otherwise,
  // rather than exit with a code the job never had.
  if (!HasEnded(*ended)) {
    std::cerr << "gatehouse: the output of job " << EscapeControlCharacters(job_id)
              << " ended while the job has not\n";
    return kExitFailure;
  }
  return ExitCodeOf(*ended);
}

}  // namespace

int RunJob(const ConnectionFlags& connection, const RunFlags& flags) {
  absl::StatusOr<v1::StartRequest> request = BuildStartRequest(flags);
  if (!request.ok()) return ReportError(request.status(), kExitUsage);
  if (flags.follow) {
    if (absl::Status blocked = InterruptWatcher::BlockInterrupts(); !blocked.ok()) {
      return ReportError(blocked, kExitFailure);
    }
  }
  absl::StatusOr<JobClient> client = Connect(connection);
  if (!client.ok()) return ReportError(client.status(), kExitConnection);

  absl::StatusOr<std::string> job_id = client->Start(*request);
  if (!job_id.ok()) return Report(DescribeFailure(job_id.status(), ScopeOf(*client, "")));
  const std::string shown_id = EscapeControlCharacters(*job_id);
  // Start replies once the job has left STARTING, so this tells whether it started.
  absl::StatusOr<v1::JobStatus> started = client->GetStatus(*job_id);
  if (!started.ok()) {
    std::cerr << shown_id << "\n";  // the job may well be running: say which it is
    return Report(DescribeFailure(started.status(), ScopeOf(*client, *job_id)));
  }
  if (started->state() == v1::FAILED_TO_START) {
    std::cerr << "gatehouse: job " << shown_id
              << " failed to start: " << EscapeControlCharacters(started->message()) << "\n";
    return kExitFailure;
  }
  // Without --follow the id is the result (`id=$(gatehouse run ...)`); with it, stdout is the
  // job's output, so the id goes to stderr.
  if (!flags.follow) return PrintResult(shown_id + "\n");
  std::cerr << shown_id << "\n";

  if (std::optional<int> stopped = CopyOutput(*client, *job_id)) return *stopped;
  return ExitAsJobDid(*client, *job_id);
}

int ShowStatus(const ConnectionFlags& connection, const std::string& job_id, OutputFormat format) {
  absl::StatusOr<JobClient> client = Connect(connection);
  if (!client.ok()) return ReportError(client.status(), kExitConnection);
  absl::StatusOr<v1::JobStatus> status = client->GetStatus(job_id);
  if (!status.ok()) return Report(DescribeFailure(status.status(), ScopeOf(*client, job_id)));
  return PrintResult(format == OutputFormat::kJson ? FormatStatusJson(*status)
                                                   : FormatStatusText(*status));
}

int ShowLogs(const ConnectionFlags& connection, const std::string& job_id) {
  if (absl::Status blocked = InterruptWatcher::BlockInterrupts(); !blocked.ok()) {
    return ReportError(blocked, kExitFailure);
  }
  absl::StatusOr<JobClient> client = Connect(connection);
  if (!client.ok()) return ReportError(client.status(), kExitConnection);
  return CopyOutput(*client, job_id).value_or(0);
}

int StopJob(const ConnectionFlags& connection, const std::string& job_id) {
  absl::StatusOr<JobClient> client = Connect(connection);
  if (!client.ok()) return ReportError(client.status(), kExitConnection);
  if (absl::Status stopped = client->Stop(job_id); !stopped.ok()) {
    return Report(DescribeFailure(stopped, ScopeOf(*client, job_id)));
  }
  return 0;
}

int ListJobs(const ConnectionFlags& connection, OutputFormat format) {
  absl::StatusOr<JobClient> client = Connect(connection);
  if (!client.ok()) return ReportError(client.status(), kExitConnection);
  absl::StatusOr<v1::ListResponse> list = client->List();
  if (!list.ok()) return Report(DescribeFailure(list.status(), ScopeOf(*client, "")));
  return PrintResult(format == OutputFormat::kJson ? FormatJobListJson(list->jobs())
                                                   : FormatJobTable(list->jobs()));
}

}  // namespace gatehouse::cli
