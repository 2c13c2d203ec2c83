// GlobalRateLimiter against a real redis-server: the overshoot bound on one node and on three
// nodes sharing one Redis, fallback while Redis is down, recovery, and the per-node limits.
// Redis dates refills with its own clock, so these tests run in real time, for bounded periods.
#include "globallimit/global_rate_limiter.h"

#include <atomic>
#include <chrono>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/redis_server.h"
#include "testing/status_matchers.h"
#include "testing/wait_for.h"

namespace gatehouse::globallimit {
namespace {

using ::gatehouse::testing::IsOk;
using ::gatehouse::testing::RedisServer;
using ::gatehouse::testing::StatusIs;
using ::gatehouse::testing::WaitFor;
using lb::RateLimitVerdict;
using std::chrono::steady_clock;
using ::testing::HasSubstr;

constexpr double kRate = 50;
constexpr uint32_t kBurst = 50;

GlobalRateLimitOptions Limit(Fallback fallback = Fallback::kLocal) {
  GlobalRateLimitOptions options;
  options.app = "web";
  options.connections_per_second = kRate;
  options.burst = kBurst;
  options.fallback = fallback;
  return options;
}

double Seconds(steady_clock::duration duration) {
  return std::chrono::duration<double>(duration).count();
}

// Calls Admit(identity) until `duration` has passed; returns the admissions. Yields between
// calls so that the leaser threads (and Redis) get a core on small machines.
uint64_t Hammer(GlobalRateLimiter& limiter, const std::string& identity,
                steady_clock::time_point until) {
  uint64_t admitted = 0;
  while (steady_clock::now() < until) {
    if (limiter.Admit(identity).verdict == RateLimitVerdict::kAdmitted) ++admitted;
    std::this_thread::yield();
  }
  return admitted;
}

class GlobalRateLimiterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!RedisServer::IsInstalled()) GTEST_SKIP() << RedisServer::kBinary << " is not installed";
    server_ = std::make_unique<RedisServer>();
    ASSERT_TRUE(server_->is_running());
  }

  // A node: its own leaser, connected.
  std::shared_ptr<RedisLeaser> StartLeaser() {
    RedisOptions options;
    options.port = server_->port();
    options.password = server_->password();
    options.timeout = std::chrono::seconds(2);  // a loaded machine may stall Redis
    absl::StatusOr<std::shared_ptr<RedisLeaser>> leaser =
        RedisLeaser::Start(options, &base::SystemClock());
    EXPECT_THAT(leaser, IsOk());
    if (!leaser.ok()) return nullptr;
    EXPECT_TRUE(WaitFor([&] { return (*leaser)->redis_up(); }));
    return *std::move(leaser);
  }

  std::unique_ptr<GlobalRateLimiter> MakeLimiter(const GlobalRateLimitOptions& options,
                                                 std::shared_ptr<RedisLeaser> leaser) {
    absl::StatusOr<std::unique_ptr<GlobalRateLimiter>> limiter =
        GlobalRateLimiter::Create(options, std::move(leaser), &base::SystemClock());
    EXPECT_THAT(limiter, IsOk());
    return limiter.ok() ? *std::move(limiter) : nullptr;
  }

  std::unique_ptr<RedisServer> server_;
};

TEST_F(GlobalRateLimiterTest, RejectsInvalidOptions) {
  std::shared_ptr<RedisLeaser> leaser = StartLeaser();
  struct Case {
    const char* name = "";
    GlobalRateLimitOptions options;
  };
  std::vector<Case> cases(6, Case{"", Limit()});
  cases[0].name = "empty app";
  cases[0].options.app = "";
  cases[1].name = "rate 0";
  cases[1].options.connections_per_second = 0;
  cases[2].name = "negative rate";
  cases[2].options.connections_per_second = -1;
  cases[3].name = "infinite rate";
  cases[3].options.connections_per_second = std::numeric_limits<double>::infinity();
  cases[4].name = "burst 0";
  cases[4].options.burst = 0;
  cases[5].name = "max_keys 0";
  cases[5].options.max_keys = 0;
  for (const Case& c : cases) {
    EXPECT_THAT(GlobalRateLimiter::Create(c.options, leaser, &base::SystemClock()),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("global rate limit")))
        << c.name;
  }
  EXPECT_THAT(GlobalRateLimiter::Create(Limit(), nullptr, &base::SystemClock()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("leaser")));
}

