#include "lbserver/app.h"

#include "absl/strings/str_cat.h"

namespace gatehouse::lbserver {
namespace {

constexpr char kPrefix[] = "gatehouse_lb";

// Which family counts a refusal: the issue of each reason is a different question for an
// operator (an attack, a policy gap, capacity), so each gets its own metric name.
struct RefusalMetric {
  CloseReason reason;
  const char* name;
  const char* help;
  const char* label;
};

constexpr RefusalMetric kRefusalMetrics[] = {
    {CloseReason::kMaxConnections, "gatehouse_lb_capacity_refusals_total",
     "Client connections closed at accept because a connection cap was reached.",
     "max_connections"},
    {CloseReason::kAppMaxConnections, "gatehouse_lb_capacity_refusals_total",
     "Client connections closed at accept because a connection cap was reached.",
     "app_max_connections"},
    {CloseReason::kBadIdentity, "gatehouse_lb_authorization_denials_total",
     "Authenticated clients refused an app, by reason.", "bad_identity"},
    {CloseReason::kNotAllowed, "gatehouse_lb_authorization_denials_total",
     "Authenticated clients refused an app, by reason.", "not_allowed"},
    {CloseReason::kRateLimited, "gatehouse_lb_rate_limit_refusals_total",
     "Client connections refused by the per-client rate limiter, by reason.", "rate_limited"},
    {CloseReason::kConcurrencyLimited, "gatehouse_lb_rate_limit_refusals_total",
     "Client connections refused by the per-client rate limiter, by reason.",
     "concurrency_limited"},
    {CloseReason::kTooManyClients, "gatehouse_lb_rate_limit_refusals_total",
     "Client connections refused by the per-client rate limiter, by reason.", "too_many_clients"},
    {CloseReason::kBadClientHello, "gatehouse_lb_sni_refusals_total",
     "tls: sni connections refused before routing, by reason.", "bad_client_hello"},
    {CloseReason::kUnknownServerName, "gatehouse_lb_sni_refusals_total",
     "tls: sni connections refused before routing, by reason.", "unknown_server_name"},
    {CloseReason::kProxyHeaderFailed, "gatehouse_lb_proxy_header_failures_total",
     "Connections closed because the PROXY v2 header could not be sent.", nullptr},
};

}  // namespace

AppMetrics RegisterAppMetrics(base::MetricsRegistry& registry, const std::string& app) {
  const base::MetricLabels labels = {{"app", app}};
  AppMetrics metrics;
  metrics.accepted = registry.GetCounter("gatehouse_lb_accepted_connections_total",
                                         "Client connections accepted.", labels);
  metrics.active =
      registry.GetGauge("gatehouse_lb_active_connections", "Client connections open now.", labels);
  metrics.proxy = lb::RegisterProxyMetrics(registry, kPrefix, labels);
  for (const RefusalMetric& refusal : kRefusalMetrics) {
    base::MetricLabels refusal_labels = labels;
    if (refusal.label != nullptr) refusal_labels.emplace_back("reason", refusal.label);
    metrics.refused[static_cast<size_t>(refusal.reason)] =
        registry.GetCounter(refusal.name, refusal.help, refusal_labels);
  }
  for (size_t i = 0; i < kHandshakeFailureCount; ++i) {
    metrics.handshake_failures[i] = registry.GetCounter(
        "gatehouse_lb_handshake_failures_total", "TLS handshakes that failed, by reason.",
        {{"app", app},
         {"reason", absl::StrCat(HandshakeFailureName(static_cast<HandshakeFailure>(i)))}});
  }
  metrics.dial_failures = registry.GetCounter("gatehouse_lb_dial_failures_total",
                                              "Failed connection attempts to upstreams.", labels);
  return metrics;
}

}  // namespace gatehouse::lbserver
