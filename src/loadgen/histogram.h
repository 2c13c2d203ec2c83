// LatencyHistogram: an HDR-style (Gil Tene's HdrHistogram) log-linear histogram of durations in
// nanoseconds. Values below 2,048 ns are counted exactly; above, each power-of-two range is
// split into 1,024 equal sub-buckets, so any recorded value is reported within 0.1 % of itself
// at every percentile, p99.99 as well as p50, with fixed memory (about 300 KiB) and O(1)
// recording. Values above kMaxValue are clamped to it and counted in clamped().
//
// Not thread-safe: each load-generating thread records into its own histogram, and histograms
// are merged for reports.
#ifndef GATEHOUSE_LOADGEN_HISTOGRAM_H_
#define GATEHOUSE_LOADGEN_HISTOGRAM_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace gatehouse::loadgen {

class LatencyHistogram {
 public:
  // About 2.3 hours in nanoseconds (2^43): beyond any timeout the load generator uses.
  static constexpr uint64_t kMaxValue = (uint64_t{1} << 43) - 1;

  LatencyHistogram();

  void Record(uint64_t nanoseconds);
  void Merge(const LatencyHistogram& other);
  void Reset();

  uint64_t count() const { return count_; }
  uint64_t clamped() const { return clamped_; }
  uint64_t min() const { return count_ == 0 ? 0 : min_; }
  uint64_t max() const { return max_; }  // exact, not bucketed
  double mean() const;

  // The smallest recorded value v such that at least `percentile` % of the values are <= v,
  // reported as the highest value its bucket can hold (an upper bound within 0.1 %), capped by
  // the exact max. 0 when empty. `percentile` in [0, 100].
  uint64_t ValueAtPercentile(double percentile) const;

 private:
  static size_t IndexOf(uint64_t value);
  static uint64_t HighestValueAt(size_t index);

  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  uint64_t clamped_ = 0;
  uint64_t min_ = 0;
  uint64_t max_ = 0;
  long double sum_ = 0;
};

}  // namespace gatehouse::loadgen

#endif  // GATEHOUSE_LOADGEN_HISTOGRAM_H_
