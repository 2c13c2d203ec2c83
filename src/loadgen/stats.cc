#include "loadgen/stats.h"

#include "asio/error.hpp"
#include "asio/ssl/error.hpp"

namespace gatehouse::loadgen {

absl::string_view ErrorKindName(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kConnectRefused:
      return "connect_refused";
    case ErrorKind::kConnectTimeout:
      return "connect_timeout";
    case ErrorKind::kConnectFailed:
      return "connect_failed";
    case ErrorKind::kTls:
      return "tls";
    case ErrorKind::kReset:
      return "reset";
    case ErrorKind::kClosedEarly:
      return "closed_early";
    case ErrorKind::kWrongData:
      return "wrong_data";
    case ErrorKind::kTimeout:
      return "timeout";
    case ErrorKind::kIoError:
      return "io_error";
  }
  return "unknown";
}

ErrorKind ClassifyError(const std::error_code& error, bool connecting) {
  if (error.category() == asio::error::get_ssl_category() ||
      error == asio::ssl::error::stream_truncated) {
    return ErrorKind::kTls;
  }
  if (error == asio::error::timed_out) {
    return connecting ? ErrorKind::kConnectTimeout : ErrorKind::kTimeout;
  }
  if (connecting) {
    return error == asio::error::connection_refused ? ErrorKind::kConnectRefused
                                                    : ErrorKind::kConnectFailed;
  }
  if (error == asio::error::connection_reset || error == asio::error::broken_pipe) {
    return ErrorKind::kReset;
  }
  if (error == asio::error::eof) return ErrorKind::kClosedEarly;
  return ErrorKind::kIoError;
}

uint64_t Counters::TotalErrors() const {
  uint64_t total = 0;
  for (const uint64_t count : errors) total += count;
  return total;
}

void Counters::Add(const Counters& other) {
  requests += other.requests;
  bytes_sent += other.bytes_sent;
  bytes_received += other.bytes_received;
  dropped += other.dropped;
  connections_opened += other.connections_opened;
  for (size_t i = 0; i < errors.size(); ++i) errors[i] += other.errors[i];
}

LatencySummary LatencySummary::Of(const LatencyHistogram& histogram) {
  LatencySummary summary;
  summary.count = histogram.count();
  summary.min_ns = histogram.min();
  summary.p50_ns = histogram.ValueAtPercentile(50);
  summary.p90_ns = histogram.ValueAtPercentile(90);
  summary.p99_ns = histogram.ValueAtPercentile(99);
  summary.p999_ns = histogram.ValueAtPercentile(99.9);
  summary.max_ns = histogram.max();
  summary.mean_ns = histogram.mean();
  return summary;
}

void StatsSink::RecordSuccess(uint64_t latency_ns, uint64_t sent, uint64_t received) {
  base::MutexLock lock(&mu_);
  ++counters_.requests;
  counters_.bytes_sent += sent;
  counters_.bytes_received += received;
  latency_.Record(latency_ns);
}

void StatsSink::RecordBytes(uint64_t sent, uint64_t received) {
  base::MutexLock lock(&mu_);
  counters_.bytes_sent += sent;
  counters_.bytes_received += received;
}

void StatsSink::RecordError(ErrorKind kind) {
  base::MutexLock lock(&mu_);
  ++counters_.errors[static_cast<size_t>(kind)];
}

void StatsSink::RecordDropped() {
  base::MutexLock lock(&mu_);
  ++counters_.dropped;
}

void StatsSink::RecordConnectionOpened() {
  base::MutexLock lock(&mu_);
  ++counters_.connections_opened;
}

void StatsSink::DrainInto(Counters* counters, LatencyHistogram* latency) {
  base::MutexLock lock(&mu_);
  counters->Add(counters_);
  latency->Merge(latency_);
  counters_ = Counters();
  latency_.Reset();
}

}  // namespace gatehouse::loadgen
