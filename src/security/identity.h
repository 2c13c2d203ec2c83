// Identity: who a verified client certificate says the peer is.
//
// The identity comes from fixed fields of the verified leaf certificate, nothing else:
//   user  = the subject's single commonName (CN)
//   roles = every organizationalUnitName (OU) of the subject, in certificate order
// No other authentication protocol runs on top of mutual TLS. Thread-compatible value type.
#ifndef GATEHOUSE_SECURITY_IDENTITY_H_
#define GATEHOUSE_SECURITY_IDENTITY_H_

#include <openssl/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gatehouse::security {

struct Identity {
  std::string user;
  std::vector<std::string> roles;

  bool HasRole(absl::string_view role) const;
  // "alice" or "alice (roles: admin, dev)", for logs.
  std::string ToString() const;
};

// Extracts the identity from a certificate that TLS already verified. Borrows `cert`.
// InvalidArgument when the subject has no CN, more than one CN, an empty CN, or a CN or OU that
// is not printable UTF-8 without control characters or is longer than 256 bytes.
absl::StatusOr<Identity> IdentityFromCertificate(const X509* cert);

}  // namespace gatehouse::security

#endif  // GATEHOUSE_SECURITY_IDENTITY_H_
