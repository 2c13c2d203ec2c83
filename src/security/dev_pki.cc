#include "security/dev_pki.h"

#include <sys/stat.h>
#include <unistd.h>

#include <array>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "base/atomic_file.h"
#include "base/status_macros.h"
#include "security/certificate_builder.h"

namespace gatehouse::security {
namespace {

constexpr mode_t kKeyMode = 0600;
constexpr mode_t kCertMode = 0644;
constexpr mode_t kDirMode = 0700;
constexpr size_t kMaxNameLength = 64;
// Issued certificates are back-dated a little so a peer whose clock is slightly behind still
// accepts them.
constexpr std::chrono::minutes kBackdate{5};

bool Exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

absl::Status RefuseExisting(const std::vector<std::string>& paths, bool force) {
  if (force) return absl::OkStatus();
  for (const std::string& path : paths) {
    if (Exists(path)) {
      return absl::AlreadyExistsError(
          absl::StrCat(path, " already exists (use --force to replace it)"));
    }
  }
  return absl::OkStatus();
}

absl::Status WritePair(const KeyAndCertificate& pair, const std::string& cert_path,
                       const std::string& key_path, bool force) {
  GH_ASSIGN_OR_RETURN(std::string cert_pem, CertificateToPem(pair.certificate.get()));
  GH_ASSIGN_OR_RETURN(std::string key_pem, PrivateKeyToPem(pair.key.get()));
  const auto existing = force ? base::ExistingFile::kReplace : base::ExistingFile::kKeep;
  // Key first: a certificate on disk never points at a key that is not there yet.
  GH_RETURN_IF_ERROR(base::WriteFileAtomically(key_path, key_pem, kKeyMode, existing));
  return base::WriteFileAtomically(cert_path, cert_pem, kCertMode, existing);
}

// The one place a validity becomes a time point, for the CA and for every leaf, so the bound
// that keeps the addition from overflowing cannot be skipped.
absl::StatusOr<CertificateRequest> DevRequest(std::string common_name,
                                              std::chrono::hours validity) {
  if (validity < std::chrono::hours(1) || validity > kMaxDevValidity) {
    return absl::InvalidArgumentError(absl::StrCat("validity must be between 1 hour and ",
                                                   kMaxDevValidityDays, " days, got ",
                                                   validity.count(), " hours"));
  }
  const auto now = std::chrono::system_clock::now();
  CertificateRequest request;
  request.kind = CertificateKind::kLeaf;
  request.common_name = std::move(common_name);
  request.not_before = now - kBackdate;
  request.not_after = now + validity;
  return request;
}

absl::StatusOr<KeyAndCertificate> LoadAuthority(const std::string& dir) {
  const DevPkiPaths paths = DevPkiPathsIn(dir);
  if (!Exists(paths.ca_cert) || !Exists(paths.ca_key)) {
    return absl::NotFoundError(absl::StrCat("no CA in ", dir, " (expected ", paths.ca_cert, " and ",
                                            paths.ca_key, "; run `certs init` first)"));
  }
  GH_ASSIGN_OR_RETURN(X509Ptr cert, ReadCertificateFile(paths.ca_cert));
  GH_ASSIGN_OR_RETURN(EvpPkeyPtr key, ReadPrivateKeyFile(paths.ca_key));
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(paths.ca_key, " does not match ", paths.ca_cert));
  }
  return KeyAndCertificate{std::move(key), std::move(cert)};
}

}  // namespace

DevPkiPaths DevPkiPathsIn(const std::string& dir) {
  return {dir + "/ca.pem", dir + "/ca.key", dir + "/server.pem", dir + "/server.key"};
}

absl::Status ValidateDevName(absl::string_view name, absl::string_view what) {
  if (name.empty() || name.size() > kMaxNameLength) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " \"", name, "\" must be 1 to ", kMaxNameLength, " characters"));
  }
  if (name.front() == '.' || name.front() == '-') {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " \"", name, "\" must not start with '.' or '-'"));
  }
  for (const char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " \"", name, "\" may only contain letters, digits, '.', '_', '-'"));
    }
  }
  return absl::OkStatus();
}