TEST_F(GlobalRateLimiterTest, DefaultLeaseIsATenthOfASecondOfTraffic) {
  std::shared_ptr<RedisLeaser> leaser = StartLeaser();
  const struct {
    double rate;
    uint32_t lease_size;
  } cases[] = {{50, 5}, {55, 6}, {5, 1}, {0.5, 1}, {1000, 100}};
  for (const auto& c : cases) {
    GlobalRateLimitOptions options = Limit();
    options.connections_per_second = c.rate;
    SCOPED_TRACE(absl::StrCat("rate ", c.rate));
    EXPECT_EQ(MakeLimiter(options, leaser)->options().lease_size, c.lease_size);
  }
  GlobalRateLimitOptions options = Limit();
  options.lease_size = 7;
  EXPECT_EQ(MakeLimiter(options, leaser)->options().lease_size, 7U);
}

TEST_F(GlobalRateLimiterTest, NewIdentityIsAdmittedOnCreditAndPaysItBack) {
  std::shared_ptr<RedisLeaser> leaser = StartLeaser();
  std::unique_ptr<GlobalRateLimiter> limiter = MakeLimiter(Limit(), leaser);
  // Credit: lease_size (5) admissions without any Redis round trip.
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(limiter->Admit("alice").verdict, RateLimitVerdict::kAdmitted);
  }
  EXPECT_EQ(limiter->stats().credit_admitted, 3U);
  // The third left 2 < 5/2 tokens: a lease went out, paying the debt of 5 and leasing 5.
  ASSERT_TRUE(WaitFor([&] { return leaser->stats().leases == 1; }));
  EXPECT_EQ(leaser->stats().tokens_leased, 5U);
  EXPECT_EQ(limiter->tracked_identities(), 1U);
  EXPECT_EQ(limiter->stats().fallback_admitted, 0U);
}

TEST_F(GlobalRateLimiterTest, OneNodeStaysWithinBound) {
  std::shared_ptr<RedisLeaser> leaser = StartLeaser();
  std::unique_ptr<GlobalRateLimiter> limiter = MakeLimiter(Limit(), leaser);
  const uint32_t lease = limiter->options().lease_size;
  const steady_clock::time_point start = steady_clock::now();
  const uint64_t admitted = Hammer(*limiter, "alice", start + std::chrono::milliseconds(1500));
  const double elapsed = Seconds(steady_clock::now() - start);
  const double bound = kBurst + kRate * elapsed + lease;
  SCOPED_TRACE(absl::StrCat("admitted ", admitted, " in ", elapsed, " s"));
  RecordProperty("admitted", absl::StrCat(admitted, " in ", elapsed, " s, bound ", bound));
  EXPECT_LE(static_cast<double>(admitted), bound);
  EXPECT_GE(static_cast<double>(admitted), 0.6 * (kBurst + kRate * elapsed));
  EXPECT_EQ(limiter->stats().fallback_admitted, 0U);
  EXPECT_EQ(limiter->stats().global_admitted, admitted);
}

TEST_F(GlobalRateLimiterTest, ThreeNodesShareOneLimit) {
  constexpr int kNodes = 3;
  std::vector<std::shared_ptr<RedisLeaser>> leasers;
  std::vector<std::unique_ptr<GlobalRateLimiter>> limiters;
  leasers.reserve(kNodes);
  limiters.reserve(kNodes);
  for (int i = 0; i < kNodes; ++i) {
    leasers.push_back(StartLeaser());
    limiters.push_back(MakeLimiter(Limit(), leasers.back()));
  }
  const uint32_t lease = limiters[0]->options().lease_size;
  std::vector<uint64_t> admitted(kNodes, 0);
  std::vector<std::thread> nodes;
  nodes.reserve(kNodes);
  const steady_clock::time_point start = steady_clock::now();
  const steady_clock::time_point until = start + std::chrono::milliseconds(2500);
  for (int i = 0; i < kNodes; ++i) {
    nodes.emplace_back(
        [&limiters, &admitted, i, until] { admitted[i] = Hammer(*limiters[i], "alice", until); });
  }
  for (std::thread& node : nodes) node.join();
  const double elapsed = Seconds(steady_clock::now() - start);
  uint64_t total = 0;
  for (int i = 0; i < kNodes; ++i) {
    total += admitted[i];
    EXPECT_EQ(limiters[i]->stats().fallback_admitted, 0U) << "node " << i;
    EXPECT_GT(admitted[i], 0U) << "node " << i;
  }
  const double bound = kBurst + kRate * elapsed + kNodes * lease;
  SCOPED_TRACE(absl::StrCat("admitted ", total, " in ", elapsed, " s"));
  RecordProperty("admitted", absl::StrCat(total, " in ", elapsed, " s, bound ", bound));
  EXPECT_LE(static_cast<double>(total), bound);
  // Without the global limit each node alone would admit burst + rate * t.
  EXPECT_GE(static_cast<double>(total), 0.6 * (kBurst + kRate * elapsed));
}

