#include "config/config.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace gatehouse::config {

std::string Address::ToString() const {
  // An IPv6 literal holds colons, so it needs brackets to keep the port separable (RFC 3986).
  if (absl::StrContains(host, ':')) {
    return absl::StrCat("[", host, "]:", port);
  }
  return absl::StrCat(host, ":", port);
}

}  // namespace gatehouse::config
