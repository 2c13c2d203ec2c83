// Why a client connection of the load balancer ended, and why a TLS handshake failed: the
// values of the `reason` labels in /metrics and of `end` in access log lines.
#ifndef GATEHOUSE_LBSERVER_CLOSE_REASON_H_
#define GATEHOUSE_LBSERVER_CLOSE_REASON_H_

#include <openssl/types.h>

#include <cstddef>
#include <system_error>

#include "absl/strings/string_view.h"

namespace gatehouse::lbserver {

enum class CloseReason {
  kClosed,              // forwarded; both directions ended
  kIdleTimeout,         // forwarded; nothing moved for idle_timeout
  kForwardError,        // forwarded; a read or write failed (reset, truncated TLS)
  kMaxConnections,      // refused: lb.max_connections open already
  kAppMaxConnections,   // refused: the app's max_connections open already
  kHandshakeFailed,     // TLS handshake failed (see HandshakeFailure)
  kBadIdentity,         // verified certificate without a usable identity (security/identity.h)
  kRateLimited,         // refused: the client's token bucket is empty
  kConcurrencyLimited,  // refused: the client holds max_concurrent connections already
  kTooManyClients,      // refused: the rate limiter's table of clients is full
  kNotAllowed,          // refused: authorization denies this identity the app
  kNoUpstream,          // no upstream could be reached
  kProxyHeaderFailed,   // the PROXY v2 header could not be built or sent
  kNoInstance,          // launch apps: no server became ready for it (launcher.h)
  kBadClientHello,      // tls: sni apps: no readable ClientHello within lb.handshake_timeout
  kUnknownServerName,   // tls: sni apps: no route for the server name (or none was sent)
};
inline constexpr size_t kCloseReasonCount = 16;

// "closed", "idle_timeout", "forward_error", "max_connections", ...
absl::string_view CloseReasonName(CloseReason reason);

enum class HandshakeFailure {
  kNoCertificate,    // the client sent no certificate
  kUntrusted,        // not issued by the configured CA (or its chain is broken)
  kExpired,          // expired or not yet valid
  kRevoked,          // listed in the CRL
  kCrl,              // the CRL itself cannot be used (expired, missing): everyone is refused
  kWrongUsage,       // no clientAuth extended key usage
  kBadCertificate,   // any other verification failure
  kProtocolVersion,  // not TLS 1.3
  kTimeout,          // not done within lb.handshake_timeout
  kClientClosed,     // the client went away mid-handshake
  kOther,
};
inline constexpr size_t kHandshakeFailureCount = 11;

absl::string_view HandshakeFailureName(HandshakeFailure failure);

// Why the server-side handshake on `ssl` failed with `error` (from net::TlsStream::Handshake).
// Borrows `ssl`.
HandshakeFailure ClassifyHandshakeFailure(const SSL* ssl, std::error_code error);

}  // namespace gatehouse::lbserver

#endif  // GATEHOUSE_LBSERVER_CLOSE_REASON_H_
