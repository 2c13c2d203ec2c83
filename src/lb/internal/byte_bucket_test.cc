#include "lb/internal/byte_bucket.h"

#include <chrono>

#include "gtest/gtest.h"

namespace gatehouse::lb::internal {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

const ByteBucket::TimePoint kStart{seconds(1000)};

TEST(ByteBucketTest, StartsWithABurstOfATenthOfASecond) {
  ByteBucket bucket(1'000'000, kStart);
  EXPECT_EQ(bucket.burst_bytes(), 100'000U);
  EXPECT_EQ(bucket.wake_bytes(), 16'384U);
  EXPECT_EQ(bucket.Available(kStart), 100'000U);
}

TEST(ByteBucketTest, ASlowLimitStillHasAFourKibibyteBurst) {
  ByteBucket bucket(1'024, kStart);
  EXPECT_EQ(bucket.burst_bytes(), 4'096U);
  EXPECT_EQ(bucket.wake_bytes(), 4'096U);
}

TEST(ByteBucketTest, RefillsAtTheRateUpToTheBurst) {
  ByteBucket bucket(1'000'000, kStart);
  bucket.Take(100'000);
  EXPECT_EQ(bucket.Available(kStart), 0U);
  EXPECT_EQ(bucket.Available(kStart + milliseconds(10)), 10'000U);
  EXPECT_EQ(bucket.Available(kStart + milliseconds(50)), 50'000U);
  EXPECT_EQ(bucket.Available(kStart + seconds(10)), 100'000U);  // capped at the burst
}

TEST(ByteBucketTest, TimeUntilWakeIsTheTimeToAccrueTheWakeAmount) {
  ByteBucket bucket(1'000'000, kStart);
  EXPECT_EQ(bucket.TimeUntilWake(kStart), nanoseconds::zero());
  bucket.Take(100'000);
  // 16,384 bytes at 1 byte per microsecond.
  EXPECT_EQ(bucket.TimeUntilWake(kStart), nanoseconds(16'384'000));
  EXPECT_EQ(bucket.TimeUntilWake(kStart + milliseconds(10)), nanoseconds(6'384'000));
  EXPECT_EQ(bucket.TimeUntilWake(kStart + milliseconds(17)), nanoseconds::zero());
}

TEST(ByteBucketTest, OverAnyStretchMovesAtMostRateTimesTimePlusBurst) {
  // A reader that takes all it may every millisecond for 10 s.
  constexpr uint64_t kRate = 300'000;
  ByteBucket bucket(kRate, kStart);
  uint64_t moved = 0;
  for (int ms = 0; ms <= 10'000; ++ms) {
    const uint64_t available = bucket.Available(kStart + milliseconds(ms));
    bucket.Take(available);
    moved += available;
  }
  EXPECT_LE(moved, kRate * 10 + bucket.burst_bytes());
  EXPECT_GE(moved, kRate * 10 - 1'000);  // and does not fall behind it either
}

TEST(ByteBucketTest, TimeGoingBackwardsAddsNothing) {
  ByteBucket bucket(1'000'000, kStart);
  bucket.Take(100'000);
  EXPECT_EQ(bucket.Available(kStart - seconds(1)), 0U);
  EXPECT_EQ(bucket.Available(kStart + milliseconds(1)), 1'000U);
}

}  // namespace
}  // namespace gatehouse::lb::internal
