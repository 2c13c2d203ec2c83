// gatebench as a user runs it: bad command lines exit 2 with a message, a run that cannot start
// exits 1, and a run against a loopback echo server prints a summary and writes JSON and HTML
// reports that parse and agree with it.
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "testing/loopback_server.h"
#include "testing/subprocess.h"
#include "testing/temp_dir.h"

namespace gatehouse {
namespace {

using ::gatehouse::testing::BuiltProgram;
using ::gatehouse::testing::LoopbackServer;
using ::gatehouse::testing::ProcessResult;
using ::gatehouse::testing::ReadFileOrFail;
using ::gatehouse::testing::RunProcess;
using ::gatehouse::testing::TempDir;
using ::testing::HasSubstr;

ProcessResult Gatebench(std::vector<std::string> args) {
  args.insert(args.begin(), BuiltProgram("gatebench"));
  return RunProcess(args);
}

size_t CountOf(const std::string& text, const std::string& needle) {
  size_t count = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    ++count;
  }
  return count;
}

TEST(GatebenchTest, RunAgainstAnEchoServerWritesReportsThatAgree) {
  LoopbackServer echo;
  TempDir tmp;
  const std::string json_file = tmp.File("report.json");
  const std::string html_file = tmp.File("report.html");
  ProcessResult run =
      Gatebench({"rr", "--target", absl::StrCat("127.0.0.1:", echo.port()), "--connections", "4",
                 "--requests", "400", "--size", "100", "--json", json_file, "--html", html_file});
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, HasSubstr("requests   400"));
  EXPECT_THAT(run.output, HasSubstr("p99.9"));
  // Not a terminal: no live progress line (which starts with a carriage return).
  EXPECT_EQ(run.output.find('\r'), std::string::npos);

  const nlohmann::json report = nlohmann::json::parse(ReadFileOrFail(json_file));
  EXPECT_EQ(report["total"]["requests"].get<uint64_t>(), 400U);
  EXPECT_EQ(report["total"]["errors"].get<uint64_t>(), 0U);
  EXPECT_EQ(report["total"]["bytes_sent"].get<uint64_t>(), 400U * 100U);
  EXPECT_EQ(report["total"]["bytes_received"].get<uint64_t>(), 400U * 100U);
  EXPECT_GT(report["latency"]["p50_ns"].get<uint64_t>(), 0U);
  EXPECT_LE(report["latency"]["p50_ns"].get<uint64_t>(),
            report["latency"]["p99_ns"].get<uint64_t>());

  const std::string html = ReadFileOrFail(html_file);
  EXPECT_EQ(CountOf(html, "<svg"), 4U);
  EXPECT_THAT(html, HasSubstr("</html>"));
}

TEST(GatebenchTest, RefusedTargetCompletesWithErrorsByKind) {
  uint16_t closed_port = 0;
  {
    LoopbackServer gone;  // a port that was just free, now with nothing listening
    closed_port = gone.port();
  }
  TempDir tmp;
  const std::string json_file = tmp.File("report.json");
  ProcessResult run = Gatebench({"rr", "--target", absl::StrCat("127.0.0.1:", closed_port),
                                 "--requests", "3", "--json", json_file});
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_THAT(run.output, HasSubstr("connect_refused=3"));
  const nlohmann::json report = nlohmann::json::parse(ReadFileOrFail(json_file));
  EXPECT_EQ(report["total"]["errors_by_kind"]["connect_refused"].get<uint64_t>(), 3U);
  EXPECT_EQ(report["total"]["requests"].get<uint64_t>(), 0U);
}

struct BadInvocation {
  std::string name;
  std::vector<std::string> args;
  int exit_code;
  std::string message;
};

class GatebenchBadInvocationTest : public ::testing::TestWithParam<BadInvocation> {};

TEST_P(GatebenchBadInvocationTest, FailsWithAClearMessage) {
  TempDir tmp;
  std::vector<std::string> args = GetParam().args;
  for (std::string& arg : args) {
    if (arg == "MISSING") arg = tmp.File("missing");
    if (arg == "UNWRITABLE") arg = tmp.File("no-such-dir/report.json");
  }
  ProcessResult result = Gatebench(args);
  EXPECT_EQ(result.exit_code, GetParam().exit_code) << result.output;
  EXPECT_THAT(result.output, HasSubstr(GetParam().message));
}

// Every case fails before it connects, except UnwritableReport, whose one request to port 9
// succeeds, is refused or times out: its exit status is the report file's either way.
INSTANTIATE_TEST_SUITE_P(
    Table, GatebenchBadInvocationTest,
    ::testing::Values(
        BadInvocation{"NoMode", {}, 2, "mode is required"},
        BadInvocation{"UnknownMode", {"ping", "--target", "127.0.0.1:9"}, 2, "\"ping\""},
        BadInvocation{"NoTarget", {"rr"}, 2, "--target is required"},
        BadInvocation{"TargetWithoutPort", {"rr", "--target", "localhost"}, 2, "HOST:PORT"},
        BadInvocation{"PortRangeBackwards",
                      {"rr", "--target", "127.0.0.1:90-80"},
                      2,
                      "ends before it starts"},
        BadInvocation{"PortRangeOpen", {"rr", "--target", "127.0.0.1:80-"}, 2, "HOST:FIRST-LAST"},
        BadInvocation{"BadSize", {"rr", "--target", "127.0.0.1:9", "--size", "lots"}, 2, "lots"},
        BadInvocation{"BadRate", {"rr", "--target", "127.0.0.1:9", "--rate", "fast"}, 2, "fast"},
        BadInvocation{
            "RateAndShape",
            {"rr", "--target", "127.0.0.1:9", "--rate", "10/s", "--shape", "rate=constant:value=5"},
            2,
            "not both"},
        BadInvocation{"BadShape",
                      {"rr", "--target", "127.0.0.1:9", "--shape", "rate=zigzag:x=1"},
                      2,
                      "zigzag"},
        BadInvocation{
            "BadDuration", {"rr", "--target", "127.0.0.1:9", "--duration", "1x"}, 2, "1x"},
        BadInvocation{"MissingPayload",
                      {"rr", "--target", "127.0.0.1:9", "--payload", "MISSING"},
                      2,
                      "--payload"},
        BadInvocation{"UnknownFlag", {"rr", "--target", "127.0.0.1:9", "--bogus"}, 2, "--bogus"},
        BadInvocation{
            "MissingCa",
            {"rr", "--target", "127.0.0.1:9", "--tls", "--ca", "MISSING", "--requests", "1"},
            1,
            "missing"},
        BadInvocation{"UnwritableReport",
                      {"rr", "--target", "127.0.0.1:9", "--requests", "1", "--timeout", "2s",
                       "--json", "UNWRITABLE"},
                      1,
                      "cannot write"}),
    [](const ::testing::TestParamInfo<BadInvocation>& param_info) {
      return param_info.param.name;
    });

}  // namespace
}  // namespace gatehouse
