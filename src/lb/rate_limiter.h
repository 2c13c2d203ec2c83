// RateLimiter: per-client admission control for new connections. Each key (a client identity,
// or an IP address) gets a token bucket that limits how fast it may open connections and a cap
// on how many it may hold open at once. The limiter only answers "may this key connect now?" and
// counts live connections through RAII permits; it does not know where keys come from (TLS, IP),
// reads no configuration file and closes no sockets. Refusing, logging and counting refusals are
// the caller's job.
//
// Memory is bounded by `max_keys`. An entry with no live connection and a full bucket carries no
// information, so it is dropped when its room is needed; entries that still limit someone are
// never dropped, and when none can be dropped a new key is refused (fail closed). Room is looked
// for only when a new key finds its shard full, and then among at most 64 entries (resuming where
// the last search stopped), so a flood of new keys costs bounded work per key; the price is that
// a new key may be refused while an idle entry waits elsewhere in its shard.
#ifndef GATEHOUSE_LB_RATE_LIMITER_H_
#define GATEHOUSE_LB_RATE_LIMITER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/clock.h"

namespace gatehouse::lb {

struct RateLimitOptions {
  // Token refill rate per key, in connections per second; 0 turns rate limiting off.
  double connections_per_second = 0;
  // Bucket size: how many connections a key may open at once after being quiet. A new key
  // starts with a full bucket. Must be at least 1 when `connections_per_second` is set.
  uint32_t burst = 0;
  // Connections one key may hold open at the same time; 0 = unlimited.
  uint32_t max_concurrent = 0;
  // Upper bound on tracked keys across all shards (each shard gets an equal share).
  size_t max_keys = 100000;
};

enum class RateLimitVerdict {
  kAdmitted,
  kRateLimited,         // the key's bucket is empty
  kConcurrencyLimited,  // the key already holds `max_concurrent` connections
  kTooManyKeys,         // a new key, and its shard is full of entries that still limit someone
};

// "admitted", "rate_limited", "concurrency_limited", "too_many_keys": for logs and metric labels.
absl::string_view RateLimitVerdictName(RateLimitVerdict verdict);

namespace internal {
class RateLimiterShard;
struct RateLimitEntry;
}  // namespace internal

// RateLimitPermit: one counted concurrent connection of one key, given back when the permit is
// destroyed or released, on every exit path. Move-only; a default-constructed or moved-from permit
// holds nothing, and so does the permit of an admission that counted nothing (`max_concurrent`
// 0). A permit may outlive its RateLimiter (a reload may replace the limiter while connections
// run): it keeps its shard alive. Thread-compatible: each permit has one owner, but permits of
// the same limiter may be released on any threads concurrently.
class RateLimitPermit {
 public:
  RateLimitPermit() = default;
  RateLimitPermit(const RateLimitPermit&) = delete;
  RateLimitPermit& operator=(const RateLimitPermit&) = delete;
  RateLimitPermit(RateLimitPermit&& other) noexcept;
  RateLimitPermit& operator=(RateLimitPermit&& other) noexcept;
  ~RateLimitPermit();

  // True while this permit counts a connection against its key's `max_concurrent`.
  bool is_counted() const { return shard_ != nullptr; }

  // Gives the connection back now instead of at destruction; then holds nothing. Idempotent.
  void Release();

 private:
  friend class RateLimiter;
  RateLimitPermit(std::shared_ptr<internal::RateLimiterShard> shard,
                  internal::RateLimitEntry* entry);

  // Shared with the RateLimiter and every other permit of the shard: the shard lives as long as
  // its longest holder. Null when the permit holds nothing.
  std::shared_ptr<internal::RateLimiterShard> shard_;
  internal::RateLimitEntry* entry_ = nullptr;  // in `shard_`, kept there while counted
};

// A default-constructed decision is what a limiter with both limits off answers.
struct RateLimitDecision {
  RateLimitVerdict verdict = RateLimitVerdict::kAdmitted;
  RateLimitPermit permit;  // counts the connection only when admitted with `max_concurrent` set
};

// RateLimiter: thread-safe. Keys are spread over up to 16 shards by hash, each with its own
// mutex (no global lock), held for a hash lookup, a few arithmetic operations and, for a new key,
// an allocation and at most one bounded sweep.
class RateLimiter {
 public:
  // InvalidArgument when `connections_per_second` is negative, NaN or infinite, when it is set
  // with `burst` 0, or when `max_keys` is 0. `clock` is borrowed and must outlive the limiter
  // (permits do not use it).
  static absl::StatusOr<std::unique_ptr<RateLimiter>> Create(const RateLimitOptions& options,
                                                             const base::Clock* clock);

  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;
  RateLimiter(RateLimiter&&) = delete;
  RateLimiter& operator=(RateLimiter&&) = delete;
  ~RateLimiter();

  // Decides whether `key` may open one more connection now. `key` is the client identity, or an
  // IP address *without* the port when the caller limits by address: every connection has a new
  // source port, so an "ip:port" key would never be limited and would fill the table.
  //
  // Concurrency is checked first, then tokens: a key at its cap gets kConcurrencyLimited even
  // when its bucket is empty too. A refused connection takes no token and is not counted. When
  // admitted, one token is taken and, if `max_concurrent` is set, the returned permit counts the
  // connection until it is destroyed. With both limits off every call is admitted and nothing is
  // tracked.
  RateLimitDecision Admit(absl::string_view key);

  // Keys currently tracked, summed over shards (each read under its lock, so the sum is not a
  // snapshot while other threads admit). For tests and metrics.
  size_t tracked_keys() const;

  const RateLimitOptions& options() const { return options_; }

 private:
  RateLimiter(const RateLimitOptions& options, const base::Clock* clock);

  const RateLimitOptions options_;
  const base::Clock* const clock_;
  std::vector<std::shared_ptr<internal::RateLimiterShard>> shards_;  // empty when no limit is on
};

}  // namespace gatehouse::lb

#endif  // GATEHOUSE_LB_RATE_LIMITER_H_
