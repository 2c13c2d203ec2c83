#include "base/host_name.h"

#include <cstddef>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"

namespace gatehouse::base {
namespace {

constexpr size_t kMaxHostNameBytes = 253;
constexpr size_t kMaxLabelBytes = 63;

}  // namespace

bool IsHostName(absl::string_view name) {
  if (name.empty() || name.size() > kMaxHostNameBytes) return false;
  for (const absl::string_view label : absl::StrSplit(name, '.')) {
    if (label.empty() || label.size() > kMaxLabelBytes) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    for (const char c : label) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
    }
  }
  return true;
}

}  // namespace gatehouse::base
