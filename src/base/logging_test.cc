#include "base/logging.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "spdlog/spdlog.h"
#include "testing/status_matchers.h"

namespace gatehouse::base {
namespace {

using ::gatehouse::testing::IsOk;
using ::gatehouse::testing::StatusIs;
using ::testing::HasSubstr;

TEST(LoggingTest, ParsesKnownFormatsAndRejectsOthers) {
  LogFormat format = LogFormat::kText;
  EXPECT_THAT(ParseLogFormat("json", &format), IsOk());
  EXPECT_EQ(format, LogFormat::kJson);
  EXPECT_THAT(ParseLogFormat("text", &format), IsOk());
  EXPECT_EQ(format, LogFormat::kText);
  EXPECT_THAT(ParseLogFormat("xml", &format),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("\"xml\"")));
}

TEST(LoggingTest, RejectsUnknownLevel) {
  EXPECT_THAT(ValidateLogLevel("info"), IsOk());
  EXPECT_THAT(ConfigureLogging(LogFormat::kText, "loud"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("\"loud\"")));
}

TEST(LoggingTest, JsonLinesEscapeClientControlledText) {
  ASSERT_THAT(ConfigureLogging(LogFormat::kJson, "info"), IsOk());
  ::testing::internal::CaptureStderr();
  spdlog::info("name=\"ev\nil\"\x01");
  spdlog::default_logger()->flush();
  const std::string line = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(line, HasSubstr(R"("level":"info")"));
  EXPECT_THAT(line, HasSubstr(R"("msg":"name=\"ev\nil\"\u0001"})"));
}

TEST(LoggingTest, ReconfiguringKeepsTheSameLoggerAndAppliesTheNewLevel) {
  ASSERT_THAT(ConfigureLogging(LogFormat::kText, "info"), IsOk());
  spdlog::logger* before = spdlog::default_logger_raw();
  ASSERT_THAT(ConfigureLogging(LogFormat::kText, "error"), IsOk());
  EXPECT_EQ(spdlog::default_logger_raw(), before);
  ::testing::internal::CaptureStderr();
  spdlog::info("dropped");
  spdlog::error("kept");
  const std::string text = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(text, HasSubstr("kept"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("dropped")));
}

TEST(LoggingTest, AccessLinesHaveTheirOwnShapeAndLeaveOtherLinesAlone) {
  for (const LogFormat format : {LogFormat::kText, LogFormat::kJson}) {
    ASSERT_THAT(ConfigureLogging(format, "info"), IsOk());
    EXPECT_EQ(CurrentLogFormat(), format);
    ::testing::internal::CaptureStderr();
    spdlog::info("plain line");
    AccessLogger()->info(format == LogFormat::kJson ? R"("app":"web")" : "app=web");
    const std::string text = ::testing::internal::GetCapturedStderr();
    if (format == LogFormat::kJson) {
      EXPECT_THAT(text, HasSubstr(R"("msg":"plain line"})"));
      EXPECT_THAT(text, HasSubstr(R"("level":"info","log":"access","app":"web"})"));
    } else {
      EXPECT_THAT(text, ::testing::ContainsRegex("Z info  \\[[0-9]+\\] plain line\n"));
      EXPECT_THAT(text, ::testing::ContainsRegex("Z access app=web\n"));
      EXPECT_THAT(text, ::testing::Not(HasSubstr("access plain line")));
    }
  }
}

}  // namespace
}  // namespace gatehouse::base
