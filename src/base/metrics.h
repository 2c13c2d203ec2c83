// Metrics: counters, gauges and histograms that any component updates lock-free, and a registry
// that renders them in the Prometheus text exposition format (version 0.0.4).
//
// Registration takes a lock and returns a pointer that stays valid for the registry's lifetime;
// updates are relaxed atomics (a scrape needs no ordering with other memory). Thread-safe.
#ifndef GATEHOUSE_BASE_METRICS_H_
#define GATEHOUSE_BASE_METRICS_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "base/mutex.h"

namespace gatehouse::base {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

// Monotonic count. Thread-safe.
class Counter {
 public:
  void Increment(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// A value that goes up and down. Thread-safe.
class Gauge {
 public:
  void Set(int64_t v) { value_.store(v, std::memory_order_relaxed); }
  void Add(int64_t n) { value_.fetch_add(n, std::memory_order_relaxed); }
  int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

// Distribution of observed values in fixed buckets (Prometheus histogram). Thread-safe, lock-free.
class Histogram {
 public:
  // `upper_bounds`: sorted strictly ascending and finite (GH_CHECK); the +Inf bucket is implicit.
  explicit Histogram(std::vector<double> upper_bounds);

  // Counts `value` in the first bucket whose bound is >= it; NaN goes to +Inf.
  void Observe(double value);

  // Total of the bucket counts. Not synchronized with sum(): under concurrent Observe the two may
  // disagree by the values in flight.
  uint64_t count() const;
  double sum() const { return sum_.load(std::memory_order_relaxed); }
  const std::vector<double>& upper_bounds() const { return upper_bounds_; }
  // Non-cumulative count of bucket `i`; i == upper_bounds().size() is the +Inf bucket.
  uint64_t bucket_count(size_t i) const { return buckets_[i].load(std::memory_order_relaxed); }

 private:
  const std::vector<double> upper_bounds_;
  std::vector<std::atomic<uint64_t>> buckets_;  // upper_bounds_.size() + 1, the last is +Inf
  std::atomic<double> sum_{0};
};

class MetricsRegistry {
 public:
  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;
  MetricsRegistry(MetricsRegistry&&) = delete;
  MetricsRegistry& operator=(MetricsRegistry&&) = delete;
  ~MetricsRegistry() = default;

  // Returns the counter `name{labels}`, creating it on first use. Names and label names are our
  // own constants: an invalid one, or reusing a name as another type, is a bug (GH_CHECK).
  Counter* GetCounter(const std::string& name, const std::string& help,
                      const MetricLabels& labels = {});
  Gauge* GetGauge(const std::string& name, const std::string& help,
                  const MetricLabels& labels = {});
  // `upper_bounds` of the first registration of `name` is used for every series of the family;
  // a later call with different bounds is a bug (GH_CHECK, as for a type clash), and so is an
  // "le" label, which the rendering adds to every bucket.
  Histogram* GetHistogram(const std::string& name, const std::string& help,
                          const std::vector<double>& upper_bounds, const MetricLabels& labels = {});

  // A function that refreshes gauges mirroring state kept elsewhere (upstream health, say). It
  // runs on the rendering thread at the start of every RenderPrometheusText, with no registry
  // lock held, so it may call GetGauge. The registry keeps only a weak reference: a collector
  // stops running once its owner drops it, and one that is running meanwhile finishes first.
  void AddCollector(std::weak_ptr<const std::function<void()>> collector);

  // All metrics, grouped by family in registration order, with HELP and TYPE lines.
  std::string RenderPrometheusText() const;

 private:
  enum class Type { kCounter, kGauge, kHistogram };
  struct Series {
    MetricLabels labels;
    Counter counter;
    Gauge gauge;
    std::unique_ptr<Histogram> histogram;  // kHistogram only: buckets would bloat every counter
  };
  struct Family {
    std::string name;
    std::string help;
    Type type = Type::kCounter;
    std::vector<double> upper_bounds;  // kHistogram only
    std::deque<Series> series;         // deque: element addresses stay valid as it grows
  };

  Series* GetSeries(const std::string& name, const std::string& help, Type type,
                    const MetricLabels& labels, const std::vector<double>& upper_bounds = {});

  mutable Mutex mu_;
  std::deque<Family> families_ ABSL_GUARDED_BY(mu_);
  std::vector<std::weak_ptr<const std::function<void()>>> collectors_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gatehouse::base

#endif  // GATEHOUSE_BASE_METRICS_H_
