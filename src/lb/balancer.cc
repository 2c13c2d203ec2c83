#include "lb/balancer.h"

#include <sys/random.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/numeric/int128.h"
#include "base/status_macros.h"
#include "lb/least_connections_balancer.h"
#include "lb/power_of_two_choices_balancer.h"
#include "lb/round_robin_balancer.h"

namespace gatehouse::lb {
namespace {

uint64_t SeedFromOs() {
  uint64_t seed = 0;
  if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) == static_cast<ssize_t>(sizeof(seed))) {
    return seed;
  }
  // No entropy yet (early boot) or no getrandom: distinct threads and runs still get distinct
  // sequences, which is all balancing needs.
  return static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
         reinterpret_cast<uintptr_t>(&seed);
}

// SplitMix64 state of the calling thread.
uint64_t& ThreadRandomState() {
  thread_local uint64_t state = SeedFromOs();
  return state;
}

}  // namespace

absl::string_view BalancingAlgorithmName(BalancingAlgorithm algorithm) {
  switch (algorithm) {
    case BalancingAlgorithm::kRoundRobin:
      return "round_robin";
    case BalancingAlgorithm::kLeastConnections:
      return "least_connections";
    case BalancingAlgorithm::kPowerOfTwoChoices:
      return "power_of_two";
  }
  // Only a value cast from outside the enumerators gets here.
  return "unknown";
}

std::optional<BalancingAlgorithm> ParseBalancingAlgorithm(absl::string_view name) {
  for (const BalancingAlgorithm algorithm :
       {BalancingAlgorithm::kRoundRobin, BalancingAlgorithm::kLeastConnections,
        BalancingAlgorithm::kPowerOfTwoChoices}) {
    if (name == BalancingAlgorithmName(algorithm)) return algorithm;
  }
  return std::nullopt;
}

std::unique_ptr<Balancer> MakeBalancer(BalancingAlgorithm algorithm,
                                       std::vector<std::shared_ptr<Upstream>> upstreams) {
  switch (algorithm) {
    case BalancingAlgorithm::kRoundRobin:
      return std::make_unique<RoundRobinBalancer>(std::move(upstreams));
    case BalancingAlgorithm::kLeastConnections:
      return std::make_unique<LeastConnectionsBalancer>(std::move(upstreams));
    case BalancingAlgorithm::kPowerOfTwoChoices:
      return std::make_unique<PowerOfTwoChoicesBalancer>(std::move(upstreams));
  }
  // An enum value outside the enumerators is a caller bug, not input: configuration reaches
  // here only through `ParseBalancingAlgorithm()`.
  GH_CHECK(false && "unknown BalancingAlgorithm");
  return nullptr;
}

bool IsPickable(const Upstream& upstream, absl::Span<const Upstream* const> exclude) {
  return upstream.is_eligible() &&
         std::find(exclude.begin(), exclude.end(), &upstream) == exclude.end();
}

namespace internal {

size_t RandomIndex(size_t count) {
  // SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators", 2014):
  // a counter passed through a 64-bit mixer; fast, full period, passes BigCrush.
  uint64_t& state = ThreadRandomState();
  state += 0x9e3779b97f4a7c15U;
  uint64_t z = state;
  z = (z ^ (z >> 30U)) * 0xbf58476d1ce4e5b9U;
  z = (z ^ (z >> 27U)) * 0x94d049bb133111ebU;
  z ^= z >> 31U;
  // Lemire's multiply-shift ("Fast random integer generation in an interval", 2019): the high
  // half of z * count lies in [0, count), without the 64-bit division a modulo costs.
  return static_cast<size_t>(absl::Uint128High64(absl::uint128(z) * count));
}

void SeedRandomIndexForTest(uint64_t seed) { ThreadRandomState() = seed; }

}  // namespace internal

}  // namespace gatehouse::lb
