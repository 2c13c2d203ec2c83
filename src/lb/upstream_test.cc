#include "lb/upstream.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "asio/ip/address_v4.hpp"
#include "base/clock.h"
#include "gtest/gtest.h"
#include "testing/fake_clock.h"

namespace gatehouse::lb {
namespace {

using ::gatehouse::testing::FakeClock;
using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

constexpr EjectionBackoff kBackoff{seconds(1), seconds(60)};
constexpr nanoseconds kTrialTimeout = seconds(5);

// Balancers and these tests never connect, so the port is made up.
asio::ip::tcp::endpoint Endpoint() { return {asio::ip::address_v4::loopback(), 10001}; }

// A clock that stands still and counts how often it is read.
class CountingClock final : public base::Clock {
 public:
  std::chrono::steady_clock::time_point Now() const override {
    reads_.fetch_add(1, std::memory_order_relaxed);
    return std::chrono::steady_clock::time_point(hours(24));
  }
  int64_t reads() const { return reads_.load(std::memory_order_relaxed); }

 private:
  mutable std::atomic<int64_t> reads_{0};
};

TEST(UpstreamEjectionTest, EndsWithATrialDialOnceTheBackoffIsOver) {
  FakeClock clock;
  Upstream upstream(Endpoint(), &clock);
  EXPECT_FALSE(upstream.RecordDialFailure(3, kBackoff));
  EXPECT_FALSE(upstream.RecordDialFailure(3, kBackoff));
  EXPECT_TRUE(upstream.is_eligible()) << "two failures are below eject_after";
  EXPECT_TRUE(upstream.RecordDialFailure(3, kBackoff));
  EXPECT_TRUE(upstream.is_ejected());
  EXPECT_FALSE(upstream.is_eligible());
  EXPECT_FALSE(upstream.AdmitDial(kTrialTimeout).admitted);

  clock.Advance(kBackoff.initial - nanoseconds(1));
  EXPECT_FALSE(upstream.is_eligible()) << "the backoff is not over yet";
  clock.Advance(nanoseconds(1));
  EXPECT_TRUE(upstream.is_eligible());
  EXPECT_TRUE(upstream.is_ejected()) << "eligible for its trial, but not readmitted yet";

  const DialTicket trial = upstream.AdmitDial(kTrialTimeout);
  ASSERT_TRUE(trial.admitted);
  ASSERT_TRUE(trial.is_trial());
  EXPECT_FALSE(upstream.is_eligible()) << "one trial at a time";
  EXPECT_FALSE(upstream.AdmitDial(kTrialTimeout).admitted);

  EXPECT_TRUE(upstream.RecordDialSuccess(trial));
  EXPECT_FALSE(upstream.is_ejected());
  EXPECT_TRUE(upstream.is_eligible());
  const DialTicket next = upstream.AdmitDial(kTrialTimeout);
  EXPECT_TRUE(next.admitted);
  EXPECT_FALSE(next.is_trial());
}

TEST(UpstreamEjectionTest, EachFailedTrialDoublesTheBackoffUpToItsMax) {
  FakeClock clock;
  Upstream upstream(Endpoint(), &clock);
  ASSERT_TRUE(upstream.RecordDialFailure(1, kBackoff));
  // initial = 1 s, doubled after each failed trial, capped at max = 60 s.
  const int64_t expected_seconds[] = {1, 2, 4, 8, 16, 32, 60, 60};
  for (const int64_t backoff_seconds : expected_seconds) {
    SCOPED_TRACE(::testing::Message() << "backoff " << backoff_seconds << " s");
    clock.Advance(seconds(backoff_seconds) - nanoseconds(1));
    EXPECT_FALSE(upstream.is_eligible());
    clock.Advance(nanoseconds(1));
    ASSERT_TRUE(upstream.is_eligible());
    const DialTicket trial = upstream.AdmitDial(kTrialTimeout);
    ASSERT_TRUE(trial.is_trial());
    // eject_after is far above the failures counted: a failed trial ejects on its own.
    EXPECT_TRUE(upstream.RecordDialFailure(100, kBackoff, trial));
    EXPECT_TRUE(upstream.is_ejected());
  }
}

TEST(UpstreamEjectionTest, APassedTrialResetsTheBackoff) {
  FakeClock clock;
  Upstream upstream(Endpoint(), &clock);
  ASSERT_TRUE(upstream.RecordDialFailure(1, kBackoff));
  clock.Advance(seconds(1));
  ASSERT_TRUE(upstream.RecordDialFailure(1, kBackoff, upstream.AdmitDial(kTrialTimeout)));
  clock.Advance(seconds(2));
  ASSERT_TRUE(upstream.RecordDialSuccess(upstream.AdmitDial(kTrialTimeout)));

  ASSERT_TRUE(upstream.RecordDialFailure(1, kBackoff));
  clock.Advance(seconds(1) - nanoseconds(1));
  EXPECT_FALSE(upstream.is_eligible());
  clock.Advance(nanoseconds(1));
  EXPECT_TRUE(upstream.is_eligible()) << "the backoff is back to its initial 1 s";
}

TEST(UpstreamEjectionTest, APassingActiveCheckEndsItAtOnceAndResetsTheBackoff) {
  FakeClock clock;
  Upstream upstream(Endpoint(), &clock);
  ASSERT_TRUE(upstream.RecordDialFailure(1, kBackoff));
  clock.Advance(seconds(1));
  ASSERT_TRUE(upstream.RecordDialFailure(1, kBackoff, upstream.AdmitDial(kTrialTimeout)));
  upstream.ClaimActiveHealth(7);
  ASSERT_TRUE(upstream.SetHealthyByChecker(7, true));
  EXPECT_FALSE(upstream.is_ejected());
  EXPECT_TRUE(upstream.is_eligible()) << "no need to wait for the 2 s backoff";

  ASSERT_TRUE(upstream.RecordDialFailure(1, kBackoff));
  clock.Advance(seconds(1));
  EXPECT_TRUE(upstream.is_eligible()) << "the backoff is back to its initial 1 s";
}

TEST(UpstreamEjectionTest, DialsAdmittedBeforeTheEjectionNeitherExtendNorEndIt) {
  FakeClock clock;
  Upstream upstream(Endpoint(), &clock);
  const DialTicket early_failure = upstream.AdmitDial(kTrialTimeout);
  const DialTicket early_success = upstream.AdmitDial(kTrialTimeout);
  ASSERT_FALSE(early_failure.is_trial());
  ASSERT_TRUE(upstream.RecordDialFailure(1, kBackoff));
  clock.Advance(milliseconds(500));
  EXPECT_FALSE(upstream.RecordDialFailure(1, kBackoff, early_failure));
  EXPECT_FALSE(upstream.RecordDialSuccess(early_success));
  EXPECT_TRUE(upstream.is_ejected());
  EXPECT_FALSE(upstream.is_eligible());
  clock.Advance(milliseconds(500));
  EXPECT_TRUE(upstream.is_eligible()) << "the ejection still ends 1 s after it began";
}

TEST(UpstreamEjectionTest, AnAbandonedTrialLapsesAfterItsTimeout) {
  FakeClock clock;
  Upstream upstream(Endpoint(), &clock);
  ASSERT_TRUE(upstream.RecordDialFailure(1, kBackoff));
  clock.Advance(seconds(1));
  const DialTicket abandoned = upstream.AdmitDial(kTrialTimeout);
  ASSERT_TRUE(abandoned.is_trial());
  clock.Advance(kTrialTimeout - nanoseconds(1));
  EXPECT_FALSE(upstream.is_eligible());
  clock.Advance(nanoseconds(1));
  ASSERT_TRUE(upstream.is_eligible()) << "a trial that never reports must not eject for good";
  const DialTicket second = upstream.AdmitDial(kTrialTimeout);
  ASSERT_TRUE(second.is_trial());
  EXPECT_NE(second.trial, abandoned.trial);

  // The abandoned trial reporting late is an ordinary failure (2 consecutive, below 5).
  EXPECT_FALSE(upstream.RecordDialFailure(5, kBackoff, abandoned));
  EXPECT_FALSE(upstream.is_eligible()) << "the second trial still holds the upstream";
  EXPECT_TRUE(upstream.RecordDialSuccess(second));
  EXPECT_FALSE(upstream.is_ejected());
}

TEST(UpstreamEjectionTest, AFailedTrialEndsTheEjectionOnceEjectionIsTurnedOff) {
  FakeClock clock;
  Upstream upstream(Endpoint(), &clock);
  ASSERT_TRUE(upstream.RecordDialFailure(1, kBackoff));
  clock.Advance(seconds(1));
  // A reload set eject_after_failures to 0 meanwhile.
  EXPECT_FALSE(upstream.RecordDialFailure(0, kBackoff, upstream.AdmitDial(kTrialTimeout)));
  EXPECT_FALSE(upstream.is_ejected());
  EXPECT_TRUE(upstream.is_eligible());
}

TEST(UpstreamEjectionTest, IsEligibleReadsTheClockOnlyWhileEjected) {
  CountingClock clock;
  Upstream upstream(Endpoint(), &clock);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(upstream.is_eligible());
    const DialTicket ticket = upstream.AdmitDial(kTrialTimeout);
    ASSERT_TRUE(ticket.admitted);
    upstream.RecordDialSuccess(ticket);
  }
  EXPECT_EQ(clock.reads(), 0) << "the per-connection path of a healthy upstream reads no clock";

