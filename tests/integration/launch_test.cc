// On-demand apps as an operator runs them (root: the servers run as jobs): a real gatehoused
// with `launch` apps, real servers (python3 -m http.server and small python3 servers) started by
// it, real clients (curl over mutual TLS, the gatehouse CLI) and the cgroup file system.
#include <openssl/ssl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <fstream>
#include <iterator>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "security/tls_context.h"
#include "testing/daemon.h"
#include "testing/loopback_server.h"
#include "testing/subprocess.h"
#include "testing/temp_dir.h"
#include "testing/tls_test_server.h"
#include "testing/wait_for.h"

namespace gatehouse {
namespace {

using ::gatehouse::testing::BuiltProgram;
using ::gatehouse::testing::ChildProcess;
using ::gatehouse::testing::Daemon;
using ::gatehouse::testing::LoopbackServer;
using ::gatehouse::testing::ProcessResult;
using ::gatehouse::testing::RunProcess;
using ::gatehouse::testing::TempDir;
using ::gatehouse::testing::WaitFor;
using std::chrono::seconds;
using ::testing::HasSubstr;

constexpr char kIdPattern[] = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
constexpr char kHttpServer[] = R"([/usr/bin/python3, -m, http.server, --bind, 127.0.0.1, "8080"])";

// A server that accepts the launcher's probe, then reads a little of one connection and exits
// with code 7 without answering.
constexpr char kExitsMidConnection[] =
    R"([/usr/bin/python3, -c, "import os, socket\ns = socket.socket()\n)"
    R"(s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\ns.bind(('127.0.0.1', 8080))\n)"
    R"(s.listen(16)\ns.accept()[0].close()\nc = s.accept()[0]\nc.recv(10)\nos._exit(7)\n"])";

bool Exists(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0;
}

// Every directory the job's cgroup could have, in every hierarchy mounted on this machine.
std::vector<std::string> CgroupDirectoriesOf(const std::string& parent, const std::string& job) {
  std::vector<std::string> directories;
  for (const char* hierarchy :
       {"/sys/fs/cgroup", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/cpu", "/sys/fs/cgroup/memory",
        "/sys/fs/cgroup/pids", "/sys/fs/cgroup/blkio", "/sys/fs/cgroup/cpu,cpuacct"}) {
    directories.push_back(absl::StrCat(hierarchy, "/", parent, "/", job));
  }
  return directories;
}

class LaunchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "SKIPPED: on-demand servers run as jobs, which need root";
    if (::access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "SKIPPED: needs /usr/bin/python3";
    if (::access("/usr/bin/curl", X_OK) != 0) GTEST_SKIP() << "SKIPPED: needs /usr/bin/curl";
  }

  // The daemons are gone by now; their runners removed every job's cgroup, and the parent is
  // this test's own.
  void TearDown() override {
    for (const std::string& directory : CgroupDirectoriesOf(Parent(), "")) {
      ::rmdir(directory.c_str());
    }
  }

  // A config with the dev PKI, the job worker, and `apps` (YAML list entries under lb.apps).
  std::string Config(const std::string& apps) const {
    // Every app in `apps` is open to the admin role.
    std::string rules;
    const std::regex name(R"(- name: (\S+))");
    for (auto it = std::sregex_iterator(apps.begin(), apps.end(), name);
         it != std::sregex_iterator(); ++it) {
      absl::StrAppend(&rules, "    ", (*it)[1].str(), ": {roles: [admin]}\n");
    }
    return absl::StrCat("dev_pki: {dir: ", Pki(), "}\nadmin: {listen: 127.0.0.1:0}\n",
                        "authorization:\n  admin_role: admin\n  apps:\n", rules,
                        "lb:\n  workers: 2\n  apps:\n", apps, "jobs:\n  listen: 127.0.0.1:0\n",
                        "  state_dir: ", tmp_.File("state"), "\n  cgroup_parent: ", Parent(),
                        "\n  stop_grace: 1s\n");
  }

  // An app on `host` (apps of one daemon need distinct listen addresses: port 0 is not one).
  static std::string App(const std::string& name, const std::string& command,
                         const std::string& extra = "", const std::string& host = "127.0.0.1") {
    return absl::StrCat("    - name: ", name, "\n      listen: [", host, ":0]\n      launch:\n",
                        "        command: ", command, "\n        port: 8080\n",
                        "        limits: {cpu: 0.5, memory: 256MiB, pids: 64}\n", extra);
  }

  std::string Pki() const { return tmp_.File("pki"); }
  static std::string Parent() { return absl::StrCat("gatehouse-launch-test-", ::getpid()); }

  std::unique_ptr<Daemon> StartDaemon(const std::string& apps) {
    auto daemon = std::make_unique<Daemon>(tmp_, Config(apps));
    EXPECT_TRUE(daemon->started()) << daemon->process().output();
    std::smatch match;
    const std::string log = daemon->process().output();
    if (std::regex_search(log, match, std::regex(R"(jobs: API listening on 127\.0\.0\.1:(\d+))"))) {
      jobs_port_ = std::stoi(match[1].str());
    }
    return daemon;
  }

  // curl over mutual TLS with the dev PKI's admin certificate: the whole reply, or its failure.
  // `host` is where the app listens; the server certificate names 127.0.0.1, so curl connects
  // there while it verifies 127.0.0.1.
  ProcessResult Curl(uint16_t port, const std::string& host = "127.0.0.1") const {
    return RunProcess({"/usr/bin/curl", "--silent", "--show-error", "--max-time", "20",
                       "--connect-to", absl::StrCat("127.0.0.1:", port, ":", host, ":", port),
                       "--cacert", Pki() + "/ca.pem", "--cert", Pki() + "/admin.pem", "--key",
                       Pki() + "/admin.key", absl::StrCat("https://127.0.0.1:", port, "/")},
                      "", seconds(30));
  }

  ProcessResult Cli(const std::vector<std::string>& args) const {
    // The connection flags belong to the subcommand: they follow it.
    std::vector<std::string> argv = {BuiltProgram("gatehouse"),
                                     args.front(),
                                     "--server",
                                     absl::StrCat("127.0.0.1:", jobs_port_),
                                     "--ca",
                                     Pki() + "/ca.pem",
                                     "--cert",
                                     Pki() + "/admin.pem",
                                     "--key",
                                     Pki() + "/admin.key"};
    argv.insert(argv.end(), args.begin() + 1, args.end());
    return RunProcess(argv, "", seconds(30));
  }

  // The ids of the jobs `gatehouse ls` shows for app `app`, in its order.
  std::vector<std::string> JobsOf(const std::string& app) const {
    const ProcessResult ls = Cli({"ls"});
    EXPECT_EQ(ls.exit_code, 0) << ls.output;
    std::vector<std::string> ids;
    const std::regex row(absl::StrCat("(", kIdPattern, ") +app:", app, " "));
    for (auto it = std::sregex_iterator(ls.output.begin(), ls.output.end(), row);
         it != std::sregex_iterator(); ++it) {
      ids.push_back((*it)[1].str());
    }
    return ids;
  }

  std::string StateOf(const std::string& job) const {
    const ProcessResult status = Cli({"status", job});
    std::smatch match;
    if (!std::regex_search(status.output, match, std::regex(R"(state +([A-Z_]+))"))) {
      return status.output;
    }
    return match[1].str();
  }

  // The job's output so far, from its file under jobs.state_dir (`gatehouse logs` would follow
  // a running job until it ends).
  std::string OutputOf(const std::string& job) const {
    std::ifstream file(absl::StrCat(tmp_.File("state"), "/jobs/", job, "/output"));
    return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
  }

  static std::string Metric(const std::string& name, const std::string& app,
                            const std::string& rest = "") {
    return absl::StrCat(name, "{app=\"", app, "\"", rest, "}");
  }

  TempDir tmp_;
  int jobs_port_ = 0;
};

