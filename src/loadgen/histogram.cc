#include "loadgen/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

namespace gatehouse::loadgen {
namespace {

// 2^11 sub-buckets in the first range, 2^10 in each later power-of-two range.
constexpr int kSubBucketBits = 11;
constexpr uint64_t kSubBucketCount = uint64_t{1} << kSubBucketBits;
constexpr uint64_t kSubBucketHalf = kSubBucketCount / 2;
constexpr int kRanges = 64 - std::countl_zero(LatencyHistogram::kMaxValue) - kSubBucketBits + 1;
constexpr size_t kBucketCount = (kRanges + 1) * kSubBucketHalf;

}  // namespace

LatencyHistogram::LatencyHistogram() : counts_(kBucketCount, 0) {}

size_t LatencyHistogram::IndexOf(uint64_t value) {
  // The range is how far the value's top bit lies above the sub-bucket bits; within it, the
  // value shifted right by the range picks one of the upper half of the sub-buckets.
  const int range = 64 - std::countl_zero(value | (kSubBucketCount - 1)) - kSubBucketBits;
  const uint64_t sub_bucket = value >> range;
  return static_cast<size_t>(static_cast<uint64_t>(range) * kSubBucketHalf + sub_bucket);
}

uint64_t LatencyHistogram::HighestValueAt(size_t index) {
  // Inverse of IndexOf: indexes below kSubBucketCount are exact values; above, each index
  // covers 2^range values.
  if (index < kSubBucketCount) return index;
  const uint64_t range = (index - kSubBucketHalf) / kSubBucketHalf;
  const uint64_t sub_bucket = index - range * kSubBucketHalf;
  return ((sub_bucket + 1) << range) - 1;
}

void LatencyHistogram::Record(uint64_t nanoseconds) {
  if (nanoseconds > kMaxValue) {
    nanoseconds = kMaxValue;
    ++clamped_;
  }
  ++counts_[IndexOf(nanoseconds)];
  min_ = count_ == 0 ? nanoseconds : std::min(min_, nanoseconds);
  max_ = std::max(max_, nanoseconds);
  sum_ += static_cast<long double>(nanoseconds);
  ++count_;
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  if (other.count_ == 0) return;
  for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  min_ = count_ == 0 ? other.min_ : std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
  count_ += other.count_;
  clamped_ += other.clamped_;
}

void LatencyHistogram::Reset() {
  std::fill(counts_.begin(), counts_.end(), 0);
  count_ = 0;
  clamped_ = 0;
  min_ = 0;
  max_ = 0;
  sum_ = 0;
}

double LatencyHistogram::mean() const {
  return count_ == 0 ? 0.0 : static_cast<double>(sum_ / static_cast<long double>(count_));
}

uint64_t LatencyHistogram::ValueAtPercentile(double percentile) const {
  if (count_ == 0) return 0;
  const double clamped_percentile = std::clamp(percentile, 0.0, 100.0);
  // The rank of the value asked for: at least 1, so p0 is the smallest value. The epsilon keeps
  // binary rounding (99.9 % of 1000 = 999.0000000000001) from skipping to the next rank.
  const double exact_rank = clamped_percentile / 100.0 * static_cast<double>(count_);
  const auto rank = std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(exact_rank - 1e-9)));
  uint64_t seen = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(HighestValueAt(i), max_);
  }
  return max_;
}

}  // namespace gatehouse::loadgen
