#include "lb/upstream_registry.h"

namespace gatehouse::lb {

std::shared_ptr<Upstream> UpstreamRegistry::Get(const asio::ip::tcp::endpoint& endpoint) {
  base::MutexLock lock(&mu_);
  // Forget addresses nobody holds any more; the map stays as large as the live configuration.
  std::erase_if(upstreams_, [](const auto& entry) { return entry.second.expired(); });
  if (auto it = upstreams_.find(endpoint); it != upstreams_.end()) {
    if (std::shared_ptr<Upstream> live = it->second.lock()) return live;
  }
  auto fresh = std::make_shared<Upstream>(endpoint, clock_);
  upstreams_[endpoint] = fresh;
  return fresh;
}

size_t UpstreamRegistry::live_count() const {
  base::MutexLock lock(&mu_);
  size_t live = 0;
  for (const auto& [endpoint, upstream] : upstreams_) live += upstream.expired() ? 0 : 1;
  return live;
}

}  // namespace gatehouse::lb
