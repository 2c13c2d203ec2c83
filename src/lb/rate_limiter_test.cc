#include "lb/rate_limiter.h"

#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/fake_clock.h"
#include "testing/status_matchers.h"

namespace gatehouse::lb {
namespace {

using ::gatehouse::testing::FakeClock;
using ::gatehouse::testing::IsOk;
using ::gatehouse::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Le;

std::unique_ptr<RateLimiter> MakeLimiter(const RateLimitOptions& options, const FakeClock& clock) {
  absl::StatusOr<std::unique_ptr<RateLimiter>> limiter = RateLimiter::Create(options, &clock);
  EXPECT_THAT(limiter, IsOk());
  return limiter.ok() ? std::move(limiter).value() : nullptr;
}

RateLimitOptions RateOnly(double per_second, uint32_t burst, size_t max_keys = 100000) {
  RateLimitOptions options;
  options.connections_per_second = per_second;
  options.burst = burst;
  options.max_keys = max_keys;
  return options;
}

RateLimitOptions ConcurrencyOnly(uint32_t max_concurrent, size_t max_keys = 100000) {
  RateLimitOptions options;
  options.max_concurrent = max_concurrent;
  options.max_keys = max_keys;
  return options;
}

// Admits `key` repeatedly, dropping each permit at once, until refused; returns the admissions.
int AdmitUntilRefused(RateLimiter& limiter, absl::string_view key) {
  int admitted = 0;
  while (limiter.Admit(key).verdict == RateLimitVerdict::kAdmitted) {
    ++admitted;
    if (admitted > 1000) break;  // a limit that never refuses fails the caller's expectation
  }
  return admitted;
}

TEST(RateLimiterTest, BurstThenRefusalThenContinuousRefillCappedAtBurst) {
  FakeClock clock;
  auto limiter = MakeLimiter(RateOnly(10, 5), clock);
  ASSERT_NE(limiter, nullptr);

  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(limiter->Admit("alice").verdict, RateLimitVerdict::kAdmitted) << i;
  }
  EXPECT_EQ(limiter->Admit("alice").verdict, RateLimitVerdict::kRateLimited);

  clock.Advance(std::chrono::milliseconds(100));  // one token at 10/s
  EXPECT_EQ(limiter->Admit("alice").verdict, RateLimitVerdict::kAdmitted);
  EXPECT_EQ(limiter->Admit("alice").verdict, RateLimitVerdict::kRateLimited);

  clock.Advance(std::chrono::milliseconds(50));  // half a token is not a connection
  EXPECT_EQ(limiter->Admit("alice").verdict, RateLimitVerdict::kRateLimited);
  clock.Advance(std::chrono::milliseconds(50));
  EXPECT_EQ(limiter->Admit("alice").verdict, RateLimitVerdict::kAdmitted);

