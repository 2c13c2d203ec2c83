#include "globallimit/global_rate_limiter.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/node_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/mutex.h"
#include "base/status_macros.h"
#include "globallimit/internal/lease_script.h"

namespace gatehouse::globallimit {
namespace internal {

using TimePoint = std::chrono::steady_clock::time_point;
using Duration = std::chrono::steady_clock::duration;

struct GlobalEntry {
  uint32_t available = 0;   // leased (or credited) tokens not yet spent
  uint64_t debt = 0;        // credited tokens not yet paid to the bucket
  uint64_t epoch = 0;       // RedisLeaser::epoch() when the entry was (re)created
  bool in_flight = false;   // a lease request is queued or running; the entry is then kept
  bool leased = false;      // a lease was answered since the entry was (re)created
  TimePoint last_used;      // last Admit call
  TimePoint next_lease_at;  // no lease before this (the bucket was found short)
  size_t slot = 0;          // index in GlobalBucketShard::order_
};

// Everything a shard needs from the options, resolved once.
struct TableConfig {
  std::string app;
  double rate = 0;
  uint32_t burst = 0;
  uint32_t lease_size = 0;
  Duration idle{};  // an entry unused this long is created afresh and may be dropped
  std::chrono::milliseconds ttl{0};
};

class GlobalBucketShard {
 public:
  struct Result {
    lb::RateLimitVerdict verdict = lb::RateLimitVerdict::kAdmitted;
    std::optional<LeaseRequest> lease;  // to queue once the lock is released
  };

  GlobalBucketShard(const TableConfig* config, size_t capacity)
      : config_(config), capacity_(capacity) {}

  Result Admit(absl::string_view identity, TimePoint now, uint64_t epoch) {
    Result result;
    base::MutexLock lock(&mu_);
    auto it = entries_.find(identity);
    if (it == entries_.end()) {
      if (entries_.size() >= capacity_) {
        SweepLocked(now);
        if (entries_.size() >= capacity_) {
          ++refused_;
          result.verdict = lb::RateLimitVerdict::kTooManyKeys;
          return result;
        }
      }
      it = entries_.try_emplace(identity).first;
      it->second.slot = order_.size();
      order_.push_back(&*it);
      CreditLocked(it->second, now, epoch);
    } else if (!it->second.in_flight &&
               (it->second.epoch != epoch || now - it->second.last_used > config_->idle)) {
      // Redis may have lost the bucket (new connection), or the entry is stale: start over with
      // a credit, keeping the unpaid debt.
      CreditLocked(it->second, now, epoch);
    }
    GlobalEntry& entry = it->second;
    entry.last_used = std::max(entry.last_used, now);
    if (entry.available >= 1) {
      --entry.available;
      ++admitted_;
      if (!entry.leased) ++credit_admitted_;
    } else {
      ++refused_;
      result.verdict = lb::RateLimitVerdict::kRateLimited;
    }
    if (!entry.in_flight && 2 * static_cast<uint64_t>(entry.available) < config_->lease_size &&
        now >= entry.next_lease_at) {
      entry.in_flight = true;
      result.lease = LeaseRequest{BucketKey(config_->app, identity),
                                  static_cast<std::string>(identity),
                                  config_->rate,
                                  config_->burst,
                                  entry.debt,
                                  config_->lease_size,
                                  config_->ttl};
    }
    return result;
  }

  void OnLeaseDone(const LeaseRequest& request, std::optional<uint32_t> granted, TimePoint now) {
    base::MutexLock lock(&mu_);
    auto it = entries_.find(request.identity);
    if (it == entries_.end() || !it->second.in_flight) return;
    GlobalEntry& entry = it->second;
    entry.in_flight = false;
    if (!granted.has_value()) {
      // Unknown whether the debt was paid: keep it (paying twice only undershoots). Wait a lease
      // period before asking again.
      entry.next_lease_at = now + LeaseTime(config_->lease_size);
      return;
    }
    entry.available += *granted;
    entry.debt -= std::min(entry.debt, request.debt);
    entry.leased = true;
    // A short grant means the bucket is empty: ask again only once refill covers the rest.
    if (*granted < request.want) entry.next_lease_at = now + LeaseTime(request.want - *granted);
  }

  struct Counts {
    size_t entries = 0;
    uint64_t admitted = 0, refused = 0, credit_admitted = 0;
  };
  Counts counts() const {
    base::MutexLock lock(&mu_);
    return {entries_.size(), admitted_, refused_, credit_admitted_};
  }

