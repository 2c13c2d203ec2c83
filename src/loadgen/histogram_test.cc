#include "loadgen/histogram.h"

#include <cstdint>

#include "gtest/gtest.h"

namespace gatehouse::loadgen {
namespace {

TEST(LatencyHistogramTest, EmptyHistogramReportsZero) {
  LatencyHistogram histogram;
  EXPECT_EQ(histogram.count(), 0U);
  EXPECT_EQ(histogram.ValueAtPercentile(50), 0U);
  EXPECT_EQ(histogram.max(), 0U);
}

TEST(LatencyHistogramTest, SmallValuesAreExact) {
  LatencyHistogram histogram;
  for (uint64_t v = 1; v <= 1000; ++v) histogram.Record(v);
  EXPECT_EQ(histogram.ValueAtPercentile(50), 500U);
  EXPECT_EQ(histogram.ValueAtPercentile(99), 990U);
  EXPECT_EQ(histogram.ValueAtPercentile(99.9), 999U);
  EXPECT_EQ(histogram.ValueAtPercentile(100), 1000U);
  EXPECT_EQ(histogram.ValueAtPercentile(0), 1U);
  EXPECT_EQ(histogram.min(), 1U);
  EXPECT_DOUBLE_EQ(histogram.mean(), 500.5);
}

// Every value, however large, comes back within 0.1 % (and never below itself).
TEST(LatencyHistogramTest, LargeValuesKeepThreeSignificantDigits) {
  for (uint64_t value : {uint64_t{2048}, uint64_t{123457}, uint64_t{987654321},
                         uint64_t{3600} * 1000000000, LatencyHistogram::kMaxValue}) {
    LatencyHistogram histogram;
    histogram.Record(value);
    histogram.Record(1);
    const uint64_t reported = histogram.ValueAtPercentile(100);
    EXPECT_GE(reported, value);
    EXPECT_LE(static_cast<double>(reported), static_cast<double>(value) * 1.001) << value;
    EXPECT_EQ(histogram.max(), value);
  }
}

TEST(LatencyHistogramTest, HighPercentilesOfASkewedDistribution) {
  // 99,000 fast requests at 1 ms, 900 at 50 ms, 100 at 2 s.
  LatencyHistogram histogram;
  for (int i = 0; i < 99000; ++i) histogram.Record(1000000);
  for (int i = 0; i < 900; ++i) histogram.Record(50000000);
  for (int i = 0; i < 100; ++i) histogram.Record(2000000000);
  const auto near = [](uint64_t reported, uint64_t expected) {
    return reported >= expected &&
           static_cast<double>(reported) <= static_cast<double>(expected) * 1.001;
  };
  EXPECT_TRUE(near(histogram.ValueAtPercentile(50), 1000000));
  EXPECT_TRUE(near(histogram.ValueAtPercentile(99), 1000000));
  EXPECT_TRUE(near(histogram.ValueAtPercentile(99.5), 50000000));
  EXPECT_TRUE(near(histogram.ValueAtPercentile(99.95), 2000000000));
}

TEST(LatencyHistogramTest, MergeAddsCountsAndKeepsExtremes) {
  LatencyHistogram a;
  LatencyHistogram b;
  for (uint64_t v = 1; v <= 100; ++v) a.Record(v);
  for (uint64_t v = 101; v <= 200; ++v) b.Record(v);
  a.Merge(b);
  EXPECT_EQ(a.count(), 200U);
  EXPECT_EQ(a.min(), 1U);
  EXPECT_EQ(a.max(), 200U);
  EXPECT_EQ(a.ValueAtPercentile(50), 100U);
  a.Reset();
  EXPECT_EQ(a.count(), 0U);
  EXPECT_EQ(a.ValueAtPercentile(99), 0U);
}

TEST(LatencyHistogramTest, ValuesAboveTheRangeAreClampedAndCounted) {
  LatencyHistogram histogram;
  histogram.Record(LatencyHistogram::kMaxValue + 5);
  EXPECT_EQ(histogram.clamped(), 1U);
  EXPECT_EQ(histogram.max(), LatencyHistogram::kMaxValue);
}

}  // namespace
}  // namespace gatehouse::loadgen
