#include "lb/power_of_two_choices_balancer.h"

#include <cstddef>
#include <limits>
#include <utility>

#include "base/status_macros.h"
#include "lb/internal/random_index.h"

namespace gatehouse::lb {
namespace {

// Random draws per candidate before falling back to a scan. With half the upstreams eligible a
// candidate is missed after 4 draws one time in 16, and the scan that follows is short, since it
// stops at the first pickable upstream; more draws would mostly be wasted when few are eligible.
constexpr int kDrawsPerCandidate = 4;
constexpr size_t kNoIndex = std::numeric_limits<size_t>::max();

struct Candidates {
  size_t first = kNoIndex;
  size_t second = kNoIndex;  // never equal to `first`
};

// Draws the two candidates at random: `first` uniformly among all upstreams, `second` uniformly
// among the others, so the two are distinct without retrying on a collision.
Candidates Draw(const std::vector<std::shared_ptr<Upstream>>& upstreams,
                absl::Span<const Upstream* const> exclude) {
  const size_t count = upstreams.size();
  Candidates candidates;
  for (int draw = 0; draw < kDrawsPerCandidate; ++draw) {
    const size_t index = internal::RandomIndex(count);
    if (IsPickable(*upstreams[index], exclude)) {
      candidates.first = index;
      break;
    }
  }
  if (candidates.first == kNoIndex || count < 2) return candidates;
  for (int draw = 0; draw < kDrawsPerCandidate; ++draw) {
    size_t index = candidates.first + 1 + internal::RandomIndex(count - 1);
    if (index >= count) index -= count;
    if (IsPickable(*upstreams[index], exclude)) {
      candidates.second = index;
      break;
    }
  }
  return candidates;
}

// Fills the candidates that `Draw()` missed with the next pickable upstreams from a random
// offset. Leaves them missing only when fewer than two upstreams are pickable.
void FillByScan(const std::vector<std::shared_ptr<Upstream>>& upstreams,
                absl::Span<const Upstream* const> exclude, Candidates& candidates) {
  const size_t count = upstreams.size();
  const size_t start = internal::RandomIndex(count);
  for (size_t offset = 0; offset < count; ++offset) {
    size_t index = start + offset;
    if (index >= count) index -= count;
    if (index == candidates.first || !IsPickable(*upstreams[index], exclude)) continue;
    if (candidates.first == kNoIndex) {
      candidates.first = index;
    } else {
      candidates.second = index;
      return;
    }
  }
}

}  // namespace

PowerOfTwoChoicesBalancer::PowerOfTwoChoicesBalancer(
    std::vector<std::shared_ptr<Upstream>> upstreams)
    : upstreams_(std::move(upstreams)) {
  for (const std::shared_ptr<Upstream>& upstream : upstreams_) GH_CHECK(upstream != nullptr);
}

std::optional<UpstreamLease> PowerOfTwoChoicesBalancer::Pick(
    absl::Span<const Upstream* const> exclude) {
  if (upstreams_.empty()) return std::nullopt;
  Candidates candidates = Draw(upstreams_, exclude);
  if (candidates.second == kNoIndex) FillByScan(upstreams_, exclude, candidates);
  if (candidates.first == kNoIndex) return std::nullopt;
  size_t chosen = candidates.first;
  // Ties go to `first`, itself a random choice, so equal upstreams share picks evenly. The
  // counts may be stale by the time the lease is taken; see the accepted race in the header.
  if (candidates.second != kNoIndex && upstreams_[candidates.second]->open_connections() <
                                           upstreams_[candidates.first]->open_connections()) {
    chosen = candidates.second;
  }
  return UpstreamLease(upstreams_[chosen]);
}

}  // namespace gatehouse::lb
