#include "base/metrics.h"

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

}  // namespace

Counter* MetricsRegistry::GetCounter(const std::string& name, const std::string& help,
                                     const MetricLabels& labels) {
  return &GetSeries(name, help, Type::kCounter, labels)->counter;
}

Gauge* MetricsRegistry::GetGauge(const std::string& name, const std::string& help,
                                 const MetricLabels& labels) {
  return &GetSeries(name, help, Type::kGauge, labels)->gauge;
}

MetricsRegistry::Series* MetricsRegistry::GetSeries(const std::string& name,
                                                    const std::string& help, Type type,
                                                    const MetricLabels& labels) {
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
  }
  GH_CHECK(family->type == type);
  for (Series& s : family->series) {
    if (s.labels == labels) return &s;
  }
  Series& series = family->series.emplace_back();
  series.labels = labels;
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
    absl::StrAppend(&out, "# HELP ", family.name, " ", Escape(family.help, false), "\n", "# TYPE ",
                    family.name, " ", family.type == Type::kCounter ? "counter" : "gauge", "\n");
    for (const Series& series : family.series) {
      out += family.name;
      if (!series.labels.empty()) {
        out += '{';
        bool first = true;
        for (const auto& [label_name, value] : series.labels) {
          absl::StrAppend(&out, first ? "" : ",", label_name, "=\"", Escape(value, true), "\"");
          first = false;
        }
        out += '}';
      }
      if (family.type == Type::kCounter) {
        absl::StrAppend(&out, " ", series.counter.value(), "\n");
      } else {
        absl::StrAppend(&out, " ", series.gauge.value(), "\n");
      }
    }
  }
  return out;
}

}  // namespace gatehouse::base
