// gatehoused as an operator runs it: embedded default, config files, SIGHUP, SIGTERM.
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <regex>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/http_get.h"
#include "testing/subprocess.h"
#include "testing/temp_dir.h"

namespace gatehouse {
namespace {

using ::gatehouse::testing::BuiltProgram;
using ::gatehouse::testing::ChildProcess;
using ::gatehouse::testing::HttpGet;
using ::gatehouse::testing::HttpResponse;
using ::gatehouse::testing::ProcessResult;
using ::gatehouse::testing::RunProcess;
using ::gatehouse::testing::TempDir;
using ::testing::HasSubstr;

constexpr char kReady[] = "ready";

uint16_t AdminPortFromLog(const std::string& log) {
  static const std::regex kListening(R"(admin endpoint listening on 127\.0\.0\.1:(\d+))");
  std::smatch match;
  if (!std::regex_search(log, match, kListening)) return 0;
  return static_cast<uint16_t>(std::stoi(match[1].str()));
}

std::string DevPkiConfig(const TempDir& tmp, const std::string& extra = "") {
  return "dev_pki:\n  dir: " + tmp.File("pki") +
         "\nadmin:\n  listen: 127.0.0.1:0\nlog:\n  level: info\n" + extra;
}

TEST(GatehousedTest, RunsOnTheEmbeddedDefaultAndCreatesItsDevPki) {
  TempDir tmp;
  ChildProcess daemon({BuiltProgram("gatehoused")}, tmp.path().string());
  ASSERT_TRUE(daemon.WaitForOutput(kReady)) << daemon.output();
  EXPECT_THAT(daemon.output(), HasSubstr(tmp.path().string() + "/.gatehouse/pki"));
  EXPECT_EQ(AdminPortFromLog(daemon.output()), 9901);
  EXPECT_THAT(daemon.output(), HasSubstr("lb app example listening on 127.0.0.1:8443"));
  for (const char* file : {"ca.pem", "ca.key", "server.pem", "server.key", "admin.pem"}) {
    EXPECT_TRUE(std::filesystem::exists(tmp.path() / ".gatehouse/pki" / file)) << file;
  }
  const HttpResponse health = HttpGet(9901, "/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "ok\n");
  daemon.Signal(SIGTERM);
  const ProcessResult result = daemon.WaitForExit();
  EXPECT_FALSE(result.timed_out);
  EXPECT_EQ(result.exit_code, 0) << result.output;
}

TEST(GatehousedTest, ServesAdminEndpointsAndReloadsOnSighup) {
  TempDir tmp;
  const std::string config = tmp.WriteFile("gatehouse.yaml", DevPkiConfig(tmp));
  ChildProcess daemon({BuiltProgram("gatehoused"), "--config", config});
  ASSERT_TRUE(daemon.WaitForOutput(kReady)) << daemon.output();
  const uint16_t port = AdminPortFromLog(daemon.output());
  ASSERT_NE(port, 0) << daemon.output();
  EXPECT_EQ(HttpGet(port, "/readyz").status, 200);
  const HttpResponse metrics = HttpGet(port, "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_THAT(metrics.body, HasSubstr("gatehouse_build_info{version="));

  // A broken file is rejected with its position; the daemon keeps serving.
  tmp.WriteFile("gatehouse.yaml", DevPkiConfig(tmp, "bogus_key: 1\n"));
  daemon.Signal(SIGHUP);
  ASSERT_TRUE(daemon.WaitForOutput("reload rejected")) << daemon.output();
  EXPECT_THAT(daemon.output(), HasSubstr(config + ":7:1: unknown key \"bogus_key\""));
  EXPECT_EQ(HttpGet(port, "/healthz").status, 200);
  EXPECT_THAT(HttpGet(port, "/metrics").body,
              HasSubstr("gatehouse_config_reloads_total{result=\"failure\"} 1"));

  // A good one applies: it adds a load-balancer app, which starts listening.
  tmp.WriteFile("gatehouse.yaml", DevPkiConfig(tmp,
                                               "authorization: {apps: {web: {users: [alice]}}}\n"
                                               "lb: {apps: [{name: web, listen: 127.0.0.1:0, "
                                               "upstreams: [127.0.0.1:9]}]}\n"));
  daemon.Signal(SIGHUP);
  ASSERT_TRUE(daemon.WaitForOutput("reload applied")) << daemon.output();
  EXPECT_THAT(daemon.output(), HasSubstr("lb app web listening on 127.0.0.1:"));
  EXPECT_THAT(HttpGet(port, "/metrics").body,
              HasSubstr("gatehouse_config_reloads_total{result=\"success\"} 1"));

  daemon.Signal(SIGINT);
  const ProcessResult result = daemon.WaitForExit();
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(HttpGet(port, "/healthz").status, 200) << "admin endpoint must be closed";
}

struct BadConfig {
  std::string name;
  std::string yaml;  // "PKI" is replaced by a directory that must not be created
  std::string error;
};

class BadConfigTest : public ::testing::TestWithParam<BadConfig> {};

TEST_P(BadConfigTest, ExitsNonZeroNamingTheProblemAndStartsNothing) {
  TempDir tmp;
  std::string yaml = GetParam().yaml;
  const std::string pki = tmp.File("pki");
  for (size_t at = yaml.find("PKI"); at != std::string::npos; at = yaml.find("PKI")) {
    yaml.replace(at, 3, pki);
  }
  const std::string config = tmp.WriteFile("bad.yaml", yaml);
  for (const bool check_only : {true, false}) {
    std::vector<std::string> argv = {BuiltProgram("gatehoused"), "--config", config};
    if (check_only) argv.emplace_back("--check");
    const ProcessResult result = RunProcess(argv);
    EXPECT_EQ(result.exit_code, 1) << result.output;
    EXPECT_THAT(result.output, HasSubstr(GetParam().error));
    EXPECT_THAT(result.output, ::testing::Not(HasSubstr(kReady)));
  }
  EXPECT_FALSE(std::filesystem::exists(pki)) << "nothing may be created for a bad config";
}

INSTANTIATE_TEST_SUITE_P(
    Table, BadConfigTest,
    ::testing::Values(
        BadConfig{"UnknownKey", "dev_pki: {dir: PKI}\nadmn: {listen: 127.0.0.1:0}\n",
                  "bad.yaml:2:1: unknown key \"admn\""},
        BadConfig{"BadAddress", "dev_pki: {dir: PKI}\nadmin:\n  listen: localhost:80\n",
                  "bad.yaml:3:11: admin.listen"},
        BadConfig{"SyntaxError", "dev_pki: {dir: PKI\n", "bad.yaml:"},
        BadConfig{
            "WildcardRole",
            "dev_pki: {dir: PKI}\nauthorization:\n  jobs:\n    start:\n      roles: [\"*\"]\n",
            "bad.yaml:5:"},
        BadConfig{"MissingTlsFiles",
                  "tls: {ca: /nonexistent/ca.pem, cert: /nonexistent/s.pem, key: /nonexistent/k}\n",
                  "/nonexistent/"}),
    [](const ::testing::TestParamInfo<BadConfig>& param_info) { return param_info.param.name; });

TEST(GatehousedTest, MissingConfigFileAndBadFlagsFail) {
  const ProcessResult missing =
      RunProcess({BuiltProgram("gatehoused"), "--config", "/nonexistent/gatehouse.yaml"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.output, HasSubstr("/nonexistent/gatehouse.yaml"));
  const ProcessResult usage = RunProcess({BuiltProgram("gatehoused"), "--frobnicate"});
  EXPECT_EQ(usage.exit_code, 2) << usage.output;
}

TEST(GatehousedTest, CheckAcceptsTheEmbeddedDefault) {
  const ProcessResult check = RunProcess({BuiltProgram("gatehoused"), "--check"});
  EXPECT_EQ(check.exit_code, 0) << check.output;
  EXPECT_THAT(check.output, HasSubstr("configuration OK"));
}

}  // namespace
}  // namespace gatehouse
