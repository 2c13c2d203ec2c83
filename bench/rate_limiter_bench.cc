// Cost of one RateLimiter::Admit plus the release of its permit, with both limits on (the full
// path: shard lock, lookup, refill, count), for one hot key and for 100,000 tracked keys.
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/clock.h"
#include "benchmark/benchmark.h"
#include "lb/rate_limiter.h"

namespace gatehouse::lb {
namespace {

constexpr size_t kManyKeys = 100000;

// Limits high enough never to refuse: the benchmark measures bookkeeping, not refusals.
std::unique_ptr<RateLimiter> MakeLimiter() {
  RateLimitOptions options;
  options.connections_per_second = 1e12;
  options.burst = 4000000000U;
  options.max_concurrent = 1000;
  options.max_keys = 2 * kManyKeys;  // room for hash imbalance between shards
  return RateLimiter::Create(options, &base::SystemClock()).value();
}

// Built once, before any timing, and shared by the threads of a run (thread-safe static init).
struct Fixture {
  Fixture() : one_key(MakeLimiter()), many_keys(MakeLimiter()) {
    keys.reserve(kManyKeys);
    for (size_t i = 0; i < kManyKeys; ++i) {
      keys.push_back(absl::StrCat("10.", i / 65536, ".", i / 256 % 256, ".", i % 256));
    }
    for (const std::string& key : keys) many_keys->Admit(key);  // pre-populate
  }
  std::unique_ptr<RateLimiter> one_key;
  std::unique_ptr<RateLimiter> many_keys;
  std::vector<std::string> keys;
};

Fixture& GetFixture() {
  static auto* const kFixture = new Fixture();
  return *kFixture;
}

void AdmitAndReleaseOneKey(benchmark::State& state) {
  RateLimiter& limiter = *GetFixture().one_key;
  const std::string key = "10.0.0.1";
  for (auto _ : state) {
    RateLimitDecision decision = limiter.Admit(key);
    if (decision.verdict != RateLimitVerdict::kAdmitted) state.SkipWithError("refused");
    benchmark::DoNotOptimize(decision);
  }
}
BENCHMARK(AdmitAndReleaseOneKey)->Threads(1)->Threads(2);

void AdmitAndReleaseManyKeys(benchmark::State& state) {
  Fixture& fixture = GetFixture();
  RateLimiter& limiter = *fixture.many_keys;
  // A stride through the keys (coprime to their count), each thread from its own start, so
  // consecutive admissions hit unrelated entries as distinct clients would.
  size_t index = static_cast<size_t>(state.thread_index()) * (kManyKeys / 2);
  for (auto _ : state) {
    RateLimitDecision decision = limiter.Admit(fixture.keys[index]);
    if (decision.verdict != RateLimitVerdict::kAdmitted) state.SkipWithError("refused");
    benchmark::DoNotOptimize(decision);
    index = (index + 7919) % kManyKeys;
  }
}
BENCHMARK(AdmitAndReleaseManyKeys)->Threads(1)->Threads(2);

}  // namespace
}  // namespace gatehouse::lb

BENCHMARK_MAIN();
