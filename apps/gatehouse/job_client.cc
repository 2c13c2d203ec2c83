#include "gatehouse/job_client.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"
#include "grpc/grpc.h"
#include "grpc/support/log.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "security/dev_pki.h"
#include "security/tls_context.h"

namespace gatehouse::cli {
namespace {

constexpr absl::string_view kDefaultServer = "127.0.0.1:7443";
// Where the daemon's embedded default config keeps its dev PKI, relative to where it runs, and
// the client certificate that PKI issues so that the CLI works out of the box.
constexpr absl::string_view kDefaultPkiDir = "./.gatehouse/pki";
constexpr absl::string_view kDefaultClientName = "admin";

constexpr int kKeepaliveTimeMs = 30'000;
constexpr int kKeepaliveTimeoutMs = 10'000;
constexpr int kMaxReceiveMessageBytes = 8 << 20;
// Far above any certificate chain or key; the bound keeps a wrong path (a device, a disk image)
// from being read whole.
constexpr size_t kMaxPemFileBytes = size_t{1} << 20;

// The flag's value, else the environment variable's.
std::string FlagOrEnv(const std::string& flag, const char* variable) {
  if (!flag.empty()) return flag;
  // NOLINTNEXTLINE(concurrency-mt-unsafe): nothing in this process sets the environment
  const char* value = std::getenv(variable);
  return value == nullptr ? std::string() : std::string(value);
}

bool IsFile(const std::string& path) {
  std::error_code error;  // the overload that reports by error code rather than throwing
  return std::filesystem::is_regular_file(path, error);
}

// HOST:PORT with a non-empty host and a decimal port. gRPC would take more (a bare host, meaning
// port 443; "dns:///..."), but a missing port is far likelier a mistake than a wish for 443.
absl::Status CheckServerAddress(absl::string_view server) {
  const size_t colon = server.rfind(':');
  const absl::string_view port =
      colon == absl::string_view::npos ? absl::string_view() : server.substr(colon + 1);
  if (colon == 0 || port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), absl::ascii_isdigit)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--server \"", server, "\": expected HOST:PORT, e.g. ", kDefaultServer, " or [::1]:7443"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadPemFile(absl::string_view flag, const std::string& path) {
  const std::string what = absl::StrCat(flag, " file \"", path, "\"");
  base::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.is_valid()) return absl::ErrnoToStatus(errno, absl::StrCat("cannot read ", what));
  std::string contents;
  char buffer[16 * 1024];
  while (true) {
    const ssize_t count = ::read(fd.get(), buffer, sizeof(buffer));
    if (count < 0 && errno == EINTR) continue;
    if (count < 0) return absl::ErrnoToStatus(errno, absl::StrCat("cannot read ", what));
    if (count == 0) break;
    contents.append(buffer, static_cast<size_t>(count));
    if (contents.size() > kMaxPemFileBytes) {
      return absl::InvalidArgumentError(absl::StrCat(what, " is larger than 1 MiB"));
    }
  }
  return contents;
}

void DiscardGrpcLog(gpr_log_func_args* /*args*/) {}

absl::Status FromGrpc(const grpc::Status& status) {
  // gRPC's codes and Abseil's are both google.rpc.Code: same names, same numbers.
  return {static_cast<absl::StatusCode>(status.error_code()), status.error_message()};
}

void SetUnaryDeadline(grpc::ClientContext* context) {
  context->set_deadline(std::chrono::system_clock::now() + kUnaryRpcDeadline);
}

}  // namespace

absl::StatusOr<ConnectionSettings> ResolveConnectionSettings(const ConnectionFlags& flags) {
  const security::DevPkiPaths pki =
      security::DevPkiPathsIn(static_cast<std::string>(kDefaultPkiDir));
  const std::string default_cert = absl::StrCat(kDefaultPkiDir, "/", kDefaultClientName, ".pem");
  const std::string default_key = absl::StrCat(kDefaultPkiDir, "/", kDefaultClientName, ".key");

  ConnectionSettings settings;
  settings.server = FlagOrEnv(flags.server, "GATEHOUSE_SERVER");
  if (settings.server.empty()) settings.server = static_cast<std::string>(kDefaultServer);
  GH_RETURN_IF_ERROR(CheckServerAddress(settings.server));

  settings.ca_file = FlagOrEnv(flags.ca, "GATEHOUSE_CA");
  if (settings.ca_file.empty() && IsFile(pki.ca_cert)) settings.ca_file = pki.ca_cert;
  if (settings.ca_file.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("no CA certificate to check the job service's certificate with: pass --ca "
                     "FILE or set GATEHOUSE_CA (there is no ",
                     pki.ca_cert, ")"));
  }

  settings.cert_file = FlagOrEnv(flags.cert, "GATEHOUSE_CERT");
  settings.key_file = FlagOrEnv(flags.key, "GATEHOUSE_KEY");
  if (settings.cert_file.empty() && settings.key_file.empty() && IsFile(default_cert) &&
      IsFile(default_key)) {
    settings.cert_file = default_cert;
    settings.key_file = default_key;
  }
  if (settings.cert_file.empty() && settings.key_file.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("no client certificate to show the job service: pass --cert FILE and --key "
                     "FILE or set GATEHOUSE_CERT and GATEHOUSE_KEY (there is no ",
                     default_cert, " with ", default_key, ")"));
  }
  if (settings.key_file.empty()) {
    return absl::FailedPreconditionError(
        "a client certificate but no key: pass --key FILE or set GATEHOUSE_KEY");
  }
  if (settings.cert_file.empty()) {
    return absl::FailedPreconditionError(
        "a client key but no certificate: pass --cert FILE or set GATEHOUSE_CERT");
  }
  return settings;
}

