#include "config/config.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace gatehouse::config {

std::string Address::ToString() const {
  // An IPv6 literal holds colons, so it needs brackets to keep the port separable (RFC 3986).
  const std::string ports = IsRange() ? absl::StrCat(port, "-", last_port) : absl::StrCat(port);
  if (absl::StrContains(host, ':')) {
    return absl::StrCat("[", host, "]:", ports);
  }
  return absl::StrCat(host, ":", ports);
}

}  // namespace gatehouse::config
