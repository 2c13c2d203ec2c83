#include "loadgen/load_shape.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <set>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "config/value_parsers.h"

namespace gatehouse::loadgen {
namespace {

using Parameters = absl::flat_hash_map<std::string, std::string>;

absl::Status ShapeError(absl::string_view spec, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("load shape \"", spec, "\": ", what));
}

// Splits "k=v,k=v" and checks that exactly the keys in `required` (+ `optional`) appear.
absl::StatusOr<Parameters> ParseParameters(absl::string_view spec, absl::string_view text,
                                           const std::set<std::string>& required,
                                           const std::set<std::string>& optional = {}) {
  Parameters parameters;
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    const size_t equals = item.find('=');
    if (equals == absl::string_view::npos) {
      return ShapeError(spec, absl::StrCat("\"", item, "\" is not KEY=VALUE"));
    }
    std::string key = static_cast<std::string>(item.substr(0, equals));
    if (!required.contains(key) && !optional.contains(key)) {
      return ShapeError(spec, absl::StrCat("unknown parameter \"", key, "\""));
    }
    if (!parameters.emplace(key, static_cast<std::string>(item.substr(equals + 1))).second) {
      return ShapeError(spec, absl::StrCat("parameter \"", key, "\" given twice"));
    }
  }
  for (const std::string& key : required) {
    if (!parameters.contains(key)) {
      return ShapeError(spec, absl::StrCat("missing parameter \"", key, "\""));
    }
  }
  return parameters;
}

absl::StatusOr<double> NumberParameter(absl::string_view spec, const Parameters& parameters,
                                       const std::string& key) {
  double value = 0;
  if (!absl::SimpleAtod(parameters.at(key), &value) || !std::isfinite(value) || value < 0) {
    return ShapeError(spec,
                      absl::StrCat(key, "=", parameters.at(key), " is not a non-negative number"));
  }
  return value;
}

absl::StatusOr<std::chrono::nanoseconds> PeriodParameter(absl::string_view spec,
                                                         const Parameters& parameters,
                                                         const std::string& key) {
  auto period = config::ParseDuration(parameters.at(key));
  if (!period.ok()) return ShapeError(spec, period.status().message());
  if (period->count() <= 0) return ShapeError(spec, absl::StrCat(key, " must be positive"));
  return *period;
}

}  // namespace

LoadShape LoadShape::Constant(ShapedQuantity quantity, double value) {
  LoadShape shape;
  shape.quantity_ = quantity;
  shape.kind_ = Kind::kConstant;
  shape.first_ = value;
  shape.spec_ = absl::StrCat(quantity == ShapedQuantity::kRate ? "rate" : "connections",
                             "=constant:value=", value);
  return shape;
}

absl::StatusOr<LoadShape> LoadShape::Parse(absl::string_view spec) {
  LoadShape shape;
  shape.spec_ = static_cast<std::string>(spec);
  const size_t equals = spec.find('=');
  const size_t colon = spec.find(':');
  if (equals == absl::string_view::npos || colon == absl::string_view::npos || colon < equals) {
    return ShapeError(spec, "expected QUANTITY=KIND:KEY=VALUE,... (e.g. rate=constant:value=100)");
  }
  const absl::string_view quantity = spec.substr(0, equals);
  const absl::string_view kind = spec.substr(equals + 1, colon - equals - 1);
  const absl::string_view parameters_text = spec.substr(colon + 1);
  if (quantity == "connections") {
    shape.quantity_ = ShapedQuantity::kConnections;
  } else if (quantity == "rate") {
    shape.quantity_ = ShapedQuantity::kRate;
  } else {
    return ShapeError(spec,
                      absl::StrCat("quantity \"", quantity, "\" is not one of: connections, rate"));
  }
  if (kind == "constant") return ParseConstant(spec, parameters_text, std::move(shape));
  if (kind == "step") return ParseStep(spec, parameters_text, std::move(shape));
  if (kind == "sine" || kind == "sawtooth") {
    return ParseWave(spec, kind == "sine", parameters_text, std::move(shape));
  }
  return ShapeError(
      spec, absl::StrCat("kind \"", kind, "\" is not one of: constant, step, sine, sawtooth"));
}

