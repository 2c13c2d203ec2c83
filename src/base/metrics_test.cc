#include "base/metrics.h"

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gatehouse::base {
namespace {

using ::testing::HasSubstr;

TEST(MetricsRegistryTest, RendersFamiliesWithHelpTypeAndLabels) {
  MetricsRegistry registry;
  registry.GetCounter("gh_accepted_total", "Accepted connections.", {{"app", "web"}})->Increment(3);
  registry.GetCounter("gh_accepted_total", "Accepted connections.", {{"app", "db"}})->Increment();
  registry.GetGauge("gh_open", "Open connections.")->Set(-2);

  EXPECT_EQ(registry.RenderPrometheusText(),
            "# HELP gh_accepted_total Accepted connections.\n"
            "# TYPE gh_accepted_total counter\n"
            "gh_accepted_total{app=\"web\"} 3\n"
            "gh_accepted_total{app=\"db\"} 1\n"
            "# HELP gh_open Open connections.\n"
            "# TYPE gh_open gauge\n"
            "gh_open -2\n");
}

TEST(MetricsRegistryTest, SameNameAndLabelsReturnTheSameSeries) {
  MetricsRegistry registry;
  Counter* a = registry.GetCounter("gh_x_total", "x", {{"k", "v"}});
  Counter* b = registry.GetCounter("gh_x_total", "x", {{"k", "v"}});
  Counter* c = registry.GetCounter("gh_x_total", "x", {{"k", "w"}});
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

TEST(MetricsRegistryTest, EscapesLabelValues) {
  MetricsRegistry registry;
  registry.GetGauge("gh_g", "help\nline", {{"id", "a\"b\\c\nd"}})->Set(1);
  const std::string text = registry.RenderPrometheusText();
  EXPECT_THAT(text, HasSubstr("# HELP gh_g help\\nline\n"));
  EXPECT_THAT(text, HasSubstr("gh_g{id=\"a\\\"b\\\\c\\nd\"} 1\n"));
}

TEST(MetricsRegistryTest, ConcurrentIncrementsAndRegistrationsAreAllCounted) {
  MetricsRegistry registry;
  constexpr int kThreads = 4;
  constexpr int kIncrements = 10000;
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&registry, t] {
      for (int i = 0; i < kIncrements; ++i) {
        registry.GetCounter("gh_shared_total", "shared")->Increment();
        registry.GetGauge("gh_per_thread", "per thread", {{"t", std::to_string(t)}})->Add(1);
        if (i % 1000 == 0) (void)registry.RenderPrometheusText();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(registry.GetCounter("gh_shared_total", "shared")->value(),
            static_cast<uint64_t>(kThreads * kIncrements));
  EXPECT_EQ(registry.GetGauge("gh_per_thread", "per thread", {{"t", "2"}})->value(), kIncrements);
}

TEST(MetricsRegistryTest, CollectorsRefreshGaugesBeforeEachRenderUntilDropped) {
  MetricsRegistry registry;
  int runs = 0;
  auto collector = std::make_shared<const std::function<void()>>([&registry, &runs] {
    ++runs;
    registry.GetGauge("gh_mirrored", "mirrored")->Set(int64_t{runs} * 10);
  });
  registry.AddCollector(collector);
  EXPECT_NE(registry.RenderPrometheusText().find("gh_mirrored 10\n"), std::string::npos);
  EXPECT_NE(registry.RenderPrometheusText().find("gh_mirrored 20\n"), std::string::npos);
  collector.reset();
  EXPECT_NE(registry.RenderPrometheusText().find("gh_mirrored 20\n"), std::string::npos);
  EXPECT_EQ(runs, 2);
}

TEST(MetricsRegistryDeathTest, ReusingANameAsAnotherTypeIsABug) {
  MetricsRegistry registry;
  registry.GetCounter("gh_dup", "d");
  EXPECT_DEATH(registry.GetGauge("gh_dup", "d"), "GH_CHECK failed");
}

}  // namespace
}  // namespace gatehouse::base
