#include "testing/test_pki.h"

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "gtest/gtest.h"

namespace gatehouse::testing {
namespace {

using security::CertificateKind;
using security::CertificateRequest;
using security::KeyAndCertificate;

CertificateRequest RequestFor(const std::string& name, const TestCertOptions& options) {
  const auto now = std::chrono::system_clock::now();
  CertificateRequest request;
  request.kind = CertificateKind::kLeaf;
  request.common_name = name;
  request.organizational_units = options.roles;
  request.extended_key_usages = options.extended_key_usages;
  request.dns_names = options.dns_names;
  request.ip_addresses = options.ip_addresses;
  request.not_before = now + options.valid_from;
  request.not_after = now + options.valid_until;
  return request;
}

template <typename T>
T ValueOrFail(absl::StatusOr<T> value, const char* what) {
  if (!value.ok()) {
    ADD_FAILURE() << what << ": " << value.status();
    return T{};
  }
  return *std::move(value);
}

}  // namespace

TestPki::TestPki() {
  CertificateRequest ca_request = RequestFor("Gatehouse test CA", {});
  ca_request.kind = CertificateKind::kAuthority;
  ca_request.extended_key_usages.clear();
  ca_request.max_path_length = 1;
  ca_ = ValueOrFail(security::CreateCertificateAuthority(ca_request), "create test CA");
  ca_file_ = dir_.WriteFile(
      "ca.pem", ValueOrFail(security::CertificateToPem(ca_.certificate.get()), "CA PEM"));
  TestCertOptions server;
  server.extended_key_usages = {"serverAuth"};
  server.dns_names = {"localhost"};
  server.ip_addresses = {"127.0.0.1", "::1"};
  server_files_ = IssueServer("server", server);
}

security::TlsFiles TestPki::ServerFiles() const { return server_files_; }

security::TlsFiles TestPki::WritePair(const std::string& name,
                                      const KeyAndCertificate& pair) const {
  security::TlsFiles files;
  files.ca_file = ca_file_;
  files.cert_file = dir_.WriteFile(
      name + ".pem", ValueOrFail(security::CertificateToPem(pair.certificate.get()), "cert PEM"));
  files.key_file = dir_.WriteFile(
      name + ".key", ValueOrFail(security::PrivateKeyToPem(pair.key.get()), "key PEM"));
  return files;
}

security::TlsFiles TestPki::IssueClient(const std::string& name, const TestCertOptions& options) {
  return WritePair(name, ValueOrFail(security::IssueCertificate(ca_, RequestFor(name, options)),
                                     "issue client certificate"));
}

security::TlsFiles TestPki::IssueServer(const std::string& name, const TestCertOptions& options) {
  return WritePair(name, ValueOrFail(security::IssueCertificate(ca_, RequestFor(name, options)),
                                     "issue server certificate"));
}

security::KeyAndCertificate TestPki::IssueIntermediate(const std::string& name) {
  CertificateRequest request = RequestFor(name, {});
  request.kind = CertificateKind::kAuthority;
  request.extended_key_usages.clear();
  KeyAndCertificate intermediate =
      ValueOrFail(security::IssueCertificate(ca_, request), "issue intermediate CA");
  dir_.WriteFile(name + ".pem",
                 ValueOrFail(security::CertificateToPem(intermediate.certificate.get()), "PEM"));
  return intermediate;
}

security::TlsFiles TestPki::IssueClientUnder(const KeyAndCertificate& intermediate,
                                             const std::string& name,
                                             const TestCertOptions& options) {
  security::TlsFiles files = WritePair(
      name, ValueOrFail(security::IssueCertificate(intermediate, RequestFor(name, options)),
                        "issue client certificate under an intermediate"));
  files.cert_file = dir_.WriteFile(
      name + ".pem",
      ReadFileOrFail(files.cert_file) +
          ValueOrFail(security::CertificateToPem(intermediate.certificate.get()), "PEM"));
  return files;
}

std::string TestPki::CrlPem(const TestCrlOptions& options, const KeyAndCertificate* issuer) const {
  if (issuer == nullptr) issuer = &ca_;
  security::X509CrlPtr owned_crl(X509_CRL_new());
  X509_CRL* crl = owned_crl.get();
  X509_CRL_set_version(crl, 1);
  X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer->certificate.get()));
  const auto seconds = [](std::chrono::hours hours) {
    return static_cast<long>(std::chrono::seconds(hours).count());  // NOLINT(google-runtime-int)
  };
  security::Asn1TimePtr last_update(X509_gmtime_adj(nullptr, seconds(options.last_update)));
  X509_CRL_set1_lastUpdate(crl, last_update.get());
  if (options.next_update.has_value()) {
    security::Asn1TimePtr next_update(X509_gmtime_adj(nullptr, seconds(*options.next_update)));
    X509_CRL_set1_nextUpdate(crl, next_update.get());
  }
  for (const std::string& cert_file : options.revoked_cert_files) {
    auto revoked_cert = security::ReadCertificateFile(cert_file);
    EXPECT_TRUE(revoked_cert.ok()) << revoked_cert.status();
    if (!revoked_cert.ok()) continue;
    X509_REVOKED* entry = X509_REVOKED_new();
    X509_REVOKED_set_serialNumber(entry, X509_get_serialNumber(revoked_cert->get()));
    X509_REVOKED_set_revocationDate(entry, last_update.get());
    X509_CRL_add0_revoked(crl, entry);  // the CRL owns `entry` from here
  }
  X509_CRL_sort(crl);
  EXPECT_NE(X509_CRL_sign(crl, issuer->key.get(), EVP_sha256()), 0);
  security::BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509_CRL(bio.get(), crl);
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);  // NOLINT(google-runtime-int)
  return {data, static_cast<size_t>(length)};
}

std::string TestPki::RevokeInNewCrl(const std::string& cert_file) {
  TestCrlOptions options;
  options.revoked_cert_files = {cert_file};
  return dir_.WriteFile("revoked.crl.pem", CrlPem(options));
}

}  // namespace gatehouse::testing
