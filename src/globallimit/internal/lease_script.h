// The Lua script that keeps one global token bucket in Redis and leases tokens from it, and the
// helpers that build its key and its EVALSHA arguments. Pure data and string building: no I/O.
//
// Bucket: a hash at `gatehouse:rl:{<app>}:<identity>` with fields `tokens` (a real number, may be
// negative) and `ts_ms` (Redis server time of the last refill, in milliseconds). The braces make
// `<app>` the Redis Cluster hash tag, so one app's buckets share a slot.
//
// `lease(key, rate, burst, debt, want, ttl_ms)`, atomic in Redis:
//   1. refill: tokens = min(burst, tokens + (now - ts_ms) * rate / 1000), with `now` from the
//      Redis `TIME` command, so the nodes' clocks do not matter; a missing key starts full
//      (tokens = burst);
//   2. tokens -= debt, unconditionally (tokens a node already admitted on credit; may go
//      negative, and then later leases wait until refill has paid it back);
//   3. g = min(want, max(0, floor(tokens))); tokens -= g;
//   4. store, PEXPIRE the key after `ttl_ms` (idle buckets vanish; a vanished bucket is full
//      again, which is what refill would have made it), and return g (an integer reply).
// Redis 7 replicates script effects, not the script, so calling TIME before writing is allowed.
#ifndef GATEHOUSE_GLOBALLIMIT_INTERNAL_LEASE_SCRIPT_H_
#define GATEHOUSE_GLOBALLIMIT_INTERNAL_LEASE_SCRIPT_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace gatehouse::globallimit::internal {

// The Lua text, for SCRIPT LOAD.
absl::string_view LeaseScript();

// `gatehouse:rl:{<app>}:<identity>`.
std::string BucketKey(absl::string_view app, absl::string_view identity);

// How long an untouched bucket lives: twice the time to refill from empty to full, plus 1 s.
std::chrono::milliseconds BucketTtl(double rate, uint32_t burst);

// The arguments of `EVALSHA <sha> 1 <key> <rate> <burst> <debt> <want> <ttl_ms>`.
std::vector<std::string> LeaseCommand(absl::string_view sha, absl::string_view key, double rate,
                                      uint32_t burst, uint64_t debt, uint32_t want,
                                      std::chrono::milliseconds ttl);

}  // namespace gatehouse::globallimit::internal

#endif  // GATEHOUSE_GLOBALLIMIT_INTERNAL_LEASE_SCRIPT_H_
