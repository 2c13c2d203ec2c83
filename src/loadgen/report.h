// Reports of a run: the human summary, and the JSON report (`gatebench --json`).
#ifndef GATEHOUSE_LOADGEN_REPORT_H_
#define GATEHOUSE_LOADGEN_REPORT_H_

#include <string>

#include "loadgen/stats.h"
#include "nlohmann/json.hpp"

namespace gatehouse::loadgen {

// A few lines: what ran, requests/s and bytes/s, latency percentiles, errors by kind.
std::string FormatSummary(const RunReport& report);

// One line for a live display: elapsed time, requests/s, p99 and errors of the last interval.
std::string FormatProgress(const IntervalReport& interval);

// The whole report: options, totals, latency summary, and every interval.
nlohmann::json ReportToJson(const RunReport& report);

}  // namespace gatehouse::loadgen

#endif  // GATEHOUSE_LOADGEN_REPORT_H_
