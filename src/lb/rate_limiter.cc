#include "lb/rate_limiter.h"

#include <algorithm>
#include <chrono>
#include <cmath>
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

namespace gatehouse::lb {
namespace internal {

using TimePoint = std::chrono::steady_clock::time_point;

struct RateLimitEntry {
  // Tokens as of `refilled_at`, in [0, burst]. Unused without a rate limit. Floating point so
  // that any rate refills continuously and a long idle period cannot overflow (the sum is capped
  // at burst; an infinite product is capped too).
  double tokens = 0;
  TimePoint refilled_at;
  uint32_t concurrent = 0;  // live permits
  size_t slot = 0;          // index of this entry in RateLimiterShard::order_
};

// One shard: a mutex, the entries of the keys that hash to it, and its share of `max_keys`.
// Thread-safe.
class RateLimiterShard {
 public:
  struct Result {
    RateLimitVerdict verdict;
    RateLimitEntry* counted;  // the entry to release later; null when nothing was counted
  };

  RateLimiterShard(const RateLimitOptions& options, size_t capacity)
      : rate_(options.connections_per_second),
        burst_(options.burst),
        max_concurrent_(options.max_concurrent),
        capacity_(capacity) {}

  Result Admit(absl::string_view key, TimePoint now) {
    base::MutexLock lock(&mu_);
    auto it = entries_.find(key);
    if (it == entries_.end()) {
      if (entries_.size() >= capacity_) {
        SweepLocked(now);
        if (entries_.size() >= capacity_) return {RateLimitVerdict::kTooManyKeys, nullptr};
      }
      it = entries_.try_emplace(key).first;
      RateLimitEntry& entry = it->second;
      entry.tokens = burst_;
      entry.refilled_at = now;
      entry.slot = order_.size();
      order_.push_back(&*it);
    }
    RateLimitEntry& entry = it->second;
    if (max_concurrent_ > 0 && entry.concurrent >= max_concurrent_) {
      return {RateLimitVerdict::kConcurrencyLimited, nullptr};
    }
    if (rate_ > 0) {
      RefillLocked(entry, now);
      if (entry.tokens < 1) return {RateLimitVerdict::kRateLimited, nullptr};
      entry.tokens -= 1;
    }
    if (max_concurrent_ == 0) return {RateLimitVerdict::kAdmitted, nullptr};
    ++entry.concurrent;
    return {RateLimitVerdict::kAdmitted, &entry};
  }

  void Release(RateLimitEntry* entry) {
    base::MutexLock lock(&mu_);
    GH_CHECK(entry->concurrent > 0);
    --entry->concurrent;
    // Without a rate limit the count is all an entry holds, so at zero it is dropped at once
    // (no clock needed, and permits may outlive the clock).
    if (entry->concurrent == 0 && rate_ == 0) RemoveLocked(entry->slot);
  }

  size_t size() const {
    base::MutexLock lock(&mu_);
    return entries_.size();
  }

 private:
  using Map = absl::node_hash_map<std::string, RateLimitEntry>;

  // Entries examined per sweep. A sweep runs only when a new key finds the shard full, so a
  // flood of new keys costs at most this much work each, however large the shard.
  static constexpr size_t kSweepBudget = 64;

  void RefillLocked(RateLimitEntry& entry, TimePoint now) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    // Callers read the clock before taking the lock, so another thread may already have
    // refilled this entry at a later `now`; time never runs backwards for an entry.
    if (now <= entry.refilled_at) return;
    const double elapsed_ns =
        std::chrono::duration<double, std::nano>(now - entry.refilled_at).count();
    // Multiply before dividing: whole-nanosecond intervals at whole-number rates stay exact.
    entry.tokens = std::min(burst_, entry.tokens + elapsed_ns * rate_ / 1e9);
    entry.refilled_at = now;
  }

  // An idle entry says nothing a fresh one would not: no live connection and a full bucket.
  bool IsIdleLocked(RateLimitEntry& entry, TimePoint now) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (entry.concurrent > 0) return false;
    if (rate_ == 0) return true;
    RefillLocked(entry, now);
    return entry.tokens >= burst_;
  }

