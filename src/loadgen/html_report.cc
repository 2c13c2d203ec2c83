#include "loadgen/html_report.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "loadgen/report.h"

namespace gatehouse::loadgen {
namespace {

constexpr double kWidth = 720;
constexpr double kHeight = 300;
constexpr double kLeft = 70;
constexpr double kRight = 20;
constexpr double kTop = 30;
constexpr double kBottom = 45;
constexpr int kTicks = 5;

std::string Escape(absl::string_view text) {
  return absl::StrReplaceAll(text,
                             {{"&", "&amp;"}, {"<", "&lt;"}, {">", "&gt;"}, {"\"", "&quot;"}});
}

std::string Tick(double value) {
  if (value >= 100) return absl::StrFormat("%.0f", value);
  if (value >= 1) return absl::StrFormat("%.1f", value);
  return absl::StrFormat("%.3g", value);
}

}  // namespace

std::string SvgChart(absl::string_view title, absl::string_view x_label, absl::string_view y_label,
                     const std::vector<ChartSeries>& series) {
  double x_max = 0;
  double y_max = 0;
  for (const ChartSeries& one : series) {
    for (const auto& [x, y] : one.points) {
      x_max = std::max(x_max, x);
      y_max = std::max(y_max, y);
    }
  }
  x_max = x_max > 0 ? x_max : 1;
  y_max = y_max > 0 ? y_max * 1.05 : 1;
  const double plot_width = kWidth - kLeft - kRight;
  const double plot_height = kHeight - kTop - kBottom;
  const auto sx = [&](double x) { return kLeft + x / x_max * plot_width; };
  const auto sy = [&](double y) { return kTop + plot_height - y / y_max * plot_height; };
  std::string svg = absl::StrFormat(
      R"(<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="11">)"
      "\n<text x=\"%.0f\" y=\"18\" font-size=\"14\" font-weight=\"bold\">%s</text>\n",
      kWidth, kHeight, kLeft, Escape(title));
  absl::StrAppendFormat(&svg,
                        "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" "
                        "stroke=\"#888\"/>\n",
                        kLeft, kTop, plot_width, plot_height);
  for (int i = 0; i <= kTicks; ++i) {
    const double x_value = x_max * i / kTicks;
    const double y_value = y_max * i / kTicks;
    absl::StrAppendFormat(
        &svg,
        "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n"
        "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n"
        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n",
        sx(x_value), kTop + plot_height + 15, Tick(x_value), kLeft - 5, sy(y_value) + 4,
        Tick(y_value), kLeft, sy(y_value), kLeft + plot_width, sy(y_value));
  }
  absl::StrAppendFormat(&svg,
                        "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n"
                        "<text x=\"14\" y=\"%.1f\" text-anchor=\"middle\" "
                        "transform=\"rotate(-90 14 %.1f)\">%s</text>\n",
                        kLeft + plot_width / 2, kHeight - 8, Escape(x_label),
                        kTop + plot_height / 2, kTop + plot_height / 2, Escape(y_label));
  double legend_x = kLeft + 10;
  for (const ChartSeries& one : series) {
    std::string points;
    for (const auto& [x, y] : one.points) {
      if (one.as_points) {
        absl::StrAppendFormat(&svg, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n",
                              sx(x), sy(y), Escape(one.color));
      } else {
        absl::StrAppendFormat(&points, "%.1f,%.1f ", sx(x), sy(y));
      }
    }
    if (!one.as_points && !points.empty()) {
      absl::StrAppendFormat(&svg,
                            "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" "
                            "points=\"%s\"/>\n",
                            Escape(one.color), points);
    }
    absl::StrAppendFormat(&svg,
                          "<rect x=\"%.1f\" y=\"%.1f\" width=\"10\" height=\"10\" fill=\"%s\"/>"
                          "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n",
                          legend_x, kTop + 6, Escape(one.color), legend_x + 14, kTop + 15,
                          Escape(one.name));
    legend_x += 24 + 7 * static_cast<double>(one.name.size());
  }
  svg += "</svg>\n";
  return svg;
}

std::string RenderHtmlReport(const RunReport& report) {
  ChartSeries requests{"requests/s", "#1f77b4", {}, false};
  ChartSeries gbits{"Gbit/s sent+received", "#2ca02c", {}, false};
  ChartSeries p50{"p50", "#1f77b4", {}, false};
  ChartSeries p90{"p90", "#ff7f0e", {}, false};
  ChartSeries p99{"p99", "#d62728", {}, false};
  ChartSeries p999{"p99.9", "#9467bd", {}, false};
  ChartSeries p50_by_connections{"p50", "#1f77b4", {}, true};
  ChartSeries p99_by_connections{"p99", "#d62728", {}, true};
  for (const IntervalReport& interval : report.intervals) {
    const double seconds = interval.end_seconds - interval.start_seconds;
    if (seconds <= 0) continue;
    const double t = interval.end_seconds;
    requests.points.emplace_back(t, static_cast<double>(interval.counters.requests) / seconds);
    gbits.points.emplace_back(
        t, static_cast<double>(interval.counters.bytes_sent + interval.counters.bytes_received) *
               8 / 1e9 / seconds);
    if (interval.latency.count == 0) continue;
    const auto ms = [](uint64_t ns) { return static_cast<double>(ns) / 1e6; };
    p50.points.emplace_back(t, ms(interval.latency.p50_ns));
    p90.points.emplace_back(t, ms(interval.latency.p90_ns));
    p99.points.emplace_back(t, ms(interval.latency.p99_ns));
    p999.points.emplace_back(t, ms(interval.latency.p999_ns));
    const auto connections = static_cast<double>(interval.open_connections);
    p50_by_connections.points.emplace_back(connections, ms(interval.latency.p50_ns));
    p99_by_connections.points.emplace_back(connections, ms(interval.latency.p99_ns));
  }
  std::string html =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<title>gatebench report</title>\n"
      "<style>body{font-family:sans-serif;margin:2em}pre{background:#f4f4f4;padding:1em}"
      "</style>\n</head>\n<body>\n<h1>gatebench report</h1>\n";
  absl::StrAppend(&html, "<pre>", Escape(FormatSummary(report)), "</pre>\n");
  absl::StrAppend(&html, "<h2>Throughput over time</h2>\n",
                  SvgChart("Requests/s", "seconds", "requests/s", {requests}),
                  SvgChart("Gbit/s", "seconds", "Gbit/s", {gbits}));
  absl::StrAppend(&html, "<h2>Latency percentiles over time</h2>\n",
                  SvgChart("Latency", "seconds", "ms", {p50, p90, p99, p999}));
  absl::StrAppend(&html, "<h2>Latency against open connections</h2>\n",
                  SvgChart("Latency by connections (one point per interval)", "open connections",
                           "ms", {p50_by_connections, p99_by_connections}));
  absl::StrAppend(&html, "<script type=\"application/json\" id=\"report\">\n",
                  absl::StrReplaceAll(ReportToJson(report).dump(), {{"</", "<\\/"}}),
                  "\n</script>\n</body>\n</html>\n");
  return html;
}

}  // namespace gatehouse::loadgen
