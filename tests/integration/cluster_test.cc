// Several gatehoused nodes on one machine sharing one etcd (the config document, watched) and
// one Redis (global rate limits), as RFD 0001 section 10 lays out. The nodes' lb listeners share
// one port through SO_REUSEPORT, so the kernel spreads connections over the three processes as
// an L4 VIP would spread them over three hosts; each node has its own admin port (port 0).
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "base/unique_fd.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/daemon.h"
#include "testing/etcd_server.h"
#include "testing/loopback.h"
#include "testing/loopback_server.h"
#include "testing/redis_server.h"
#include "testing/subprocess.h"
#include "testing/temp_dir.h"
#include "testing/wait_for.h"

namespace gatehouse {
namespace {

using ::gatehouse::testing::BuiltProgram;
using ::gatehouse::testing::Daemon;
using ::gatehouse::testing::EtcdServer;
using ::gatehouse::testing::LoopbackServer;
using ::gatehouse::testing::ProcessResult;
using ::gatehouse::testing::RedisServer;
using ::gatehouse::testing::RunProcess;
using ::gatehouse::testing::TempDir;
using ::gatehouse::testing::TryConnect;
using ::gatehouse::testing::WaitFor;
using ::testing::HasSubstr;

constexpr int kNodes = 3;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

uint16_t FreeLoopbackPort() {
  const base::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address = testing::LoopbackAddress(0);
  socklen_t length = sizeof(address);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ADD_FAILURE() << "no free loopback port";
    return 0;
  }
  return ntohs(address.sin_port);
}

// The line an upstream says through the proxy, or "" when the proxy closes without one (a
// refused connection) or the connect itself fails.
std::string Attempt(uint16_t port) {
  const base::UniqueFd fd = TryConnect("127.0.0.1", port, std::chrono::seconds(5));
  if (!fd.is_valid()) return "";
  std::string line;
  std::array<char, 64> buffer{};
  while (line.find('\n') == std::string::npos) {
    const ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
    if (n <= 0) return "";
    line.append(buffer.data(), static_cast<size_t>(n));
  }
  return line.substr(0, line.find('\n'));
}

// The value of the metric line that starts with `series` (name and labels), or -1.
double MetricValue(const std::string& metrics, const std::string& series) {
  const size_t at = metrics.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(metrics.substr(at + series.size() + 2));
}

// One etcd, a shared dev PKI for the nodes' own TLS, and up to three nodes.
class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(etcd_.running());
    lb_port_ = FreeLoopbackPort();
  }

  // The config document: one plain-TCP app on the shared port forwarding to `upstream`, and
  // `extra` appended (global_rate_limits, say). `rate_limit` goes into the app.
  std::string Document(uint16_t upstream, const std::string& rate_limit = "",
                       const std::string& extra = "") const {
    return absl::StrCat(
        "dev_pki: {dir: ", shared_.File("pki"),
        "}\nadmin: {listen: 127.0.0.1:0}\n"
        "authorization:\n  apps:\n    web: {users: [\"*\"]}\n"
        "lb:\n  workers: 1\n  apps:\n    - name: web\n      listen: 127.0.0.1:",
        lb_port_, "\n      upstreams: [127.0.0.1:", upstream, "]\n      tls: none\n",
        rate_limit.empty() ? "" : absl::StrCat("      rate_limit: ", rate_limit, "\n"), extra);
  }

  // A node's own file: only where the document is, and its own cache.
  std::string SourceFile(const TempDir& dir) const {
    return absl::StrCat("config_source:\n  etcd:\n    endpoints: [", etcd_.endpoint(),
                        "]\n    key: /gatehouse/config\n    tls: {ca: ", etcd_.ca_file(),
                        ", cert: ", etcd_.client_files().cert_file,
                        ", key: ", etcd_.client_files().key_file,
                        "}\n    cache: ", dir.File("cache/config.yaml"), "\n");
  }

  // `gatehouse config push` as an operator runs it; returns the revision it wrote, or 0.
  int64_t Push(const std::string& document) {
    const std::string file = shared_.WriteFile("document.yaml", document);
    const std::string source = shared_.WriteFile("source.yaml", SourceFile(shared_));
    const ProcessResult result =
        RunProcess({BuiltProgram("gatehouse"), "config", "push", "--source", source, file});
    EXPECT_EQ(result.exit_code, 0) << result.output;
    static const std::regex kRevision(R"(at revision (\d+))");
    std::smatch match;
    if (!std::regex_search(result.output, match, kRevision)) return 0;
    return std::stoll(match[1].str());
  }

  void StartNodes() {
    for (int i = 0; i < kNodes; ++i) {
      node_dirs_.push_back(std::make_unique<TempDir>());
      nodes_.push_back(
          std::make_unique<Daemon>(*node_dirs_.back(), SourceFile(*node_dirs_.back())));
      ASSERT_TRUE(nodes_.back()->started()) << nodes_.back()->process().output();
    }
  }

  bool AllNodesHave(const std::string& line, std::chrono::milliseconds timeout) {
    return WaitFor(
        [&] {
          for (auto& node : nodes_) {
            if (node->Metrics().find("\n" + line + "\n") == std::string::npos) return false;
          }
          return true;
        },
        timeout);
  }

  TempDir shared_;
  EtcdServer etcd_;
  uint16_t lb_port_ = 0;
  std::vector<std::unique_ptr<TempDir>> node_dirs_;
  std::vector<std::unique_ptr<Daemon>> nodes_;
};

