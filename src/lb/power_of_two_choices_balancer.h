// PowerOfTwoChoicesBalancer: samples two distinct pickable upstreams at random and picks the one
// with fewer open connections (`Upstream::open_connections()`), the first sampled on a tie.
//
// Close to least-connections in effect (a loaded upstream is chosen only when both samples are
// at least as loaded), at a constant cost per pick instead of a scan of all upstreams, and
// without least-connections' herding of concurrent pickers onto the one least loaded upstream.
//
// Sampling draws a few random indexes for each candidate. When that does not find two pickable
// upstreams (few are eligible or many are excluded), the missing candidates are the next
// pickable upstreams in a scan from a random offset, so a pick succeeds whenever any upstream is
// pickable, including the single one. A lone eligible upstream is picked however loaded.
//
// Accepted race, as for least-connections: counts are read without a lock and the lease is
// taken right after, so concurrent picks may land on the same upstream; counts never drift.
//
// Thread-safe; no lock on the pick path (per-thread random generator).
#ifndef GATEHOUSE_LB_POWER_OF_TWO_CHOICES_BALANCER_H_
#define GATEHOUSE_LB_POWER_OF_TWO_CHOICES_BALANCER_H_

#include <memory>
#include <optional>
#include <vector>

#include "absl/types/span.h"
#include "lb/balancer.h"
#include "lb/upstream.h"

namespace gatehouse::lb {

class PowerOfTwoChoicesBalancer final : public Balancer {
 public:
  // `upstreams`: none null; may be empty.
  explicit PowerOfTwoChoicesBalancer(std::vector<std::shared_ptr<Upstream>> upstreams);

  std::optional<UpstreamLease> Pick(absl::Span<const Upstream* const> exclude = {}) override;
  const std::vector<std::shared_ptr<Upstream>>& upstreams() const override { return upstreams_; }

 private:
  const std::vector<std::shared_ptr<Upstream>> upstreams_;
};

}  // namespace gatehouse::lb

#endif  // GATEHOUSE_LB_POWER_OF_TWO_CHOICES_BALANCER_H_
