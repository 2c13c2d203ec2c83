#include "loadgen/load_shape.h"

#include <chrono>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"

namespace gatehouse::loadgen {
namespace {

using ::gatehouse::testing::StatusIs;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;

TEST(LoadShapeTest, ConstantStepSineAndSawtooth) {
  auto constant = LoadShape::Parse("connections=constant:value=8");
  ASSERT_TRUE(constant.ok()) << constant.status();
  EXPECT_EQ(constant->quantity(), ShapedQuantity::kConnections);
  EXPECT_DOUBLE_EQ(constant->ValueAt(seconds(100)), 8);

  auto step = LoadShape::Parse("connections=step:start=2,step=3,every=5s,max=10");
  ASSERT_TRUE(step.ok()) << step.status();
  EXPECT_DOUBLE_EQ(step->ValueAt(seconds(0)), 2);
  EXPECT_DOUBLE_EQ(step->ValueAt(milliseconds(4999)), 2);
  EXPECT_DOUBLE_EQ(step->ValueAt(seconds(5)), 5);
  EXPECT_DOUBLE_EQ(step->ValueAt(seconds(10)), 8);
  EXPECT_DOUBLE_EQ(step->ValueAt(seconds(15)), 10) << "capped by max";
  EXPECT_DOUBLE_EQ(step->PeakWithin(seconds(7)), 5);

  auto sine = LoadShape::Parse("rate=sine:base=100,amplitude=50,period=4s");
  ASSERT_TRUE(sine.ok()) << sine.status();
  EXPECT_EQ(sine->quantity(), ShapedQuantity::kRate);
  EXPECT_NEAR(sine->ValueAt(seconds(0)), 100, 1e-9);
  EXPECT_NEAR(sine->ValueAt(seconds(1)), 150, 1e-9);
  EXPECT_NEAR(sine->ValueAt(seconds(3)), 50, 1e-9);
  EXPECT_DOUBLE_EQ(sine->PeakWithin(seconds(10)), 150);

  auto sawtooth = LoadShape::Parse("rate=sawtooth:min=10,max=110,period=10s");
  ASSERT_TRUE(sawtooth.ok()) << sawtooth.status();
  EXPECT_NEAR(sawtooth->ValueAt(seconds(0)), 10, 1e-9);
  EXPECT_NEAR(sawtooth->ValueAt(seconds(5)), 60, 1e-9);
  EXPECT_NEAR(sawtooth->ValueAt(seconds(10)), 10, 1e-9) << "starts over each period";
}

struct BadSpec {
  std::string spec;
  std::string error;
};

class BadLoadShapeTest : public ::testing::TestWithParam<BadSpec> {};

TEST_P(BadLoadShapeTest, IsRefusedWithTheReason) {
  EXPECT_THAT(LoadShape::Parse(GetParam().spec),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(GetParam().error)));
}

INSTANTIATE_TEST_SUITE_P(
    Table, BadLoadShapeTest,
    ::testing::Values(BadSpec{"", "expected QUANTITY=KIND"},
                      BadSpec{"constant:value=1", "expected QUANTITY=KIND"},
                      BadSpec{"users=constant:value=1", "quantity \"users\""},
                      BadSpec{"rate=square:value=1", "kind \"square\""},
                      BadSpec{"rate=constant:", "missing parameter \"value\""},
                      BadSpec{"rate=constant:value=-1", "not a non-negative number"},
                      BadSpec{"rate=constant:value=abc", "not a non-negative number"},
                      BadSpec{"rate=constant:value=1,value=2", "given twice"},
                      BadSpec{"rate=constant:value=1,speed=2", "unknown parameter \"speed\""},
                      BadSpec{"rate=constant:value", "is not KEY=VALUE"},
                      BadSpec{"rate=step:start=1,step=1", "missing parameter \"every\""},
                      BadSpec{"rate=step:start=1,step=1,every=0s", "every must be positive"},
                      BadSpec{"rate=step:start=1,step=1,every=5", "has no unit"},
                      BadSpec{"rate=step:start=5,step=1,every=1s,max=2", "max is below start"},
                      BadSpec{"rate=sine:base=10,amplitude=20,period=1s", "amplitude exceeds"},
                      BadSpec{"rate=sawtooth:min=10,max=5,period=1s", "max is below min"}),
    [](const ::testing::TestParamInfo<BadSpec>& param_info) {
      return "Case" + std::to_string(param_info.index);
    });

}  // namespace
}  // namespace gatehouse::loadgen