  ASSERT_TRUE(upstream.RecordDialFailure(1, kBackoff));
  const int64_t reads = clock.reads();
  EXPECT_FALSE(upstream.is_eligible());
  EXPECT_EQ(clock.reads(), reads + 1);
}

TEST(UpstreamEjectionTest, ConcurrentDialsGetOneTrialAtATime) {
  FakeClock clock;  // stands still: only the trials end ejections
  Upstream upstream(Endpoint(), &clock);
  // No backoff: each failed trial makes the upstream eligible for the next one at once, so the
  // threads contend for every trial.
  constexpr EjectionBackoff kNoBackoff{nanoseconds(0), nanoseconds(0)};
  ASSERT_TRUE(upstream.RecordDialFailure(1, kNoBackoff));
  std::atomic<int> in_trial{0};
  std::atomic<int> overlaps{0};
  std::atomic<int> trials{0};
  std::atomic<int> ordinary{0};
  constexpr int kThreads = 4;
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5000; ++i) {
        (void)upstream.is_eligible();  // what balancers do meanwhile
        const DialTicket ticket = upstream.AdmitDial(hours(1));
        if (!ticket.admitted) continue;
        if (!ticket.is_trial()) {
          ordinary.fetch_add(1);
          continue;
        }
        if (in_trial.fetch_add(1) != 0) overlaps.fetch_add(1);
        trials.fetch_add(1);
        in_trial.fetch_sub(1);
        EXPECT_TRUE(upstream.RecordDialFailure(1, kNoBackoff, ticket));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(overlaps.load(), 0);
  EXPECT_EQ(ordinary.load(), 0) << "an ejected upstream admits trials only";
  EXPECT_GT(trials.load(), 0);
  EXPECT_TRUE(upstream.is_ejected());
}

TEST(UpstreamActiveHealthTest, OnlyTheNewestCheckerSetsHealth) {
  Upstream upstream(Endpoint());
  upstream.ClaimActiveHealth(1);
  upstream.ClaimActiveHealth(2);
  upstream.ClaimActiveHealth(1);  // a late claim of the older checker does not win it back
  EXPECT_FALSE(upstream.SetHealthyByChecker(1, false));
  EXPECT_TRUE(upstream.is_healthy());
  EXPECT_TRUE(upstream.SetHealthyByChecker(2, false));
  EXPECT_FALSE(upstream.is_healthy());
  EXPECT_FALSE(upstream.SetHealthyByChecker(1, true));
  EXPECT_FALSE(upstream.is_healthy());
  EXPECT_FALSE(upstream.TryGovernActiveHealth(1));
  EXPECT_TRUE(upstream.TryGovernActiveHealth(2));
}

TEST(UpstreamActiveHealthTest, AClaimKeepsHealthAndEjection) {
  Upstream upstream(Endpoint());
  upstream.ClaimActiveHealth(1);
  ASSERT_TRUE(upstream.SetHealthyByChecker(1, false));
  ASSERT_TRUE(upstream.RecordDialFailure(1, {hours(1), hours(1)}));
  upstream.ClaimActiveHealth(2);
  EXPECT_FALSE(upstream.is_healthy());
  EXPECT_TRUE(upstream.is_ejected());
}

TEST(UpstreamActiveHealthTest, AReleasedUpstreamGoesToTheNextCheckerThatAsks) {
  Upstream upstream(Endpoint());
  upstream.ClaimActiveHealth(1);
  upstream.ClaimActiveHealth(2);
  upstream.ReleaseActiveHealth(1);  // does not govern: no effect
  EXPECT_FALSE(upstream.TryGovernActiveHealth(1));
  ASSERT_TRUE(upstream.SetHealthyByChecker(2, false));
  upstream.ReleaseActiveHealth(2);
  EXPECT_FALSE(upstream.is_healthy()) << "releasing keeps the health";
  EXPECT_TRUE(upstream.TryGovernActiveHealth(1)) << "a checker still running takes it back";
  EXPECT_FALSE(upstream.TryGovernActiveHealth(2));
  EXPECT_TRUE(upstream.SetHealthyByChecker(1, true));
  EXPECT_TRUE(upstream.is_healthy());
}

}  // namespace
}  // namespace gatehouse::lb
