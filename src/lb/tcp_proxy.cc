#include "lb/tcp_proxy.h"

#include "spdlog/spdlog.h"

namespace gatehouse::lb {
namespace {

void Add(base::Counter* counter, uint64_t n = 1) {
  if (counter != nullptr) counter->Increment(n);
}

}  // namespace

ProxyMetrics RegisterProxyMetrics(base::MetricsRegistry& registry, const std::string& prefix,
                                  const base::MetricLabels& labels) {
  ProxyMetrics metrics;
  metrics.connections = registry.GetCounter(prefix + "_connections_total",
                                            "Connections forwarded to an upstream.", labels);
  metrics.no_upstream = registry.GetCounter(
      prefix + "_no_upstream_total", "Clients closed because no upstream was reachable.", labels);
  metrics.client_to_upstream_bytes = registry.GetCounter(prefix + "_client_to_upstream_bytes_total",
                                                         "Bytes forwarded from clients.", labels);
  metrics.upstream_to_client_bytes = registry.GetCounter(prefix + "_upstream_to_client_bytes_total",
                                                         "Bytes forwarded to clients.", labels);
  metrics.idle_timeouts = registry.GetCounter(prefix + "_idle_timeouts_total",
                                              "Connections closed by the idle timeout.", labels);
  metrics.errors = registry.GetCounter(prefix + "_forward_errors_total",
                                       "Connections ended by a read or write error.", labels);
  return metrics;
}

asio::awaitable<ForwardResult> ProxyConnection(asio::ip::tcp::socket client, Balancer& balancer,
                                               ProxyOptions options, const ProxyMetrics& metrics) {
  auto dialed = co_await Dial(balancer, options.dial);
  if (!dialed.ok()) {
    Add(metrics.no_upstream);
    spdlog::warn("app {}: closing client {}: {}", options.app_name, options.client_name,
                 dialed.status().ToString());
    std::error_code ignored;  // the client is being turned away; how the close goes is moot
    client.close(ignored);
    ForwardResult refused;
    refused.end = ForwardEnd::kError;
    refused.error = asio::error::host_unreachable;
    co_return refused;
  }
  Add(metrics.connections);
  std::error_code ignored;  // latency tweak only
  client.set_option(asio::ip::tcp::no_delay(true), ignored);
  // The lease stays alive until forwarding ends, so least-connections sees this connection.
  const UpstreamLease lease = std::move(dialed->lease);
  ForwardResult result =
      co_await Forward(std::move(client), std::move(dialed->socket), options.forward);
  Add(metrics.client_to_upstream_bytes, result.client_to_upstream_bytes);
  Add(metrics.upstream_to_client_bytes, result.upstream_to_client_bytes);
  if (result.end == ForwardEnd::kIdleTimeout) Add(metrics.idle_timeouts);
  if (result.end == ForwardEnd::kError) {
    Add(metrics.errors);
    spdlog::debug("app {}: client {} via {}: {}", options.app_name, options.client_name,
                  lease.upstream().name(), result.error.message());
  }
  co_return result;
}

}  // namespace gatehouse::lb
