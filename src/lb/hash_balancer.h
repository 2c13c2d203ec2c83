// HashBalancer: consistent hashing. A connection's key (the client's identity or address, hashed
// with `StableHash()`) picks its upstream through a Maglev table (lb/maglev_table.h) built from
// the upstreams' names, so a client keeps its upstream while the upstream set stays, on every
// node that has the same upstream list; when one of N upstreams leaves, ~1/N of the keys move.
//
// An upstream that cannot be picked (ineligible or excluded) passes its key to the upstream of
// the next table slot, then the one after: those neighbours are spread over all the upstreams,
// so a down upstream's keys spread over the rest instead of doubling one neighbour's load, and
// they come back when it does. After 8 × N slots without a pickable one (almost all upstreams
// down), the upstreams are scanned in order from the key's position, so a pick costs O(N) at
// worst, like least-connections.
//
// `Pick()` without a key uses a random one (uniform spread, no stickiness).
//
// Thread-safe; the table is immutable and the pick path takes no lock.
#ifndef GATEHOUSE_LB_HASH_BALANCER_H_
#define GATEHOUSE_LB_HASH_BALANCER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/types/span.h"
#include "lb/balancer.h"
#include "lb/maglev_table.h"
#include "lb/upstream.h"

namespace gatehouse::lb {

class HashBalancer final : public Balancer {
 public:
  // `upstreams`: none null; may be empty.
  explicit HashBalancer(std::vector<std::shared_ptr<Upstream>> upstreams);

  std::optional<UpstreamLease> Pick(absl::Span<const Upstream* const> exclude = {}) override;
  std::optional<UpstreamLease> PickForKey(uint64_t key,
                                          absl::Span<const Upstream* const> exclude = {}) override;
  const std::vector<std::shared_ptr<Upstream>>& upstreams() const override { return upstreams_; }

 private:
  const std::vector<std::shared_ptr<Upstream>> upstreams_;
  const MaglevTable table_;
};

}  // namespace gatehouse::lb

#endif  // GATEHOUSE_LB_HASH_BALANCER_H_