TEST_F(LaunchTest, FirstConnectionStartsTheServerAndFiftyConcurrentOnesShareOneStart) {
  std::unique_ptr<Daemon> daemon = StartDaemon(App("notes", kHttpServer));
  ASSERT_TRUE(daemon->started());
  const uint16_t port = daemon->PortOf("notes");
  EXPECT_TRUE(JobsOf("notes").empty()) << "nothing runs before the first connection";
  EXPECT_TRUE(daemon->MetricsHave(Metric("gatehouse_lb_launch_instances", "notes") + " 0"));

  constexpr int kClients = 50;
  std::vector<std::unique_ptr<ChildProcess>> clients;
  clients.reserve(kClients);
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<ChildProcess>(std::vector<std::string>{
        "/usr/bin/curl", "--silent", "--show-error", "--max-time", "30", "--cacert",
        Pki() + "/ca.pem", "--cert", Pki() + "/admin.pem", "--key", Pki() + "/admin.key",
        absl::StrCat("https://127.0.0.1:", port, "/")}));
  }
  for (auto& client : clients) {
    const ProcessResult result = client->WaitForExit(seconds(60));
    EXPECT_EQ(result.exit_code, 0) << result.output;
    EXPECT_THAT(result.output, HasSubstr("Directory listing for /"));
  }
  EXPECT_TRUE(daemon->MetricsHave(Metric("gatehouse_lb_launch_cold_starts_total", "notes") + " 1"));
  EXPECT_TRUE(
      daemon->MetricsHave(Metric("gatehouse_lb_launch_cold_start_seconds_count", "notes") + " 1"));
  EXPECT_TRUE(daemon->MetricsHave(Metric("gatehouse_lb_launch_instances", "notes") + " 1"));
  // Admins see the app's server as a job, with its output.
  const std::vector<std::string> jobs = JobsOf("notes");
  ASSERT_EQ(jobs.size(), 1U);
  EXPECT_EQ(StateOf(jobs[0]), "RUNNING");
  EXPECT_TRUE(WaitFor([&] {
    return absl::StrContains(OutputOf(jobs[0]), "\"GET / HTTP/1.1\" 200");
  })) << OutputOf(jobs[0]);
}

TEST_F(LaunchTest, IdleServerIsStoppedItsCgroupRemovedAndTheNextConnectionColdStartsAgain) {
  std::unique_ptr<Daemon> daemon =
      StartDaemon(App("notes", kHttpServer, "        idle_timeout: 1s\n"));
  ASSERT_TRUE(daemon->started());
  const uint16_t port = daemon->PortOf("notes");
  const ProcessResult first = Curl(port);
  ASSERT_EQ(first.exit_code, 0) << first.output;
  const std::vector<std::string> jobs = JobsOf("notes");
  ASSERT_EQ(jobs.size(), 1U);

  EXPECT_TRUE(daemon->MetricsHave(Metric("gatehouse_lb_launch_idle_stops_total", "notes") + " 1"));
  EXPECT_TRUE(daemon->MetricsHave(Metric("gatehouse_lb_launch_instances", "notes") + " 0"));
  EXPECT_EQ(StateOf(jobs[0]), "STOPPED");
  EXPECT_TRUE(WaitFor(
      [&] {
        for (const std::string& directory : CgroupDirectoriesOf(Parent(), jobs[0])) {
          if (Exists(directory)) return false;
        }
        return true;
      },
      seconds(10)));

  const ProcessResult second = Curl(port);
  EXPECT_EQ(second.exit_code, 0) << second.output;
  EXPECT_THAT(second.output, HasSubstr("Directory listing for /"));
  EXPECT_TRUE(daemon->MetricsHave(Metric("gatehouse_lb_launch_cold_starts_total", "notes") + " 2"));
  EXPECT_EQ(JobsOf("notes").size(), 2U);
}

