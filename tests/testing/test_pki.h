// TestPki: a CA, a server certificate and on-demand client certificates (good and deliberately
// bad) written to a private temporary directory, generated at test time, never checked in.
// Thread-compatible.
#ifndef GATEHOUSE_TESTS_TESTING_TEST_PKI_H_
#define GATEHOUSE_TESTS_TESTING_TEST_PKI_H_

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "security/certificate_builder.h"
#include "security/tls_context.h"
#include "testing/temp_dir.h"

namespace gatehouse::testing {

struct TestCertOptions {
  std::vector<std::string> roles;
  std::vector<std::string> extended_key_usages = {"clientAuth"};
  // Validity window relative to now; a negative end makes an expired certificate.
  std::chrono::hours valid_from{-1};
  std::chrono::hours valid_until{24};
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
};

struct TestCrlOptions {
  // Certificate files whose (first) certificate the CRL revokes.
  std::vector<std::string> revoked_cert_files;
  // thisUpdate and nextUpdate relative to now; no nextUpdate when empty (never expires).
  std::chrono::hours last_update{-1};
  std::optional<std::chrono::hours> next_update = std::chrono::hours(24);
};

class TestPki {
 public:
  // The root CA may sign intermediate CAs (pathlen 1), which may sign only leaves.
  TestPki();

  const std::string& ca_file() const { return ca_file_; }
  // Server files: serverAuth, SANs localhost, 127.0.0.1, ::1.
  security::TlsFiles ServerFiles() const;
  // Issues NAME.pem/NAME.key (unique names per PKI) and returns client files trusting this CA.
  security::TlsFiles IssueClient(const std::string& name, const TestCertOptions& options = {});
  // A server certificate with custom options (for example without serverAuth).
  security::TlsFiles IssueServer(const std::string& name, const TestCertOptions& options);
  // Writes a CRL, signed by this CA, revoking the certificate in `cert_file`; returns its path.
  std::string RevokeInNewCrl(const std::string& cert_file);

  // An intermediate CA signed by the root, with CN `name`; NAME.pem holds its certificate.
  security::KeyAndCertificate IssueIntermediate(const std::string& name);
  // A client certificate signed by `intermediate`: cert_file holds the leaf, then the
  // intermediate (the chain the client sends); ca_file is the root.
  security::TlsFiles IssueClientUnder(const security::KeyAndCertificate& intermediate,
                                      const std::string& name, const TestCertOptions& options = {});
  // The PEM text of a CRL signed by `issuer` (the root when null).
  std::string CrlPem(const TestCrlOptions& options,
                     const security::KeyAndCertificate* issuer = nullptr) const;

  const security::KeyAndCertificate& ca() const { return ca_; }

  const TempDir& dir() const { return dir_; }

 private:
  security::TlsFiles WritePair(const std::string& name,
                               const security::KeyAndCertificate& pair) const;

  TempDir dir_;
  security::KeyAndCertificate ca_;
  std::string ca_file_;
  security::TlsFiles server_files_;
};

}  // namespace gatehouse::testing

#endif  // GATEHOUSE_TESTS_TESTING_TEST_PKI_H_
