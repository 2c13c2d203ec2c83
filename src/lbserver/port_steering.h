// PortSteering: where the load balancer's listen addresses are served, and the BPF sk_lookup
// steering of port ranges (RFD 0003 §4).
//
// A single port gets plain listeners, one SO_REUSEPORT socket per worker, as before. A port range
// ("127.0.0.1:20000-20999") gets one socket per worker per app and address family, bound to the
// loopback on a free port, and a steering entry per (address, port) that sends the range's
// connections into those sockets (steer/sk_lookup_steering.h). Where steering cannot attach (no
// CAP_BPF/CAP_NET_ADMIN, no sk_lookup in the kernel, or turned off), a range of at most
// kMaxPlainRangePorts ports falls back to plain listeners, one per port, with a warning; a longer
// range is an error that says why.
//
// Reload changes the steering map in place: ports added are steered before ports removed are
// dropped, and a kept port's entry is never touched, so it never refuses a connection. An app
// kept keeps its sockets. The program is detached when this object is destroyed or Detach runs.
//
// Thread-compatible: LbServer's control thread only. Steering attaches to the network namespace
// of the thread that first plans a range.
#ifndef GATEHOUSE_LBSERVER_PORT_STEERING_H_
#define GATEHOUSE_LBSERVER_PORT_STEERING_H_

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "asio/ip/address.hpp"
#include "base/metrics.h"
#include "config/config.h"
#include "steer/sk_lookup_steering.h"

namespace gatehouse::lbserver {

// The longest range served by plain listeners when steering is unavailable.
inline constexpr uint32_t kMaxPlainRangePorts = 64;

struct SteeredPort {
  asio::ip::address address;
  uint16_t port = 0;
  bool operator<(const SteeredPort& other) const {
    return std::tie(address, port) < std::tie(other.address, other.port);
  }
};

// What a configuration listens on. Keys name listeners: a plain listener's is its address
// ("127.0.0.1:8443"); a steered group's is "sk_lookup:APP:ipv4" (or ipv6).
struct ListenPlan {
  struct Listener {
    std::string app;
    config::Address bind;  // a steered group binds the loopback, port 0
  };
  std::map<std::string, Listener> listeners;
  // The ports each steered group serves, by its key.
  std::map<std::string, std::set<SteeredPort>> steered;
};

class PortSteering {
 public:
  // `steered_ports` (borrowed; may be null) is set to the number of ports steered.
  explicit PortSteering(base::Gauge* steered_ports) : steered_ports_(steered_ports) {}

  // Plans the listeners of `lb`. With `allow_steering`, ranges are steered (attaching the
  // program on first need); otherwise, or if it cannot attach, they fall back as above.
  // FailedPrecondition for a range that needs steering when it is unavailable.
  absl::StatusOr<ListenPlan> Plan(const config::LbConfig& lb, bool allow_steering);

  // Puts new steered groups' sockets in the steering map: `sockets` holds, by group key, one
  // listening socket per worker (borrowed). All or nothing.
  absl::Status AddGroups(const std::map<std::string, std::vector<int>>& sockets);
  // Takes back the groups AddGroups added when the reload they were for fails.
  void AbandonGroups(const std::map<std::string, std::vector<int>>& sockets);

  // Makes the steering map what `plan` says (see above) and drops the groups it no longer has.
  // Does not fail: a map update the kernel refuses (out of memory) is logged, and that port
  // refuses connections.
  void Commit(const ListenPlan& plan);

  // Detaches the program: steered ports refuse from now on. Idempotent.
  void Detach();

 private:
  struct Group {
    uint32_t first_slot = 0;
    uint32_t slot_count = 0;
  };

  // Attaches on first need; the error says why steering is unavailable.
  absl::Status EnsureAttached();
  // Adds the listeners and steered ports of one range of `app` to `plan`.
  absl::Status PlanRange(const std::string& app, const config::Address& range, bool allow_steering,
                         ListenPlan& plan);
  absl::StatusOr<uint32_t> AllocateSlots(uint32_t count);
  void ReleaseGroup(const std::string& key);

  base::Gauge* const steered_ports_;
  std::unique_ptr<steer::SkLookupSteering> steering_;
  std::map<std::string, Group> groups_;
  // The group each steered port goes to now.
  std::map<SteeredPort, std::string> owner_;
  std::vector<bool> used_slots_;
};

}  // namespace gatehouse::lbserver

#endif  // GATEHOUSE_LBSERVER_PORT_STEERING_H_
