// The `launch` mapping of lb apps through the public loader: what a file says, how the `jobs`
// section completes it, and every way it can be wrong.
#include <ostream>
#include <string>

#include "config/config_loader.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"

namespace gatehouse::config {
namespace {

using ::gatehouse::testing::IsOk;
using ::gatehouse::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::Eq;

constexpr char kPrefix[] = "dev_pki: {dir: /pki}\n";

absl::StatusOr<Config> Parse(const std::string& yaml) {
  return ParseConfig(kPrefix + yaml, "gh.yaml");
}

// One app "notes" whose launch mapping is `launch`, and `jobs` as the jobs section.
absl::StatusOr<Config> ParseLaunch(const std::string& launch, const std::string& jobs = "{}") {
  return Parse("jobs: " + jobs + "\nlb:\n  apps:\n    - {name: notes, listen: 127.0.0.1:7100, " +
               "launch: " + launch + "}\n");
}

TEST(LaunchSectionTest, ParsesEveryKey) {
  const absl::StatusOr<Config> config = Parse(R"yaml(
jobs: {}
lb:
  apps:
    - name: notes
      listen: [127.0.0.1:7100]
      launch:
        command: [/usr/bin/python3, -m, http.server, --bind, 127.0.0.1, "8080"]
        port: 8080
        limits: {cpu: 0.5, memory: 256MiB, pids: 64}
        ready_timeout: 3s
        idle_timeout: 90s
        max_waiting: 32
        env: [LANG=C.UTF-8]
        working_dir: /srv/notes
)yaml");
  ASSERT_THAT(config, IsOk());
  const LbAppConfig& app = config->lb->apps[0];
  EXPECT_TRUE(app.upstreams.empty());
  ASSERT_TRUE(app.launch.has_value());
  const LaunchConfig& launch = *app.launch;
  EXPECT_THAT(launch.command,
              ElementsAre("/usr/bin/python3", "-m", "http.server", "--bind", "127.0.0.1", "8080"));
  EXPECT_EQ(launch.port, 8080);
  EXPECT_EQ(launch.limits.cpus, 0.5);
  EXPECT_EQ(launch.limits.memory_bytes, uint64_t{256} << 20);
  EXPECT_EQ(launch.limits.pids, 64U);
  EXPECT_FALSE(launch.limits.io_read_bytes_per_second.has_value());
  EXPECT_FALSE(launch.limits.io_write_bytes_per_second.has_value());
  EXPECT_EQ(launch.ready_timeout, std::chrono::seconds(3));
  EXPECT_EQ(launch.idle_timeout, std::chrono::seconds(90));
  EXPECT_EQ(launch.max_waiting, 32U);
  EXPECT_THAT(launch.env, ElementsAre("LANG=C.UTF-8"));
  EXPECT_EQ(launch.working_dir, "/srv/notes");
}

TEST(LaunchSectionTest, OmittedKeysTakeTheDocumentedDefaults) {
  const absl::StatusOr<Config> config = ParseLaunch("{command: [notes-server], port: 8080}");
  ASSERT_THAT(config, IsOk());
  LaunchConfig expected;
  expected.command = {"notes-server"};
  expected.port = 8080;
  expected.limits = config->jobs->default_limits;
  EXPECT_EQ(config->lb->apps[0].launch, expected);
  EXPECT_EQ(expected.ready_timeout, std::chrono::seconds(5));
  EXPECT_EQ(expected.idle_timeout, std::chrono::minutes(2));
  EXPECT_EQ(expected.max_waiting, 256U);
  EXPECT_EQ(expected.working_dir, "/");
}

TEST(LaunchSectionTest, AnAppMayHaveUpstreamsAndALaunch) {
  const absl::StatusOr<Config> config = Parse(
      "jobs: {}\nlb:\n  apps:\n    - {name: a, listen: 127.0.0.1:1, upstreams: 127.0.0.1:2, "
      "launch: {command: [/bin/server], port: 2}}\n");
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ(config->lb->apps[0].upstreams.size(), 1U);
  EXPECT_TRUE(config->lb->apps[0].launch.has_value());
}

TEST(LaunchSectionTest, EnvIsKeptAsWritten) {
  const absl::StatusOr<Config> config =
      ParseLaunch("{command: [server], port: 1, env: [A=1, PATH=/opt/bin, EMPTY=, B=x=y]}");
  ASSERT_THAT(config, IsOk());
  EXPECT_THAT(config->lb->apps[0].launch->env,
              ElementsAre("A=1", "PATH=/opt/bin", "EMPTY=", "B=x=y"));
}

TEST(LaunchSectionTest, LimitsLeftOutComeFromTheJobsDefaults) {
  const absl::StatusOr<Config> config =
      ParseLaunch("{command: [server], port: 1, limits: {memory: 128MiB}}",
                  "{default_limits: {cpu: 0.25, memory: 1GiB, io_read_bps: 10MB, pids: 32}}");
  ASSERT_THAT(config, IsOk());
  const JobLimitsConfig& limits = config->lb->apps[0].launch->limits;
  EXPECT_EQ(limits.cpus, 0.25);
  EXPECT_EQ(limits.memory_bytes, uint64_t{128} << 20);
  EXPECT_EQ(limits.io_read_bytes_per_second, 10'000'000U);
  EXPECT_FALSE(limits.io_write_bytes_per_second.has_value());
  EXPECT_EQ(limits.pids, 32U);
}

TEST(LaunchSectionTest, ALimitAtItsCeilingIsAllowed) {
  EXPECT_THAT(
      ParseLaunch("{command: [server], port: 1, limits: {pids: 100}}", "{max_limits: {pids: 100}}"),
      IsOk());
}

struct BadLaunchCase {
  std::string name;
  std::string yaml;  // after kPrefix, so line numbers start at 2
  std::string error;
};

void PrintTo(const BadLaunchCase& bad, std::ostream* os) { *os << bad.name; }

class BadLaunchSectionTest : public ::testing::TestWithParam<BadLaunchCase> {};

TEST_P(BadLaunchSectionTest, FailsWithPositionedMessage) {
  EXPECT_THAT(Parse(GetParam().yaml),
              StatusIs(absl::StatusCode::kInvalidArgument, Eq(GetParam().error)));
}

// A jobs section, then app "a" on line 5 with its `launch` key at column 38 and `launch` as the
// mapping after it.
std::string LaunchApp(const std::string& launch) {
  return "jobs: {}\nlb:\n  apps:\n    - {name: a, listen: 127.0.0.1:1, launch: " + launch + "}\n";
}

constexpr char kBadEnv[] =
    "expected NAME=value with a NAME of letters, digits and '_' that does not start with a digit";

INSTANTIATE_TEST_SUITE_P(
    Table, BadLaunchSectionTest,
    ::testing::Values(
        BadLaunchCase{"LaunchWithoutJobsSection",
                      "lb:\n  apps:\n    - {name: notes, listen: 127.0.0.1:1, "
                      "launch: {command: [s], port: 1}}\n",
                      "gh.yaml:4:50: lb.apps[0].launch: lb app notes: launch needs the jobs "
                      "section (the job worker runs the app's server)"},
        BadLaunchCase{"UnknownKey", LaunchApp("{command: [s], port: 1, prot: 2}"),
                      "gh.yaml:5:70: unknown key \"prot\" in lb.apps[0].launch; expected one of: "
                      "command, port, limits, ready_timeout, idle_timeout, max_waiting, env, "
                      "working_dir"},
        BadLaunchCase{"MissingPort", LaunchApp("{command: [s]}"),
                      "gh.yaml:5:38: lb.apps[0].launch: missing required key \"port\""},
        BadLaunchCase{"ZeroPort", LaunchApp("{command: [s], port: 0}"),
                      "gh.yaml:5:67: lb.apps[0].launch.port: expected a whole number from 1 to "
                      "65535, got \"0\""},
        BadLaunchCase{"PortOutOfRange", LaunchApp("{command: [s], port: 65536}"),
                      "gh.yaml:5:67: lb.apps[0].launch.port: expected a whole number from 1 to "
                      "65535, got \"65536\""},
        BadLaunchCase{"EmptyCommand", LaunchApp("{command: [], port: 1}"),
                      "gh.yaml:5:56: lb.apps[0].launch.command: needs at least the program to run"},
        BadLaunchCase{"CommandNotASequence", LaunchApp("{command: /bin/s, port: 1}"),
                      "gh.yaml:5:56: lb.apps[0].launch.command: expected a sequence, got a string"},
        BadLaunchCase{"EmptyArgument", LaunchApp("{command: [s, \"\"], port: 1}"),
                      "gh.yaml:5:60: lb.apps[0].launch.command[1]: must not be empty"},
        BadLaunchCase{"NulInArgument", LaunchApp("{command: [s, \"a\\0b\"], port: 1}"),
                      "gh.yaml:5:60: lb.apps[0].launch.command[1]: must not contain a NUL byte"},
        BadLaunchCase{
            "EnvWithoutEquals", LaunchApp("{command: [s], port: 1, env: [LANG]}"),
            std::string("gh.yaml:5:76: lb.apps[0].launch.env[0]: ") + kBadEnv + ", got \"LANG\""},
        BadLaunchCase{
            "EnvNameStartingWithADigit", LaunchApp("{command: [s], port: 1, env: [A=1, 1A=2]}"),
            std::string("gh.yaml:5:81: lb.apps[0].launch.env[1]: ") + kBadEnv + ", got \"1A=2\""},
        BadLaunchCase{
            "EnvWithEmptyName", LaunchApp("{command: [s], port: 1, env: [=x]}"),
            std::string("gh.yaml:5:76: lb.apps[0].launch.env[0]: ") + kBadEnv + ", got \"=x\""},
        BadLaunchCase{"EnvNameTwice", LaunchApp("{command: [s], port: 1, env: [A=1, AB=2, A=3]}"),
                      "gh.yaml:5:87: lb.apps[0].launch.env[2]: duplicate variable \"A\""},
        BadLaunchCase{"RelativeWorkingDir",
                      LaunchApp("{command: [s], port: 1, working_dir: srv/notes}"),
                      "gh.yaml:5:83: lb.apps[0].launch.working_dir: must be an absolute path"},
        BadLaunchCase{"ZeroReadyTimeout", LaunchApp("{command: [s], port: 1, ready_timeout: 0s}"),
                      "gh.yaml:5:85: lb.apps[0].launch.ready_timeout: must be above zero"},
        BadLaunchCase{"ReadyTimeoutAboveFiveMinutes",
                      LaunchApp("{command: [s], port: 1, ready_timeout: 301s}"),
                      "gh.yaml:5:85: lb.apps[0].launch.ready_timeout: must be at most 5m"},
        BadLaunchCase{"IdleTimeoutBelowOneSecond",
                      LaunchApp("{command: [s], port: 1, idle_timeout: 999ms}"),
                      "gh.yaml:5:84: lb.apps[0].launch.idle_timeout: must be at least 1s"},
        BadLaunchCase{"ZeroMaxWaiting", LaunchApp("{command: [s], port: 1, max_waiting: 0}"),
                      "gh.yaml:5:83: lb.apps[0].launch.max_waiting: expected a whole number from "
                      "1 to 10000000, got \"0\""},
        BadLaunchCase{"ZeroCpu", LaunchApp("{command: [s], port: 1, limits: {cpu: 0}}"),
                      "gh.yaml:5:84: lb.apps[0].launch.limits.cpu: cpu must be above 0"},
        BadLaunchCase{"LimitAboveMaxLimits",
                      "jobs: {max_limits: {memory: 1GiB}}\nlb:\n  apps:\n"
                      "    - {name: notes, listen: 127.0.0.1:1, "
                      "launch: {command: [s], port: 1, limits: {memory: 2GiB}}}\n",
                      "gh.yaml:5:91: lb.apps[0].launch.limits.memory: lb app notes: memory is "
                      "above jobs.max_limits.memory"}),
    [](const ::testing::TestParamInfo<BadLaunchCase>& case_info) { return case_info.param.name; });

}  // namespace
}  // namespace gatehouse::config