absl::Status InitDevPki(const std::string& dir, bool force) {
  const DevPkiPaths paths = DevPkiPathsIn(dir);
  GH_RETURN_IF_ERROR(base::MakeDirectories(dir, kDirMode));
  GH_RETURN_IF_ERROR(
      RefuseExisting({paths.ca_cert, paths.ca_key, paths.server_cert, paths.server_key}, force));

  GH_ASSIGN_OR_RETURN(CertificateRequest ca_request,
                      DevRequest("Gatehouse dev CA", kDevCaValidity));
  ca_request.kind = CertificateKind::kAuthority;
  GH_ASSIGN_OR_RETURN(KeyAndCertificate ca, CreateCertificateAuthority(ca_request));

  GH_ASSIGN_OR_RETURN(CertificateRequest server_request,
                      DevRequest("gatehouse-server", kDevLeafValidity));
  server_request.extended_key_usages = {"serverAuth"};
  server_request.dns_names = {"localhost"};
  server_request.ip_addresses = {"127.0.0.1", "::1"};
  GH_ASSIGN_OR_RETURN(KeyAndCertificate server, IssueCertificate(ca, server_request));

  GH_RETURN_IF_ERROR(WritePair(ca, paths.ca_cert, paths.ca_key, force));
  return WritePair(server, paths.server_cert, paths.server_key, force);
}

absl::Status IssueDevClientCertificate(const std::string& dir, const DevClientRequest& request,
                                       bool force) {
  GH_RETURN_IF_ERROR(ValidateDevName(request.name, "certificate name"));
  if (request.name == "ca" || request.name == "server") {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate name \"", request.name, "\" is reserved for the dev PKI"));
  }
  for (const std::string& role : request.roles) GH_RETURN_IF_ERROR(ValidateDevName(role, "role"));
  // Before anything is read or written: a bad validity is a usage error, not a PKI problem.
  GH_ASSIGN_OR_RETURN(CertificateRequest client_request,
                      DevRequest(request.name, request.validity));
  const std::string cert_path = absl::StrCat(dir, "/", request.name, ".pem");
  const std::string key_path = absl::StrCat(dir, "/", request.name, ".key");
  GH_RETURN_IF_ERROR(RefuseExisting({cert_path, key_path}, force));
  GH_ASSIGN_OR_RETURN(KeyAndCertificate ca, LoadAuthority(dir));

  client_request.organizational_units = request.roles;
  client_request.extended_key_usages = {"clientAuth"};
  GH_ASSIGN_OR_RETURN(KeyAndCertificate client, IssueCertificate(ca, client_request));
  return WritePair(client, cert_path, key_path, force);
}

absl::StatusOr<bool> EnsureDevPki(const std::string& dir) {
  const DevPkiPaths paths = DevPkiPathsIn(dir);
  const std::array<const std::string*, 4> files = {&paths.ca_cert, &paths.ca_key,
                                                   &paths.server_cert, &paths.server_key};
  int present = 0;
  for (const std::string* file : files) present += Exists(*file) ? 1 : 0;
  if (present == static_cast<int>(files.size())) return false;
  if (present != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("dev PKI in ", dir,
                     " is incomplete (expected ca.pem, ca.key, server.pem, server.key); "
                     "remove the directory or run `gatehouse certs init --force --dir ",
                     dir, "`"));
  }
  GH_RETURN_IF_ERROR(InitDevPki(dir, /*force=*/false));
  GH_RETURN_IF_ERROR(IssueDevClientCertificate(
      dir, {.name = "admin", .roles = {"admin"}, .validity = kDevLeafValidity}, /*force=*/false));
  return true;
}

}  // namespace gatehouse::security
