#include "lbserver/global_limits.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "base/clock.h"
#include "base/status_macros.h"
#include "config/config_loader.h"

namespace gatehouse::lbserver {
namespace {

bool HasGlobalScope(const std::vector<config::LbAppConfig>& apps) {
  return std::any_of(apps.begin(), apps.end(), [](const config::LbAppConfig& app) {
    return app.rate_limit.scope == config::RateLimitScope::kGlobal;
  });
}

bool SameRedis(const globallimit::RedisOptions& a, const globallimit::RedisOptions& b) {
  return a.host == b.host && a.port == b.port && a.password == b.password &&
         a.timeout == b.timeout && a.unreachable_after == b.unreachable_after;
}

bool SameLimit(const config::RateLimitConfig& a, const config::RateLimitConfig& b) {
  return a.connections_per_second == b.connections_per_second && a.burst == b.burst &&
         a.max_concurrent == b.max_concurrent && a.scope == b.scope;
}

// Lowers a count that the registry keeps as a counter by what `now` adds to `seen`. A limiter
// replaced by a reload starts again at 0, so the series just goes on counting.
void Advance(base::Counter* counter, uint64_t now, uint64_t& seen) {
  if (now > seen) counter->Increment(now - seen);
  seen = now;
}

}  // namespace

absl::StatusOr<globallimit::RedisOptions> RedisOptionsFrom(
    const config::GlobalRateLimitsConfig& config) {
  globallimit::RedisOptions options;
  options.host = config.redis.host;
  options.port = config.redis.port;
  options.timeout = std::max(std::chrono::milliseconds(1),
                             std::chrono::duration_cast<std::chrono::milliseconds>(config.timeout));
  if (!config.password_file.empty()) {
    // The config reader's bounds and errors; the password is its first line.
    absl::StatusOr<std::string> text = config::ReadConfigFileText(config.password_file);
    if (!text.ok()) {
      return absl::Status(text.status().code(), absl::StrCat("global_rate_limits.password_file: ",
                                                             text.status().message()));
    }
    const absl::string_view first_line = absl::string_view(*text).substr(0, text->find('\n'));
    options.password = static_cast<std::string>(absl::StripAsciiWhitespace(first_line));
    if (options.password.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "global_rate_limits.password_file ", config.password_file, " has an empty first line"));
    }
  }
  return options;
}

GlobalLimits::GlobalLimits(base::MetricsRegistry* metrics)
    : metrics_(metrics), series_(std::make_shared<Series>()) {
  series_->redis_up = metrics_->GetGauge(
      "gatehouse_lb_global_rate_limit_redis_up",
      "1 while Redis answers for scope: global rate limits; 0 while they fall back.");
  series_->redis_errors =
      metrics_->GetCounter("gatehouse_lb_global_rate_limit_redis_errors_total",
                           "Failed Redis connects, AUTHs, script loads and lease batches.");
  series_->leases = metrics_->GetCounter("gatehouse_lb_global_rate_limit_leases_total",
                                         "Token leases Redis answered.");
  collector_ =
      std::make_shared<const std::function<void()>>([series = series_] { series->Refresh(); });
  metrics_->AddCollector(collector_);
}

