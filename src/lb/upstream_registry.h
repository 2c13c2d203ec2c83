// UpstreamRegistry: the one Upstream object per address, shared by every configuration that
// names that address. A reload builds its balancers and health checkers from Get(), so an
// upstream kept from the old configuration keeps its health, passive ejection (with its backoff)
// and exact open connection count, while one that is new starts fresh. The new configuration's
// health checker takes the kept upstreams over from the old one (see Upstream).
//
// The registry holds weak references only: an Upstream lives as long as a balancer, checker or
// lease holds it, and the registry forgets it after that. Thread-safe; Get() takes a lock and is
// meant for (re)configuration, not the per-connection path.
#ifndef GATEHOUSE_LB_UPSTREAM_REGISTRY_H_
#define GATEHOUSE_LB_UPSTREAM_REGISTRY_H_

#include <map>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "asio/ip/tcp.hpp"
#include "base/clock.h"
#include "base/mutex.h"
#include "lb/upstream.h"

namespace gatehouse::lb {

class UpstreamRegistry {
 public:
  UpstreamRegistry() : UpstreamRegistry(&base::SystemClock()) {}
  // `clock` is borrowed and must outlive every Upstream the registry creates; it times their
  // passive ejections.
  explicit UpstreamRegistry(const base::Clock* clock) : clock_(clock) {}

  // The live Upstream for `endpoint`, or a new one (healthy, no connections) if none is held.
  std::shared_ptr<Upstream> Get(const asio::ip::tcp::endpoint& endpoint);

  // Addresses whose Upstream is still held somewhere.
  size_t live_count() const;

 private:
  const base::Clock* const clock_;
  mutable base::Mutex mu_;
  std::map<asio::ip::tcp::endpoint, std::weak_ptr<Upstream>> upstreams_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gatehouse::lb

#endif  // GATEHOUSE_LB_UPSTREAM_REGISTRY_H_