 private:
  using Map = absl::node_hash_map<std::string, GlobalEntry>;
  static constexpr size_t kSweepBudget = 64;  // as lb::RateLimiter: bounded work per new key

  Duration LeaseTime(uint64_t tokens) const {
    return std::chrono::duration_cast<Duration>(
        std::chrono::duration<double>(static_cast<double>(tokens) / config_->rate));
  }

  void CreditLocked(GlobalEntry& entry, TimePoint now, uint64_t epoch)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    entry.available = config_->lease_size;
    entry.debt += config_->lease_size;
    entry.epoch = epoch;
    entry.leased = false;
    entry.last_used = now;
    entry.next_lease_at = now;
  }

  // Idle entries (unused for `idle`, nothing in flight) are dropped among the next kSweepBudget,
  // resuming where the last sweep stopped. Their leased tokens are lost: undershoot, never
  // overshoot.
  void SweepLocked(TimePoint now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (size_t examined = 0; examined < kSweepBudget && !order_.empty(); ++examined) {
      if (sweep_cursor_ >= order_.size()) sweep_cursor_ = 0;
      const GlobalEntry& entry = order_[sweep_cursor_]->second;
      if (!entry.in_flight && now - entry.last_used > config_->idle) {
        RemoveLocked(sweep_cursor_);  // the last entry moves into this slot; examined next
      } else {
        ++sweep_cursor_;
      }
    }
  }

  void RemoveLocked(size_t slot) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Map::value_type* const removed = order_[slot];
    Map::value_type* const last = order_.back();
    order_[slot] = last;
    last->second.slot = slot;
    order_.pop_back();
    entries_.erase(removed->first);
  }

  const TableConfig* const config_;  // owned by the table, which outlives its shards
  const size_t capacity_;

  mutable base::Mutex mu_;
  Map entries_ ABSL_GUARDED_BY(mu_);  // node_hash_map: `order_` points into it
  std::vector<Map::value_type*> order_ ABSL_GUARDED_BY(mu_);
  size_t sweep_cursor_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t admitted_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t refused_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t credit_admitted_ ABSL_GUARDED_BY(mu_) = 0;
};

// The global table of one limiter: shards by hash. Thread-safe. Receives lease answers.
class GlobalBucketTable final : public LeaseClient {
 public:
  static constexpr size_t kMaxShards = 16;

  GlobalBucketTable(TableConfig config, size_t max_keys) : config_(std::move(config)) {
    const size_t shard_count = std::min(kMaxShards, max_keys);
    shards_.reserve(shard_count);
    for (size_t i = 0; i < shard_count; ++i) {
      const size_t share = max_keys / shard_count + (i < max_keys % shard_count ? 1 : 0);
      shards_.push_back(std::make_unique<GlobalBucketShard>(&config_, share));
    }
  }

  GlobalBucketShard& ShardFor(absl::string_view identity) const {
    // High bits pick the shard; the map inside uses the low ones (as lb::RateLimiter).
    const uint64_t hash = absl::Hash<absl::string_view>{}(identity);
    return *shards_[static_cast<size_t>(((hash >> 32) * shards_.size()) >> 32)];
  }

  void OnLeaseDone(const LeaseRequest& request, std::optional<uint32_t> granted,
                   TimePoint now) override {
    ShardFor(request.identity).OnLeaseDone(request, granted, now);
  }

  GlobalBucketShard::Counts counts() const {
    GlobalBucketShard::Counts total;
    for (const auto& shard : shards_) {
      const GlobalBucketShard::Counts counts = shard->counts();
      total.entries += counts.entries;
      total.admitted += counts.admitted;
      total.refused += counts.refused;
      total.credit_admitted += counts.credit_admitted;
    }
    return total;
  }

 private:
  const TableConfig config_;
  std::vector<std::unique_ptr<GlobalBucketShard>> shards_;
};

}  // namespace internal