TEST_F(LaunchTest, ServersThatCrashNeverListenOrExitMidConnectionAreLoggedCountedAndBackedOff) {
  std::unique_ptr<Daemon> daemon = StartDaemon(absl::StrCat(
      App("crash", R"([/bin/sh, -c, "exit 3"])"),
      App("deaf", "[/bin/sleep, \"1000\"]", "        ready_timeout: 1s\n", "127.0.0.2"),
      App("flaky", kExitsMidConnection, "", "127.0.0.3")));
  ASSERT_TRUE(daemon->started());
  ChildProcess& process = daemon->process();

  // A crash at start: the client's connection is closed, the reason logged and counted, and
  // the next start waits a backoff that doubles with each failure in a row.
  EXPECT_NE(Curl(daemon->PortOf("crash")).exit_code, 0);
  EXPECT_TRUE(process.WaitForOutput("exited with code 3 before it accepted on port 8080"))
      << process.output();
  EXPECT_TRUE(process.WaitForOutput("next start in 1000 ms"));
  EXPECT_TRUE(daemon->MetricsHave(
      Metric("gatehouse_lb_launch_failures_total", "crash", ",reason=\"exited_before_ready\"") +
      " 1"));
  const auto second_try = std::chrono::steady_clock::now();
  EXPECT_NE(Curl(daemon->PortOf("crash")).exit_code, 0);
  EXPECT_GE(std::chrono::steady_clock::now() - second_try, std::chrono::milliseconds(500))
      << "the second start waited for the backoff";
  EXPECT_TRUE(process.WaitForOutput("next start in 2000 ms"));
  EXPECT_TRUE(daemon->MetricsHave(
      Metric("gatehouse_lb_launch_failures_total", "crash", ",reason=\"exited_before_ready\"") +
      " 2"));
  EXPECT_EQ(JobsOf("crash").size(), 2U);

  EXPECT_NE(Curl(daemon->PortOf("deaf"), "127.0.0.2").exit_code, 0);
  EXPECT_TRUE(process.WaitForOutput("did not accept on port 8080 within 1000 ms"));
  EXPECT_TRUE(daemon->MetricsHave(
      Metric("gatehouse_lb_launch_failures_total", "deaf", ",reason=\"not_ready\"") + " 1"));

  EXPECT_NE(Curl(daemon->PortOf("flaky"), "127.0.0.3").exit_code, 0);
  EXPECT_TRUE(process.WaitForOutput("exited with code 7 while serving"));
  EXPECT_TRUE(daemon->MetricsHave(
      Metric("gatehouse_lb_launch_failures_total", "flaky", ",reason=\"exited\"") + " 1"));

  EXPECT_TRUE(process.WaitForOutput("end=no_instance"));
}

TEST_F(LaunchTest, TheServerCannotReachTheHost) {
  LoopbackServer host_service;
  const std::string probe = absl::StrCat(
      R"([/usr/bin/python3, -c, "import os, socket\ntry:\n  socket.create_connection(('127.0.0.1', )",
      host_service.port(),
      R"(), timeout=3)\n  print('host reached', flush=True)\nexcept OSError as error:\n)"
      R"(  print('host unreachable:', error, flush=True)\n)"
      R"(os.execv('/usr/bin/python3', ['python3', '-m', 'http.server', '--bind', '127.0.0.1', '8080'])\n"])");
  std::unique_ptr<Daemon> daemon = StartDaemon(App("notes", probe));
  ASSERT_TRUE(daemon->started());
  const ProcessResult reply = Curl(daemon->PortOf("notes"));
  EXPECT_EQ(reply.exit_code, 0) << reply.output;
  const std::vector<std::string> jobs = JobsOf("notes");
  ASSERT_EQ(jobs.size(), 1U);
  EXPECT_TRUE(WaitFor([&] { return absl::StrContains(OutputOf(jobs[0]), "host unreachable:"); }))
      << OutputOf(jobs[0]);
  EXPECT_THAT(OutputOf(jobs[0]), ::testing::Not(HasSubstr("host reached")));
  EXPECT_EQ(host_service.accepted(), 0U);
}