  // Drops idle entries among the next kSweepBudget, resuming where the last sweep stopped, so
  // repeated sweeps visit every entry in turn. Busy entries (live permits, or a bucket not yet
  // full) are never dropped: that would reset a client's limits.
  void SweepLocked(TimePoint now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (size_t examined = 0; examined < kSweepBudget && !order_.empty(); ++examined) {
      if (sweep_cursor_ >= order_.size()) sweep_cursor_ = 0;
      if (IsIdleLocked(order_[sweep_cursor_]->second, now)) {
        RemoveLocked(sweep_cursor_);  // the last entry moves into this slot; it is examined next
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

  const double rate_;
  const double burst_;
  const uint32_t max_concurrent_;
  const size_t capacity_;

  mutable base::Mutex mu_;
  // node_hash_map: entries never move, so a permit's pointer stays valid; an entry with live
  // permits is never erased.
  Map entries_ ABSL_GUARDED_BY(mu_);
  // Every entry once, in no particular order: lets a sweep resume where it stopped, which a hash
  // map iterator cannot do across inserts.
  std::vector<Map::value_type*> order_ ABSL_GUARDED_BY(mu_);
  size_t sweep_cursor_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace internal

namespace {

constexpr size_t kMaxShards = 16;

}  // namespace

absl::string_view RateLimitVerdictName(RateLimitVerdict verdict) {
  switch (verdict) {
    case RateLimitVerdict::kAdmitted:
      return "admitted";
    case RateLimitVerdict::kRateLimited:
      return "rate_limited";
    case RateLimitVerdict::kConcurrencyLimited:
      return "concurrency_limited";
    case RateLimitVerdict::kTooManyKeys:
      return "too_many_keys";
  }
  return "unknown";
}

RateLimitPermit::RateLimitPermit(std::shared_ptr<internal::RateLimiterShard> shard,
                                 internal::RateLimitEntry* entry)
    : shard_(std::move(shard)), entry_(entry) {}

RateLimitPermit::RateLimitPermit(RateLimitPermit&& other) noexcept
    : shard_(std::move(other.shard_)), entry_(std::exchange(other.entry_, nullptr)) {}

RateLimitPermit& RateLimitPermit::operator=(RateLimitPermit&& other) noexcept {
  if (this != &other) {
    Release();
    shard_ = std::move(other.shard_);
    entry_ = std::exchange(other.entry_, nullptr);
  }
  return *this;
}

RateLimitPermit::~RateLimitPermit() { Release(); }

void RateLimitPermit::Release() {
  if (shard_ == nullptr) return;
  shard_->Release(entry_);
  shard_.reset();
  entry_ = nullptr;
}

absl::StatusOr<std::unique_ptr<RateLimiter>> RateLimiter::Create(const RateLimitOptions& options,
                                                                 const base::Clock* clock) {
  GH_CHECK(clock != nullptr);
  if (!std::isfinite(options.connections_per_second) || options.connections_per_second < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("rate limit: connections_per_second must be a finite number >= 0, got ",
                     options.connections_per_second));
  }
  if (options.connections_per_second > 0 && options.burst == 0) {
    return absl::InvalidArgumentError(
        "rate limit: burst must be at least 1 when connections_per_second is set");
  }
  if (options.max_keys == 0) {
    return absl::InvalidArgumentError("rate limit: max_keys must be at least 1");
  }
  // The constructor is private, so std::make_unique cannot reach it.
  return std::unique_ptr<RateLimiter>(new RateLimiter(options, clock));
}

RateLimiter::RateLimiter(const RateLimitOptions& options, const base::Clock* clock)
    : options_(options), clock_(clock) {
  if (options.connections_per_second == 0 && options.max_concurrent == 0) return;
  // At most one shard per key, so that every shard gets a share of at least one. The shares add
  // up to exactly `max_keys`.
  const size_t shard_count = std::min(kMaxShards, options.max_keys);
  shards_.reserve(shard_count);
  for (size_t i = 0; i < shard_count; ++i) {
    const size_t share =
        options.max_keys / shard_count + (i < options.max_keys % shard_count ? 1 : 0);
    shards_.push_back(std::make_shared<internal::RateLimiterShard>(options, share));
  }
}

RateLimiter::~RateLimiter() = default;

RateLimitDecision RateLimiter::Admit(absl::string_view key) {
  if (shards_.empty()) return {RateLimitVerdict::kAdmitted, RateLimitPermit()};
  // absl::Hash mixes in a per-process seed (an address, so ASLR varies it): clients cannot
  // easily pick keys that all land in one shard.
  // The shard comes from the high bits (multiply-shift): the map inside the shard uses the low
  // ones, which would otherwise be the same for every key of the shard.
  const uint64_t hash = absl::Hash<absl::string_view>{}(key);
  const auto index = static_cast<size_t>(((hash >> 32) * shards_.size()) >> 32);
  const std::shared_ptr<internal::RateLimiterShard>& shard = shards_[index];
  const internal::RateLimiterShard::Result result = shard->Admit(key, clock_->Now());
  if (result.counted == nullptr) return {result.verdict, RateLimitPermit()};
  return {result.verdict, RateLimitPermit(shard, result.counted)};
}

size_t RateLimiter::tracked_keys() const {
  size_t total = 0;
  for (const auto& shard : shards_) total += shard->size();
  return total;
}

}  // namespace gatehouse::lb