absl::StatusOr<std::unique_ptr<GlobalRateLimiter>> GlobalRateLimiter::Create(
    const GlobalRateLimitOptions& options, std::shared_ptr<RedisLeaser> leaser,
    const base::Clock* clock) {
  const std::string what = absl::StrCat("global rate limit of app \"", options.app, "\": ");
  if (options.app.empty()) return absl::InvalidArgumentError("global rate limit: app is empty");
  if (!std::isfinite(options.connections_per_second) || options.connections_per_second <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, "connections_per_second must be a finite number > 0, got ",
                     options.connections_per_second));
  }
  if (options.burst == 0) return absl::InvalidArgumentError(what + "burst must be at least 1");
  if (options.max_keys == 0) {
    return absl::InvalidArgumentError(what + "max_keys must be at least 1");
  }
  if (leaser == nullptr) return absl::InvalidArgumentError(what + "leaser is null");
  if (clock == nullptr) return absl::InvalidArgumentError(what + "clock is null");

  // The constructor is private, so std::make_unique cannot reach it.
  std::unique_ptr<GlobalRateLimiter> limiter(new GlobalRateLimiter());
  limiter->options_ = options;
  const double rate = options.connections_per_second;
  if (limiter->options_.lease_size == 0) {
    limiter->options_.lease_size =
        static_cast<uint32_t>(std::clamp(std::ceil(rate / 10), 1.0, 4e9));
  }
  limiter->leaser_ = std::move(leaser);
  limiter->clock_ = clock;

  internal::TableConfig config;
  config.app = options.app;
  config.rate = rate;
  config.burst = options.burst;
  config.lease_size = limiter->options_.lease_size;
  const double idle_seconds = std::max(1.0, 2.0 * options.burst / rate);
  config.idle = std::chrono::duration_cast<internal::Duration>(
      std::chrono::duration<double>(std::min(idle_seconds, 86400.0)));
  config.ttl = internal::BucketTtl(rate, options.burst);
  limiter->table_ =
      std::make_shared<internal::GlobalBucketTable>(std::move(config), options.max_keys);

  if (options.max_concurrent > 0) {
    lb::RateLimitOptions concurrency;
    concurrency.max_concurrent = options.max_concurrent;
    concurrency.max_keys = options.max_keys;
    GH_ASSIGN_OR_RETURN(limiter->concurrency_, lb::RateLimiter::Create(concurrency, clock));
  }
  if (options.fallback == Fallback::kLocal) {
    lb::RateLimitOptions local;
    local.connections_per_second = rate;
    local.burst = options.burst;
    local.max_keys = options.max_keys;
    GH_ASSIGN_OR_RETURN(limiter->local_, lb::RateLimiter::Create(local, clock));
  }
  return limiter;
}

GlobalRateLimiter::~GlobalRateLimiter() = default;

lb::RateLimitDecision GlobalRateLimiter::Admit(absl::string_view identity) {
  lb::RateLimitPermit permit;
  if (concurrency_ != nullptr) {
    lb::RateLimitDecision decision = concurrency_->Admit(identity);
    if (decision.verdict != lb::RateLimitVerdict::kAdmitted) return decision;
    permit = std::move(decision.permit);
  }
  if (!leaser_->redis_up()) return AdmitInFallback(identity, std::move(permit));
  internal::GlobalBucketShard::Result result =
      table_->ShardFor(identity).Admit(identity, clock_->Now(), leaser_->epoch());
  if (result.lease.has_value()) leaser_->RequestLease(std::move(*result.lease), table_);
  // A refusal drops `permit`, which gives the concurrent slot back.
  if (result.verdict != lb::RateLimitVerdict::kAdmitted) return {result.verdict, {}};
  return {lb::RateLimitVerdict::kAdmitted, std::move(permit)};
}

lb::RateLimitDecision GlobalRateLimiter::AdmitInFallback(absl::string_view identity,
                                                         lb::RateLimitPermit permit) {
  if (local_ == nullptr) {
    fallback_refused_.fetch_add(1, std::memory_order_relaxed);
    return {lb::RateLimitVerdict::kRateLimited, {}};
  }
  const lb::RateLimitDecision decision = local_->Admit(identity);
  if (decision.verdict != lb::RateLimitVerdict::kAdmitted) {
    fallback_refused_.fetch_add(1, std::memory_order_relaxed);
    return {decision.verdict, {}};
  }
  fallback_admitted_.fetch_add(1, std::memory_order_relaxed);
  return {lb::RateLimitVerdict::kAdmitted, std::move(permit)};
}

GlobalLimiterStats GlobalRateLimiter::stats() const {
  const internal::GlobalBucketShard::Counts counts = table_->counts();
  GlobalLimiterStats stats;
  stats.fallback_admitted = fallback_admitted_.load(std::memory_order_relaxed);
  stats.fallback_refused = fallback_refused_.load(std::memory_order_relaxed);
  stats.credit_admitted = counts.credit_admitted;
  stats.global_admitted = counts.admitted;
  stats.global_refused = counts.refused;
  return stats;
}

size_t GlobalRateLimiter::tracked_identities() const { return table_->counts().entries; }

}  // namespace gatehouse::globallimit
