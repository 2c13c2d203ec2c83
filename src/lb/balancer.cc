#include "lb/balancer.h"

#include <algorithm>
#include <utility>

#include "base/status_macros.h"
#include "lb/hash_balancer.h"
#include "lb/least_connections_balancer.h"
#include "lb/power_of_two_choices_balancer.h"
#include "lb/round_robin_balancer.h"

namespace gatehouse::lb {
absl::string_view BalancingAlgorithmName(BalancingAlgorithm algorithm) {
  switch (algorithm) {
    case BalancingAlgorithm::kRoundRobin:
      return "round_robin";
    case BalancingAlgorithm::kLeastConnections:
      return "least_connections";
    case BalancingAlgorithm::kPowerOfTwoChoices:
      return "power_of_two";
    case BalancingAlgorithm::kHash:
      return "hash";
  }
  // Only a value cast from outside the enumerators gets here.
  return "unknown";
}

std::optional<BalancingAlgorithm> ParseBalancingAlgorithm(absl::string_view name) {
  for (const BalancingAlgorithm algorithm :
       {BalancingAlgorithm::kRoundRobin, BalancingAlgorithm::kLeastConnections,
        BalancingAlgorithm::kPowerOfTwoChoices, BalancingAlgorithm::kHash}) {
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
    case BalancingAlgorithm::kHash:
      return std::make_unique<HashBalancer>(std::move(upstreams));
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

}  // namespace gatehouse::lb
