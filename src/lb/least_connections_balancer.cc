#include "lb/least_connections_balancer.h"

#include <cstddef>
#include <cstdint>
#include <utility>

#include "base/status_macros.h"
#include "lb/internal/random_index.h"

namespace gatehouse::lb {

LeastConnectionsBalancer::LeastConnectionsBalancer(std::vector<std::shared_ptr<Upstream>> upstreams)
    : upstreams_(std::move(upstreams)) {
  for (const std::shared_ptr<Upstream>& upstream : upstreams_) GH_CHECK(upstream != nullptr);
}

std::optional<UpstreamLease> LeastConnectionsBalancer::Pick(
    absl::Span<const Upstream* const> exclude) {
  const size_t count = upstreams_.size();
  if (count == 0) return std::nullopt;
  const size_t start = internal::RandomIndex(count);
  const std::shared_ptr<Upstream>* best = nullptr;
  uint32_t best_connections = 0;
  for (size_t offset = 0; offset < count; ++offset) {
    size_t index = start + offset;
    if (index >= count) index -= count;
    const std::shared_ptr<Upstream>& upstream = upstreams_[index];
    if (!IsPickable(*upstream, exclude)) continue;
    const uint32_t connections = upstream->open_connections();
    // Strictly fewer: among equals the first from the random start wins, which spreads ties.
    if (best == nullptr || connections < best_connections) {
      best = &upstream;
      best_connections = connections;
      // Nothing is lower than idle, and every later idle one would lose the tie anyway.
      if (connections == 0) break;
    }
  }
  if (best == nullptr) return std::nullopt;
  // The count read above may already be stale; see the accepted race in the header.
  return UpstreamLease(*best);
}

}  // namespace gatehouse::lb
