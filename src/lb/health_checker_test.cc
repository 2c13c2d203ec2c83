#include "lb/health_checker.h"

#include <chrono>
#include <memory>
#include <optional>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/loopback_server.h"
#include "testing/status_matchers.h"
#include "testing/wait_for.h"

namespace gatehouse::lb {
namespace {

using asio::ip::tcp;
using ::gatehouse::testing::IsOk;
using ::gatehouse::testing::LoopbackServer;
using ::gatehouse::testing::StatusIs;
using ::gatehouse::testing::WaitFor;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

HealthCheckOptions FastChecks() {
  HealthCheckOptions options;
  options.interval = milliseconds(50);
  options.timeout = milliseconds(40);
  options.rise = 2;
  options.fall = 3;
  options.jitter = 0.1;
  return options;
}

TEST(TcpHealthCheckerTest, StoppedUpstreamIsEjectedAndComesBackAfterRiseChecks) {
  auto server = std::make_unique<LoopbackServer>();
  const uint16_t port = server->port();
  auto upstream =
      std::make_shared<Upstream>(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  const HealthCheckOptions options = FastChecks();
  auto checker = TcpHealthChecker::Start({upstream}, options);
  ASSERT_THAT(checker, IsOk());
  // Checks pass while it is up.
  ASSERT_TRUE(WaitFor([&] { return server->accepted() >= 2; }));
  EXPECT_TRUE(upstream->is_healthy());

  server.reset();
  const auto stopped_at = steady_clock::now();
  ASSERT_TRUE(WaitFor([&] { return !upstream->is_healthy(); }, milliseconds(5000)));
  // fall x interval (+ jitter), plus at most one interval already under way when it stopped, plus
  // scheduling delay: sanitizer builds share two cores with the rest of the suite.
  const auto bound = options.interval * (options.fall + 1) * 1.1 + milliseconds(300);
  EXPECT_LE(steady_clock::now() - stopped_at, bound);

  server = std::make_unique<LoopbackServer>(LoopbackServer::Echo(), port);
  const auto restarted_at = steady_clock::now();
  ASSERT_TRUE(WaitFor([&] { return upstream->is_healthy(); }, milliseconds(5000)));
  // The kernel completes a probe's handshake before the server's accept thread takes it, so
  // the server's count may trail the checker's by a moment.
  EXPECT_TRUE(WaitFor([&] { return server->accepted() >= options.rise; }))
      << "healthy only after `rise` passing checks; accepted " << server->accepted();
  EXPECT_LE(steady_clock::now() - restarted_at,
            options.interval * (options.rise + 1) * 1.1 + milliseconds(300));
}

TEST(TcpHealthCheckerTest, PassingCheckEndsAPassiveEjection) {
  LoopbackServer server;
  auto upstream =
      std::make_shared<Upstream>(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server.port()));
  ASSERT_TRUE(upstream->RecordDialFailure(1));
  ASSERT_FALSE(upstream->is_eligible());
  auto checker = TcpHealthChecker::Start({upstream}, FastChecks());
  ASSERT_THAT(checker, IsOk());
  EXPECT_TRUE(WaitFor([&] { return upstream->is_eligible(); }));
}

TEST(TcpHealthCheckerTest, StopIsPromptAndIdempotent) {
  LoopbackServer server;
  auto upstream =
      std::make_shared<Upstream>(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server.port()));
  HealthCheckOptions options = FastChecks();
  options.interval = std::chrono::hours(1);
  options.timeout = std::chrono::minutes(1);
  auto checker = TcpHealthChecker::Start({upstream}, options);
  ASSERT_THAT(checker, IsOk());
  const auto start = steady_clock::now();
  (*checker)->Stop();
  (*checker)->Stop();
  EXPECT_LT(steady_clock::now() - start, std::chrono::seconds(1));
}

TEST(TcpHealthCheckerTest, RejectsBadOptions) {
  const auto with = [](auto change) {
    HealthCheckOptions options = FastChecks();
    change(options);
    return TcpHealthChecker::Start({}, options).status();
  };
  EXPECT_THAT(with([](HealthCheckOptions& o) { o.interval = {}; }),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("interval")));
  EXPECT_THAT(with([](HealthCheckOptions& o) { o.rise = 0; }),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("rise")));
  EXPECT_THAT(with([](HealthCheckOptions& o) { o.fall = 0; }),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("fall")));
  EXPECT_THAT(with([](HealthCheckOptions& o) { o.timeout = o.interval; }),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("shorter")));
  EXPECT_THAT(with([](HealthCheckOptions& o) { o.jitter = 0.9; }),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("jitter")));
}

}  // namespace
}  // namespace gatehouse::lb
