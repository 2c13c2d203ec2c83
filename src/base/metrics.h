// Metrics: counters and gauges that any component updates lock-free, and a registry that
// renders them in the Prometheus text exposition format (version 0.0.4).
//
// Registration takes a lock and returns a pointer that stays valid for the registry's lifetime;
// updates are relaxed atomics (a scrape needs no ordering with other memory). Thread-safe.
#ifndef GATEHOUSE_BASE_METRICS_H_
#define GATEHOUSE_BASE_METRICS_H_

#include <atomic>
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

  // A function that refreshes gauges mirroring state kept elsewhere (upstream health, say). It
  // runs on the rendering thread at the start of every RenderPrometheusText, with no registry
  // lock held, so it may call GetGauge. The registry keeps only a weak reference: a collector
  // stops running once its owner drops it, and one that is running meanwhile finishes first.
  void AddCollector(std::weak_ptr<const std::function<void()>> collector);

  // All metrics, grouped by family in registration order, with HELP and TYPE lines.
  std::string RenderPrometheusText() const;

 private:
  enum class Type { kCounter, kGauge };
  struct Series {
    MetricLabels labels;
    Counter counter;
    Gauge gauge;
  };
  struct Family {
    std::string name;
    std::string help;
    Type type = Type::kCounter;
    std::deque<Series> series;  // deque: element addresses stay valid as it grows
  };

  Series* GetSeries(const std::string& name, const std::string& help, Type type,
                    const MetricLabels& labels);

  mutable Mutex mu_;
  std::deque<Family> families_ ABSL_GUARDED_BY(mu_);
  std::vector<std::weak_ptr<const std::function<void()>>> collectors_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gatehouse::base

#endif  // GATEHOUSE_BASE_METRICS_H_
