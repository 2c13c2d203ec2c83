// Identity: who a verified client certificate says the peer is.
//
// The identity comes from fixed fields of the verified leaf certificate, nothing else:
//   user  = the subject's single commonName (CN)
//   roles = every organizationalUnitName (OU) of the subject, in certificate order
// No other authentication protocol runs on top of mutual TLS. Thread-compatible value type.
#ifndef GATEHOUSE_SECURITY_IDENTITY_H_
#define GATEHOUSE_SECURITY_IDENTITY_H_

#include <openssl/types.h>

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gatehouse::security {

// Limits on what IdentityFromCertificate accepts.
inline constexpr size_t kMaxIdentityFieldBytes = 256;  // per CN or OU, UTF-8 bytes
inline constexpr size_t kMaxIdentityRoles = 32;        // OU entries in one subject

struct Identity {
  std::string user;
  std::vector<std::string> roles;

  bool HasRole(absl::string_view role) const;
  // For logs: `"alice"` or `"alice" (roles: "admin", "dev")`. Each name is quoted and passed
  // through base::EscapeForLog, so a CN such as `bob (roles: admin)` cannot pass for a role list
  // and no name can break the log line.
  std::string ToString() const;
};

// Extracts the identity from a certificate that TLS already verified. Borrows `cert`.
// InvalidArgument when:
//   - the subject has no CN, more than one CN, or more than kMaxIdentityRoles OUs;
//   - a CN or OU is empty, longer than kMaxIdentityFieldBytes, not valid UTF-8, or contains a
//     character that can make one name look like another or disturb a log or terminal: C0 and C1
//     control characters (U+0000..U+001F, U+007F..U+009F), bidi embeddings, overrides, isolates
//     and marks (U+061C, U+200E, U+200F, U+202A..U+202E, U+2066..U+2069), zero-width characters
//     (U+200B..U+200D, U+2060, U+FEFF) and the line and paragraph separators U+2028, U+2029.
// Other Unicode (letters, marks, symbols, spaces) is accepted and compared byte-exact.
absl::StatusOr<Identity> IdentityFromCertificate(const X509* cert);

}  // namespace gatehouse::security

#endif  // GATEHOUSE_SECURITY_IDENTITY_H_