  clock.Advance(std::chrono::seconds(10));  // 100 tokens' worth, capped at the burst of 5
  EXPECT_EQ(AdmitUntilRefused(*limiter, "alice"), 5);
}

TEST(RateLimiterTest, LongIdlePeriodRefillsToBurstWithoutOverflow) {
  FakeClock clock;
  auto limiter = MakeLimiter(RateOnly(1e12, 3), clock);
  ASSERT_NE(limiter, nullptr);
  EXPECT_EQ(AdmitUntilRefused(*limiter, "alice"), 3);
  clock.Advance(std::chrono::hours(24 * 365 * 100));
  EXPECT_EQ(AdmitUntilRefused(*limiter, "alice"), 3);
}

TEST(RateLimiterTest, SlowRatesRefillFractionally) {
  FakeClock clock;
  auto limiter = MakeLimiter(RateOnly(0.5, 1), clock);  // one connection every two seconds
  ASSERT_NE(limiter, nullptr);
  EXPECT_EQ(limiter->Admit("alice").verdict, RateLimitVerdict::kAdmitted);
  clock.Advance(std::chrono::milliseconds(1999));
  EXPECT_EQ(limiter->Admit("alice").verdict, RateLimitVerdict::kRateLimited);
  clock.Advance(std::chrono::milliseconds(1));
  EXPECT_EQ(limiter->Admit("alice").verdict, RateLimitVerdict::kAdmitted);
}

TEST(RateLimiterTest, ClientsAreLimitedIndependently) {
  FakeClock clock;
  auto limiter = MakeLimiter(RateOnly(1, 2), clock);
  ASSERT_NE(limiter, nullptr);
  EXPECT_EQ(AdmitUntilRefused(*limiter, "alice"), 2);
  EXPECT_EQ(limiter->Admit("bob").verdict, RateLimitVerdict::kAdmitted);
  EXPECT_EQ(limiter->Admit("alice").verdict, RateLimitVerdict::kRateLimited);
  EXPECT_EQ(limiter->Admit("bob").verdict, RateLimitVerdict::kAdmitted);
  EXPECT_EQ(limiter->Admit("bob").verdict, RateLimitVerdict::kRateLimited);
  EXPECT_EQ(limiter->tracked_keys(), 2);
}

TEST(RateLimiterTest, ConcurrencyCapCountsLivePermits) {
  FakeClock clock;
  auto limiter = MakeLimiter(ConcurrencyOnly(2), clock);
  ASSERT_NE(limiter, nullptr);

  RateLimitDecision first = limiter->Admit("alice");
  RateLimitDecision second = limiter->Admit("alice");
  ASSERT_EQ(first.verdict, RateLimitVerdict::kAdmitted);
  ASSERT_EQ(second.verdict, RateLimitVerdict::kAdmitted);
  EXPECT_TRUE(first.permit.is_counted());
  EXPECT_TRUE(second.permit.is_counted());

  RateLimitDecision third = limiter->Admit("alice");
  EXPECT_EQ(third.verdict, RateLimitVerdict::kConcurrencyLimited);
  EXPECT_FALSE(third.permit.is_counted());
  EXPECT_EQ(limiter->Admit("bob").verdict, RateLimitVerdict::kAdmitted);  // bob's own cap

  { RateLimitPermit dropped = std::move(first.permit); }
  RateLimitDecision fourth = limiter->Admit("alice");
  EXPECT_EQ(fourth.verdict, RateLimitVerdict::kAdmitted);
  EXPECT_EQ(limiter->Admit("alice").verdict, RateLimitVerdict::kConcurrencyLimited);

  second.permit.Release();
  second.permit.Release();  // idempotent
  EXPECT_FALSE(second.permit.is_counted());
  EXPECT_EQ(limiter->Admit("alice").verdict, RateLimitVerdict::kAdmitted);
}

TEST(RateLimiterTest, MovedPermitsReleaseExactlyOnce) {
  FakeClock clock;
  auto limiter = MakeLimiter(ConcurrencyOnly(1), clock);
  ASSERT_NE(limiter, nullptr);

  RateLimitPermit moved_to;
  {
    RateLimitDecision decision = limiter->Admit("alice");
    ASSERT_EQ(decision.verdict, RateLimitVerdict::kAdmitted);
    RateLimitPermit constructed(std::move(decision.permit));
    // NOLINTNEXTLINE(bugprone-use-after-move): checks the moved-from state
    EXPECT_FALSE(decision.permit.is_counted());
    moved_to = std::move(constructed);
    // NOLINTNEXTLINE(bugprone-use-after-move): checks the moved-from state
    EXPECT_FALSE(constructed.is_counted());
    // The moved-from permits die here and must release nothing.
  }
  EXPECT_TRUE(moved_to.is_counted());
  EXPECT_EQ(limiter->Admit("alice").verdict, RateLimitVerdict::kConcurrencyLimited);

  // Move-assigning over a counted permit releases the connection it held.
  RateLimitDecision bob = limiter->Admit("bob");
  ASSERT_EQ(bob.verdict, RateLimitVerdict::kAdmitted);
  moved_to = std::move(bob.permit);
  EXPECT_EQ(limiter->Admit("bob").verdict, RateLimitVerdict::kConcurrencyLimited);
  RateLimitDecision alice = limiter->Admit("alice");
  EXPECT_EQ(alice.verdict, RateLimitVerdict::kAdmitted);

  moved_to = RateLimitPermit();
  EXPECT_EQ(limiter->Admit("bob").verdict, RateLimitVerdict::kAdmitted);
}

TEST(RateLimiterTest, RefusedByConcurrencyTakesNoToken) {
  FakeClock clock;
  RateLimitOptions options = RateOnly(1, 3);
  options.max_concurrent = 1;
  auto limiter = MakeLimiter(options, clock);
  ASSERT_NE(limiter, nullptr);

  {
    RateLimitDecision held = limiter->Admit("alice");  // 2 tokens left
    ASSERT_EQ(held.verdict, RateLimitVerdict::kAdmitted);
    for (int i = 0; i < 10; ++i) {
      RateLimitDecision refused = limiter->Admit("alice");
      EXPECT_EQ(refused.verdict, RateLimitVerdict::kConcurrencyLimited);
      EXPECT_FALSE(refused.permit.is_counted());
    }
  }
  // Still exactly the two tokens the first connection left.
  EXPECT_EQ(AdmitUntilRefused(*limiter, "alice"), 2);
  EXPECT_EQ(limiter->Admit("alice").verdict, RateLimitVerdict::kRateLimited);
}

TEST(RateLimiterTest, RefusedByRateIsNotCounted) {
  FakeClock clock;
  RateLimitOptions options = RateOnly(1, 1);
  options.max_concurrent = 2;
  auto limiter = MakeLimiter(options, clock);
  ASSERT_NE(limiter, nullptr);

  RateLimitDecision first = limiter->Admit("alice");
  ASSERT_EQ(first.verdict, RateLimitVerdict::kAdmitted);
  RateLimitDecision refused = limiter->Admit("alice");
  EXPECT_EQ(refused.verdict, RateLimitVerdict::kRateLimited);
  EXPECT_FALSE(refused.permit.is_counted());

  clock.Advance(std::chrono::seconds(1));
  RateLimitDecision second = limiter->Admit("alice");  // the refusal did not take a slot
  EXPECT_EQ(second.verdict, RateLimitVerdict::kAdmitted);
  clock.Advance(std::chrono::seconds(1));
  EXPECT_EQ(limiter->Admit("alice").verdict, RateLimitVerdict::kConcurrencyLimited);
}

TEST(RateLimiterTest, BothLimitsOffAdmitsEverythingWithoutTracking) {
  FakeClock clock;
  auto limiter = MakeLimiter(RateLimitOptions{}, clock);
  ASSERT_NE(limiter, nullptr);
  for (int i = 0; i < 1000; ++i) {
    RateLimitDecision decision = limiter->Admit("alice");
    EXPECT_EQ(decision.verdict, RateLimitVerdict::kAdmitted);
    EXPECT_FALSE(decision.permit.is_counted());
  }
  EXPECT_EQ(limiter->tracked_keys(), 0);
}

TEST(RateLimiterTest, FloodOfDistinctKeysStaysWithinMaxKeys) {
  FakeClock clock;
  auto limiter = MakeLimiter(RateOnly(1, 1, /*max_keys=*/10000), clock);
  ASSERT_NE(limiter, nullptr);

  int admitted = 0;
  for (int i = 0; i < 1000000; ++i) {
    const RateLimitVerdict verdict = limiter->Admit(absl::StrCat("client-", i)).verdict;
    if (verdict == RateLimitVerdict::kAdmitted) {
      ++admitted;
    } else {
      ASSERT_EQ(verdict, RateLimitVerdict::kTooManyKeys) << i;
    }
  }
  // Every entry has a drained bucket, so none may go: each shard filled to its share, exactly.
  EXPECT_EQ(admitted, 10000);
  EXPECT_EQ(limiter->tracked_keys(), 10000);

  // Once their buckets refill, old entries give way to new keys.
  clock.Advance(std::chrono::seconds(1));
  admitted = 0;
  for (int i = 0; i < 100000; ++i) {
    if (limiter->Admit(absl::StrCat("second-wave-", i)).verdict == RateLimitVerdict::kAdmitted) {
      ++admitted;
    }
  }
  EXPECT_EQ(admitted, 10000);
  EXPECT_EQ(limiter->tracked_keys(), 10000);
}

TEST(RateLimiterTest, OnlyEntriesThatRefilledCompletelyAreSwept) {
  FakeClock clock;
  auto limiter = MakeLimiter(RateOnly(1, 2, /*max_keys=*/32), clock);
  ASSERT_NE(limiter, nullptr);

  std::vector<std::string> keys;
  for (int i = 0; keys.size() < 1000; ++i) keys.push_back(absl::StrCat("client-", i));
  int admitted = 0;
  for (const std::string& key : keys) {
    if (limiter->Admit(key).verdict == RateLimitVerdict::kAdmitted) ++admitted;
  }
  ASSERT_EQ(admitted, 32);
  ASSERT_EQ(limiter->tracked_keys(), 32);

  // Every bucket is at 1 of 2 tokens; after 0.5 s it is at 1.5: partly drained, so kept, or a
  // client could reset its limit by making others flood the table.
  clock.Advance(std::chrono::milliseconds(500));
  EXPECT_EQ(limiter->Admit("newcomer").verdict, RateLimitVerdict::kTooManyKeys);

  clock.Advance(std::chrono::milliseconds(500));
  EXPECT_EQ(limiter->Admit("newcomer").verdict, RateLimitVerdict::kAdmitted);
  EXPECT_THAT(limiter->tracked_keys(), Le(32));
}

TEST(RateLimiterTest, KeyWithLivePermitSurvivesFloodAndKeepsItsCap) {
  FakeClock clock;
  RateLimitOptions options = RateOnly(1, 1, /*max_keys=*/64);
  options.max_concurrent = 1;
  auto limiter = MakeLimiter(options, clock);
  ASSERT_NE(limiter, nullptr);

  RateLimitDecision held = limiter->Admit("held");
  ASSERT_EQ(held.verdict, RateLimitVerdict::kAdmitted);
  int admitted = 0;
  for (int i = 0; i < 100000; ++i) {
    // Each second every released entry refills and becomes sweepable, so the table churns.
    if (i % 100 == 0) clock.Advance(std::chrono::seconds(1));
    if (limiter->Admit(absl::StrCat("flood-", i)).verdict == RateLimitVerdict::kAdmitted) {
      ++admitted;
    }
    ASSERT_LE(limiter->tracked_keys(), 64);
  }
  EXPECT_GT(admitted, 64);  // sweeping made room over and over

  EXPECT_EQ(limiter->Admit("held").verdict, RateLimitVerdict::kConcurrencyLimited);
  held.permit.Release();
  EXPECT_EQ(limiter->Admit("held").verdict, RateLimitVerdict::kAdmitted);
}

TEST(RateLimiterTest, FullOfBusyEntriesRefusesNewKeysUntilReleased) {
  FakeClock clock;
  auto limiter = MakeLimiter(ConcurrencyOnly(1, /*max_keys=*/32), clock);
  ASSERT_NE(limiter, nullptr);

  std::vector<RateLimitPermit> permits;
  int too_many_keys = 0;
  for (int i = 0; i < 1000; ++i) {
    RateLimitDecision decision = limiter->Admit(absl::StrCat("client-", i));
    if (decision.verdict == RateLimitVerdict::kAdmitted) {
      permits.push_back(std::move(decision.permit));
    } else {
      EXPECT_EQ(decision.verdict, RateLimitVerdict::kTooManyKeys);
      EXPECT_FALSE(decision.permit.is_counted());
      ++too_many_keys;
    }
  }
  EXPECT_EQ(permits.size(), 32);
  EXPECT_EQ(too_many_keys, 1000 - 32);
  EXPECT_EQ(limiter->tracked_keys(), 32);

  // Without a rate limit an entry is dropped as soon as its last permit goes.
  permits.clear();
  EXPECT_EQ(limiter->tracked_keys(), 0);
  EXPECT_EQ(limiter->Admit("newcomer").verdict, RateLimitVerdict::kAdmitted);
}

TEST(RateLimiterTest, PermitMayOutliveLimiter) {
  FakeClock clock;
  auto limiter = MakeLimiter(ConcurrencyOnly(1), clock);
  ASSERT_NE(limiter, nullptr);
  RateLimitDecision decision = limiter->Admit("alice");
  ASSERT_TRUE(decision.permit.is_counted());
  limiter.reset();  // a reload replaced it; the connection is still open
  decision.permit.Release();
  EXPECT_FALSE(decision.permit.is_counted());
}

TEST(RateLimiterTest, VerdictNames) {
  EXPECT_EQ(RateLimitVerdictName(RateLimitVerdict::kAdmitted), "admitted");
  EXPECT_EQ(RateLimitVerdictName(RateLimitVerdict::kRateLimited), "rate_limited");
  EXPECT_EQ(RateLimitVerdictName(RateLimitVerdict::kConcurrencyLimited), "concurrency_limited");
  EXPECT_EQ(RateLimitVerdictName(RateLimitVerdict::kTooManyKeys), "too_many_keys");
}

struct BadOptionsCase {
  std::string name;
  RateLimitOptions options;
  std::string message;
};

TEST(RateLimiterTest, CreateRejectsBadOptions) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  const std::vector<BadOptionsCase> cases = {
      {"negative rate", RateOnly(-1, 1), "connections_per_second"},
      {"NaN rate", RateOnly(std::nan(""), 1), "connections_per_second"},
      {"infinite rate", RateOnly(kInf, 1), "connections_per_second"},
      {"negative infinite rate", RateOnly(-kInf, 1), "connections_per_second"},
      {"rate without burst", RateOnly(10, 0), "burst"},
      {"no room for keys", RateOnly(10, 5, /*max_keys=*/0), "max_keys"},
      {"no room for keys, concurrency only", ConcurrencyOnly(1, /*max_keys=*/0), "max_keys"},
  };
  FakeClock clock;
  for (const BadOptionsCase& test_case : cases) {
    EXPECT_THAT(RateLimiter::Create(test_case.options, &clock),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(test_case.message)))
        << test_case.name;
  }
}