absl::StatusOr<JobClient> JobClient::Create(const ConnectionSettings& settings) {
  // The security core's checks of the three files, built into a context we then drop: they name
  // the file and the fault (a key that does not belong to the certificate, a PEM file cut short),
  // where gRPC would only fail each call, saying little.
  security::TlsFiles files;
  files.ca_file = settings.ca_file;
  files.cert_file = settings.cert_file;
  files.key_file = settings.key_file;
  GH_RETURN_IF_ERROR(security::BuildTlsContext(security::TlsRole::kClient, files).status());

  grpc::SslCredentialsOptions tls;
  GH_ASSIGN_OR_RETURN(tls.pem_root_certs, ReadPemFile("--ca", settings.ca_file));
  GH_ASSIGN_OR_RETURN(tls.pem_cert_chain, ReadPemFile("--cert", settings.cert_file));
  GH_ASSIGN_OR_RETURN(tls.pem_private_key, ReadPemFile("--key", settings.key_file));

  // NOLINTNEXTLINE(concurrency-mt-unsafe): nothing in this process sets the environment
  if (std::getenv("GRPC_VERBOSITY") == nullptr) gpr_set_log_function(DiscardGrpcLog);

  grpc::ChannelArguments arguments;
  // A stream may be quiet for as long as its job is; pings find a server that died meanwhile
  // (the daemon allows one every 20 s).
  arguments.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, kKeepaliveTimeMs);
  arguments.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, kKeepaliveTimeoutMs);
  arguments.SetMaxReceiveMessageSize(kMaxReceiveMessageBytes);
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(settings.server, grpc::SslCredentials(tls), arguments);
  return JobClient(settings.server, v1::JobService::NewStub(channel));
}

absl::StatusOr<std::string> JobClient::Start(const v1::StartRequest& request) {
  grpc::ClientContext context;
  SetUnaryDeadline(&context);
  v1::StartResponse response;
  GH_RETURN_IF_ERROR(FromGrpc(stub_->Start(&context, request, &response)));
  return std::move(*response.mutable_job_id());
}

absl::StatusOr<v1::JobStatus> JobClient::GetStatus(const std::string& job_id) {
  grpc::ClientContext context;
  SetUnaryDeadline(&context);
  v1::StatusRequest request;
  request.set_job_id(job_id);
  v1::StatusResponse response;
  GH_RETURN_IF_ERROR(FromGrpc(stub_->Status(&context, request, &response)));
  return std::move(*response.mutable_status());
}

absl::Status JobClient::Stop(const std::string& job_id) {
  grpc::ClientContext context;
  SetUnaryDeadline(&context);
  v1::StopRequest request;
  request.set_job_id(job_id);
  v1::StopResponse response;
  return FromGrpc(stub_->Stop(&context, request, &response));
}

absl::StatusOr<v1::ListResponse> JobClient::List() {
  grpc::ClientContext context;
  SetUnaryDeadline(&context);
  v1::ListResponse response;
  GH_RETURN_IF_ERROR(FromGrpc(stub_->List(&context, v1::ListRequest(), &response)));
  return response;
}

absl::Status JobClient::StreamOutput(const std::string& job_id, grpc::ClientContext* context,
                                     absl::FunctionRef<bool(absl::string_view data)> on_output) {
  v1::StreamOutputRequest request;
  request.set_job_id(job_id);
  std::unique_ptr<grpc::ClientReader<v1::OutputChunk>> reader =
      stub_->StreamOutput(context, request);
  v1::OutputChunk chunk;
  while (reader->Read(&chunk)) {
    if (!on_output(chunk.data())) {
      context->TryCancel();
      // Finish() wants every message read; after the cancel, Read soon returns false.
      while (reader->Read(&chunk)) {
      }
      break;
    }
  }
  return FromGrpc(reader->Finish());
}

}  // namespace gatehouse::cli
