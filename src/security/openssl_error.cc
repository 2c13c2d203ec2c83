#include "security/openssl_error.h"

#include <openssl/err.h>

#include <array>

#include "absl/strings/str_cat.h"

namespace gatehouse::security {

std::string DrainOpensslErrors() {
  std::string out;
  while (const unsigned long error = ERR_get_error()) {  // NOLINT(google-runtime-int): OpenSSL API
    std::array<char, 256> buffer{};
    ERR_error_string_n(error, buffer.data(), buffer.size());
    absl::StrAppend(&out, out.empty() ? "" : "; ", buffer.data());
  }
  return out;
}

absl::Status OpensslError(absl::StatusCode code, absl::string_view context) {
  std::string detail = DrainOpensslErrors();
  if (detail.empty()) detail = "unknown OpenSSL error";
  return {code, absl::StrCat(context, ": ", detail)};
}

}  // namespace gatehouse::security
