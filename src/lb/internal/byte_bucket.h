// ByteBucket: the token bucket of one direction of a connection under a bandwidth limit. Tokens
// are bytes; they accrue at `bytes_per_second` up to a burst of 100 ms worth (at least 4 KiB,
// so that a slow limit still moves whole segments), and the bucket starts full. A direction
// reads at most what the bucket holds. Once a read has drained it, the bucket offers nothing
// until it holds `wake_bytes()` (at most 16 KiB) again: a direction whose source always has
// bytes then moves them in wake-sized reads, a timer wait apart, instead of in the few bytes
// that accrue during each turn of the event loop (which would spin the worker's CPU). Over any
// stretch the bytes moved are at most rate × time + burst.
//
// Time is passed in, so the arithmetic is tested without a clock; it is exact (integers, no
// rounding drift). Not thread-safe: one direction, on one worker.
#ifndef GATEHOUSE_LB_INTERNAL_BYTE_BUCKET_H_
#define GATEHOUSE_LB_INTERNAL_BYTE_BUCKET_H_

#include <chrono>
#include <cstdint>

#include "absl/numeric/int128.h"

namespace gatehouse::lb::internal {

class ByteBucket {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  // `bytes_per_second` > 0.
  ByteBucket(uint64_t bytes_per_second, TimePoint now);

  // Whole bytes the bucket holds at `now` (refilled for the time since the last call); 0 from
  // a draining Take() until it holds wake_bytes() again.
  uint64_t Available(TimePoint now);
  // Spends `bytes` (at most the last `Available()`); spending all of it leaves the bucket
  // drained.
  void Take(uint64_t bytes);
  // How long from `now` until the bucket holds `wake_bytes()`; zero when it already does.
  std::chrono::nanoseconds TimeUntilWake(TimePoint now);

  uint64_t burst_bytes() const { return burst_bytes_; }
  uint64_t wake_bytes() const { return wake_bytes_; }

 private:
  void Refill(TimePoint now);

  // Tokens are counted in byte-nanoseconds (bytes × 10^9) so that refills are exact integer
  // arithmetic: `rate` of them accrue per nanosecond. 128 bits: 10^9 × any 64-bit count fits.
  const uint64_t rate_;
  const uint64_t burst_bytes_;
  const uint64_t wake_bytes_;
  absl::uint128 tokens_;
  TimePoint last_refill_;
  bool is_drained_ = false;
};

}  // namespace gatehouse::lb::internal

#endif  // GATEHOUSE_LB_INTERNAL_BYTE_BUCKET_H_
