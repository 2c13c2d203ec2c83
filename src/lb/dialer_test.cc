#include "lb/dialer.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <optional>
#include <vector>

#include "asio/co_spawn.hpp"
#include "asio/io_context.hpp"
#include "base/unique_fd.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lb/balancer.h"
#include "lb/testing/refusing_port.h"
#include "testing/fake_clock.h"
#include "testing/loopback_server.h"
#include "testing/status_matchers.h"
#include "testing/wait_for.h"

namespace gatehouse::lb {
namespace {

using asio::ip::tcp;
using ::gatehouse::lb::testing::RefusingPort;
using ::gatehouse::testing::FakeClock;
using ::gatehouse::testing::IsOk;
using ::gatehouse::testing::LoopbackServer;
using ::gatehouse::testing::StatusIs;
using ::gatehouse::testing::WaitFor;
using ::testing::AllOf;
using ::testing::HasSubstr;

std::shared_ptr<Upstream> At(uint16_t port, const base::Clock* clock = &base::SystemClock()) {
  return std::make_shared<Upstream>(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
                                    clock);
}

// Runs Dial to completion on a private io_context.
absl::StatusOr<DialedUpstream> RunDial(asio::io_context& io, Balancer& balancer,
                                       DialOptions options) {
  std::optional<absl::StatusOr<DialedUpstream>> result;
  asio::co_spawn(io, Dial(balancer, options),
                 [&result](const std::exception_ptr& /*unused*/,
                           absl::StatusOr<DialedUpstream> value) { result = std::move(value); });
  io.restart();
  io.run_for(std::chrono::seconds(30));
  if (!result.has_value()) return absl::DeadlineExceededError("Dial did not finish");
  return *std::move(result);
}

TEST(DialerTest, RefusedUpstreamIsSkippedForTheNextOne) {
  LoopbackServer echo;
  RefusingPort refusing_port;
  auto refusing = At(refusing_port.port());
  auto serving = At(echo.port());
  auto balancer = MakeBalancer(BalancingAlgorithm::kRoundRobin, {refusing, serving});
  asio::io_context io;
  for (int i = 0; i < 4; ++i) {
    auto dialed = RunDial(io, *balancer, DialOptions{});
    ASSERT_THAT(dialed, IsOk());
    EXPECT_EQ(&dialed->lease.upstream(), serving.get());
    EXPECT_LE(dialed->attempts, 2U);
  }
  EXPECT_EQ(refusing->open_connections(), 0U) << "failed attempts must give their slot back";
  EXPECT_EQ(serving->open_connections(), 0U);
}

TEST(DialerTest, AllRefusingIsUnavailableWithEveryReason) {
  RefusingPort a_port;
  RefusingPort b_port;
  auto a = At(a_port.port());
  auto b = At(b_port.port());
  auto balancer = MakeBalancer(BalancingAlgorithm::kLeastConnections, {a, b});
  asio::io_context io;
  EXPECT_THAT(RunDial(io, *balancer, DialOptions{}),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr(a->name()), HasSubstr(b->name()), HasSubstr("refused"))));
  EXPECT_EQ(a->open_connections() + b->open_connections(), 0U);
}

TEST(DialerTest, NoHealthyUpstreamFailsAtOnce) {
  LoopbackServer echo;
  auto down = At(echo.port());
  down->SetHealthy(false);
  auto balancer = MakeBalancer(BalancingAlgorithm::kRoundRobin, {down});
  asio::io_context io;
  EXPECT_THAT(RunDial(io, *balancer, DialOptions{}),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("no healthy upstream")));
  EXPECT_EQ(echo.accepted(), 0U) << "an unhealthy upstream must get no connection";
}