TEST_F(GlobalRateLimiterTest, IdentitiesAndAppsHaveSeparateBuckets) {
  std::shared_ptr<RedisLeaser> leaser = StartLeaser();
  GlobalRateLimitOptions slow = Limit();
  slow.connections_per_second = 0.001;  // no refill to speak of
  slow.burst = 4;
  slow.lease_size = 2;
  std::unique_ptr<GlobalRateLimiter> web = MakeLimiter(slow, leaser);
  slow.app = "api";
  std::unique_ptr<GlobalRateLimiter> api = MakeLimiter(slow, leaser);
  for (GlobalRateLimiter* limiter : {web.get(), api.get()}) {
    for (const char* identity : {"alice", "bob"}) {
      uint64_t admitted = 0;
      // Until the bucket is known empty: credit 2, then leases pay 2 back and grant the other 2.
      ASSERT_TRUE(WaitFor([&] {
        if (limiter->Admit(identity).verdict == RateLimitVerdict::kAdmitted) ++admitted;
        return admitted >= 4 && leaser->stats().leases > 0;
      }));
      EXPECT_EQ(admitted, 4U) << identity;
    }
  }
}

TEST_F(GlobalRateLimiterTest, FallbackLocalAdmitsByTheLocalLimitWhileRedisIsDown) {
  std::shared_ptr<RedisLeaser> leaser = StartLeaser();
  std::unique_ptr<GlobalRateLimiter> limiter = MakeLimiter(Limit(Fallback::kLocal), leaser);
  EXPECT_EQ(limiter->Admit("alice").verdict, RateLimitVerdict::kAdmitted);
  server_->Kill();
  ASSERT_TRUE(WaitFor([&] { return !limiter->redis_up(); }));
  const steady_clock::time_point start = steady_clock::now();
  uint64_t admitted = 0;
  uint64_t refused = 0;
  for (int i = 0; i < 200; ++i) {
    if (limiter->Admit("alice").verdict == RateLimitVerdict::kAdmitted) {
      ++admitted;
    } else {
      ++refused;
    }
  }
  const double elapsed = Seconds(steady_clock::now() - start);
  EXPECT_GE(admitted, kBurst);  // a fresh local bucket is full
  EXPECT_LE(static_cast<double>(admitted), kBurst + kRate * elapsed + 1);
  EXPECT_GT(refused, 0U);
  const GlobalLimiterStats stats = limiter->stats();
  EXPECT_EQ(stats.fallback_admitted, admitted);
  EXPECT_EQ(stats.fallback_refused, refused);
  EXPECT_GT(leaser->stats().redis_errors, 0U);
}

TEST_F(GlobalRateLimiterTest, FallbackClosedRefusesWhileRedisIsDown) {
  std::shared_ptr<RedisLeaser> leaser = StartLeaser();
  std::unique_ptr<GlobalRateLimiter> limiter = MakeLimiter(Limit(Fallback::kClosed), leaser);
  EXPECT_EQ(limiter->Admit("alice").verdict, RateLimitVerdict::kAdmitted);
  server_->Kill();
  ASSERT_TRUE(WaitFor([&] { return !limiter->redis_up(); }));
  for (const char* identity : {"alice", "bob", "carol"}) {
    EXPECT_EQ(limiter->Admit(identity).verdict, RateLimitVerdict::kRateLimited) << identity;
  }
  EXPECT_EQ(limiter->stats().fallback_refused, 3U);
  EXPECT_EQ(limiter->stats().fallback_admitted, 0U);
}

TEST_F(GlobalRateLimiterTest, GlobalLimitingResumesWhenRedisComesBack) {
  std::shared_ptr<RedisLeaser> leaser = StartLeaser();
  std::unique_ptr<GlobalRateLimiter> limiter = MakeLimiter(Limit(Fallback::kClosed), leaser);
  Hammer(*limiter, "alice", steady_clock::now() + std::chrono::milliseconds(200));
  server_->Kill();
  ASSERT_TRUE(WaitFor([&] { return !limiter->redis_up(); }));
  EXPECT_EQ(limiter->Admit("alice").verdict, RateLimitVerdict::kRateLimited);
  ASSERT_TRUE(server_->Restart());
  ASSERT_TRUE(WaitFor([&] { return limiter->redis_up(); }));
  const GlobalLimiterStats before = limiter->stats();
  const steady_clock::time_point start = steady_clock::now();
  const uint64_t admitted = Hammer(*limiter, "alice", start + std::chrono::milliseconds(1000));
  const double elapsed = Seconds(steady_clock::now() - start);
  const GlobalLimiterStats after = limiter->stats();
  EXPECT_EQ(after.fallback_refused, before.fallback_refused);
  EXPECT_EQ(after.global_admitted - before.global_admitted, admitted);
  // The restarted server is empty, so the bucket starts full; the entry starts with a credit.
  EXPECT_LE(static_cast<double>(admitted),
            kBurst + kRate * elapsed + limiter->options().lease_size);
  EXPECT_GE(admitted, kBurst);
}

