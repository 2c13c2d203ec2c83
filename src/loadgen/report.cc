#include "loadgen/report.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace gatehouse::loadgen {
namespace {

std::string FormatLatency(uint64_t nanoseconds) {
  const auto value = static_cast<double>(nanoseconds);
  if (value >= 1e9) return absl::StrFormat("%.2fs", value / 1e9);
  if (value >= 1e6) return absl::StrFormat("%.2fms", value / 1e6);
  return absl::StrFormat("%.1fus", value / 1e3);
}

double PerSecond(uint64_t count, double seconds) {
  return seconds > 0 ? static_cast<double>(count) / seconds : 0;
}

nlohmann::json LatencyToJson(const LatencySummary& latency) {
  return {{"count", latency.count},     {"min_ns", latency.min_ns}, {"mean_ns", latency.mean_ns},
          {"p50_ns", latency.p50_ns},   {"p90_ns", latency.p90_ns}, {"p99_ns", latency.p99_ns},
          {"p999_ns", latency.p999_ns}, {"max_ns", latency.max_ns}};
}

nlohmann::json CountersToJson(const Counters& counters, double seconds) {
  nlohmann::json errors = nlohmann::json::object();
  for (size_t i = 0; i < kErrorKindCount; ++i) {
    errors[static_cast<std::string>(ErrorKindName(static_cast<ErrorKind>(i)))] = counters.errors[i];
  }
  return {{"requests", counters.requests},
          {"requests_per_second", PerSecond(counters.requests, seconds)},
          {"bytes_sent", counters.bytes_sent},
          {"bytes_received", counters.bytes_received},
          {"sent_bits_per_second", PerSecond(counters.bytes_sent, seconds) * 8},
          {"received_bits_per_second", PerSecond(counters.bytes_received, seconds) * 8},
          {"dropped", counters.dropped},
          {"connections_opened", counters.connections_opened},
          {"errors", counters.TotalErrors()},
          {"errors_by_kind", errors}};
}

}  // namespace

std::string FormatSummary(const RunReport& report) {
  const RunOptions& options = report.options;
  const Counters& total = report.total;
  const LatencySummary latency = LatencySummary::Of(report.latency);
  const double seconds = report.elapsed_seconds;
  std::string text = absl::StrFormat(
      "gatebench %s %s%s: %d connection(s) on %d thread(s), %.2fs%s\n", ModeName(options.mode),
      TargetName(options), options.tls.enabled ? " (TLS)" : "", options.connections,
      options.threads, seconds,
      options.shape ? absl::StrCat(", shape ", options.shape->spec()) : "");
  absl::StrAppendFormat(&text, "  requests   %d (%.1f/s), connections opened %d\n", total.requests,
                        PerSecond(total.requests, seconds), total.connections_opened);
  absl::StrAppendFormat(&text, "  throughput sent %.3f Gbit/s, received %.3f Gbit/s\n",
                        PerSecond(total.bytes_sent, seconds) * 8 / 1e9,
                        PerSecond(total.bytes_received, seconds) * 8 / 1e9);
  if (latency.count > 0) {
    absl::StrAppendFormat(&text, "  latency    p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  mean %s\n",
                          FormatLatency(latency.p50_ns), FormatLatency(latency.p90_ns),
                          FormatLatency(latency.p99_ns), FormatLatency(latency.p999_ns),
                          FormatLatency(latency.max_ns),
                          FormatLatency(static_cast<uint64_t>(latency.mean_ns)));
  }
  absl::StrAppendFormat(&text, "  errors     %d", total.TotalErrors());
  for (size_t i = 0; i < kErrorKindCount; ++i) {
    if (total.errors[i] > 0) {
      absl::StrAppendFormat(&text, "  %s=%d", ErrorKindName(static_cast<ErrorKind>(i)),
                            total.errors[i]);
    }
  }
  absl::StrAppendFormat(&text, "\n  dropped    %d\n", total.dropped);
  return text;
}

std::string FormatProgress(const IntervalReport& interval) {
  const double seconds = std::max(1e-9, interval.end_seconds - interval.start_seconds);
  return absl::StrFormat(
      "[%6.1fs] %10.1f req/s  %8.3f Gbit/s  p99 %-9s  conns %d  errors %d", interval.end_seconds,
      PerSecond(interval.counters.requests, seconds),
      PerSecond(interval.counters.bytes_sent + interval.counters.bytes_received, seconds) * 8 / 1e9,
      FormatLatency(interval.latency.p99_ns), interval.open_connections,
      interval.counters.TotalErrors());
}

nlohmann::json ReportToJson(const RunReport& report) {
  const RunOptions& options = report.options;
  nlohmann::json intervals = nlohmann::json::array();
  for (const IntervalReport& interval : report.intervals) {
    const double seconds = interval.end_seconds - interval.start_seconds;
    intervals.push_back({{"start_seconds", interval.start_seconds},
                         {"end_seconds", interval.end_seconds},
                         {"offered", interval.offered},
                         {"open_connections", interval.open_connections},
                         {"counters", CountersToJson(interval.counters, seconds)},
                         {"latency", LatencyToJson(interval.latency)}});
  }
  return {{"options",
           {{"mode", ModeName(options.mode)},
            {"target", TargetName(options)},
            {"connections", options.connections},
            {"threads", options.threads},
            {"duration_seconds", std::chrono::duration<double>(options.duration).count()},
            {"requests", options.requests},
            {"payload_bytes", options.payload.size()},
            {"response_bytes", options.response_size.value_or(options.payload.size())},
            {"shape", options.shape ? options.shape->spec() : ""},
            {"tls", options.tls.enabled},
            {"client_certificate", !options.tls.cert_file.empty()}}},
          {"elapsed_seconds", report.elapsed_seconds},
          {"total", CountersToJson(report.total, report.elapsed_seconds)},
          {"latency", LatencyToJson(LatencySummary::Of(report.latency))},
          {"intervals", intervals}};
}

}  // namespace gatehouse::loadgen
