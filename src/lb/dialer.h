// Dial: connects to an upstream picked by a balancer, with failover. A refused, reset or
// timed-out connect is retried on the next eligible upstream (not one already tried), for at
// most `max_attempts` attempts. Each failure counts towards passive ejection of that upstream
// (Upstream::RecordDialFailure). The returned lease keeps the connection counted against its
// upstream until the caller drops it.
//
// Sockets are created with SOCK_CLOEXEC (Asio's own open() does not set it) so upstream
// connections never leak into processes the daemon starts. Confined to the worker whose
// executor it runs on; the balancer itself is thread-safe.
#ifndef GATEHOUSE_LB_DIALER_H_
#define GATEHOUSE_LB_DIALER_H_

#include <chrono>
#include <cstdint>

#include "absl/status/statusor.h"
#include "asio/awaitable.hpp"
#include "asio/ip/tcp.hpp"
#include "lb/balancer.h"
#include "lb/upstream.h"

namespace gatehouse::lb {

struct DialOptions {
  uint32_t max_attempts = 3;
  std::chrono::nanoseconds connect_timeout = std::chrono::seconds(5);
  // Consecutive dial failures that eject an upstream until an active check passes; 0 = never.
  uint32_t eject_after_failures = 5;
};

struct DialedUpstream {
  asio::ip::tcp::socket socket;
  UpstreamLease lease;
  uint32_t attempts = 0;
};

// Unavailable when no eligible upstream is left to try: the message names the upstreams tried
// and why each failed, or says that none was healthy.
asio::awaitable<absl::StatusOr<DialedUpstream>> Dial(Balancer& balancer, DialOptions options);

}  // namespace gatehouse::lb

#endif  // GATEHOUSE_LB_DIALER_H_
