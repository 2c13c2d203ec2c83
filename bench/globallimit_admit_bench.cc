// Cost of one admission: lb::RateLimiter::Admit (per-node bucket) against
// globallimit::GlobalRateLimiter::Admit (leased tokens of a global bucket in Redis), in steady
// state: tokens available, Redis running (a private redis-server started here), 1000 identities,
// one and two threads. The global path should cost about the same as the local one: Redis is
// only ever touched by the leaser's background thread. Limits are high enough never to refuse.
//
// The *Latency variants time every call on its own and report its p50 and p99 (counters p50_ns,
// p99_ns), less the cost of the two clock reads around it (measured here, counter clock_ns).
//
// Without /usr/bin/redis-server the global benchmarks are skipped with a message.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/clock.h"
#include "benchmark/benchmark.h"
#include "globallimit/global_rate_limiter.h"
#include "globallimit/redis_leaser.h"
#include "lb/rate_limiter.h"
#include "testing/redis_server.h"
#include "testing/wait_for.h"

namespace gatehouse::globallimit {
namespace {

constexpr size_t kIdentities = 1000;
constexpr double kRate = 1e9;
constexpr uint32_t kBurst = 2000000000U;
constexpr uint32_t kLeaseSize = 1000;

// Built once, before any timing, and shared by the threads of a run (thread-safe static init).
struct Fixture {
  Fixture() {
    identities.reserve(kIdentities);
    for (size_t i = 0; i < kIdentities; ++i) {
      identities.push_back(absl::StrCat("spiffe://example.org/client/", i));
    }
    lb::RateLimitOptions local_options;
    local_options.connections_per_second = kRate;
    local_options.burst = kBurst;
    local = lb::RateLimiter::Create(local_options, &base::SystemClock()).value();
    for (const std::string& identity : identities) local->Admit(identity);

    if (!testing::RedisServer::IsInstalled()) {
      skip_reason = "redis-server is not installed";
      return;
    }
    redis = std::make_unique<testing::RedisServer>();
    if (!redis->is_running()) {
      skip_reason = "redis-server did not start";
      return;
    }
    RedisOptions redis_options;
    redis_options.port = redis->port();
    redis_options.password = redis->password();
    leaser = RedisLeaser::Start(redis_options, &base::SystemClock()).value();
    if (!testing::WaitFor([this] { return leaser->redis_up(); })) {
      skip_reason = "Redis did not come up";
      return;
    }
    GlobalRateLimitOptions global_options;
    global_options.app = "bench";
    global_options.connections_per_second = kRate;
    global_options.burst = kBurst;
    // A lease of 0.1 s at 1e9/s would be 1e8 tokens; keep it modest so that leases (one per
    // identity per kLeaseSize / 2 admissions) really happen during the run.
    global_options.lease_size = kLeaseSize;
    global = GlobalRateLimiter::Create(global_options, leaser, &base::SystemClock()).value();
    // Spend half of every credit, which sends each identity's first lease.
    for (const std::string& identity : identities) {
      for (uint32_t i = 0; i <= kLeaseSize / 2; ++i) global->Admit(identity);
    }
    // Steady state: every identity's first lease answered.
    testing::WaitFor([this] { return leaser->stats().leases >= kIdentities; });
  }
  std::vector<std::string> identities;
  std::unique_ptr<lb::RateLimiter> local;
  std::unique_ptr<testing::RedisServer> redis;
  std::shared_ptr<RedisLeaser> leaser;
  std::unique_ptr<GlobalRateLimiter> global;
  std::string skip_reason;
};

Fixture& GetFixture() {
  static auto* const kFixture = new Fixture();
  return *kFixture;
}

// A stride through the identities (coprime to their count), each thread from its own start.
template <typename Limiter>
void AdmitLoop(benchmark::State& state, Limiter& limiter) {
  const Fixture& fixture = GetFixture();
  size_t index = static_cast<size_t>(state.thread_index()) * (kIdentities / 2);
  for (auto _ : state) {
    lb::RateLimitDecision decision = limiter.Admit(fixture.identities[index]);
    if (decision.verdict != lb::RateLimitVerdict::kAdmitted) state.SkipWithError("refused");
    benchmark::DoNotOptimize(decision);
    index = (index + 7) % kIdentities;
  }
}

// The median cost of two back-to-back steady_clock reads, to subtract from each timed call.
double ClockPairNanoseconds() {
  std::vector<double> samples(10000);
  for (double& sample : samples) {
    const auto before = std::chrono::steady_clock::now();
    const auto after = std::chrono::steady_clock::now();
    sample = std::chrono::duration<double, std::nano>(after - before).count();
  }
  const size_t middle = samples.size() / 2;
  std::nth_element(samples.begin(), samples.begin() + static_cast<std::ptrdiff_t>(middle),
                   samples.end());
  return samples[middle];
}

double Percentile(std::vector<double>& samples, double fraction) {
  const size_t at = std::min(samples.size() - 1,
                             static_cast<size_t>(fraction * static_cast<double>(samples.size())));
  std::nth_element(samples.begin(), samples.begin() + static_cast<std::ptrdiff_t>(at),
                   samples.end());
  return samples[at];
}

template <typename Limiter>
void AdmitLatencyLoop(benchmark::State& state, Limiter& limiter) {
  const Fixture& fixture = GetFixture();
  const double clock_ns = ClockPairNanoseconds();
  std::vector<double> samples;
  samples.reserve(1 << 20);
  size_t index = 0;
  for (auto _ : state) {
    const auto before = std::chrono::steady_clock::now();
    lb::RateLimitDecision decision = limiter.Admit(fixture.identities[index]);
    const auto after = std::chrono::steady_clock::now();
    if (decision.verdict != lb::RateLimitVerdict::kAdmitted) state.SkipWithError("refused");
    benchmark::DoNotOptimize(decision);
    if (samples.size() < samples.capacity()) {
      samples.push_back(std::chrono::duration<double, std::nano>(after - before).count());
    }
    index = (index + 7) % kIdentities;
  }
  if (samples.empty()) return;
  state.counters["clock_ns"] = clock_ns;
  state.counters["p50_ns"] = std::max(0.0, Percentile(samples, 0.50) - clock_ns);
  state.counters["p99_ns"] = std::max(0.0, Percentile(samples, 0.99) - clock_ns);
}

void LocalAdmitLatency(benchmark::State& state) { AdmitLatencyLoop(state, *GetFixture().local); }
BENCHMARK(LocalAdmitLatency);

void GlobalAdmitLatency(benchmark::State& state) {
  Fixture& fixture = GetFixture();
  if (fixture.global == nullptr) {
    state.SkipWithError(fixture.skip_reason.c_str());
    return;
  }
  AdmitLatencyLoop(state, *fixture.global);
}
BENCHMARK(GlobalAdmitLatency);

void LocalAdmit(benchmark::State& state) { AdmitLoop(state, *GetFixture().local); }
BENCHMARK(LocalAdmit)->Threads(1)->Threads(2)->UseRealTime();

void GlobalAdmit(benchmark::State& state) {
  Fixture& fixture = GetFixture();
  if (fixture.global == nullptr) {
    state.SkipWithError(fixture.skip_reason.c_str());
    return;
  }
  AdmitLoop(state, *fixture.global);
  if (state.thread_index() == 0) {
    state.counters["fallback_admitted"] =
        static_cast<double>(fixture.global->stats().fallback_admitted);
  }
}
BENCHMARK(GlobalAdmit)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace
}  // namespace gatehouse::globallimit

BENCHMARK_MAIN();
