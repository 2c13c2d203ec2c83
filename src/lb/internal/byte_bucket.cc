#include "lb/internal/byte_bucket.h"

#include <algorithm>

#include "base/status_macros.h"

namespace gatehouse::lb::internal {
namespace {

constexpr uint64_t kMinBurstBytes = 4096;
constexpr uint64_t kMaxWakeBytes = uint64_t{16} * 1024;
constexpr uint64_t kBurstFractionOfASecond = 10;  // 100 ms
constexpr uint64_t kUnitsPerByte = 1'000'000'000;

}  // namespace

ByteBucket::ByteBucket(uint64_t bytes_per_second, TimePoint now)
    : rate_(bytes_per_second),
      burst_bytes_(std::max(kMinBurstBytes, bytes_per_second / kBurstFractionOfASecond)),
      wake_bytes_(std::min(kMaxWakeBytes, burst_bytes_)),
      tokens_(absl::uint128(burst_bytes_) * kUnitsPerByte),
      last_refill_(now) {
  GH_CHECK(bytes_per_second > 0);
}

void ByteBucket::Refill(TimePoint now) {
  if (now <= last_refill_) return;
  const auto elapsed = static_cast<uint64_t>((now - last_refill_).count());
  const absl::uint128 full = absl::uint128(burst_bytes_) * kUnitsPerByte;
  // Checked before adding, so the sum cannot overflow: `full` and the accrual are each far
  // below 2^127.
  const absl::uint128 accrued = absl::uint128(elapsed) * rate_;
  tokens_ = accrued >= full - tokens_ ? full : tokens_ + accrued;
  last_refill_ = now;
}

uint64_t ByteBucket::Available(TimePoint now) {
  Refill(now);
  if (is_drained_) {
    if (tokens_ < absl::uint128(wake_bytes_) * kUnitsPerByte) return 0;
    is_drained_ = false;
  }
  return absl::Uint128Low64(tokens_ / kUnitsPerByte);
}

void ByteBucket::Take(uint64_t bytes) {
  const absl::uint128 spent = absl::uint128(bytes) * kUnitsPerByte;
  tokens_ = spent >= tokens_ ? 0 : tokens_ - spent;
  if (tokens_ < kUnitsPerByte) is_drained_ = true;
}

std::chrono::nanoseconds ByteBucket::TimeUntilWake(TimePoint now) {
  Refill(now);
  const absl::uint128 wanted = absl::uint128(wake_bytes_) * kUnitsPerByte;
  if (tokens_ >= wanted) return std::chrono::nanoseconds::zero();
  const absl::uint128 missing = wanted - tokens_;
  return std::chrono::nanoseconds(
      static_cast<int64_t>(absl::Uint128Low64((missing + rate_ - 1) / rate_)));
}

}  // namespace gatehouse::lb::internal
