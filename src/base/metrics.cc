#include "base/metrics.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace gatehouse::base {
namespace {

bool IsValidMetricName(std::string_view name) {
  if (name.empty() || absl::ascii_isdigit(static_cast<unsigned char>(name.front()))) return false;
  for (const char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != ':') return false;
  }
  return true;
}

// Prometheus text format: label values escape backslash, double quote and newline;
// HELP text escapes backslash and newline.
std::string Escape(std::string_view text, bool quote) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
  return out;
}

// Spells `value` as the Go client does (strconv.FormatFloat 'g', -1): the shortest digits that
// round-trip, in exponent form only when their exponent is below -4 or at least 6. PromQL matches
// `le` as a string, so a bucket must read "100000", not "1e+05", to line up with the same bucket of
// other exporters. Rounding is monotonic, so comparing the value itself with 1e-4 and 1e6 picks the
// same form as comparing the exponent of its shortest digits.
std::string FormatDouble(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  const double magnitude = std::abs(value);
  const bool exponent_form = magnitude != 0 && (magnitude < 1e-4 || magnitude >= 1e6);
  // The longest shortest-digits double, "-1.2345678901234567e-308", takes 24 characters.
  std::array<char, 32> buf{};
  char* const end =
      std::to_chars(buf.data(), buf.data() + buf.size(), value,
                    exponent_form ? std::chars_format::scientific : std::chars_format::fixed)
          .ptr;
  return {buf.data(), end};
}

// Appends `name{labels}`, with `le` (when given) as the last label, as histogram buckets have it.
void AppendSeriesName(std::string* out, const std::string& name, const MetricLabels& labels,
                      const std::string& le = "") {
  out->append(name);
  if (labels.empty() && le.empty()) return;
  *out += '{';
  for (const auto& [label_name, value] : labels) {
    absl::StrAppend(out, label_name, "=\"", Escape(value, true), "\",");
  }
  if (!le.empty()) absl::StrAppend(out, "le=\"", le, "\",");
  out->back() = '}';  // overwrites the trailing comma
}

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds)
    : upper_bounds_(std::move(upper_bounds)), buckets_(upper_bounds_.size() + 1) {
  GH_CHECK(std::all_of(upper_bounds_.begin(), upper_bounds_.end(),
                       [](double bound) { return std::isfinite(bound); }));
  // Strictly: equal bounds would render two buckets with the same `le`.
  GH_CHECK(std::adjacent_find(upper_bounds_.begin(), upper_bounds_.end(), std::greater_equal<>()) ==
           upper_bounds_.end());
}

void Histogram::Observe(double value) {
  // `!(bound >= value)` rather than `bound < value`: the same bucket for every number, but NaN,
  // which compares false with everything, lands in +Inf instead of the first bucket.
  const auto it = std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), value,
                                   [](double bound, double v) { return !(bound >= v); });
  buckets_[it - upper_bounds_.begin()].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

uint64_t Histogram::count() const {
  uint64_t total = 0;
  for (const auto& bucket : buckets_) total += bucket.load(std::memory_order_relaxed);
  return total;
}

Counter* MetricsRegistry::GetCounter(const std::string& name, const std::string& help,
                                     const MetricLabels& labels) {
  return &GetSeries(name, help, Type::kCounter, labels)->counter;
}

Gauge* MetricsRegistry::GetGauge(const std::string& name, const std::string& help,
                                 const MetricLabels& labels) {
  return &GetSeries(name, help, Type::kGauge, labels)->gauge;
}

Histogram* MetricsRegistry::GetHistogram(const std::string& name, const std::string& help,
                                         const std::vector<double>& upper_bounds,
                                         const MetricLabels& labels) {
  for (const auto& [label_name, unused_value] : labels) GH_CHECK(label_name != "le");
  return GetSeries(name, help, Type::kHistogram, labels, upper_bounds)->histogram.get();
}

MetricsRegistry::Series* MetricsRegistry::GetSeries(const std::string& name,
                                                    const std::string& help, Type type,
                                                    const MetricLabels& labels,
                                                    const std::vector<double>& upper_bounds) {
  GH_CHECK(IsValidMetricName(name));
  for (const auto& [label_name, unused_value] : labels) {
    GH_CHECK(IsValidMetricName(label_name) && label_name.find(':') == std::string::npos);
  }
  MutexLock lock(&mu_);
  Family* family = nullptr;
  for (Family& f : families_) {
    if (f.name == name) {
      family = &f;
      break;
    }
  }
  if (family == nullptr) {
    family = &families_.emplace_back();
    family->name = name;
    family->help = help;
    family->type = type;
    family->upper_bounds = upper_bounds;
  }
  GH_CHECK(family->type == type);
  GH_CHECK(family->upper_bounds == upper_bounds);
  for (Series& s : family->series) {
    if (s.labels == labels) return &s;
  }
  Series& series = family->series.emplace_back();
  series.labels = labels;
  if (type == Type::kHistogram) series.histogram = std::make_unique<Histogram>(upper_bounds);
  return &series;
}

void MetricsRegistry::AddCollector(std::weak_ptr<const std::function<void()>> collector) {
  MutexLock lock(&mu_);
  // Dropped collectors are pruned here, so repeated registration does not grow the list.
  std::erase_if(collectors_, [](const auto& weak) { return weak.expired(); });
  collectors_.push_back(std::move(collector));
}

std::string MetricsRegistry::RenderPrometheusText() const {
  std::vector<std::shared_ptr<const std::function<void()>>> collectors;
  {
    MutexLock lock(&mu_);
    for (const auto& weak : collectors_) {
      if (auto collector = weak.lock()) collectors.push_back(std::move(collector));
    }
  }
  for (const auto& collector : collectors) (*collector)();
  collectors.clear();
  std::string out;
  MutexLock lock(&mu_);
  for (const Family& family : families_) {
    const char* type_name = "counter";
    if (family.type == Type::kGauge) type_name = "gauge";
    if (family.type == Type::kHistogram) type_name = "histogram";
    absl::StrAppend(&out, "# HELP ", family.name, " ", Escape(family.help, false), "\n", "# TYPE ",
                    family.name, " ", type_name, "\n");
    for (const Series& series : family.series) {
      if (family.type == Type::kCounter) {
        AppendSeriesName(&out, family.name, series.labels);
        absl::StrAppend(&out, " ", series.counter.value(), "\n");
        continue;
      }
      if (family.type == Type::kGauge) {
        AppendSeriesName(&out, family.name, series.labels);
        absl::StrAppend(&out, " ", series.gauge.value(), "\n");
        continue;
      }
      const Histogram& histogram = *series.histogram;
      const std::string bucket_name = absl::StrCat(family.name, "_bucket");
      // Each bucket is loaded once and _count is the running total, so the rendered +Inf bucket
      // and _count agree even while Observe runs.
      uint64_t cumulative = 0;
      for (size_t i = 0; i <= family.upper_bounds.size(); ++i) {
        cumulative += histogram.bucket_count(i);
        AppendSeriesName(
            &out, bucket_name, series.labels,
            i < family.upper_bounds.size() ? FormatDouble(family.upper_bounds[i]) : "+Inf");
        absl::StrAppend(&out, " ", cumulative, "\n");
      }
      AppendSeriesName(&out, absl::StrCat(family.name, "_sum"), series.labels);
      absl::StrAppend(&out, " ", FormatDouble(histogram.sum()), "\n");
      AppendSeriesName(&out, absl::StrCat(family.name, "_count"), series.labels);
      absl::StrAppend(&out, " ", cumulative, "\n");
    }
  }
  return out;
}

}  // namespace gatehouse::base
