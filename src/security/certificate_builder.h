// In-memory X.509 issuance on OpenSSL 3: ECDSA P-256 keys, a self-signed CA, and leaf
// certificates signed by it. Used by the dev PKI and by tests; production brings its own CA.
// No file I/O (see dev_pki.h for that). Thread-safe (no shared state).
#ifndef GATEHOUSE_SECURITY_CERTIFICATE_BUILDER_H_
#define GATEHOUSE_SECURITY_CERTIFICATE_BUILDER_H_

#include <chrono>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "security/openssl_ptr.h"

namespace gatehouse::security {

enum class CertificateKind { kAuthority, kLeaf };

struct CertificateRequest {
  CertificateKind kind = CertificateKind::kLeaf;
  // Subject CN; for client certificates this is the user name (see identity.h).
  std::string common_name;
  // Subject OU entries; for client certificates these are the roles.
  std::vector<std::string> organizational_units;
  // extendedKeyUsage short names ("serverAuth", "clientAuth"); empty = no extension.
  std::vector<std::string> extended_key_usages;
  // subjectAltName entries.
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
  std::chrono::system_clock::time_point not_before;
  std::chrono::system_clock::time_point not_after;
  // kAuthority only: how many intermediate CAs may follow this one in a chain (basicConstraints
  // pathlen). 0 = it signs leaves only.
  int max_path_length = 0;
};

struct KeyAndCertificate {
  EvpPkeyPtr key;
  X509Ptr certificate;
};

// Fresh ECDSA P-256 key pair.
absl::StatusOr<EvpPkeyPtr> GenerateP256Key();

// A self-signed CA certificate (basicConstraints CA:TRUE, pathlen `max_path_length`;
// keyCertSign, cRLSign). `request.kind` must be kAuthority.
absl::StatusOr<KeyAndCertificate> CreateCertificateAuthority(const CertificateRequest& request);

// A certificate with a new key, signed by `issuer`: for kind kLeaf a leaf (CA:FALSE;
// digitalSignature), for kAuthority an intermediate CA (as CreateCertificateAuthority, plus an
// authorityKeyIdentifier). Serial numbers are 159 random bits. InvalidArgument for an empty CN,
// a malformed DNS name or IP, a negative path length.
absl::StatusOr<KeyAndCertificate> IssueCertificate(const KeyAndCertificate& issuer,
                                                   const CertificateRequest& request);

absl::StatusOr<std::string> CertificateToPem(const X509* certificate);
// PKCS#8, unencrypted: the file's mode (0600) is what protects it.
absl::StatusOr<std::string> PrivateKeyToPem(const EVP_PKEY* key);

absl::StatusOr<X509Ptr> ReadCertificateFile(const std::string& path);
absl::StatusOr<EvpPkeyPtr> ReadPrivateKeyFile(const std::string& path);

}  // namespace gatehouse::security

#endif  // GATEHOUSE_SECURITY_CERTIFICATE_BUILDER_H_
