// TLS context builder: the one place Gatehouse's TLS policy is set, for servers and clients.
//
// Every context: TLS 1.3 only; cipher suites TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384,
// TLS_CHACHA20_POLY1305_SHA256; key-exchange groups X25519, P-256, P-384; peer certificate
// required and verified against `ca_file` (chain depth at most 4); with a `crl_file`, revocation
// checked for every certificate of the peer's chain (see TlsFiles). A server requires a client
// certificate whose extendedKeyUsage lists clientAuth; a client requires a server certificate
// whose extendedKeyUsage lists serverAuth. A certificate without the extension is refused too
// (OpenSSL on its own would accept it for any purpose).
// Servers keep no session cache and issue no tickets: each connection proves its certificate,
// so a newly revoked certificate cannot ride an old session.
//
// It does not do I/O beyond reading the named files, and knows nothing of sockets.
// Thread-safe: free functions without shared state; a built context is safe to share.
#ifndef GATEHOUSE_SECURITY_TLS_CONTEXT_H_
#define GATEHOUSE_SECURITY_TLS_CONTEXT_H_

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "security/openssl_ptr.h"

namespace gatehouse::security {

enum class TlsRole { kServer, kClient };

// PEM files. `cert_file` may hold the leaf followed by intermediates.
//
// `ca_file` holds the trusted CA certificates (CERTIFICATE or TRUSTED CERTIFICATE blocks).
//
// `crl_file` is optional (empty = no revocation check). When set, revocation is checked for
// every certificate of the peer's chain, the leaf, any intermediate and the trusted root alike
// (X509_V_FLAG_CRL_CHECK_ALL, as nginx and Envoy do by default), so revoking an intermediate CA
// in its parent's CRL cuts off everything it issued. That needs a CRL from every CA in the chain:
// concatenate them in `crl_file`. Loading fails unless every certificate in `ca_file` has a CRL
// in `crl_file` (same issuer name, signature verified with that CA's key). A peer that sends an
// intermediate not in `ca_file` needs that intermediate's CRL in `crl_file` too; without it the
// peer is refused (X509_V_ERR_UNABLE_TO_GET_CRL), which cannot be checked at load time.
// A CRL past its nextUpdate makes OpenSSL refuse every chain it covers (X509_V_ERR_CRL_HAS_EXPIRED)
// without a word in our logs: loading logs a warning for a CRL that has expired, is not yet valid,
// or expires within kCrlExpiryWarning, and CrlNextUpdate() lets the daemon publish the deadline.
//
// Each file must be whole PEM: only a clean end of file ends it. A block that is cut short or
// damaged, a block of another type, or text after the last block fails the build.
struct TlsFiles {
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  std::string crl_file;
  // Not a file, but part of what a context is built from: a server that speaks HTTP/2 (the job
  // API's gRPC) selects "h2" by ALPN, which gRPC clients require; a client offering ALPN without
  // it is refused. Off, no ALPN is negotiated (the lb's TCP apps).
  bool alpn_h2 = false;
};

// A CRL whose nextUpdate is less than this far away when it is loaded gets a warning in the log.
inline constexpr std::chrono::hours kCrlExpiryWarning{24};
// Larger CA or CRL files are refused rather than read into memory.
inline constexpr size_t kMaxPemFileBytes = size_t{64} << 20;

// Builds a context for `role` from `files`. InvalidArgument naming the file and the reason when a
// file is missing, unreadable, malformed or cut short (see TlsFiles), when the key does not match
// the certificate, or when `crl_file` lacks a CRL for a CA of `ca_file`. A client context may leave
// cert_file and key_file both empty: it then presents no certificate.
absl::StatusOr<SslCtxPtr> BuildTlsContext(TlsRole role, const TlsFiles& files);

// The earliest nextUpdate among the CRLs loaded into `ctx`: from that instant on, OpenSSL refuses
// every peer whose chain that CRL covers, until a context with a newer CRL replaces `ctx`. Empty
// when `ctx` checks no CRL or none of its CRLs has a nextUpdate (such a CRL never expires).
// Meant for /metrics, e.g. a gauge of Unix seconds that alerts fire on well before it passes.
// Borrows `ctx`; thread-safe, and safe while `ctx` serves handshakes.
std::optional<std::chrono::system_clock::time_point> CrlNextUpdate(const SSL_CTX* ctx);

// For a client connection: the server certificate must be valid for `host` (a DNS name checked
// against the SAN DNS entries, or an IP literal checked against SAN IP entries). Borrows `ssl`.
absl::Status ExpectServerName(SSL* ssl, absl::string_view host);

}  // namespace gatehouse::security

#endif  // GATEHOUSE_SECURITY_TLS_CONTEXT_H_