TEST_F(ClusterTest, AConfigChangeInEtcdAppliesOnAllNodesWithinASecondWithNoRefusal) {
  LoopbackServer old_upstream(LoopbackServer::SayLine("old"));
  LoopbackServer new_upstream(LoopbackServer::SayLine("new"));
  ASSERT_GT(Push(Document(old_upstream.port())), 0);
  ASSERT_NO_FATAL_FAILURE(StartNodes());
  ASSERT_EQ(Attempt(lb_port_), "old");

  // A client dials all along, across the change.
  std::atomic<bool> stop{false};
  std::atomic<int> old_answers{0};
  std::atomic<int> new_answers{0};
  std::atomic<int> failures{0};
  std::thread client([&] {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!stop.load() && std::chrono::steady_clock::now() < deadline) {
      const std::string answer = Attempt(lb_port_);
      if (answer == "old") {
        old_answers.fetch_add(1);
      } else if (answer == "new") {
        new_answers.fetch_add(1);
      } else {
        failures.fetch_add(1);
      }
    }
  });
  ASSERT_TRUE(WaitFor([&] { return old_answers.load() >= 20; }));

  const auto pushed = std::chrono::steady_clock::now();
  const int64_t revision = Push(Document(new_upstream.port()));
  ASSERT_GT(revision, 0);
  const bool applied = AllNodesHave(absl::StrCat("gatehouse_config_source_revision ", revision),
                                    std::chrono::seconds(10));
  const auto took = std::chrono::steady_clock::now() - pushed;
  EXPECT_TRUE(applied);
  ASSERT_TRUE(WaitFor([&] { return new_answers.load() >= 20; }));
  stop.store(true);
  client.join();

  EXPECT_EQ(failures.load(), 0);
  std::cout << "applied on " << kNodes << " nodes in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
            << " ms (push included); " << old_answers.load() << " old and " << new_answers.load()
            << " new answers, " << failures.load() << " failures\n";
  if (!kSanitized) {
    EXPECT_LT(took, std::chrono::seconds(1));
  }
  for (auto& node : nodes_) {
    EXPECT_EQ(
        MetricValue(node->Metrics(), R"(gatehouse_config_source_updates_total{result="applied"})"),
        1);
  }
}

TEST_F(ClusterTest, ABadDocumentIsRejectedEverywhereAndTheRunningConfigStays) {
  LoopbackServer upstream(LoopbackServer::SayLine("up"));
  const int64_t good = Push(Document(upstream.port()));
  ASSERT_GT(good, 0);
  ASSERT_NO_FATAL_FAILURE(StartNodes());
  // Valid YAML and keys, but a rule for an app that does not exist: only the daemon's loader
  // catches it, so it is written with etcdctl, as a careless operator might.
  const std::string bad = absl::StrReplaceAll(Document(upstream.port()), {{"web: {", "wbe: {"}});
  const ProcessResult put = etcd_.Etcdctl({"put", "/gatehouse/config", bad});
  ASSERT_EQ(put.exit_code, 0) << put.output;
  EXPECT_TRUE(AllNodesHave(R"(gatehouse_config_source_updates_total{result="rejected"} 1)",
                           std::chrono::seconds(10)));
  for (auto& node : nodes_) {
    EXPECT_TRUE(node->process().WaitForOutput("rejected, keeping revision"));
    EXPECT_EQ(MetricValue(node->Metrics(), "gatehouse_config_source_revision"), good);
  }
  EXPECT_EQ(Attempt(lb_port_), "up");
  // And `config push` refuses it before it reaches etcd.
  const std::string file = shared_.WriteFile("bad.yaml", bad);
  const std::string source = shared_.WriteFile("source.yaml", SourceFile(shared_));
  const ProcessResult pushed =
      RunProcess({BuiltProgram("gatehouse"), "config", "push", "--source", source, file});
  EXPECT_EQ(pushed.exit_code, 1);
  EXPECT_THAT(pushed.output, HasSubstr("no lb app is named"));
  // A relative path would resolve against each node's working directory: refused too.
  const std::string relative = shared_.WriteFile(
      "relative.yaml",
      absl::StrReplaceAll(Document(upstream.port()), {{shared_.File("pki"), "pki"}}));
  const ProcessResult refused =
      RunProcess({BuiltProgram("gatehouse"), "config", "push", "--source", source, relative});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.output, HasSubstr("path \"pki\" is relative"));
}

