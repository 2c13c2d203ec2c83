// The self-contained HTML report (`gatebench --html`): summary, and SVG charts of throughput and
// latency percentiles over time and of latency against open connections. No script, no
// external resource: it opens anywhere, offline. The JSON report is embedded for tools.
#ifndef GATEHOUSE_LOADGEN_HTML_REPORT_H_
#define GATEHOUSE_LOADGEN_HTML_REPORT_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "loadgen/stats.h"

namespace gatehouse::loadgen {

struct ChartSeries {
  std::string name;
  std::string color;  // CSS color
  std::vector<std::pair<double, double>> points;
  bool as_points = false;  // scatter instead of a line
};

// An SVG chart with axes from 0 to the data's maxima, tick labels and a legend.
std::string SvgChart(absl::string_view title, absl::string_view x_label, absl::string_view y_label,
                     const std::vector<ChartSeries>& series);

std::string RenderHtmlReport(const RunReport& report);

}  // namespace gatehouse::loadgen

#endif  // GATEHOUSE_LOADGEN_HTML_REPORT_H_
