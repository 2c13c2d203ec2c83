// What a run measured: counters, errors by kind, latency, per interval and in total.
#ifndef GATEHOUSE_LOADGEN_STATS_H_
#define GATEHOUSE_LOADGEN_STATS_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <system_error>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "base/mutex.h"
#include "loadgen/histogram.h"
#include "loadgen/run_options.h"

namespace gatehouse::loadgen {

enum class ErrorKind {
  kConnectRefused,
  kConnectTimeout,
  kConnectFailed,  // any other connect error (unreachable, no route, ...)
  kTls,            // handshake refused, certificate rejected, alert, truncation
  kReset,          // the server reset the connection
  kClosedEarly,    // the server closed before the whole reply arrived
  kWrongData,      // the reply differed from the echo expected
  kTimeout,        // no complete reply within the timeout
  kIoError,        // any other read or write error
};
inline constexpr size_t kErrorKindCount = 9;

absl::string_view ErrorKindName(ErrorKind kind);
// The kind of a connect (`connecting`) or request error.
ErrorKind ClassifyError(const std::error_code& error, bool connecting);

struct Counters {
  uint64_t requests = 0;  // completed with the expected reply
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
  uint64_t dropped = 0;  // open loop: due, but not started within the timeout of its due time
  uint64_t connections_opened = 0;
  std::array<uint64_t, kErrorKindCount> errors{};

  uint64_t TotalErrors() const;
  void Add(const Counters& other);
};

struct LatencySummary {
  uint64_t count = 0;
  uint64_t min_ns = 0;
  uint64_t p50_ns = 0;
  uint64_t p90_ns = 0;
  uint64_t p99_ns = 0;
  uint64_t p999_ns = 0;
  uint64_t max_ns = 0;
  double mean_ns = 0;

  static LatencySummary Of(const LatencyHistogram& histogram);
};

struct IntervalReport {
  double start_seconds = 0;
  double end_seconds = 0;
  Counters counters;
  LatencySummary latency;
  double offered = 0;  // the shape's value at the interval's end: connections or requests/s
  int64_t open_connections = 0;
};

struct RunReport {
  RunOptions options;
  double elapsed_seconds = 0;
  Counters total;
  LatencyHistogram latency;
  std::vector<IntervalReport> intervals;
};

// One load thread's measurements since the reporter last drained them. The load thread
// records; the reporter thread drains once per interval; the lock is held for a few counter
// updates only.
class StatsSink {
 public:
  void RecordSuccess(uint64_t latency_ns, uint64_t sent, uint64_t received);
  void RecordBytes(uint64_t sent, uint64_t received);
  void RecordError(ErrorKind kind);
  void RecordDropped();
  void RecordConnectionOpened();
  // Adds everything recorded since the last call to `counters` and `latency`, and starts over.
  void DrainInto(Counters* counters, LatencyHistogram* latency);

 private:
  base::Mutex mu_;
  Counters counters_ ABSL_GUARDED_BY(mu_);
  LatencyHistogram latency_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gatehouse::loadgen

#endif  // GATEHOUSE_LOADGEN_STATS_H_
