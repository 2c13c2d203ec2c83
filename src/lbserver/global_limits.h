// GlobalLimits: the load balancer's side of `rate_limit: {scope: global}` (globallimit/): the
// node's one Redis leaser, each global app's limiter, and their metrics.
//
// The leaser is kept across reloads while `global_rate_limits` stays the same, and so is an
// app's limiter while its rate limit and the leaser stay the same: a reload then loses no lease
// and no credit. Building (Prepare, LimiterFor) never touches what runs; Commit makes it run.
// Control thread only (LbServer's), except the metrics collector, which the registry runs on
// scrapes and which takes its own lock.
#ifndef GATEHOUSE_LBSERVER_GLOBAL_LIMITS_H_
#define GATEHOUSE_LBSERVER_GLOBAL_LIMITS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/metrics.h"
#include "base/mutex.h"
#include "config/config.h"
#include "globallimit/global_rate_limiter.h"
#include "globallimit/redis_leaser.h"
#include "lbserver/app.h"

namespace gatehouse::lbserver {

// The leaser's options from the config: the address, the timeout and the AUTH password, read
// from `password_file` (its first line) at every start and reload, so that a rotated password
// takes effect with SIGHUP. The error names the file when it cannot be read.
absl::StatusOr<globallimit::RedisOptions> RedisOptionsFrom(
    const config::GlobalRateLimitsConfig& config);

class GlobalLimits {
 public:
  explicit GlobalLimits(base::MetricsRegistry* metrics);
  GlobalLimits(const GlobalLimits&) = delete;
  GlobalLimits& operator=(const GlobalLimits&) = delete;
  GlobalLimits(GlobalLimits&&) = delete;
  GlobalLimits& operator=(GlobalLimits&&) = delete;
  ~GlobalLimits() = default;

  // Readies the leaser that apps built next will use: the running one when `config` is the
  // one it runs with, a new one otherwise, none when no app of `apps` has a global scope.
  absl::Status Prepare(const std::optional<config::GlobalRateLimitsConfig>& config,
                       const std::vector<config::LbAppConfig>& apps);

  // The limiter of a `scope: global` app: `state`'s when nothing it depends on changed.
  absl::StatusOr<std::shared_ptr<globallimit::GlobalRateLimiter>> LimiterFor(
      const config::LbAppConfig& app, const AppState& state) const;

  // The prepared leaser runs now (the old one stops once its last limiter is gone), and the
  // metrics follow `apps`' limiters.
  void Commit(const std::vector<std::shared_ptr<const App>>& apps);

  // The running leaser (after Commit) and the settings it runs with; null and unset when no app
  // has a global scope.
  const std::shared_ptr<globallimit::RedisLeaser>& leaser() const { return running_; }
  const std::optional<config::GlobalRateLimitsConfig>& config() const { return running_config_; }

 private:
  struct AppSeries {
    std::shared_ptr<globallimit::GlobalRateLimiter> limiter;
    base::Counter* fallback_admitted = nullptr;
    base::Counter* fallback_refused = nullptr;
    uint64_t seen_admitted = 0;
    uint64_t seen_refused = 0;
  };
  struct Series {
    base::Mutex mu;
    std::shared_ptr<globallimit::RedisLeaser> leaser ABSL_GUARDED_BY(mu);
    std::vector<AppSeries> apps ABSL_GUARDED_BY(mu);
    uint64_t seen_errors ABSL_GUARDED_BY(mu) = 0;
    uint64_t seen_leases ABSL_GUARDED_BY(mu) = 0;
    base::Gauge* redis_up = nullptr;
    base::Counter* redis_errors = nullptr;
    base::Counter* leases = nullptr;

    void Refresh();
  };

  base::MetricsRegistry* const metrics_;
  std::optional<config::GlobalRateLimitsConfig> running_config_;
  std::shared_ptr<globallimit::RedisLeaser> running_;
  std::optional<config::GlobalRateLimitsConfig> prepared_config_;
  std::shared_ptr<globallimit::RedisLeaser> prepared_;
  // Leasers replaced by a reload that connections of the old configuration still hold (through
  // their apps' limiters). Kept here so that the last reference, whose destructor joins the
  // leaser's thread, is always dropped on the control thread, never on a worker.
  std::vector<std::shared_ptr<globallimit::RedisLeaser>> retired_;
  std::shared_ptr<Series> series_;
  std::shared_ptr<const std::function<void()>> collector_;
};

}  // namespace gatehouse::lbserver

#endif  // GATEHOUSE_LBSERVER_GLOBAL_LIMITS_H_
