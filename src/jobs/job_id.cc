#include "jobs/job_id.h"

#include <openssl/rand.h>

#include <array>
#include <cstdint>

#include "absl/strings/ascii.h"

namespace gatehouse::jobs {
namespace {

constexpr size_t kUuidLength = 36;
constexpr char kHexDigits[] = "0123456789abcdef";

bool IsHyphenPosition(size_t i) { return i == 8 || i == 13 || i == 18 || i == 23; }

}  // namespace

absl::StatusOr<JobId> NewJobId() {
  std::array<uint8_t, 16> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    return absl::InternalError("RAND_bytes failed: no random job id");
  }
  bytes[6] = static_cast<uint8_t>((bytes[6] & 0x0f) | 0x40);  // version 4
  bytes[8] = static_cast<uint8_t>((bytes[8] & 0x3f) | 0x80);  // RFC variant
  JobId id;
  id.reserve(kUuidLength);
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) id.push_back('-');
    id.push_back(kHexDigits[bytes[i] >> 4]);
    id.push_back(kHexDigits[bytes[i] & 0x0f]);
  }
  return id;
}

bool IsJobId(absl::string_view text) {
  if (text.size() != kUuidLength || text[14] != '4') return false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (IsHyphenPosition(i) ? c != '-' : !(absl::ascii_isdigit(c) || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

}  // namespace gatehouse::jobs
