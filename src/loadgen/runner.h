// Run: drives one load-generation run and returns its report.
//
// Threads: `threads` load threads, each with its own io_context; connection slot k lives on
// thread k % threads for the whole run. The calling thread is the reporter: once per interval
// it drains every thread's StatsSink into an IntervalReport and passes it to `on_interval`
// (progress display), then folds it into the totals.
//
// Closed loop (no shape, or a connections shape): each open connection sends its next request
// when the previous reply is complete; a connections shape opens and closes connections as it
// rises and falls. Open loop (a rate shape, or --rate): the rate is split evenly over the
// connection slots, each request has a due time fixed in advance (as wrk2 does), latency counts
// from the due time, and a request that cannot start within the timeout of its due time is
// counted as dropped instead of sent late.
//
// The run ends at `duration`, or once `requests` requests have finished. Requests still in
// flight at the end are abandoned, not counted.
#ifndef GATEHOUSE_LOADGEN_RUNNER_H_
#define GATEHOUSE_LOADGEN_RUNNER_H_

#include <functional>

#include "absl/status/statusor.h"
#include "loadgen/run_options.h"
#include "loadgen/stats.h"

namespace gatehouse::loadgen {

// InvalidArgument for bad options, an unreadable TLS file or an unresolvable target; a run
// whose every request failed is still a report (the errors say why).
absl::StatusOr<RunReport> Run(const RunOptions& options,
                              const std::function<void(const IntervalReport&)>& on_interval = {});

}  // namespace gatehouse::loadgen

#endif  // GATEHOUSE_LOADGEN_RUNNER_H_
