// Turns OpenSSL's thread-local error queue into absl::Status messages.
#ifndef GATEHOUSE_SECURITY_OPENSSL_ERROR_H_
#define GATEHOUSE_SECURITY_OPENSSL_ERROR_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace gatehouse::security {

// Drains this thread's OpenSSL error queue into one "; "-separated string ("" when empty).
std::string DrainOpensslErrors();

// A status with `code` and message "<context>: <drained OpenSSL errors>".
absl::Status OpensslError(absl::StatusCode code, absl::string_view context);

}  // namespace gatehouse::security

#endif  // GATEHOUSE_SECURITY_OPENSSL_ERROR_H_
