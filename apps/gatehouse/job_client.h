// JobClient: the gatehouse CLI's side of gatehouse.v1.JobService (proto/gatehouse/v1/jobs.proto).
//
// ResolveConnectionSettings decides where the job service is and which certificates to show it:
// each of --server, --ca, --cert and --key overrides its environment variable, and without
// either the CLI uses the daemon's embedded default, 127.0.0.1:7443 with the dev PKI it writes
// to ./.gatehouse/pki (ca.pem, and the client certificate admin.pem with admin.key).
// JobClient::Create reads those PEM files and makes one mutual-TLS channel; each method then
// makes one RPC and returns gRPC's status as an absl::Status with the same code and message.
//
// It prints nothing: DescribeFailure (gatehouse/job_format.h) turns a failure into the line and
// the exit code the CLI reports. Thread-compatible.
#ifndef GATEHOUSE_APPS_GATEHOUSE_JOB_CLIENT_H_
#define GATEHOUSE_APPS_GATEHOUSE_JOB_CLIENT_H_

#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "gatehouse/v1/jobs.grpc.pb.h"
#include "gatehouse/v1/jobs.pb.h"
#include "grpcpp/client_context.h"

namespace gatehouse::cli {

// The deadline of every unary RPC. Output streams have none: they last as long as the job, and
// keepalive pings find a dead server instead.
inline constexpr std::chrono::seconds kUnaryRpcDeadline{10};

// The connection flags as given; empty when not given.
struct ConnectionFlags {
  std::string server;  // HOST:PORT
  std::string ca;      // PEM file of the CA that issued the server's certificate
  std::string cert;    // PEM file of our client certificate
  std::string key;     // PEM file of its private key
};

struct ConnectionSettings {
  std::string server;
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
};

// Each setting from its flag, else from GATEHOUSE_SERVER, GATEHOUSE_CA, GATEHOUSE_CERT or
// GATEHOUSE_KEY (an empty variable counts as unset), else the default above; the client
// certificate and key come from the same place, so that a given certificate is never paired with
// the default key. FailedPrecondition saying what is missing and how to give it when there is no
// CA, or no certificate and key, to be had; InvalidArgument for a server that is not HOST:PORT.
// Reads the environment and looks for the default files, nothing more.
absl::StatusOr<ConnectionSettings> ResolveConnectionSettings(const ConnectionFlags& flags);

class JobClient {
 public:
  // Checks the CA, certificate and key PEM files as the security core does
  // (security::BuildTlsContext: whole PEM, a key that belongs to the certificate), reads them and
  // makes the channel; gRPC connects on the first call. InvalidArgument naming the file and the
  // fault otherwise, or errno's code when a file cannot be read.
  //
  // Unless GRPC_VERBOSITY is set, this also silences gRPC's own logging for the rest of the
  // process: it writes to stderr, where the CLI promises one line per failure, and what it would
  // say (a refused connection, a failed handshake) comes back in the status anyway.
  static absl::StatusOr<JobClient> Create(const ConnectionSettings& settings);

  // HOST:PORT of the job service, for messages.
  const std::string& server() const { return server_; }

  // The new job's id. A job that cannot start still gets one; GetStatus tells.
  absl::StatusOr<std::string> Start(const v1::StartRequest& request);
  absl::StatusOr<v1::JobStatus> GetStatus(const std::string& job_id);
  absl::Status Stop(const std::string& job_id);
  absl::StatusOr<v1::ListResponse> List();

  // Passes the job's output, from its first byte, to `on_output` chunk by chunk until the job has
  // ended and all of it was sent: OK then. `on_output` returns false to stop early, and the call
  // then returns CANCELLED, as it does when `context` is cancelled (which another thread may do;
  // ClientContext::TryCancel is thread-safe). `context` must be fresh and outlive the call.
  absl::Status StreamOutput(const std::string& job_id, grpc::ClientContext* context,
                            absl::FunctionRef<bool(absl::string_view data)> on_output);

 private:
  JobClient(std::string server, std::unique_ptr<v1::JobService::Stub> stub)
      : server_(std::move(server)), stub_(std::move(stub)) {}

  std::string server_;
  std::unique_ptr<v1::JobService::Stub> stub_;
};

}  // namespace gatehouse::cli

#endif  // GATEHOUSE_APPS_GATEHOUSE_JOB_CLIENT_H_
