// TLS context builder: the one place Gatehouse's TLS policy is set, for servers and clients.
//
// Every context: TLS 1.3 only; cipher suites TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384,
// TLS_CHACHA20_POLY1305_SHA256; key-exchange groups X25519, P-256, P-384; peer certificate
// required and verified against `ca_file` (chain depth at most 4); optional CRL checked for the
// leaf. A server requires a client certificate whose extendedKeyUsage lists clientAuth; a client
// requires a server certificate whose extendedKeyUsage lists serverAuth. A certificate without
// the extension is refused too (OpenSSL on its own would accept it for any purpose).
// Servers keep no session cache and issue no tickets: each connection proves its certificate,
// so a newly revoked certificate cannot ride an old session.
//
// It does not do I/O beyond reading the named files, and knows nothing of sockets.
#ifndef GATEHOUSE_SECURITY_TLS_CONTEXT_H_
#define GATEHOUSE_SECURITY_TLS_CONTEXT_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "security/openssl_ptr.h"

namespace gatehouse::security {

enum class TlsRole { kServer, kClient };

// PEM files. `cert_file` may hold the leaf followed by intermediates. `crl_file` is optional
// (empty = no revocation check).
struct TlsFiles {
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  std::string crl_file;
};

// Builds a context for `role` from `files`. InvalidArgument naming the file and OpenSSL's reason
// when a file is missing, unreadable, malformed, or the key does not match the certificate. A
// client context may leave cert_file and key_file both empty: it then presents no certificate.
absl::StatusOr<SslCtxPtr> BuildTlsContext(TlsRole role, const TlsFiles& files);

// For a client connection: the server certificate must be valid for `host` (a DNS name checked
// against the SAN DNS entries, or an IP literal checked against SAN IP entries). Borrows `ssl`.
absl::Status ExpectServerName(SSL* ssl, absl::string_view host);

}  // namespace gatehouse::security

#endif  // GATEHOUSE_SECURITY_TLS_CONTEXT_H_
