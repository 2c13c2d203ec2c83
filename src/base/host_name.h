// DNS host names as TLS server names carry them (RFC 6066 §3, RFC 1123 §2.1): checked once here
// for the ClientHello parser and for the config's routes, so both accept the same names.
#ifndef GATEHOUSE_BASE_HOST_NAME_H_
#define GATEHOUSE_BASE_HOST_NAME_H_

#include "absl/strings/string_view.h"

namespace gatehouse::base {

// Labels of ASCII letters, digits and '-' (not first or last), 1 to 63 bytes each, joined by
// '.'; 253 bytes at most in all; no trailing dot. Any case. Thread-safe.
bool IsHostName(absl::string_view name);

}  // namespace gatehouse::base

#endif  // GATEHOUSE_BASE_HOST_NAME_H_
