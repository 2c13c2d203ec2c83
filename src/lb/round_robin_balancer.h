// RoundRobinBalancer: hands out the eligible upstreams in turn, in configuration order.
//
// One shared cursor (an atomic counter) deals out turns. A turn that lands on an upstream that
// cannot be picked (ineligible or excluded) passes to the next pickable upstream in order, and
// the cursor then skips past that upstream, so the one after an unhealthy upstream takes the
// skipped turn but not a second turn of its own: with A, B (unhealthy) and C, picks go A, C, A,
// C, not A, C, C. Exact for one picker; under concurrent picks the rotation is approximate (two
// pickers may take the same upstream while the cursor is being advanced), never stuck.
//
// Thread-safe; no lock on the pick path.
#ifndef GATEHOUSE_LB_ROUND_ROBIN_BALANCER_H_
#define GATEHOUSE_LB_ROUND_ROBIN_BALANCER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/types/span.h"
#include "lb/balancer.h"
#include "lb/upstream.h"

namespace gatehouse::lb {

class RoundRobinBalancer final : public Balancer {
 public:
  // `upstreams`: none null; may be empty.
  explicit RoundRobinBalancer(std::vector<std::shared_ptr<Upstream>> upstreams);

  std::optional<UpstreamLease> Pick(absl::Span<const Upstream* const> exclude = {}) override;
  const std::vector<std::shared_ptr<Upstream>>& upstreams() const override { return upstreams_; }

 private:
  const std::vector<std::shared_ptr<Upstream>> upstreams_;
  // Turns dealt so far, plus the turns skipped over ineligible upstreams. Wraps after 2^64
  // turns, which costs at most one out-of-order turn. On a cache line of its own (64 bytes on
  // x86-64 and most arm64): every pick writes it, and sharing a line with `upstreams_`, which
  // every pick reads, would make concurrent pickers invalidate each other's copy of both.
  alignas(64) std::atomic<uint64_t> cursor_{0};
};

}  // namespace gatehouse::lb

#endif  // GATEHOUSE_LB_ROUND_ROBIN_BALANCER_H_
