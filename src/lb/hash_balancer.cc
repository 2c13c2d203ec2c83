#include "lb/hash_balancer.h"

#include <cstddef>
#include <string>
#include <utility>

#include "base/status_macros.h"
#include "lb/internal/random_index.h"

namespace gatehouse::lb {
namespace {

constexpr size_t kProbesPerUpstream = 8;

std::vector<std::string> NamesOf(const std::vector<std::shared_ptr<Upstream>>& upstreams) {
  std::vector<std::string> names;
  names.reserve(upstreams.size());
  for (const std::shared_ptr<Upstream>& upstream : upstreams) {
    GH_CHECK(upstream != nullptr);
    names.push_back(upstream->name());
  }
  return names;
}

}  // namespace

HashBalancer::HashBalancer(std::vector<std::shared_ptr<Upstream>> upstreams)
    : upstreams_(std::move(upstreams)), table_(NamesOf(upstreams_)) {}

std::optional<UpstreamLease> HashBalancer::Pick(absl::Span<const Upstream* const> exclude) {
  if (upstreams_.empty()) return std::nullopt;
  return PickForKey(internal::RandomIndex(table_.size()), exclude);
}

std::optional<UpstreamLease> HashBalancer::PickForKey(uint64_t key,
                                                      absl::Span<const Upstream* const> exclude) {
  const size_t count = upstreams_.size();
  if (count == 0) return std::nullopt;
  const size_t size = table_.size();
  const size_t first = table_.SlotOf(key);
  const size_t probes = std::min(size, kProbesPerUpstream * count);
  for (size_t probe = 0; probe < probes; ++probe) {
    size_t slot = first + probe;
    if (slot >= size) slot -= size;
    const std::shared_ptr<Upstream>& upstream = upstreams_[table_.MemberAt(slot)];
    if (IsPickable(*upstream, exclude)) return UpstreamLease(upstream);
  }
  const auto start = static_cast<size_t>(key % count);
  for (size_t offset = 0; offset < count; ++offset) {
    size_t index = start + offset;
    if (index >= count) index -= count;
    if (IsPickable(*upstreams_[index], exclude)) return UpstreamLease(upstreams_[index]);
  }
  return std::nullopt;
}

}  // namespace gatehouse::lb