TEST_F(LaunchTest, RemovedAppsServerStopsOnceItsConnectionsDrain) {
  std::unique_ptr<Daemon> daemon = StartDaemon(App("notes", kHttpServer));
  ASSERT_TRUE(daemon->started());
  const security::TlsFiles admin{Pki() + "/ca.pem", Pki() + "/admin.pem", Pki() + "/admin.key", ""};
  absl::StatusOr<security::SslCtxPtr> context =
      security::BuildTlsContext(security::TlsRole::kClient, admin);
  ASSERT_TRUE(context.ok()) << context.status();
  // A keep-alive HTTP/1.1 exchange that stays open over the reload.
  absl::StatusOr<testing::TlsClient> client =
      testing::ConnectTlsClient(context->get(), daemon->PortOf("notes"), "127.0.0.1");
  ASSERT_TRUE(client.ok()) << client.status();
  const std::string request = "GET / HTTP/1.1\r\nHost: notes\r\n\r\n";
  ASSERT_GT(SSL_write(client->ssl.get(), request.data(), static_cast<int>(request.size())), 0);
  std::array<char, 64> reply{};
  const int received = SSL_read(client->ssl.get(), reply.data(), static_cast<int>(reply.size()));
  ASSERT_GT(received, 0);
  EXPECT_THAT(std::string(reply.data(), static_cast<size_t>(received)), HasSubstr("200 OK"));
  const std::vector<std::string> jobs = JobsOf("notes");
  ASSERT_EQ(jobs.size(), 1U);

  ASSERT_TRUE(daemon->Reload(Config(App("other", kHttpServer)), 1));
  EXPECT_EQ(StateOf(jobs[0]), "RUNNING") << "its connection is still open";
  client->ssl.reset();
  client->fd.Reset();
  EXPECT_TRUE(WaitFor([&] { return StateOf(jobs[0]) == "STOPPED"; }, seconds(20)));
}

TEST_F(LaunchTest, SigtermStopsTheServersAndLeavesNoCgroupOrProcess) {
  std::unique_ptr<Daemon> daemon = StartDaemon(App("notes", kHttpServer));
  ASSERT_TRUE(daemon->started());
  ASSERT_EQ(Curl(daemon->PortOf("notes")).exit_code, 0);
  const std::vector<std::string> jobs = JobsOf("notes");
  ASSERT_EQ(jobs.size(), 1U);
  std::vector<pid_t> pids;
  for (const std::string& directory : CgroupDirectoriesOf(Parent(), jobs[0])) {
    const ProcessResult procs = RunProcess({"/bin/cat", directory + "/cgroup.procs"});
    if (procs.exit_code != 0) continue;
    for (absl::string_view line : absl::StrSplit(procs.output, '\n', absl::SkipEmpty())) {
      pid_t pid = 0;
      if (absl::SimpleAtoi(line, &pid)) pids.push_back(pid);
    }
  }
  ASSERT_FALSE(pids.empty()) << "the server's processes are in its cgroup";

  daemon->process().Signal(SIGTERM);
  const ProcessResult exit = daemon->process().WaitForExit(seconds(30));
  EXPECT_EQ(exit.exit_code, 0) << exit.output;
  for (const pid_t pid : pids) {
    EXPECT_TRUE(::kill(pid, 0) != 0 && errno == ESRCH) << "process " << pid << " is left";
  }
  for (const std::string& directory : CgroupDirectoriesOf(Parent(), jobs[0])) {
    EXPECT_FALSE(Exists(directory)) << directory;
  }
}

}  // namespace
}  // namespace gatehouse
