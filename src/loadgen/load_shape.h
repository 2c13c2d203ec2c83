// LoadShape: how the offered load changes over a run, as a function of elapsed time. It shapes
// either the number of open connections (closed loop: each connection sends its next request
// when the last one is answered) or the request rate (open loop).
//
// Spec syntax, for `gatebench --shape`:  QUANTITY=KIND:KEY=VALUE,...
//   QUANTITY  connections | rate
//   constant:value=V
//   step:start=S,step=D,every=T[,max=M]     S, S+D, S+2D, ... every T, capped at M
//   sine:base=B,amplitude=A,period=T        B + A sin(2 pi t / T); B >= A
//   sawtooth:min=L,max=H,period=T           L rising linearly to H over T, then again
// Durations take a unit (250ms, 5s, 1m). Example: rate=sine:base=1000,amplitude=500,period=20s.
#ifndef GATEHOUSE_LOADGEN_LOAD_SHAPE_H_
#define GATEHOUSE_LOADGEN_LOAD_SHAPE_H_

#include <chrono>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gatehouse::loadgen {

enum class ShapedQuantity { kConnections, kRate };

class LoadShape {
 public:
  enum class Kind { kConstant, kStep, kSine, kSawtooth };

  static LoadShape Constant(ShapedQuantity quantity, double value);
  static absl::StatusOr<LoadShape> Parse(absl::string_view spec);

  ShapedQuantity quantity() const { return quantity_; }
  Kind kind() const { return kind_; }
  // The load at `elapsed` since the start: connections or requests per second, >= 0.
  double ValueAt(std::chrono::nanoseconds elapsed) const;
  // The largest value the shape reaches in the first `duration` (sizes connection pools).
  double PeakWithin(std::chrono::nanoseconds duration) const;
  // The spec it was parsed from, or an equivalent one.
  const std::string& spec() const { return spec_; }

 private:
  // Parse() after QUANTITY=KIND: fill `shape` from the KEY=VALUE list of one kind.
  static absl::StatusOr<LoadShape> ParseConstant(absl::string_view spec,
                                                 absl::string_view parameters_text,
                                                 LoadShape shape);
  static absl::StatusOr<LoadShape> ParseStep(absl::string_view spec,
                                             absl::string_view parameters_text, LoadShape shape);
  static absl::StatusOr<LoadShape> ParseWave(absl::string_view spec, bool sine,
                                             absl::string_view parameters_text, LoadShape shape);

  ShapedQuantity quantity_ = ShapedQuantity::kConnections;
  Kind kind_ = Kind::kConstant;
  double first_ = 0;                    // constant value, step start, sine base, sawtooth min
  double second_ = 0;                   // step increment, sine amplitude, sawtooth max
  double cap_ = 0;                      // step max (0 = none)
  std::chrono::nanoseconds period_{0};  // step every, sine and sawtooth period
  std::string spec_;
};

}  // namespace gatehouse::loadgen

#endif  // GATEHOUSE_LOADGEN_LOAD_SHAPE_H_
