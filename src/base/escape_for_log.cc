#include "base/escape_for_log.h"

namespace gatehouse::base {

std::string EscapeForLog(absl::string_view client_text) {
  constexpr char kHexDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(client_text.size());
  for (const char c : client_text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte >= 0x20 && byte < 0x7f) {
      out += c;
    } else {
      // Non-ASCII bytes are escaped too, not only invalid UTF-8: valid UTF-8 can still carry C1
      // controls, bidi overrides and zero-width characters that mislead a reader.
      out += "\\x";
      out += kHexDigits[byte >> 4];
      out += kHexDigits[byte & 0xf];
    }
  }
  return out;
}

}  // namespace gatehouse::base
