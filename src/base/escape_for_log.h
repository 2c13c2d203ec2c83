// EscapeForLog: makes text that a client chose (a certificate CN or OU, a TLS SNI name, an HTTP
// request target) safe to put in a log line.
//
// Log lines are read by people in terminals and parsed by pipelines. Unescaped client text could
// end a line and forge the next one (`\n`), rewrite what a terminal shows (ESC sequences, C1
// controls such as CSI U+009B, bidi overrides), or smuggle a quote that closes a field early.
// After escaping, the text is printable ASCII only; nothing in it can start a new line, reach the
// terminal as a control, or be mistaken for the text around it when quoted.
//
// It does not validate or truncate; callers bound the length (certificate fields are at most 256
// bytes, see security/identity.h).
#ifndef GATEHOUSE_BASE_ESCAPE_FOR_LOG_H_
#define GATEHOUSE_BASE_ESCAPE_FOR_LOG_H_

#include <string>

#include "absl/strings/string_view.h"

namespace gatehouse::base {

// Bytes 0x20..0x7E pass unchanged, except `"` (written `\"`) and `\` (written `\\`). Every other
// byte, that is control characters (0x00..0x1F, 0x7F) and every byte of a non-ASCII UTF-8
// sequence (0x80..0xFF), is written `\xNN` with two lowercase hex digits: "zoë" becomes
// "zo\xc3\xab". The mapping is one-to-one, so the original bytes can always be recovered.
// Thread-safe (a pure function).
std::string EscapeForLog(absl::string_view client_text);

}  // namespace gatehouse::base

#endif  // GATEHOUSE_BASE_ESCAPE_FOR_LOG_H_