TEST_F(ClusterTest, PushIsACompareAndSwap) {
  LoopbackServer upstream(LoopbackServer::SayLine("up"));
  const int64_t first = Push(Document(upstream.port()));
  ASSERT_GT(first, 0);
  const std::string file =
      shared_.WriteFile("mine.yaml", Document(upstream.port(), "{max_concurrent: 5}"));
  const std::string source = shared_.WriteFile("source.yaml", SourceFile(shared_));
  // Someone else writes after "I" read revision `first`.
  ASSERT_GT(Push(Document(upstream.port(), "{max_concurrent: 7}")), first);
  const ProcessResult lost = RunProcess({BuiltProgram("gatehouse"), "config", "push", "--source",
                                         source, "--expect-revision", std::to_string(first), file});
  EXPECT_EQ(lost.exit_code, 1) << lost.output;
  EXPECT_THAT(lost.output, HasSubstr("not written"));
  const ProcessResult get =
      RunProcess({BuiltProgram("gatehouse"), "config", "get", "--source", source});
  EXPECT_EQ(get.exit_code, 0) << get.output;
  EXPECT_THAT(get.output, HasSubstr("max_concurrent: 7"));
}

TEST_F(ClusterTest, AGlobalLimitHoldsAcrossThreeNodes) {
  RedisServer redis;
  ASSERT_TRUE(redis.is_running());
  const std::string password_file = shared_.WriteFile("redis.password", redis.password() + "\n");
  LoopbackServer upstream(LoopbackServer::SayLine("up"));
  constexpr double kRate = 50;
  constexpr int kBurst = 10;
  constexpr int kLease = 5;
  ASSERT_GT(
      Push(Document(
          upstream.port(),
          absl::StrCat("{connections_per_second: ", kRate, ", burst: ", kBurst, ", scope: global}"),
          absl::StrCat("global_rate_limits: {redis: 127.0.0.1:", redis.port(),
                       ", password_file: ", password_file, ", lease_size: ", kLease, "}\n"))),
      0);
  ASSERT_NO_FATAL_FAILURE(StartNodes());
  for (auto& node : nodes_) {
    ASSERT_TRUE(node->MetricsHave("gatehouse_lb_global_rate_limit_redis_up 1"));
  }

  // 300 attempts spread over 3 s; each node alone would admit all of its ~100 (33/s < 50/s).
  constexpr int kAttempts = 300;
  int admitted = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kAttempts; ++i) {
    std::this_thread::sleep_until(start + std::chrono::milliseconds(10) * i);  // pacing, not sync
    if (Attempt(lb_port_) == "up") ++admitted;
  }
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double bound = kBurst + kRate * elapsed + kNodes * kLease;
  std::cout << admitted << " of " << kAttempts << " admitted in " << elapsed
            << " s; bound burst + rate*t + nodes*lease = " << bound << "\n";
  EXPECT_LE(admitted, bound);
  EXPECT_GE(admitted, kRate * elapsed * 0.6);
  int nodes_that_forwarded = 0;
  for (auto& node : nodes_) {
    if (MetricValue(node->Metrics(), R"(gatehouse_lb_connections_total{app="web"})") > 0) {
      ++nodes_that_forwarded;
    }
  }
  EXPECT_EQ(nodes_that_forwarded, kNodes) << "SO_REUSEPORT did not spread the attempts";
}