absl::Status GlobalLimits::Prepare(const std::optional<config::GlobalRateLimitsConfig>& config,
                                   const std::vector<config::LbAppConfig>& apps) {
  prepared_config_.reset();
  prepared_.reset();
  if (!config.has_value() || !HasGlobalScope(apps)) return absl::OkStatus();
  // Compared as resolved options: the password file's contents count, its path does not, and
  // limiter-only settings (fallback, lease_size) keep the connection.
  GH_ASSIGN_OR_RETURN(const globallimit::RedisOptions options, RedisOptionsFrom(*config));
  if (running_ != nullptr && SameRedis(running_->options(), options)) {
    prepared_ = running_;
  } else {
    GH_ASSIGN_OR_RETURN(prepared_, globallimit::RedisLeaser::Start(options, &base::SystemClock()));
  }
  prepared_config_ = config;
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<globallimit::GlobalRateLimiter>> GlobalLimits::LimiterFor(
    const config::LbAppConfig& app, const AppState& state) const {
  if (prepared_ == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("lb app ", app.name, ": scope: global needs global_rate_limits"));
  }
  if (state.global_limiter != nullptr && state.global_leaser == prepared_ &&
      SameLimit(state.rate_limit, app.rate_limit) && state.global_config.has_value() &&
      state.global_config->lease_size == prepared_config_->lease_size &&
      state.global_config->fallback == prepared_config_->fallback) {
    return state.global_limiter;
  }
  globallimit::GlobalRateLimitOptions options;
  options.app = app.name;
  options.connections_per_second = app.rate_limit.connections_per_second;
  options.burst = app.rate_limit.burst;
  options.max_concurrent = app.rate_limit.max_concurrent;
  options.lease_size = prepared_config_->lease_size;
  options.fallback = prepared_config_->fallback == config::GlobalLimitFallback::kClosed
                         ? globallimit::Fallback::kClosed
                         : globallimit::Fallback::kLocal;
  absl::StatusOr<std::unique_ptr<globallimit::GlobalRateLimiter>> limiter =
      globallimit::GlobalRateLimiter::Create(options, prepared_, &base::SystemClock());
  if (!limiter.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("lb app ", app.name, ": ", limiter.status().message()));
  }
  return std::shared_ptr<globallimit::GlobalRateLimiter>(*std::move(limiter));
}

void GlobalLimits::Commit(const std::vector<std::shared_ptr<const App>>& apps) {
  if (running_ != nullptr && running_ != prepared_) retired_.push_back(running_);
  running_ = prepared_;
  running_config_ = prepared_config_;
  // A retired leaser that only this list still holds has no connection left: stopped here.
  std::erase_if(retired_, [](const auto& leaser) { return leaser.use_count() == 1; });
  const std::string help = "Connections of scope: global apps decided while Redis was down.";
  std::vector<AppSeries> series;
  for (const auto& app : apps) {
    if (app->global_limiter == nullptr) continue;
    series.push_back({app->global_limiter,
                      metrics_->GetCounter("gatehouse_lb_global_rate_limit_fallback_total", help,
                                           {{"app", app->config.name}, {"result", "admitted"}}),
                      metrics_->GetCounter("gatehouse_lb_global_rate_limit_fallback_total", help,
                                           {{"app", app->config.name}, {"result", "refused"}})});
  }
  base::MutexLock lock(&series_->mu);
  for (AppSeries& entry : series) {
    // A kept limiter keeps what it has already reported.
    for (const AppSeries& old : series_->apps) {
      if (old.limiter != entry.limiter) continue;
      entry.seen_admitted = old.seen_admitted;
      entry.seen_refused = old.seen_refused;
    }
  }
  if (series_->leaser != running_) {
    series_->seen_errors = 0;
    series_->seen_leases = 0;
  }
  series_->leaser = running_;
  series_->apps = std::move(series);
}

void GlobalLimits::Series::Refresh() {
  base::MutexLock lock(&mu);
  if (leaser != nullptr) {
    const globallimit::LeaserStats stats = leaser->stats();
    redis_up->Set(stats.redis_up ? 1 : 0);
    Advance(redis_errors, stats.redis_errors, seen_errors);
    Advance(leases, stats.leases, seen_leases);
  } else {
    redis_up->Set(0);
  }
  for (AppSeries& app : apps) {
    const globallimit::GlobalLimiterStats stats = app.limiter->stats();
    Advance(app.fallback_admitted, stats.fallback_admitted, app.seen_admitted);
    Advance(app.fallback_refused, stats.fallback_refused, app.seen_refused);
  }
}

}  // namespace gatehouse::lbserver
