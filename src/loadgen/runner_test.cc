// The load generator against loopback servers started by each test: counts add up, a known
// delay shows in the percentiles, an open-loop run sees a stall as latency, misbehaving servers
// are errors of the right kind, TLS with and without a client certificate, and the reports parse.
#include "loadgen/runner.h"

#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lb/testing/test_proxy.h"
#include "loadgen/html_report.h"
#include "loadgen/report.h"
#include "nlohmann/json.hpp"
#include "security/tls_context.h"
#include "testing/loopback_server.h"
#include "testing/network_namespace.h"
#include "testing/test_pki.h"
#include "testing/wait_for.h"

namespace gatehouse::loadgen {
namespace {

using ::gatehouse::lb::testing::TestProxy;
using ::gatehouse::testing::LoopbackServer;
using ::gatehouse::testing::RunInNewNetworkNamespace;
using ::gatehouse::testing::TestPki;
using ::gatehouse::testing::WriteAll;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr size_t kPayloadBytes = 64;

RunOptions Options(uint16_t port) {
  RunOptions options;
  options.target_host = "127.0.0.1";
  options.target_port = port;
  options.payload = std::string(kPayloadBytes, 'p');
  options.duration = seconds(60);
  options.interval = milliseconds(100);
  return options;
}

uint64_t Errors(const RunReport& report, ErrorKind kind) {
  return report.total.errors[static_cast<size_t>(kind)];
}

// Reads requests of kPayloadBytes and answers each after `delay` with `reply(request)`.
LoopbackServer::Handler DelayedResponder(milliseconds delay,
                                         std::string (*reply)(const std::string&)) {
  return [delay, reply](int fd) {
    std::string request(kPayloadBytes, '\0');
    while (true) {
      size_t got = 0;
      while (got < kPayloadBytes) {
        const ssize_t n = ::read(fd, request.data() + got, kPayloadBytes - got);
        if (n <= 0) return;
        got += static_cast<size_t>(n);
      }
      // Load shape, not synchronization: the injected service time under test.
      if (delay.count() > 0) std::this_thread::sleep_for(delay);
      const std::string answer = reply(request);
      if (!WriteAll(fd, answer.data(), answer.size())) return;
    }
  };
}

std::string Echo(const std::string& request) { return request; }
std::string Garbage(const std::string& request) {
  std::string garbage(request.size(), 'y');
  return garbage;
}

TEST(RunnerTest, RequestCountsAndBytesAddUp) {
  LoopbackServer echo;
  RunOptions options = Options(echo.port());
  options.connections = 4;
  options.threads = 2;
  options.requests = 2000;
  auto report = loadgen::Run(options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->total.requests, 2000U);
  EXPECT_EQ(report->total.TotalErrors(), 0U);
  EXPECT_EQ(report->total.bytes_sent, 2000U * kPayloadBytes);
  EXPECT_EQ(report->total.bytes_received, 2000U * kPayloadBytes);
  EXPECT_EQ(report->total.connections_opened, 4U);
  EXPECT_EQ(report->latency.count(), 2000U);
  uint64_t interval_requests = 0;
  for (const IntervalReport& interval : report->intervals) {
    interval_requests += interval.counters.requests;
  }
  EXPECT_EQ(interval_requests, 2000U) << "intervals must add up to the total";
}

// A request far larger than the socket buffers (32 MiB; loopback autotuning makes them a few
// MiB): written while the echo is read, or the two sides would each wait for the other to read.
TEST(RunnerTest, RequestsLargerThanTheSocketBuffersAreEchoedWhole) {
  LoopbackServer echo;
  RunOptions options = Options(echo.port());
  options.payload = std::string(size_t{32} << 20, 'L');
  options.connections = 2;
  options.requests = 6;
  options.timeout = std::chrono::seconds(10);
  auto report = loadgen::Run(options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->total.requests, 6U);
  EXPECT_EQ(report->total.TotalErrors(), 0U) << ReportToJson(*report)["total"].dump();
  EXPECT_EQ(report->total.bytes_received, 6U * (size_t{32} << 20));
}

TEST(RunnerTest, InjectedDelayShowsInThePercentiles) {
  LoopbackServer slow(DelayedResponder(milliseconds(20), &Echo));
  RunOptions options = Options(slow.port());
  options.connections = 2;
  options.requests = 40;
  auto report = loadgen::Run(options);
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->total.requests, 40U);
  const LatencySummary latency = LatencySummary::Of(report->latency);
  EXPECT_GE(latency.min_ns, 20'000'000U);
  EXPECT_GE(latency.p50_ns, 20'000'000U);
  EXPECT_LT(latency.p50_ns, 60'000'000U) << "a 20 ms server measured far too slow";
}

// Closed loop, this server allows 10 requests/s on one connection; open loop asks for 50/s, so
// requests queue behind their due time and the latency shows it.
TEST(RunnerTest, OpenLoopCountsAStallAsLatencyNotAsFewerRequests) {
  LoopbackServer slow(DelayedResponder(milliseconds(100), &Echo));
  RunOptions options = Options(slow.port());
  options.shape = LoadShape::Constant(ShapedQuantity::kRate, 50);
  options.requests = 15;
  auto report = loadgen::Run(options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->total.requests, 15U);
  const LatencySummary latency = LatencySummary::Of(report->latency);
  // Request k is due at k x 20 ms and answered at about (k + 1) x 100 ms.
  EXPECT_GT(latency.max_ns, 1'000'000'000U);
  EXPECT_GE(latency.min_ns, 100'000'000U);
}

TEST(RunnerTest, ServerThatClosesEarlyIsReportedAsErrors) {
  LoopbackServer closer([](int fd) {
    char buffer[kPayloadBytes];
    (void)::read(fd, buffer, sizeof(buffer));
  });
  RunOptions options = Options(closer.port());
  options.requests = 20;
  auto report = loadgen::Run(options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->total.requests, 0U);
  EXPECT_EQ(report->total.TotalErrors(), 20U);
  EXPECT_EQ(Errors(*report, ErrorKind::kClosedEarly) + Errors(*report, ErrorKind::kReset), 20U);
}

TEST(RunnerTest, WrongReplyIsAnErrorNotASuccess) {
  LoopbackServer liar(DelayedResponder(milliseconds(0), &Garbage));
  RunOptions options = Options(liar.port());
  options.requests = 10;
  auto report = loadgen::Run(options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->total.requests, 0U);
  EXPECT_EQ(Errors(*report, ErrorKind::kWrongData), 10U);
}

TEST(RunnerTest, SilentServerTimesOut) {
  LoopbackServer silent(DelayedResponder(milliseconds(2000), &Echo));
  RunOptions options = Options(silent.port());
  options.requests = 2;
  options.timeout = milliseconds(200);
  auto report = loadgen::Run(options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(Errors(*report, ErrorKind::kTimeout), 2U);
}

TEST(RunnerTest, RefusedTargetIsCountedNotFatal) {
  uint16_t port = 0;
  {
    LoopbackServer gone;
    port = gone.port();
  }
  RunOptions options = Options(port);
  options.duration = milliseconds(300);
  auto report = loadgen::Run(options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->total.requests, 0U);
  EXPECT_GT(Errors(*report, ErrorKind::kConnectRefused), 0U);
}

// A port range spreads connections over every port of it. In a network namespace of its own,
// where the range's ports are sure to be free.
TEST(RunnerTest, PortRangeDialsEveryPortOfIt) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to make a network namespace";
  constexpr uint16_t kFirstPort = 30000;
  constexpr int kPorts = 3;
  const absl::Status ran = RunInNewNetworkNamespace([&] {
    std::array<std::atomic<int>, kPorts> accepted{};
    std::vector<std::unique_ptr<LoopbackServer>> servers;
    for (int i = 0; i < kPorts; ++i) {
      const LoopbackServer::Handler echo = LoopbackServer::Echo();
      servers.push_back(std::make_unique<LoopbackServer>(
          [&counter = accepted[i], echo](int fd) {
            counter.fetch_add(1);
            echo(fd);
          },
          static_cast<uint16_t>(kFirstPort + i)));
    }
    RunOptions options = Options(kFirstPort);
    options.target_last_port = kFirstPort + kPorts - 1;
    options.mode = Mode::kConnectRate;
    options.requests = 300;
    auto report = loadgen::Run(options);
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_EQ(report->total.requests, 300U);
    EXPECT_EQ(report->total.TotalErrors(), 0U);
    // 300 uniform picks of 3 ports: each gets 100 ± 8 (sd); 40 is 7 sd below.
    for (int i = 0; i < kPorts; ++i) EXPECT_GT(accepted[i].load(), 40) << "port " << kFirstPort + i;
  });
  ASSERT_TRUE(ran.ok()) << ran;
}

TEST(RunnerTest, PortRangeThatEndsBeforeItStartsIsRejected) {
  RunOptions options = Options(2000);
  options.target_last_port = 1999;
  EXPECT_EQ(loadgen::Run(options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RunnerTest, ConnectRateOpensAConnectionPerRequest) {
  LoopbackServer echo;
  RunOptions options = Options(echo.port());
  options.mode = Mode::kConnectRate;
  options.connections = 2;
  options.requests = 50;
  auto report = loadgen::Run(options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->total.requests, 50U);
  EXPECT_EQ(report->total.connections_opened, 50U);
  EXPECT_TRUE(gatehouse::testing::WaitFor([&] { return echo.accepted() == 50U; }));
}

TEST(RunnerTest, ThroughputModeStreamsForTheDuration) {
  LoopbackServer echo;
  RunOptions options = Options(echo.port());
  options.mode = Mode::kThroughput;
  options.payload = std::string(size_t{64} * 1024, 't');
  options.duration = milliseconds(500);
  auto report = loadgen::Run(options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_GT(report->total.bytes_sent, 1U << 20);
  EXPECT_GT(report->total.bytes_received, 0U);
  EXPECT_EQ(report->total.TotalErrors(), 0U);
}

TEST(RunnerTest, BadOptionsAreRefused) {
  RunOptions options = Options(1);
  options.connections = 0;
  EXPECT_FALSE(loadgen::Run(options).ok());
  options = Options(1);
  options.mode = Mode::kThroughput;
  options.requests = 5;
  EXPECT_FALSE(loadgen::Run(options).ok());
  options = Options(1);
  options.target_host = "no-such-host.invalid";
  EXPECT_FALSE(loadgen::Run(options).ok());
}

class TlsRunnerTest : public ::testing::Test {
 protected:
  TlsRunnerTest() {
    auto context = security::BuildTlsContext(security::TlsRole::kServer, pki_.ServerFiles());
    EXPECT_TRUE(context.ok()) << context.status();
    if (context.ok()) server_context_ = std::move(*context);
  }

  RunOptions TlsOptions(uint16_t port) {
    RunOptions options = Options(port);
    options.target_host = "localhost";
    options.tls.enabled = true;
    options.tls.ca_file = pki_.ca_file();
    return options;
  }

  TestPki pki_;
  security::SslCtxPtr server_context_;
  LoopbackServer echo_;
};

TEST_F(TlsRunnerTest, MutualTlsRequestsAndHandshakesSucceed) {
  TestProxy tls_echo(echo_.port(), TestProxy::Tls(server_context_.get()));
  RunOptions options = TlsOptions(tls_echo.port());
  const security::TlsFiles alice = pki_.IssueClient("alice");
  options.tls.cert_file = alice.cert_file;
  options.tls.key_file = alice.key_file;
  options.requests = 100;
  for (const Mode mode : {Mode::kRequestResponse, Mode::kConnectRate}) {
    options.mode = mode;
    auto report = loadgen::Run(options);
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_EQ(report->total.requests, 100U) << ModeName(mode);
    EXPECT_EQ(report->total.TotalErrors(), 0U) << ModeName(mode);
  }
}

TEST_F(TlsRunnerTest, MissingClientCertificateIsATlsError) {
  TestProxy tls_echo(echo_.port(), TestProxy::Tls(server_context_.get()));
  RunOptions options = TlsOptions(tls_echo.port());
  options.requests = 5;
  auto report = loadgen::Run(options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->total.requests, 0U);
  EXPECT_EQ(Errors(*report, ErrorKind::kTls), 5U) << ReportToJson(*report)["total"].dump();
}

TEST(ReportTest, JsonAndHtmlReportsParseAndAgree) {
  LoopbackServer echo;
  RunOptions options = Options(echo.port());
  options.requests = 300;
  options.connections = 3;
  auto report = loadgen::Run(options);
  ASSERT_TRUE(report.ok()) << report.status();
  const nlohmann::json parsed = nlohmann::json::parse(ReportToJson(*report).dump());
  EXPECT_EQ(parsed["total"]["requests"].get<uint64_t>(), 300U);
  EXPECT_EQ(parsed["options"]["mode"].get<std::string>(), "rr");
  EXPECT_FALSE(parsed["intervals"].empty());
  EXPECT_GT(parsed["latency"]["p99_ns"].get<uint64_t>(), 0U);
  const std::string html = RenderHtmlReport(*report);
  size_t charts = 0;
  for (size_t at = html.find("<svg"); at != std::string::npos; at = html.find("<svg", at + 1)) {
    ++charts;
  }
  EXPECT_EQ(charts, 4U);
  const size_t json_start = html.find("<script type=\"application/json\" id=\"report\">\n");
  ASSERT_NE(json_start, std::string::npos);
  const size_t body = html.find('\n', json_start) + 1;
  const nlohmann::json embedded =
      nlohmann::json::parse(html.substr(body, html.find("\n</script>", body) - body));
  EXPECT_EQ(embedded["total"]["requests"].get<uint64_t>(), 300U);
  EXPECT_THAT(FormatSummary(*report), ::testing::HasSubstr("requests   300"));
}

}  // namespace
}  // namespace gatehouse::loadgen