TEST(RateLimiterTest, CreateAcceptsEdgeOptions) {
  FakeClock clock;
  EXPECT_THAT(RateLimiter::Create(RateLimitOptions{}, &clock), IsOk());
  EXPECT_THAT(RateLimiter::Create(RateOnly(1e-9, 1, /*max_keys=*/1), &clock), IsOk());
  EXPECT_THAT(RateLimiter::Create(ConcurrencyOnly(1, /*max_keys=*/3), &clock), IsOk());
  RateLimitOptions burst_without_rate;
  burst_without_rate.burst = 5;  // ignored without a rate
  EXPECT_THAT(RateLimiter::Create(burst_without_rate, &clock), IsOk());
}

TEST(RateLimiterTest, ConcurrentAdmitAndReleaseLeaveNoConnectionCounted) {
  FakeClock clock;
  RateLimitOptions options = RateOnly(1000, 2, /*max_keys=*/8);
  options.max_concurrent = 1;
  auto limiter = MakeLimiter(options, clock);
  ASSERT_NE(limiter, nullptr);

  std::vector<std::string> keys;
  keys.reserve(12);
  for (int i = 0; i < 12; ++i) keys.push_back(absl::StrCat("client-", i));
  constexpr int kThreads = 4;
  constexpr int kIterations = 10000;
  std::vector<int> admitted(kThreads, 0);
  {
    std::vector<std::jthread> threads;
    threads.reserve(kThreads);
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        // Each thread keeps up to two permits alive across iterations, moving them around, so
        // releases interleave with other threads' admissions of the same keys.
        RateLimitPermit older;
        RateLimitPermit newer;
        for (int i = 0; i < kIterations; ++i) {
          if (t == 0 && i % 8 == 0) clock.Advance(std::chrono::milliseconds(1));
          RateLimitDecision decision = limiter->Admit(keys[(i * 7 + t) % keys.size()]);
          if (decision.verdict != RateLimitVerdict::kAdmitted) continue;
          ++admitted[t];
          older = std::move(newer);
          newer = std::move(decision.permit);
        }
      });
    }
  }
  int total_admitted = 0;
  for (int count : admitted) total_admitted += count;
  EXPECT_GT(total_admitted, 0);
  EXPECT_LE(limiter->tracked_keys(), 8);

  // Every permit is gone, so every key is back to zero connections: once the buckets refill
  // (and so every entry may be swept to make room), each key admits exactly one connection and
  // then hits its cap of one.
  for (const std::string& key : keys) {
    clock.Advance(std::chrono::seconds(10));
    RateLimitDecision first = limiter->Admit(key);
    EXPECT_EQ(first.verdict, RateLimitVerdict::kAdmitted) << key;
    EXPECT_EQ(limiter->Admit(key).verdict, RateLimitVerdict::kConcurrencyLimited) << key;
  }
}

}  // namespace
}  // namespace gatehouse::lb