TEST(DialerTest, ConnectTimeoutMovesOnToTheNextUpstream) {
  // A listener that never accepts, with its backlog full: further SYNs are dropped, so a
  // connect neither succeeds nor fails until the client gives up.
  base::UniqueFd stuck(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  ASSERT_EQ(::bind(stuck.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(::listen(stuck.get(), 0), 0);
  ASSERT_EQ(::getsockname(stuck.get(), reinterpret_cast<sockaddr*>(&address), &length), 0);
  std::vector<base::UniqueFd> fillers;
  fillers.reserve(4);
  for (int i = 0; i < 4; ++i) {
    fillers.emplace_back(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    // Non-blocking: EINPROGRESS is expected; all that matters is that the queue fills.
    (void)::connect(fillers.back().get(), reinterpret_cast<sockaddr*>(&address), sizeof(address));
  }
  LoopbackServer echo;
  auto blackhole = At(ntohs(address.sin_port));
  auto serving = At(echo.port());
  auto balancer = MakeBalancer(BalancingAlgorithm::kRoundRobin, {blackhole, serving});
  DialOptions options;
  options.connect_timeout = std::chrono::milliseconds(200);
  asio::io_context io;
  bool saw_timeout_then_success = false;
  for (int i = 0; i < 2; ++i) {
    auto dialed = RunDial(io, *balancer, options);
    ASSERT_THAT(dialed, IsOk());
    EXPECT_EQ(&dialed->lease.upstream(), serving.get());
    if (dialed->attempts == 2) saw_timeout_then_success = true;
  }
  EXPECT_TRUE(saw_timeout_then_success) << "round robin must have tried the blackhole once";
}

TEST(DialerTest, RepeatedFailuresEjectUntilAnActiveCheckPasses) {
  LoopbackServer echo;
  RefusingPort refusing_port;
  FakeClock clock;  // stands still: the ejection cannot end by its backoff during the test
  auto refusing = At(refusing_port.port(), &clock);
  auto serving = At(echo.port(), &clock);
  auto balancer = MakeBalancer(BalancingAlgorithm::kRoundRobin, {refusing, serving});
  DialOptions options;
  options.eject_after_failures = 2;
  asio::io_context io;
  for (int i = 0; i < 4; ++i) ASSERT_THAT(RunDial(io, *balancer, options), IsOk());
  EXPECT_TRUE(refusing->is_ejected());
  EXPECT_FALSE(refusing->is_eligible());
  EXPECT_FALSE(serving->is_ejected());
  // Once ejected it is not even tried: every dial takes one attempt.
  for (int i = 0; i < 4; ++i) {
    auto dialed = RunDial(io, *balancer, options);
    ASSERT_THAT(dialed, IsOk());
    EXPECT_EQ(dialed->attempts, 1U);
  }
  refusing->SetHealthy(true);  // what a passing active check does
  EXPECT_FALSE(refusing->is_ejected());
}

// Without active health checks, only the ejection's backoff brings an upstream back: before
// ejections had one, an upstream that had been down once was lost for good.
TEST(DialerTest, EjectedUpstreamComesBackWithoutActiveChecks) {
  auto refusing = std::make_unique<RefusingPort>();
  const uint16_t port = refusing->port();
  auto upstream = At(port);
  auto balancer = MakeBalancer(BalancingAlgorithm::kRoundRobin, {upstream});
  DialOptions options;  // the default backoff: 1 s before the first trial
  options.eject_after_failures = 1;
  asio::io_context io;
  ASSERT_THAT(RunDial(io, *balancer, options),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("refused")));
  ASSERT_TRUE(upstream->is_ejected());

  refusing.reset();
  LoopbackServer server(LoopbackServer::Echo(), port);
  // Generous deadline: the trial comes about 1 s after the ejection.
  EXPECT_TRUE(
      WaitFor([&] { return RunDial(io, *balancer, options).ok(); }, std::chrono::seconds(30)))
      << "the upstream is up again but never dialed";
  EXPECT_FALSE(upstream->is_ejected());
}

TEST(DialerTest, FailedTrialEjectsForTwiceAsLongAndAPassedTrialReadmits) {
  FakeClock clock;
  auto refusing = std::make_unique<RefusingPort>();
  const uint16_t port = refusing->port();
  auto upstream = At(port, &clock);
  auto balancer = MakeBalancer(BalancingAlgorithm::kRoundRobin, {upstream});
  DialOptions options;
  options.eject_after_failures = 2;
  options.ejection_backoff = {std::chrono::seconds(1), std::chrono::seconds(60)};
  asio::io_context io;
  const auto refused = StatusIs(absl::StatusCode::kUnavailable, HasSubstr("refused"));
  const auto not_dialed = StatusIs(absl::StatusCode::kUnavailable, HasSubstr("no healthy"));

  EXPECT_THAT(RunDial(io, *balancer, options), refused);
  EXPECT_FALSE(upstream->is_ejected()) << "one failure is below eject_after_failures";
  EXPECT_THAT(RunDial(io, *balancer, options), refused);
  EXPECT_TRUE(upstream->is_ejected());
  EXPECT_THAT(RunDial(io, *balancer, options), not_dialed);

  clock.Advance(std::chrono::seconds(1));
  EXPECT_THAT(RunDial(io, *balancer, options), refused) << "the trial dial";
  EXPECT_TRUE(upstream->is_ejected());
  clock.Advance(std::chrono::seconds(1));
  EXPECT_THAT(RunDial(io, *balancer, options), not_dialed) << "ejected again, for 2 s this time";

  refusing.reset();
  LoopbackServer server(LoopbackServer::Echo(), port);
  clock.Advance(std::chrono::seconds(1));
  auto dialed = RunDial(io, *balancer, options);
  ASSERT_THAT(dialed, IsOk()) << "the second trial";
  EXPECT_EQ(dialed->attempts, 1U);
  EXPECT_FALSE(upstream->is_ejected());
  EXPECT_THAT(RunDial(io, *balancer, options), IsOk());
}

TEST(DialerTest, MaxAttemptsBoundsFailover) {
  std::vector<RefusingPort> ports(5);
  std::vector<std::shared_ptr<Upstream>> refusing;
  refusing.reserve(ports.size());
  for (const RefusingPort& port : ports) refusing.push_back(At(port.port()));
  auto balancer = MakeBalancer(BalancingAlgorithm::kRoundRobin, refusing);
  DialOptions options;
  options.max_attempts = 2;
  options.eject_after_failures = 0;
  asio::io_context io;
  auto dialed = RunDial(io, *balancer, options);
  ASSERT_FALSE(dialed.ok());
  // Two attempts: the message lists exactly two upstreams.
  const auto message = static_cast<std::string>(dialed.status().message());
  int listed = 0;
  for (const auto& upstream : refusing) {
    listed += message.find(upstream->name()) != std::string::npos ? 1 : 0;
  }
  EXPECT_EQ(listed, 2) << message;
}

TEST(DialerTest, LeastConnectionsLandsOnTheLeastLoadedUpstream) {
  LoopbackServer a_server, b_server, c_server;
  auto a = At(a_server.port());
  auto b = At(b_server.port());
  auto c = At(c_server.port());
  auto balancer = MakeBalancer(BalancingAlgorithm::kLeastConnections, {a, b, c});
  asio::io_context io;
  std::vector<DialedUpstream> held;
  for (int i = 0; i < 6; ++i) {
    auto dialed = RunDial(io, *balancer, DialOptions{});
    ASSERT_THAT(dialed, IsOk());
    held.push_back(*std::move(dialed));
  }
  EXPECT_EQ(a->open_connections(), 2U);
  EXPECT_EQ(b->open_connections(), 2U);
  EXPECT_EQ(c->open_connections(), 2U);
  // Closing both long-lived connections on `b` makes it the least loaded.
  std::erase_if(held, [&](const DialedUpstream& d) { return &d.lease.upstream() == b.get(); });
  EXPECT_EQ(b->open_connections(), 0U);
  for (int i = 0; i < 2; ++i) {
    auto dialed = RunDial(io, *balancer, DialOptions{});
    ASSERT_THAT(dialed, IsOk());
    EXPECT_EQ(&dialed->lease.upstream(), b.get());
    held.push_back(*std::move(dialed));
  }
  held.clear();
  EXPECT_EQ(a->open_connections() + b->open_connections() + c->open_connections(), 0U);
}

}  // namespace
}  // namespace gatehouse::lb
