// Dial: connects to an upstream picked by a balancer, with failover. A refused, reset or
// timed-out connect is retried on the next eligible upstream (not one already tried), for at
// most `max_attempts` attempts. Each failure counts towards passive ejection of that upstream
// (Upstream::RecordDialFailure), which lasts a backoff; the first dial to an ejected upstream
// after its backoff is its trial (Upstream::AdmitDial), which readmits it or ejects it again. A
// picked upstream whose dial is not admitted (another dial holds its trial, or it was ejected
// since the pick) is skipped without counting as an attempt. The returned lease keeps the
// connection counted against its upstream until the caller drops it.
//
// Sockets are created with SOCK_CLOEXEC (Asio's own open() does not set it) so upstream
// connections never leak into processes the daemon starts. Confined to the worker whose
// executor it runs on; the balancer itself is thread-safe.
#ifndef GATEHOUSE_LB_DIALER_H_
#define GATEHOUSE_LB_DIALER_H_

#include <chrono>
#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "asio/awaitable.hpp"
#include "asio/ip/tcp.hpp"
#include "base/metrics.h"
#include "lb/balancer.h"
#include "lb/upstream.h"

namespace gatehouse::lb {

struct DialOptions {
  uint32_t max_attempts = 3;
  std::chrono::nanoseconds connect_timeout = std::chrono::seconds(5);
  // Consecutive dial failures that eject an upstream; 0 = never.
  uint32_t eject_after_failures = 5;
  // How long an ejection lasts before a trial dial: `initial`, doubled after each failed trial,
  // at most `max` (see EjectionBackoff). A passing active check ends an ejection sooner.
  EjectionBackoff ejection_backoff;
  // Counts every connect attempt that failed (refused, reset, timed out), retried or not; may
  // be null. Borrowed: it must outlive the dial.
  base::Counter* failed_attempts = nullptr;
};

struct DialedUpstream {
  asio::ip::tcp::socket socket;
  UpstreamLease lease;
  uint32_t attempts = 0;
};

// Connects the open `socket` (made by the caller, e.g. inside another network namespace) to
// `endpoint`; asio::error::timed_out after `timeout`.
asio::awaitable<std::error_code> ConnectWithin(asio::ip::tcp::socket& socket,
                                               const asio::ip::tcp::endpoint& endpoint,
                                               std::chrono::nanoseconds timeout);

// Unavailable when no eligible upstream is left to try: the message names the upstreams tried
// and why each failed, or says that none was healthy. With `key`, every attempt picks with
// `Balancer::PickForKey(*key, ...)`, so a hash balancer's failover for a key is the same each time.
asio::awaitable<absl::StatusOr<DialedUpstream>> Dial(Balancer& balancer, DialOptions options,
                                                     std::optional<uint64_t> key = std::nullopt);

}  // namespace gatehouse::lb

#endif  // GATEHOUSE_LB_DIALER_H_
