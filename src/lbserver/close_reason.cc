#include "lbserver/close_reason.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <array>

#include "asio/error.hpp"
#include "asio/ssl/error.hpp"

namespace gatehouse::lbserver {
namespace {

constexpr std::array<absl::string_view, kCloseReasonCount> kCloseReasonNames = {
    "closed",
    "idle_timeout",
    "forward_error",
    "max_connections",
    "app_max_connections",
    "handshake_failed",
    "bad_identity",
    "rate_limited",
    "concurrency_limited",
    "too_many_clients",
    "not_allowed",
    "no_upstream",
    "proxy_header_failed",
    "no_instance",
    "bad_client_hello",
    "unknown_server_name"};

constexpr std::array<absl::string_view, kHandshakeFailureCount> kHandshakeFailureNames = {
    "no_certificate",  "untrusted",        "expired", "revoked",       "crl",  "wrong_usage",
    "bad_certificate", "protocol_version", "timeout", "client_closed", "other"};

// The certificate verification result says why a presented certificate was refused.
HandshakeFailure FromVerifyResult(long result) {  // NOLINT(google-runtime-int): OpenSSL's type
  switch (result) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return HandshakeFailure::kExpired;
    case X509_V_ERR_CERT_REVOKED:
      return HandshakeFailure::kRevoked;
    case X509_V_ERR_UNABLE_TO_GET_CRL:
    case X509_V_ERR_CRL_HAS_EXPIRED:
    case X509_V_ERR_CRL_NOT_YET_VALID:
    case X509_V_ERR_CRL_SIGNATURE_FAILURE:
    case X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE:
      return HandshakeFailure::kCrl;
    case X509_V_ERR_INVALID_PURPOSE:
      return HandshakeFailure::kWrongUsage;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
    case X509_V_ERR_CERT_CHAIN_TOO_LONG:
      return HandshakeFailure::kUntrusted;
    default:
      return HandshakeFailure::kBadCertificate;
  }
}

}  // namespace

absl::string_view CloseReasonName(CloseReason reason) {
  return kCloseReasonNames[static_cast<size_t>(reason)];
}

absl::string_view HandshakeFailureName(HandshakeFailure failure) {
  return kHandshakeFailureNames[static_cast<size_t>(failure)];
}

HandshakeFailure ClassifyHandshakeFailure(const SSL* ssl, std::error_code error) {
  if (error == asio::error::timed_out) return HandshakeFailure::kTimeout;
  if (ssl != nullptr) {
    const long verify = SSL_get_verify_result(ssl);  // NOLINT(google-runtime-int): OpenSSL's type
    if (verify != X509_V_OK) return FromVerifyResult(verify);
  }
  if (error.category() == asio::error::get_ssl_category()) {
    switch (
        ERR_GET_REASON(static_cast<unsigned long>(error.value()))) {  // NOLINT(google-runtime-int)
      case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
        return HandshakeFailure::kNoCertificate;
      case SSL_R_UNSUPPORTED_PROTOCOL:
      case SSL_R_NO_PROTOCOLS_AVAILABLE:
      case SSL_R_VERSION_TOO_LOW:
      case SSL_R_WRONG_VERSION_NUMBER:
        return HandshakeFailure::kProtocolVersion;
      default:
        return HandshakeFailure::kOther;
    }
  }
  if (error == asio::ssl::error::stream_truncated || error == asio::error::eof ||
      error == asio::error::connection_reset || error == asio::error::broken_pipe) {
    return HandshakeFailure::kClientClosed;
  }
  return HandshakeFailure::kOther;
}

}  // namespace gatehouse::lbserver
