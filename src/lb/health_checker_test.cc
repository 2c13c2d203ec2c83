#include "lb/health_checker.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "base/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lb/testing/refusing_port.h"
#include "testing/loopback_server.h"
#include "testing/status_matchers.h"
#include "testing/wait_for.h"

namespace gatehouse::lb {
namespace {

using asio::ip::tcp;
using ::gatehouse::lb::testing::RefusingPort;
using ::gatehouse::testing::IsOk;
using ::gatehouse::testing::LoopbackServer;
using ::gatehouse::testing::StatusIs;
using ::gatehouse::testing::WaitFor;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

// For waits on checks 50 ms apart: only a checker that never gets there runs into it, never a
// slow machine. Tests assert on which checks a flag changed after, not on how long it took.
constexpr milliseconds kGenerous = std::chrono::minutes(1);

HealthCheckOptions FastChecks() {
  HealthCheckOptions options;
  options.interval = milliseconds(50);
  options.timeout = milliseconds(40);
  options.rise = 2;
  options.fall = 3;
  options.jitter = 0.1;
  return options;
}

std::shared_ptr<Upstream> At(uint16_t port) {
  return std::make_shared<Upstream>(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
}

// The checks one checker made, in order, each with the health its upstream had right after the
// check's verdict (read on the checker's thread, in HealthCheckOptions::on_check). Must outlive
// the checker it records. Thread-safe.
class CheckLog {
 public:
  std::function<void(const Upstream&, bool)> Recorder() {
    return [this](const Upstream& upstream, bool passed) {
      const bool healthy = upstream.is_healthy();
      base::MutexLock lock(&mu_);
      passed_.push_back(passed);
      healthy_after_.push_back(healthy);
    };
  }

  size_t size() const {
    base::MutexLock lock(&mu_);
    return passed_.size();
  }
  std::vector<bool> passed() const {
    base::MutexLock lock(&mu_);
    return passed_;
  }
  std::vector<bool> healthy_after() const {
    base::MutexLock lock(&mu_);
    return healthy_after_;
  }

 private:
  mutable base::Mutex mu_;
  std::vector<bool> passed_ ABSL_GUARDED_BY(mu_);
  std::vector<bool> healthy_after_ ABSL_GUARDED_BY(mu_);
};

// The health that the rise/fall rule gives after each of `passed`, starting from `healthy` with
// no passes or failures counted: unhealthy on the `fall`-th consecutive failure, healthy on the
// `rise`-th consecutive pass, unchanged otherwise.
std::vector<bool> HealthByRule(bool healthy, const std::vector<bool>& passed, uint32_t rise,
                               uint32_t fall) {
  std::vector<bool> health;
  uint32_t passes = 0;
  uint32_t failures = 0;
  for (const bool pass : passed) {
    passes = pass ? passes + 1 : 0;
    failures = pass ? 0 : failures + 1;
    if (passes >= rise) healthy = true;
    if (failures >= fall) healthy = false;
    health.push_back(healthy);
  }
  return health;
}

size_t Passes(const std::vector<bool>& passed) {
  return static_cast<size_t>(std::count(passed.begin(), passed.end(), true));
}

TEST(TcpHealthCheckerTest, FlipsExactlyAfterFallFailedAndThenRisePassedChecks) {
  auto refusing = std::make_unique<RefusingPort>();
  const uint16_t port = refusing->port();
  auto upstream = At(port);
  CheckLog log;
  HealthCheckOptions options = FastChecks();
  options.on_check = log.Recorder();
  auto checker = TcpHealthChecker::Start({upstream}, options);
  ASSERT_THAT(checker, IsOk());

  // Down from the start: every check is refused.
  ASSERT_TRUE(WaitFor([&] { return log.size() >= options.fall + 2; }, kGenerous));
  EXPECT_FALSE(upstream->is_healthy());

  // Up again on the same port.
  refusing.reset();
  LoopbackServer server(LoopbackServer::Echo(), port);
  ASSERT_TRUE(WaitFor([&] { return upstream->is_healthy(); }, kGenerous));
  const size_t checks_at_recovery = log.size();
  ASSERT_TRUE(WaitFor([&] { return log.size() >= checks_at_recovery + 2; }, kGenerous));
  (*checker)->Stop();

  const std::vector<bool> passed = log.passed();
  const std::vector<bool> healthy_after = log.healthy_after();
  for (size_t i = 0; i < options.fall + 2; ++i) {
    EXPECT_FALSE(passed[i]) << "check " << i << " passed against a refusing port";
  }
  EXPECT_TRUE(healthy_after[options.fall - 2]) << "unhealthy before `fall` failed checks";
  EXPECT_FALSE(healthy_after[options.fall - 1]) << "still healthy after `fall` failed checks";
  // Every flip, down and up, on exactly the check the rule says: the `fall`-th consecutive
  // failure and the `rise`-th consecutive pass. (A check that timed out against the live server
  // on a starved machine is a failure on both sides, so it cannot break this.)
  EXPECT_EQ(healthy_after, HealthByRule(true, passed, options.rise, options.fall));
  // Each passed check was a connection the listener received. The listener's count trails the
  // checker's by the accept, hence the wait.
  EXPECT_TRUE(WaitFor([&] { return server.accepted() >= Passes(passed); }, kGenerous))
      << server.accepted() << " connections for " << Passes(passed) << " passed checks";
}

TEST(TcpHealthCheckerTest, PassingCheckEndsAPassiveEjection) {
  LoopbackServer server;
  auto upstream = At(server.port());
  // A backoff longer than the test: only the active check can end this ejection.
  ASSERT_TRUE(upstream->RecordDialFailure(1, {std::chrono::hours(1), std::chrono::hours(1)}));
  ASSERT_FALSE(upstream->is_eligible());
  auto checker = TcpHealthChecker::Start({upstream}, FastChecks());
  ASSERT_THAT(checker, IsOk());
  EXPECT_TRUE(WaitFor([&] { return !upstream->is_ejected(); }, kGenerous));
  EXPECT_TRUE(upstream->is_eligible());
}

// A reload starts the new checker before it stops the old one, and their rise/fall differ:
// during the overlap only the new checker's verdicts may count.
TEST(TcpHealthCheckerTest, TheNewerCheckerGovernsFromTheHealthItFinds) {
  auto refusing = std::make_unique<RefusingPort>();
  const uint16_t port = refusing->port();
  auto upstream = At(port);
  upstream->SetHealthy(false);  // what the checkers before these two found

  // The old checker changes its mind on one check, either way.
  CheckLog old_log;
  HealthCheckOptions old_options = FastChecks();
  old_options.rise = 1;
  old_options.fall = 1;
  old_options.on_check = old_log.Recorder();
  auto old_checker = TcpHealthChecker::Start({upstream}, old_options);
  ASSERT_THAT(old_checker, IsOk());
  ASSERT_TRUE(WaitFor([&] { return old_log.size() >= 1; }, kGenerous));

  // The new one takes three.
  CheckLog new_log;
  HealthCheckOptions new_options = FastChecks();
  new_options.rise = 3;
  new_options.fall = 3;
  new_options.on_check = new_log.Recorder();
  auto new_checker = TcpHealthChecker::Start({upstream}, new_options);
  ASSERT_THAT(new_checker, IsOk());
  const size_t old_checks_at_takeover = old_log.size();
  EXPECT_FALSE(upstream->is_healthy()) << "a new checker must start from the health it finds";

  // Up, then down again, each until the flag follows.
  refusing.reset();
  auto server = std::make_unique<LoopbackServer>(LoopbackServer::Echo(), port);
  ASSERT_TRUE(WaitFor([&] { return upstream->is_healthy(); }, kGenerous));
  server.reset();
  refusing = std::make_unique<RefusingPort>(port);
  ASSERT_TRUE(WaitFor([&] { return !upstream->is_healthy(); }, kGenerous));
  (*old_checker)->Stop();
  (*new_checker)->Stop();

  // The flag followed the new checker's rise/fall on every one of its checks; the old checker
  // would have flipped it on the first check of each phase.
  EXPECT_EQ(new_log.healthy_after(),
            HealthByRule(false, new_log.passed(), new_options.rise, new_options.fall));
  // The old checker stopped probing (one check may have been under way at the takeover).
  EXPECT_LE(old_log.size(), old_checks_at_takeover + 1);
}

// A reload that fails after starting a new checker throws that checker away and keeps the old
// one: the old one must govern again.
TEST(TcpHealthCheckerTest, AnOlderCheckerTakesBackWhatAStoppedNewerOneGoverned) {
  RefusingPort refusing;
  auto upstream = At(refusing.port());
  CheckLog old_log;
  HealthCheckOptions old_options = FastChecks();
  old_options.on_check = old_log.Recorder();
  auto old_checker = TcpHealthChecker::Start({upstream}, old_options);
  ASSERT_THAT(old_checker, IsOk());
  CheckLog new_log;
  HealthCheckOptions new_options = FastChecks();
  new_options.fall = 1'000'000;  // will not mark it unhealthy within the test
  new_options.on_check = new_log.Recorder();
  auto new_checker = TcpHealthChecker::Start({upstream}, new_options);
  ASSERT_THAT(new_checker, IsOk());

  ASSERT_TRUE(WaitFor([&] { return new_log.size() >= old_options.fall + 1; }, kGenerous));
  EXPECT_TRUE(upstream->is_healthy()) << "the old checker's failed checks must not count";
  const size_t old_checks = old_log.size();

  (*new_checker)->Stop();
  EXPECT_TRUE(WaitFor([&] { return !upstream->is_healthy(); }, kGenerous))
      << "the old checker did not take the upstream back";
  EXPECT_TRUE(WaitFor([&] { return old_log.size() >= old_checks + old_options.fall; }, kGenerous));
}

TEST(TcpHealthCheckerTest, StopIsPromptAndIdempotent) {
  LoopbackServer server;
  auto upstream = At(server.port());
  HealthCheckOptions options = FastChecks();
  // The first check comes at a random point of the first day: a Stop that waited for it would
  // take longer than the bound below, except in about 0.07% of runs.
  options.interval = std::chrono::hours(24);
  options.timeout = std::chrono::hours(1);
  auto checker = TcpHealthChecker::Start({upstream}, options);
  ASSERT_THAT(checker, IsOk());
  const auto start = steady_clock::now();
  (*checker)->Stop();
  (*checker)->Stop();
  // Generous on purpose: joining an idle thread takes microseconds, even on a loaded machine.
  EXPECT_LT(steady_clock::now() - start, std::chrono::minutes(1));
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
