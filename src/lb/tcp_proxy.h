// ProxyConnection: the whole life of one proxied TCP connection, after the caller has accepted
// (and, in the server, authenticated and authorized) it: dial an upstream through the balancer
// with failover, forward both ways, count what happened. When no upstream can be reached the
// client is closed at once, and the reason is logged and counted.
//
// ProxyMetrics holds counters the caller registered (for example with an `app` label); they are
// borrowed and must outlive every connection using them. Confined to the worker whose executor
// runs the coroutine; the counters themselves are thread-safe.
#ifndef GATEHOUSE_LB_TCP_PROXY_H_
#define GATEHOUSE_LB_TCP_PROXY_H_

#include <string>

#include "asio/awaitable.hpp"
#include "asio/ip/tcp.hpp"
#include "base/metrics.h"
#include "lb/balancer.h"
#include "lb/dialer.h"
#include "lb/forwarder.h"

namespace gatehouse::lb {

struct ProxyMetrics {
  base::Counter* connections = nullptr;  // connections forwarded to an upstream
  base::Counter* no_upstream = nullptr;  // clients closed: no upstream reachable
  base::Counter* client_to_upstream_bytes = nullptr;
  base::Counter* upstream_to_client_bytes = nullptr;
  base::Counter* idle_timeouts = nullptr;
  base::Counter* errors = nullptr;  // forwarding ended by a read/write error
};

// Registers the counters under `prefix` (e.g. "gatehouse_lb") with `labels` in `registry`.
ProxyMetrics RegisterProxyMetrics(base::MetricsRegistry& registry, const std::string& prefix,
                                  const base::MetricLabels& labels);

struct ProxyOptions {
  DialOptions dial;
  ForwarderOptions forward;
  // For log lines: who the client is (identity or address) and which app it asked for.
  std::string client_name;
  std::string app_name;
};

// Returns when the connection is over; `client` is closed by then. `balancer` and `metrics`
// are borrowed and must outlive the call.
asio::awaitable<ForwardResult> ProxyConnection(asio::ip::tcp::socket client, Balancer& balancer,
                                               ProxyOptions options, const ProxyMetrics& metrics);

}  // namespace gatehouse::lb

#endif  // GATEHOUSE_LB_TCP_PROXY_H_
