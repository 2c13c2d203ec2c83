#include "lb/round_robin_balancer.h"

#include <cstddef>
#include <utility>

#include "base/status_macros.h"

namespace gatehouse::lb {

RoundRobinBalancer::RoundRobinBalancer(std::vector<std::shared_ptr<Upstream>> upstreams)
    : upstreams_(std::move(upstreams)) {
  for (const std::shared_ptr<Upstream>& upstream : upstreams_) GH_CHECK(upstream != nullptr);
}

std::optional<UpstreamLease> RoundRobinBalancer::Pick(absl::Span<const Upstream* const> exclude) {
  const size_t count = upstreams_.size();
  if (count == 0) return std::nullopt;
  // Relaxed: the cursor only deals out turns; the atomic read-modify-write alone makes every
  // turn distinct, and nothing else is published through it (upstream state is read through
  // its own acquire loads). Ordering against other memory would buy nothing.
  const uint64_t turn = cursor_.fetch_add(1, std::memory_order_relaxed);
  const auto start = static_cast<size_t>(turn % count);
  for (size_t skipped = 0; skipped < count; ++skipped) {
    size_t index = start + skipped;
    if (index >= count) index -= count;
    const std::shared_ptr<Upstream>& upstream = upstreams_[index];
    if (!IsPickable(*upstream, exclude)) continue;
    // The chosen upstream took the turns of the `skipped` ones before it. Consume those turns
    // too, so the next pick starts after it instead of giving it its own turn again (which
    // would double its share for as long as its neighbour stays down).
    if (skipped > 0) cursor_.fetch_add(skipped, std::memory_order_relaxed);
    return UpstreamLease(upstream);
  }
  return std::nullopt;
}

}  // namespace gatehouse::lb