TEST_F(ClusterTest, NodesServeThroughAnEtcdRestartAndARedisCrashThenCatchUp) {
  RedisServer redis;
  ASSERT_TRUE(redis.is_running());
  const std::string password_file = shared_.WriteFile("redis.password", redis.password() + "\n");
  LoopbackServer first(LoopbackServer::SayLine("first"));
  LoopbackServer second(LoopbackServer::SayLine("second"));
  const std::string limits =
      absl::StrCat("global_rate_limits: {redis: 127.0.0.1:", redis.port(),
                   ", password_file: ", password_file, ", timeout: 100ms, fallback: open}\n");
  const std::string rate = "{connections_per_second: 1000, burst: 1000, scope: global}";
  ASSERT_GT(Push(Document(first.port(), rate, limits)), 0);
  ASSERT_NO_FATAL_FAILURE(StartNodes());

  etcd_.Stop();
  for (int i = 0; i < 30; ++i) ASSERT_EQ(Attempt(lb_port_), "first");
  etcd_.Start();
  ASSERT_TRUE(etcd_.running());
  const int64_t revision = Push(Document(second.port(), rate, limits));
  ASSERT_GT(revision, 0);
  EXPECT_TRUE(AllNodesHave(absl::StrCat("gatehouse_config_source_revision ", revision),
                           std::chrono::seconds(20)));
  EXPECT_EQ(Attempt(lb_port_), "second");

  redis.Kill();
  for (int i = 0; i < 60; ++i) ASSERT_EQ(Attempt(lb_port_), "second") << "attempt " << i;
  EXPECT_TRUE(AllNodesHave("gatehouse_lb_global_rate_limit_redis_up 0", std::chrono::seconds(20)));
  ASSERT_TRUE(redis.Restart());
  EXPECT_TRUE(AllNodesHave("gatehouse_lb_global_rate_limit_redis_up 1", std::chrono::seconds(20)));
  for (int i = 0; i < 30; ++i) ASSERT_EQ(Attempt(lb_port_), "second");
}

TEST_F(ClusterTest, ANodeStartsFromItsCacheWhenEtcdIsDownAndRefusesWithNeither) {
  LoopbackServer upstream(LoopbackServer::SayLine("cached"));
  const int64_t revision = Push(Document(upstream.port()));
  ASSERT_GT(revision, 0);
  TempDir dir;
  {
    Daemon node(dir, SourceFile(dir));
    ASSERT_TRUE(node.started()) << node.process().output();
    node.process().Signal(SIGTERM);
    EXPECT_EQ(node.process().WaitForExit().exit_code, 0);
  }
  EXPECT_EQ(testing::FileMode(dir.File("cache/config.yaml")), 0600U);
  etcd_.Stop();

  Daemon restarted(dir, SourceFile(dir));
  ASSERT_TRUE(restarted.started()) << restarted.process().output();
  EXPECT_THAT(restarted.process().output(), HasSubstr("starting from the cached document"));
  EXPECT_TRUE(restarted.MetricsHave("gatehouse_config_source_from_cache 1"));
  EXPECT_TRUE(restarted.MetricsHave(absl::StrCat("gatehouse_config_source_revision ", revision)));
  EXPECT_EQ(Attempt(lb_port_), "cached");

  TempDir empty;
  const std::string file = empty.WriteFile("gatehouse.yaml", SourceFile(empty));
  const ProcessResult refused =
      RunProcess({BuiltProgram("gatehoused"), "--config", file}, "", std::chrono::seconds(30));
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_THAT(refused.output, HasSubstr("no config to start from"));
}

TEST_F(ClusterTest, SighupReappliesTheRunningDocumentWhileEtcdIsDown) {
  LoopbackServer upstream(LoopbackServer::SayLine("up"));
  const int64_t revision = Push(Document(upstream.port()));
  ASSERT_GT(revision, 0);
  TempDir dir;
  Daemon node(dir, SourceFile(dir));
  ASSERT_TRUE(node.started()) << node.process().output();
  etcd_.Stop();
  node.process().Signal(SIGHUP);
  EXPECT_TRUE(node.process().WaitForOutput(
      absl::StrCat("applying the running revision ", revision, " again")));
  EXPECT_TRUE(node.MetricsHave(R"(gatehouse_config_reloads_total{result="success"} 1)"));
  EXPECT_EQ(Attempt(lb_port_), "up");
}

TEST_F(ClusterTest, ADocumentTheNodeCannotRunIsNeverCached) {
  LoopbackServer upstream(LoopbackServer::SayLine("up"));
  // Parses, but names certificate files this node does not have: Start fails.
  ASSERT_GT(
      Push(absl::StrReplaceAll(Document(upstream.port()),
                               {{absl::StrCat("dev_pki: {dir: ", shared_.File("pki"), "}"),
                                 "tls: {ca: /nonexistent/ca.pem, cert: /nonexistent/s.pem, key: "
                                 "/nonexistent/s.key}"}})),
      0);
  TempDir dir;
  const std::string file = dir.WriteFile("gatehouse.yaml", SourceFile(dir));
  const ProcessResult failed =
      RunProcess({BuiltProgram("gatehoused"), "--config", file}, "", std::chrono::seconds(30));
  EXPECT_EQ(failed.exit_code, 1) << failed.output;
  EXPECT_FALSE(std::filesystem::exists(dir.File("cache/config.yaml")));
}

}  // namespace
}  // namespace gatehouse
