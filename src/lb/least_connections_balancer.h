// LeastConnectionsBalancer: picks the pickable upstream with the fewest open connections
// (`Upstream::open_connections()`: live leases, pending dials included).
//
// Each pick scans the upstreams once, starting at a random offset (per-thread generator), and
// keeps the first upstream with the lowest count; ties therefore go to a random one among them
// rather than always the first configured. It stops early at an idle upstream (no count can be
// lower). When upstreams are ineligible, the first eligible one after a run of ineligible ones
// wins ties for the offsets in that run; held leases raise its count and end the advantage.
//
// Accepted race: counts are read one by one without a lock, and the lease is taken right after
// the scan, so two concurrent picks may both see the same upstream as least loaded and both
// land on it. Counts never drift (the lease alone increments and decrements them), and the next
// picks see the result; the error is at most one connection per concurrent picker.
//
// Thread-safe; no lock on the pick path. O(number of upstreams) per pick.
#ifndef GATEHOUSE_LB_LEAST_CONNECTIONS_BALANCER_H_
#define GATEHOUSE_LB_LEAST_CONNECTIONS_BALANCER_H_

#include <memory>
#include <optional>
#include <vector>

#include "absl/types/span.h"
#include "lb/balancer.h"
#include "lb/upstream.h"

namespace gatehouse::lb {

class LeastConnectionsBalancer final : public Balancer {
 public:
  // `upstreams`: none null; may be empty.
  explicit LeastConnectionsBalancer(std::vector<std::shared_ptr<Upstream>> upstreams);

  std::optional<UpstreamLease> Pick(absl::Span<const Upstream* const> exclude = {}) override;
  const std::vector<std::shared_ptr<Upstream>>& upstreams() const override { return upstreams_; }

 private:
  const std::vector<std::shared_ptr<Upstream>> upstreams_;
};

}  // namespace gatehouse::lb

#endif  // GATEHOUSE_LB_LEAST_CONNECTIONS_BALANCER_H_
