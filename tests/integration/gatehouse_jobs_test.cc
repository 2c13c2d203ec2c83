// The job service as users reach it: a real gatehoused (root: cgroups and namespaces) and the
// gatehouse CLI, run as programs, with the dev PKI the daemon creates.
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/subprocess.h"
#include "testing/temp_dir.h"

namespace gatehouse {
namespace {

using ::gatehouse::testing::BuiltProgram;
using ::gatehouse::testing::ChildProcess;
using ::gatehouse::testing::ProcessResult;
using ::gatehouse::testing::RunProcess;
using ::gatehouse::testing::TempDir;
using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

constexpr char kIdPattern[] = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
constexpr auto kDaemonStart = std::chrono::seconds(30);

std::string FirstJobId(const std::string& output) {
  std::smatch match;
  if (!std::regex_search(output, match, std::regex(kIdPattern))) return "";
  return match[0].str();
}

size_t LineCount(const std::string& text) {
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
}

class GatehouseJobsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "SKIPPED: the job service needs root";
    StartDaemon();
  }

  void StartDaemon() {
    const std::string config =
        tmp_.WriteFile("gatehouse.yaml",
                       absl::StrCat("dev_pki: {dir: ", tmp_.File(".gatehouse/pki"),
                                    "}\nadmin: {listen: 127.0.0.1:0}\nauthorization:\n  jobs:\n"
                                    "    start: {roles: [admin, dev]}\njobs:\n  listen: 127.0.0.1:",
                                    port_, "\n  state_dir: ", tmp_.File("state"),
                                    "\n  cgroup_parent: gatehouse-cli-test-", ::getpid(),
                                    "\n  stop_grace: 500ms\n  max_jobs: 3\n"
                                    "  max_limits: {memory: 1GiB}\n"));
    daemon_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{BuiltProgram("gatehoused"), "--config", config});
    ASSERT_TRUE(daemon_->WaitForOutput("ready", kDaemonStart)) << daemon_->output();
    std::smatch match;
    const std::string log = daemon_->output();
    ASSERT_TRUE(
        std::regex_search(log, match, std::regex(R"(jobs: API listening on 127\.0\.0\.1:(\d+))")))
        << log;
    port_ = std::stoi(match[1].str());
  }

  // The CLI as a user in the daemon's directory types it: it finds the dev PKI's admin
  // certificate under ./.gatehouse/pki by itself.
  std::vector<std::string> Command(const std::vector<std::string>& args) const {
    std::vector<std::string> argv = {"/usr/bin/env", "-C", tmp_.path().string(),
                                     absl::StrCat("GATEHOUSE_SERVER=127.0.0.1:", port_),
                                     BuiltProgram("gatehouse")};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }

  ProcessResult Cli(const std::vector<std::string>& args) const {
    return RunProcess(Command(args), "", std::chrono::seconds(60));
  }

  // Starts `script` under /bin/sh and returns its id.
  std::string RunScript(const std::string& script) {
    const ProcessResult run = Cli({"run", "--", "/bin/sh", "-c", script});
    EXPECT_EQ(run.exit_code, 0) << run.output;
    EXPECT_THAT(run.output, MatchesRegex(absl::StrCat(kIdPattern, "\n")));
    return FirstJobId(run.output);
  }

  TempDir tmp_;
  int port_ = 0;
  std::unique_ptr<ChildProcess> daemon_;
};

