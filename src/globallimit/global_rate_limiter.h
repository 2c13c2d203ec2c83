// GlobalRateLimiter: per-identity connection rate limits of one app, shared by every node of a
// cluster through one Redis server, without putting Redis on the data path.
//
// Model. The global limit of an identity is a token bucket in Redis (key
// `gatehouse:rl:{<app>}:<identity>`, refilled at `connections_per_second` up to `burst`, dated by
// Redis' own clock; see internal/lease_script.h). Nodes never ask Redis per connection. Each node
// keeps, per identity, a local entry holding `available` tokens it has *leased* from the bucket:
//   - `Admit` spends one local token when `available >= 1`; it never waits on Redis.
//   - An identity the node has no entry for gets a credit of `lease_size` tokens on the spot
//     (admitted, `available = lease_size - 1`); the entry owes `debt = lease_size`, which its next
//     lease pays: the script subtracts debts unconditionally, so the bucket may go negative and
//     then grants nothing until refill has paid the debt back.
//   - With `available` at 0 and no credit left the connection is refused (kRateLimited).
//   - When `available` falls below `lease_size / 2` and no lease of the entry is in flight, the
//     entry asks the node's RedisLeaser (in the background) for `lease_size` more tokens, paying
//     its debt in the same call. A lease granting fewer than asked means the bucket is empty; the
//     entry then waits the time refill needs for the shortfall before asking again, so refused
//     clients cannot hammer Redis.
//
// Overshoot bound. Redis grants plus paid debts never exceed what the bucket holds, which is at
// most `burst + rate * t` over any window of length t; each node admits only leased tokens plus
// credits, and a credit is at most `lease_size`. So across N nodes, in any window in which each
// node creates each identity's entry once:
//     admitted(identity, t) <= burst + rate * t + N * lease_size.
// An entry is created again (a new credit) after it was idle (no `Admit` call for it) longer than
// max(1 s, 2 * burst / rate), or when the leaser reconnected to Redis (its `epoch()` changed: the
// server may have restarted empty); each such re-creation may add one more `lease_size`. Idle
// entries are dropped when their shard needs room; their unspent tokens are lost (undershoot).
// Default `lease_size` = max(1, ceil(rate / 10)): about 100 ms of traffic, so the bound costs
// N * 100 ms of rate, and Redis sees about 10 calls per second per busy identity and node.
//
// Fallback. While the leaser reports Redis down (`RedisLeaser::redis_up()`: not connected, or
// requests waiting longer than `RedisOptions::unreachable_after`), the global table is not used:
//   - Fallback::kLocal admits by a plain per-node lb::RateLimiter with the same rate and burst
//     (so a client gets up to N times its limit over N nodes, as before global limits);
//   - Fallback::kClosed refuses every connection of the app with kRateLimited (no new verdict,
//     so callers and metrics need no change; `stats().fallback_refused` tells them apart).
// When Redis is back, global admission resumes: entries start again with a credit.
//
// Concurrency (`max_concurrent`) stays per node, counted by an lb::RateLimiter whose permit is
// returned in the decision. Concurrency is checked first, as in lb::RateLimiter.
//
// Memory is bounded by `max_keys` entries (for the global table, and again for each per-node
// lb::RateLimiter); a new identity that finds its shard full of entries that are not idle or in
// flight is refused with kTooManyKeys.
#ifndef GATEHOUSE_GLOBALLIMIT_GLOBAL_RATE_LIMITER_H_
#define GATEHOUSE_GLOBALLIMIT_GLOBAL_RATE_LIMITER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/clock.h"
#include "globallimit/redis_leaser.h"
#include "lb/rate_limiter.h"

namespace gatehouse::globallimit {

enum class Fallback { kLocal, kClosed };

struct GlobalRateLimitOptions {
  std::string app;                    // part of the Redis key; must not be empty
  double connections_per_second = 0;  // > 0, finite
  uint32_t burst = 0;                 // >= 1
  uint32_t max_concurrent = 0;        // per node; 0 = unlimited
  uint32_t lease_size = 0;            // 0 = max(1, ceil(rate / 10))
  Fallback fallback = Fallback::kLocal;
  size_t max_keys = 100000;  // >= 1
};

struct GlobalLimiterStats {
  uint64_t fallback_admitted = 0;  // admitted by the local limiter while Redis was down
  uint64_t fallback_refused = 0;   // refused while Redis was down (any verdict)
  uint64_t credit_admitted = 0;    // admitted on an entry's credit, before its first lease
  uint64_t global_admitted = 0;    // admitted from the global table (credit included)
  uint64_t global_refused = 0;     // refused by the global table (rate limited or too many keys)
};

namespace internal {
class GlobalBucketTable;
}  // namespace internal

// Thread-safe: `Admit` may run on every worker at once. Entries are spread over up to 16 shards
// by hash, each with its own mutex, held for a lookup and a few arithmetic operations (never
// across Redis I/O: leases are queued after the lock is released and answered on the leaser's
// thread).
class GlobalRateLimiter {
 public:
  // InvalidArgument for an empty app, a rate that is not a finite number > 0, burst 0, max_keys
  // 0, or a null leaser or clock. `leaser` is shared with the node's other limiters; `clock` is
  // borrowed and must outlive the limiter and its permits' limiters.
  static absl::StatusOr<std::unique_ptr<GlobalRateLimiter>> Create(
      const GlobalRateLimitOptions& options, std::shared_ptr<RedisLeaser> leaser,
      const base::Clock* clock);

  GlobalRateLimiter(const GlobalRateLimiter&) = delete;
  GlobalRateLimiter& operator=(const GlobalRateLimiter&) = delete;
  GlobalRateLimiter(GlobalRateLimiter&&) = delete;
  GlobalRateLimiter& operator=(GlobalRateLimiter&&) = delete;
  ~GlobalRateLimiter();

  // Decides whether `identity` may open one more connection now, without waiting on Redis (see
  // the model above). Verdicts: kAdmitted (with a counting permit when `max_concurrent` is
  // set), kConcurrencyLimited, kRateLimited (also every refusal of Fallback::kClosed), and
  // kTooManyKeys.
  lb::RateLimitDecision Admit(absl::string_view identity);

  GlobalLimiterStats stats() const;

  // The options as given, except `lease_size`, which holds the value in use.
  const GlobalRateLimitOptions& options() const { return options_; }

  // True when admission uses the global table, false in fallback.
  bool redis_up() const { return leaser_->redis_up(); }

  // Entries of the global table, summed over shards (not a snapshot). For tests and metrics.
  size_t tracked_identities() const;

 private:
  GlobalRateLimitOptions options_;
  std::shared_ptr<RedisLeaser> leaser_;
  const base::Clock* clock_ = nullptr;
  // Shared with the leaser's queue through weak_ptrs, so answers to a destroyed limiter are
  // dropped; the table holds no reference back to the leaser (the leaser's thread may drop the
  // last reference to the table, and must never drop the last one to itself).
  std::shared_ptr<internal::GlobalBucketTable> table_;
  std::unique_ptr<lb::RateLimiter> concurrency_;  // null when `max_concurrent` is 0
  std::unique_ptr<lb::RateLimiter> local_;        // Fallback::kLocal only
  std::atomic<uint64_t> fallback_admitted_{0};
  std::atomic<uint64_t> fallback_refused_{0};

  GlobalRateLimiter() = default;
  lb::RateLimitDecision AdmitInFallback(absl::string_view identity, lb::RateLimitPermit permit);
};

}  // namespace gatehouse::globallimit

#endif  // GATEHOUSE_GLOBALLIMIT_GLOBAL_RATE_LIMITER_H_
