// Upstream: one backend address of an app and the state every connection to it shares:
// active health (set by a health checker), passive ejection (set by the dialer after repeated
// dial failures, cleared by the next passing active check), and the exact number of open and
// pending connections (held by UpstreamLease).
//
// An Upstream is shared by all workers and balancers (std::shared_ptr; its lifetime is that of
// the longest holder: a balancer, a health checker or a lease). Thread-safe: all state is atomic.
#ifndef GATEHOUSE_LB_UPSTREAM_H_
#define GATEHOUSE_LB_UPSTREAM_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "asio/ip/tcp.hpp"

namespace gatehouse::lb {

class Upstream {
 public:
  explicit Upstream(asio::ip::tcp::endpoint endpoint);
  Upstream(const Upstream&) = delete;
  Upstream& operator=(const Upstream&) = delete;
  Upstream(Upstream&&) = delete;
  Upstream& operator=(Upstream&&) = delete;
  ~Upstream() = default;

  const asio::ip::tcp::endpoint& endpoint() const { return endpoint_; }
  // "127.0.0.1:8080" or "[::1]:8080", for logs and metric labels.
  const std::string& name() const { return name_; }

  // May receive new connections: healthy by active checks and not passively ejected.
  bool is_eligible() const { return is_healthy() && !is_ejected(); }
  // Upstreams start healthy: traffic flows at once and an upstream that is down is found by
  // the first `fall` checks, while the dialer's failover covers that gap.
  bool is_healthy() const { return healthy_.load(std::memory_order_acquire); }
  bool is_ejected() const { return ejected_.load(std::memory_order_acquire); }

  // Connections counted by live UpstreamLeases: dials in progress plus open connections.
  uint32_t open_connections() const { return open_connections_.load(std::memory_order_acquire); }

  // Active health checks. A passing check also ends a passive ejection.
  void SetHealthy(bool healthy);
  // Passive outlier detection: the dialer reports each dial. After `eject_after` consecutive
  // failures (0 = never) the upstream is ejected until an active check passes.
  void RecordDialSuccess();
  // Returns true when this failure ejected the upstream.
  bool RecordDialFailure(uint32_t eject_after);

 private:
  friend class UpstreamLease;

  const asio::ip::tcp::endpoint endpoint_;
  const std::string name_;
  // acquire/release: a worker that sees the flag change also sees the log/metric state the
  // writer published before it. Counts use acq_rel for the same reason on the release path.
  std::atomic<bool> healthy_{true};
  std::atomic<bool> ejected_{false};
  std::atomic<uint32_t> consecutive_dial_failures_{0};
  std::atomic<uint32_t> open_connections_{0};
};

// UpstreamLease: one connection slot on an upstream, taken when a balancer picks it (so a
// pending dial already counts for least-connections) and given back when the lease is
// destroyed, on every exit path. Move-only. Thread-compatible (each lease has one owner).
class UpstreamLease {
 public:
  // Takes a slot on `upstream` (not null).
  explicit UpstreamLease(std::shared_ptr<Upstream> upstream);
  UpstreamLease(const UpstreamLease&) = delete;
  UpstreamLease& operator=(const UpstreamLease&) = delete;
  UpstreamLease(UpstreamLease&& other) noexcept = default;
  UpstreamLease& operator=(UpstreamLease&& other) noexcept;
  ~UpstreamLease();

  Upstream& upstream() const { return *upstream_; }
  const std::shared_ptr<Upstream>& shared_upstream() const { return upstream_; }

 private:
  void Release();

  std::shared_ptr<Upstream> upstream_;  // null once moved from
};

// "127.0.0.1:8080" / "[::1]:8080".
std::string EndpointName(const asio::ip::tcp::endpoint& endpoint);

}  // namespace gatehouse::lb

#endif  // GATEHOUSE_LB_UPSTREAM_H_