absl::StatusOr<LoadShape> LoadShape::ParseConstant(absl::string_view spec,
                                                   absl::string_view parameters_text,
                                                   LoadShape shape) {
  auto parameters = ParseParameters(spec, parameters_text, {"value"});
  if (!parameters.ok()) return parameters.status();
  shape.kind_ = Kind::kConstant;
  auto value = NumberParameter(spec, *parameters, "value");
  if (!value.ok()) return value.status();
  shape.first_ = *value;
  return shape;
}

absl::StatusOr<LoadShape> LoadShape::ParseStep(absl::string_view spec,
                                               absl::string_view parameters_text, LoadShape shape) {
  auto parameters = ParseParameters(spec, parameters_text, {"start", "step", "every"}, {"max"});
  if (!parameters.ok()) return parameters.status();
  shape.kind_ = Kind::kStep;
  auto start = NumberParameter(spec, *parameters, "start");
  auto step = NumberParameter(spec, *parameters, "step");
  auto every = PeriodParameter(spec, *parameters, "every");
  for (const absl::Status& status : {start.status(), step.status(), every.status()}) {
    if (!status.ok()) return status;
  }
  shape.first_ = *start;
  shape.second_ = *step;
  shape.period_ = *every;
  if (parameters->contains("max")) {
    auto cap = NumberParameter(spec, *parameters, "max");
    if (!cap.ok()) return cap.status();
    if (*cap < *start) return ShapeError(spec, "max is below start");
    shape.cap_ = *cap;
  }
  return shape;
}

absl::StatusOr<LoadShape> LoadShape::ParseWave(absl::string_view spec, bool sine,
                                               absl::string_view parameters_text, LoadShape shape) {
  const std::string low_key = sine ? "base" : "min";
  const std::string high_key = sine ? "amplitude" : "max";
  auto parameters = ParseParameters(spec, parameters_text, {low_key, high_key, "period"});
  if (!parameters.ok()) return parameters.status();
  shape.kind_ = sine ? Kind::kSine : Kind::kSawtooth;
  auto low = NumberParameter(spec, *parameters, low_key);
  auto high = NumberParameter(spec, *parameters, high_key);
  auto period = PeriodParameter(spec, *parameters, "period");
  for (const absl::Status& status : {low.status(), high.status(), period.status()}) {
    if (!status.ok()) return status;
  }
  if (sine && *high > *low) return ShapeError(spec, "amplitude exceeds base");
  if (!sine && *high < *low) return ShapeError(spec, "max is below min");
  shape.first_ = *low;
  shape.second_ = *high;
  shape.period_ = *period;
  return shape;
}

double LoadShape::ValueAt(std::chrono::nanoseconds elapsed) const {
  const double t =
      std::chrono::duration<double>(std::max(elapsed, std::chrono::nanoseconds(0))).count();
  const double period = std::chrono::duration<double>(period_).count();
  switch (kind_) {
    case Kind::kConstant:
      return first_;
    case Kind::kStep: {
      const double value = first_ + second_ * std::floor(t / period);
      return cap_ > 0 ? std::min(value, cap_) : value;
    }
    case Kind::kSine:
      return std::max(0.0, first_ + second_ * std::sin(2 * std::numbers::pi * t / period));
    case Kind::kSawtooth:
      return first_ + (second_ - first_) * (std::fmod(t, period) / period);
  }
  return first_;
}

double LoadShape::PeakWithin(std::chrono::nanoseconds duration) const {
  switch (kind_) {
    case Kind::kConstant:
      return first_;
    case Kind::kStep:
      return ValueAt(duration);  // steps only rise
    case Kind::kSine:
      return first_ + second_;
    case Kind::kSawtooth:
      return second_;
  }
  return first_;
}

}  // namespace gatehouse::loadgen