// The job port speaks what every server port does (RFD 0001, section 7), though gRPC's own TLS
// could not be held to it: the security core terminates it. Checked with the real tools.
TEST_F(GatehouseJobsTest, TheJobPortSpeaksTls13OnlyWithTheRfdsSuitesAndGroups) {
  const std::string pki = tmp_.File(".gatehouse/pki");
  const std::string address = absl::StrCat("127.0.0.1:", port_);
  const auto s_client = [&](const std::vector<std::string>& flags) {
    std::vector<std::string> argv = {
        "/usr/bin/openssl",    "s_client", "-connect", address, "-CAfile", pki + "/ca.pem",
        "-verify_return_error"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    return RunProcess(argv, "", std::chrono::seconds(20));
  };
  const ProcessResult tls13 =
      s_client({"-tls1_3", "-alpn", "h2", "-cert", pki + "/admin.pem", "-key", pki + "/admin.key"});
  EXPECT_EQ(tls13.exit_code, 0) << tls13.output;
  EXPECT_THAT(tls13.output, HasSubstr("New, TLSv1.3"));
  EXPECT_THAT(tls13.output, HasSubstr("ALPN protocol: h2"));
  EXPECT_THAT(tls13.output, HasSubstr("Verification: OK"));

  const ProcessResult tls12 =
      s_client({"-tls1_2", "-cert", pki + "/admin.pem", "-key", pki + "/admin.key"});
  EXPECT_NE(tls12.exit_code, 0) << tls12.output;
  EXPECT_THAT(tls12.output, Not(HasSubstr("New, TLSv1.2")));

  s_client({"-tls1_3", "-alpn", "h2"});  // no certificate: the daemon says why it refused
  EXPECT_TRUE(daemon_->WaitForOutput("peer did not return a certificate")) << daemon_->output();

  const ProcessResult scan = RunProcess(
      {"/usr/bin/testssl", "--quiet", "--color", "0", "--warnings", "off", "-p", "-f", address}, "",
      std::chrono::seconds(180));
  // Its exit code is not the verdict: its first probe has no client certificate, which this
  // port refuses, and depending on timing testssl then reports "cannot connect" and exits 1.
  EXPECT_FALSE(scan.timed_out);
  EXPECT_THAT(scan.output, ContainsRegex("TLS 1.3 +offered")) << scan.output;
  for (const char* old : {"SSLv2", "SSLv3", "TLS 1 ", "TLS 1.1", "TLS 1.2"}) {
    EXPECT_THAT(scan.output, ContainsRegex(absl::StrCat(old, " +not offered"))) << old;
  }
  EXPECT_THAT(scan.output,
              ContainsRegex("Elliptic curves offered: +prime256v1 secp384r1 X25519 *\n"));
  for (const char* suite :
       {"TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_GCM_SHA256"}) {
    EXPECT_THAT(scan.output, HasSubstr(suite));
  }
  EXPECT_THAT(scan.output, Not(HasSubstr("TLS_AES_128_CCM")));
}

TEST_F(GatehouseJobsTest, RunLogsStatusStopAndList) {
  const std::string id = RunScript("echo first; exec sleep 1000");
  ASSERT_FALSE(id.empty());
  ChildProcess follower(Command({"logs", "-f", id}));
  ASSERT_TRUE(follower.WaitForOutput("first\n", std::chrono::seconds(20))) << follower.output();

  const ProcessResult running = Cli({"status", id});
  EXPECT_EQ(running.exit_code, 0) << running.output;
  EXPECT_THAT(running.output, HasSubstr("state RUNNING"));
  EXPECT_THAT(running.output, HasSubstr("owner admin"));

  const ProcessResult stopped = Cli({"stop", id});
  EXPECT_EQ(stopped.exit_code, 0) << stopped.output;
  const ProcessResult followed = follower.WaitForExit(std::chrono::seconds(20));
  EXPECT_EQ(followed.exit_code, 0) << followed.output;
  EXPECT_EQ(followed.output, "first\n");

  const ProcessResult json = Cli({"status", id, "--json"});
  EXPECT_EQ(json.exit_code, 0) << json.output;
  EXPECT_THAT(json.output, HasSubstr("\"state\": \"STOPPED\""));
  const ProcessResult listed = Cli({"ls"});
  EXPECT_EQ(listed.exit_code, 0) << listed.output;
  EXPECT_THAT(listed.output, HasSubstr(id));
  EXPECT_THAT(listed.output, HasSubstr("STOPPED"));
  const ProcessResult whole = Cli({"logs", id});
  EXPECT_EQ(whole.exit_code, 0) << whole.output;
  EXPECT_EQ(whole.output, "first\n");
}

TEST_F(GatehouseJobsTest, RunFollowExitsWithTheJobsCode) {
  const ProcessResult three = Cli({"run", "--follow", "--", "/bin/sh", "-c", "echo hi; exit 3"});
  EXPECT_EQ(three.exit_code, 3) << three.output;
  EXPECT_THAT(three.output, HasSubstr("hi\n"));

  const ProcessResult killed = Cli({"run", "--follow", "--", "/bin/sh", "-c", "kill -KILL $$"});
  EXPECT_EQ(killed.exit_code, 128 + SIGKILL) << killed.output;

  // tail keeps a newline-free stream in memory until it finds a line: past 32 MiB at once.
  const ProcessResult oom =
      Cli({"run", "--follow", "--memory", "32MiB", "--", "/usr/bin/tail", "/dev/zero"});
  EXPECT_EQ(oom.exit_code, 128 + SIGKILL) << oom.output;
  const ProcessResult status = Cli({"status", FirstJobId(oom.output)});
  EXPECT_THAT(status.output, HasSubstr("state OOM_KILLED"));
}

TEST_F(GatehouseJobsTest, EveryFailureIsOneClearLineAndItsExitCode) {
  struct Case {
    std::vector<std::string> args;
    int exit_code;
    std::string says;
  };
  const std::vector<Case> cases = {
      {{"status", "6fa459ea-ee8a-4ca4-894e-db77e160355e"}, 1, "not found"},
      {{"stop", "6fa459ea-ee8a-4ca4-894e-db77e160355e"}, 1, "not found"},
      {{"run", "--", "/nonexistent/tool"}, 1, "failed to start"},
      {{"run", "--memory", "2GiB", "--", "/bin/true"}, 1, "ceiling"},
      {{"run", "--server", "127.0.0.1:1", "--", "/bin/true"}, 3, "127.0.0.1:1"},
      {{"ls", "--cert", "/nonexistent/alice.pem", "--key", "/nonexistent/alice.key"},
       3,
       "/nonexistent/alice.pem"},
      {{"ls", "--cert", "/nonexistent/alice.pem"}, 3, "no key"},
      {{"run"}, 2, "command"},
  };
  for (const Case& c : cases) {
    const ProcessResult result = Cli(c.args);
    const std::string shown = absl::StrJoin(c.args, " ");
    EXPECT_EQ(result.exit_code, c.exit_code) << shown << ": " << result.output;
    EXPECT_THAT(result.output, HasSubstr(c.says)) << shown;
    EXPECT_THAT(result.output, Not(HasSubstr("StatusCode"))) << shown;
    // A failed start names the job it created, then says why.
    EXPECT_LE(LineCount(result.output), c.args[0] == "run" ? 2U : 1U) << shown << result.output;
  }
}

TEST_F(GatehouseJobsTest, AUserWithoutTheStartRuleIsDeniedAndMaxJobsIsEnforced) {
  const ProcessResult issued =
      RunProcess({BuiltProgram("gatehouse"), "certs", "issue", "--dir", tmp_.File(".gatehouse/pki"),
                  "--name", "carol", "--role", "viewer"});
  ASSERT_EQ(issued.exit_code, 0) << issued.output;
  const ProcessResult denied = Cli({"run", "--cert", tmp_.File(".gatehouse/pki/carol.pem"), "--key",
                                    tmp_.File(".gatehouse/pki/carol.key"), "--", "/bin/true"});
  EXPECT_EQ(denied.exit_code, 1) << denied.output;
  EXPECT_THAT(denied.output, HasSubstr("carol may not start jobs"));

  std::vector<std::string> ids;
  ids.reserve(3);
  for (int i = 0; i < 3; ++i) ids.push_back(RunScript("exec sleep 1000"));
  const ProcessResult full = Cli({"run", "--", "/bin/true"});
  EXPECT_EQ(full.exit_code, 1) << full.output;
  EXPECT_THAT(full.output, HasSubstr("max_jobs"));
  for (const std::string& id : ids) EXPECT_EQ(Cli({"stop", id}).exit_code, 0);
}

TEST_F(GatehouseJobsTest, CtrlCDuringLogsFollowExitsCleanly) {
  const std::string id = RunScript("echo waiting; exec sleep 1000");
  ChildProcess follower(Command({"logs", "-f", id}));
  ASSERT_TRUE(follower.WaitForOutput("waiting\n", std::chrono::seconds(20)));
  follower.Signal(SIGINT);
  const ProcessResult interrupted = follower.WaitForExit(std::chrono::seconds(10));
  EXPECT_FALSE(interrupted.timed_out);
  EXPECT_EQ(interrupted.exit_code, 130) << interrupted.output;
  EXPECT_EQ(interrupted.output, "waiting\n");
  EXPECT_EQ(Cli({"stop", id}).exit_code, 0);
}

TEST_F(GatehouseJobsTest, ADaemonThatGoesAwayMidStreamIsReportedAndTheCliFails) {
  const std::string id = RunScript("echo streaming; exec sleep 1000");
  ChildProcess follower(Command({"logs", "-f", id}));
  ASSERT_TRUE(follower.WaitForOutput("streaming\n", std::chrono::seconds(20)));
  daemon_->Signal(SIGTERM);
  const ProcessResult daemon = daemon_->WaitForExit(std::chrono::seconds(30));
  EXPECT_EQ(daemon.exit_code, 0) << daemon.output;
  const ProcessResult followed = follower.WaitForExit(std::chrono::seconds(30));
  EXPECT_FALSE(followed.timed_out);
  EXPECT_NE(followed.exit_code, 0) << followed.output;
  EXPECT_THAT(followed.output, HasSubstr("gatehouse: "));

  // Restarted on the same port: the CLI reaches it again; jobs do not survive a restart.
  StartDaemon();
  const ProcessResult gone = Cli({"status", id});
  EXPECT_EQ(gone.exit_code, 1) << gone.output;
  EXPECT_THAT(gone.output, HasSubstr("not found"));
}

}  // namespace
}  // namespace gatehouse