TEST_F(GlobalRateLimiterTest, ConcurrencyLimitIsPerNodeAndCountedByPermits) {
  std::shared_ptr<RedisLeaser> leaser = StartLeaser();
  GlobalRateLimitOptions options = Limit();
  options.max_concurrent = 2;
  std::unique_ptr<GlobalRateLimiter> limiter = MakeLimiter(options, leaser);
  lb::RateLimitDecision first = limiter->Admit("alice");
  lb::RateLimitDecision second = limiter->Admit("alice");
  ASSERT_EQ(first.verdict, RateLimitVerdict::kAdmitted);
  ASSERT_EQ(second.verdict, RateLimitVerdict::kAdmitted);
  EXPECT_TRUE(first.permit.is_counted());
  EXPECT_EQ(limiter->Admit("alice").verdict, RateLimitVerdict::kConcurrencyLimited);
  first.permit.Release();
  EXPECT_EQ(limiter->Admit("alice").verdict, RateLimitVerdict::kAdmitted);
}

TEST_F(GlobalRateLimiterTest, RateRefusalGivesTheConcurrentSlotBack) {
  std::shared_ptr<RedisLeaser> leaser = StartLeaser();
  GlobalRateLimitOptions options = Limit(Fallback::kClosed);
  options.max_concurrent = 1;
  std::unique_ptr<GlobalRateLimiter> limiter = MakeLimiter(options, leaser);
  server_->Kill();
  ASSERT_TRUE(WaitFor([&] { return !limiter->redis_up(); }));
  EXPECT_EQ(limiter->Admit("alice").verdict, RateLimitVerdict::kRateLimited);
  EXPECT_EQ(limiter->Admit("alice").verdict, RateLimitVerdict::kRateLimited);  // not concurrency
}

TEST_F(GlobalRateLimiterTest, NewIdentityIsRefusedWhenTheTableIsFull) {
  std::shared_ptr<RedisLeaser> leaser = StartLeaser();
  GlobalRateLimitOptions options = Limit();
  options.max_keys = 1;
  std::unique_ptr<GlobalRateLimiter> limiter = MakeLimiter(options, leaser);
  EXPECT_EQ(limiter->Admit("alice").verdict, RateLimitVerdict::kAdmitted);
  EXPECT_EQ(limiter->Admit("bob").verdict, RateLimitVerdict::kTooManyKeys);
  EXPECT_EQ(limiter->tracked_identities(), 1U);
}

TEST_F(GlobalRateLimiterTest, LimiterMayGoAwayWithLeasesInFlight) {
  std::shared_ptr<RedisLeaser> leaser = StartLeaser();
  for (int round = 0; round < 20; ++round) {
    std::unique_ptr<GlobalRateLimiter> limiter = MakeLimiter(Limit(), leaser);
    for (int i = 0; i < 5; ++i) limiter->Admit(absl::StrCat("client-", i % 2));
  }  // each destroyed while its leases may still be queued or running
  const uint64_t errors = leaser->stats().redis_errors;
  // One lease a round: "client-0" falls to 2 of 5 tokens on its third admission.
  ASSERT_TRUE(WaitFor([&] { return leaser->stats().leases >= 20; }));
  EXPECT_EQ(leaser->stats().redis_errors, errors);
}

TEST_F(GlobalRateLimiterTest, ManyThreadsAdmitConcurrently) {
  std::shared_ptr<RedisLeaser> leaser = StartLeaser();
  GlobalRateLimitOptions options = Limit();
  options.connections_per_second = 1000;
  options.burst = 1000;
  options.max_concurrent = 1000;
  std::unique_ptr<GlobalRateLimiter> limiter = MakeLimiter(options, leaser);
  std::atomic<uint64_t> admitted{0};
  std::vector<std::thread> workers;
  workers.reserve(4);
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&limiter, &admitted, t] {
      for (int i = 0; i < 2000; ++i) {
        if (limiter->Admit(absl::StrCat("client-", (i + t) % 16)).verdict ==
            RateLimitVerdict::kAdmitted) {
          admitted.fetch_add(1);
        }
      }
    });
  }
  for (std::thread& worker : workers) worker.join();
  EXPECT_GT(admitted.load(), 0U);
  EXPECT_EQ(limiter->stats().global_admitted, admitted.load());
}

}  // namespace
}  // namespace gatehouse::globallimit
