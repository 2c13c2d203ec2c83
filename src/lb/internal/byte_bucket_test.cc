#include "lb/internal/byte_bucket.h"

#include <chrono>

#include "gtest/gtest.h"

namespace gatehouse::lb::internal {
namespace {

using std::chrono::microseconds;
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
  bucket.Take(90'000);
  EXPECT_EQ(bucket.Available(kStart), 10'000U);
  EXPECT_EQ(bucket.Available(kStart + milliseconds(10)), 20'000U);
  EXPECT_EQ(bucket.Available(kStart + milliseconds(50)), 60'000U);
  EXPECT_EQ(bucket.Available(kStart + seconds(10)), 100'000U);  // capped at the burst
}

TEST(ByteBucketTest, ADrainedBucketOffersNothingUntilItHoldsTheWakeAmount) {
  ByteBucket bucket(1'000'000, kStart);
  bucket.Take(100'000);
  // 1 byte per microsecond accrues, but a reader that drained the bucket is not woken for it.
  EXPECT_EQ(bucket.Available(kStart + microseconds(100)), 0U);
  EXPECT_EQ(bucket.Available(kStart + microseconds(16'383)), 0U);
  EXPECT_EQ(bucket.Available(kStart + microseconds(16'384)), 16'384U);
  // Spending part of it does not drain it; what is left stays available.
  bucket.Take(16'000);
  EXPECT_EQ(bucket.Available(kStart + microseconds(16'384)), 384U);
  bucket.Take(384);
  EXPECT_EQ(bucket.Available(kStart + microseconds(20'000)), 0U);
  EXPECT_EQ(bucket.Available(kStart + microseconds(32'768)), 16'384U);
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
  // Nor does it fall behind: what accrued but was not offered is less than the wake amount.
  EXPECT_GE(moved, kRate * 10 - bucket.wake_bytes());
}

TEST(ByteBucketTest, TimeGoingBackwardsAddsNothing) {
  ByteBucket bucket(1'000'000, kStart);
  bucket.Take(90'000);
  EXPECT_EQ(bucket.Available(kStart - seconds(1)), 10'000U);
  EXPECT_EQ(bucket.Available(kStart + milliseconds(1)), 11'000U);
}

}  // namespace
}  // namespace gatehouse::lb::internal
