// Balancer: chooses the upstream for each new connection of an app, among the upstreams that may
// receive traffic now (`Upstream::is_eligible()`: healthy and not passively ejected), and reserves
// a connection slot on it (`UpstreamLease`) at pick time, so a dial still in progress already
// counts for the next pick.
//
// A balancer does not check health, dial, retry or count failures: health checkers and the dialer
// set the upstream state it reads, and the dialer retries by picking again with its failed
// attempts in `exclude`. There is no "panic mode": when no upstream is eligible, nothing is
// picked, and the caller refuses the connection instead of sending it to an upstream known bad.
//
// Four algorithms (see their headers): RoundRobinBalancer, LeastConnectionsBalancer,
// PowerOfTwoChoicesBalancer and HashBalancer (consistent hashing of a per-connection key).
// Create them with `MakeBalancer()`.
#ifndef GATEHOUSE_LB_BALANCER_H_
#define GATEHOUSE_LB_BALANCER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "lb/upstream.h"

namespace gatehouse::lb {

enum class BalancingAlgorithm { kRoundRobin, kLeastConnections, kPowerOfTwoChoices, kHash };

// The configuration name: "round_robin", "least_connections", "power_of_two" or "hash".
absl::string_view BalancingAlgorithmName(BalancingAlgorithm algorithm);
// The inverse of `BalancingAlgorithmName()` (exact, case-sensitive match); nullopt for any other
// name.
std::optional<BalancingAlgorithm> ParseBalancingAlgorithm(absl::string_view name);

// Balancer interface. Implementations are thread-safe: any worker may call `Pick()` concurrently,
// and the pick path takes no lock (atomics and per-thread state only).
class Balancer {
 public:
  Balancer() = default;
  Balancer(const Balancer&) = delete;
  Balancer& operator=(const Balancer&) = delete;
  Balancer(Balancer&&) = delete;
  Balancer& operator=(Balancer&&) = delete;
  virtual ~Balancer() = default;

  // Picks one upstream that is eligible and not listed in `exclude` (by address; the dialer's
  // already-failed attempts for this connection), and returns a lease on it: the slot is taken
  // before `Pick()` returns and given back when the lease is destroyed. nullopt when no upstream
  // qualifies, including when every upstream is unhealthy or ejected.
  virtual std::optional<UpstreamLease> Pick(absl::Span<const Upstream* const> exclude = {}) = 0;

  // `Pick()` for a connection whose upstream should follow `key` (a `StableHash()` of the
  // client's identity or address): HashBalancer gives the same key the same upstream while the
  // upstream set and their eligibility stay. The other algorithms ignore the key.
  virtual std::optional<UpstreamLease> PickForKey(uint64_t key,
                                                  absl::Span<const Upstream* const> exclude = {}) {
    static_cast<void>(key);
    return Pick(exclude);
  }

  // All upstreams of the app, eligible or not, in configuration order. Fixed for the balancer's
  // lifetime (a reload builds a new balancer).
  virtual const std::vector<std::shared_ptr<Upstream>>& upstreams() const = 0;
};

// Builds the balancer for `algorithm` over `upstreams` (none null; may be empty, and then every
// pick is nullopt). The upstreams are shared with health checkers and live leases.
std::unique_ptr<Balancer> MakeBalancer(BalancingAlgorithm algorithm,
                                       std::vector<std::shared_ptr<Upstream>> upstreams);

// True when a balancer may pick `upstream`: it is eligible and not in `exclude`. `exclude` is
// searched linearly; it holds at most the dialer's few attempts.
bool IsPickable(const Upstream& upstream, absl::Span<const Upstream* const> exclude);

}  // namespace gatehouse::lb

#endif  // GATEHOUSE_LB_BALANCER_H_
