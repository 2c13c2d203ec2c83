#include "base/metrics.h"

#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
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

TEST(HistogramTest, CountsAValueInTheFirstBucketWhoseBoundIsAtLeastIt) {
  Histogram histogram({1, 2.5, 5});
  for (const double value : {-3.0, 0.5, 1.0, 2.0, 2.5, 5.0, 7.0, 100.0}) histogram.Observe(value);

  EXPECT_EQ(histogram.bucket_count(0), 3U);  // -3, 0.5 and 1, which is exactly on the bound
  EXPECT_EQ(histogram.bucket_count(1), 2U);  // 2, 2.5
  EXPECT_EQ(histogram.bucket_count(2), 1U);  // 5
  EXPECT_EQ(histogram.bucket_count(3), 2U);  // +Inf: 7, 100
  EXPECT_EQ(histogram.count(), 8U);
  EXPECT_EQ(histogram.sum(), 115.0);
}

TEST(HistogramTest, CountsNaNInTheInfBucket) {
  Histogram histogram({1});
  histogram.Observe(std::numeric_limits<double>::quiet_NaN());
  EXPECT_EQ(histogram.bucket_count(0), 0U);
  EXPECT_EQ(histogram.bucket_count(1), 1U);
  EXPECT_TRUE(std::isnan(histogram.sum()));
}

TEST(MetricsRegistryTest, RendersHistogramBucketsCumulativelyWithLeLast) {
  MetricsRegistry registry;
  Histogram* web = registry.GetHistogram("gh_latency_seconds", "Latency.", {0.005, 0.1, 1, 2.5},
                                         {{"app", "web"}, {"dir", "in"}});
  web->Observe(0.1);
  web->Observe(0.5);
  web->Observe(0.75);
  web->Observe(10);
  registry.GetHistogram("gh_latency_seconds", "Latency.", {0.005, 0.1, 1, 2.5}, {{"app", "db"}})
      ->Observe(0.01);

  EXPECT_EQ(registry.RenderPrometheusText(),
            "# HELP gh_latency_seconds Latency.\n"
            "# TYPE gh_latency_seconds histogram\n"
            "gh_latency_seconds_bucket{app=\"web\",dir=\"in\",le=\"0.005\"} 0\n"
            "gh_latency_seconds_bucket{app=\"web\",dir=\"in\",le=\"0.1\"} 1\n"
            "gh_latency_seconds_bucket{app=\"web\",dir=\"in\",le=\"1\"} 3\n"
            "gh_latency_seconds_bucket{app=\"web\",dir=\"in\",le=\"2.5\"} 3\n"
            "gh_latency_seconds_bucket{app=\"web\",dir=\"in\",le=\"+Inf\"} 4\n"
            "gh_latency_seconds_sum{app=\"web\",dir=\"in\"} 11.35\n"
            "gh_latency_seconds_count{app=\"web\",dir=\"in\"} 4\n"
            "gh_latency_seconds_bucket{app=\"db\",le=\"0.005\"} 0\n"
            "gh_latency_seconds_bucket{app=\"db\",le=\"0.1\"} 1\n"
            "gh_latency_seconds_bucket{app=\"db\",le=\"1\"} 1\n"
            "gh_latency_seconds_bucket{app=\"db\",le=\"2.5\"} 1\n"
            "gh_latency_seconds_bucket{app=\"db\",le=\"+Inf\"} 1\n"
            "gh_latency_seconds_sum{app=\"db\"} 0.01\n"
            "gh_latency_seconds_count{app=\"db\"} 1\n");
}

TEST(MetricsRegistryTest, RendersAnUnlabelledHistogramWithOnlyLe) {
  MetricsRegistry registry;
  registry.GetHistogram("gh_sizes_bytes", "Sizes.", {1024})->Observe(3);
  const std::string text = registry.RenderPrometheusText();
  EXPECT_THAT(text, HasSubstr("gh_sizes_bytes_bucket{le=\"1024\"} 1\n"
                              "gh_sizes_bytes_bucket{le=\"+Inf\"} 1\n"
                              "gh_sizes_bytes_sum 3\n"
                              "gh_sizes_bytes_count 1\n"));
}

// The Go client's spelling (strconv 'g', -1): exponent form only below 1e-4 or from 1e6 on.
TEST(MetricsRegistryTest, SpellsBoundsAsTheGoClientDoes) {
  MetricsRegistry registry;
  registry.GetHistogram("gh_h", "h", {-2, 0, 0.00001, 0.0001, 0.1, 100000, 1000000, 1234567.5});
  const std::string text = registry.RenderPrometheusText();
  for (const char* le : {"-2", "0", "1e-05", "0.0001", "0.1", "100000", "1e+06", "1.2345675e+06"}) {
    EXPECT_THAT(text, HasSubstr(absl::StrCat("gh_h_bucket{le=\"", le, "\"} 0\n")));
  }
}

TEST(MetricsRegistryTest, SameHistogramNameAndLabelsReturnTheSameSeries) {
  MetricsRegistry registry;
  Histogram* a = registry.GetHistogram("gh_h", "h", {1, 2}, {{"k", "v"}});
  Histogram* b = registry.GetHistogram("gh_h", "h", {1, 2}, {{"k", "v"}});
  Histogram* c = registry.GetHistogram("gh_h", "h", {1, 2}, {{"k", "w"}});
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

TEST(MetricsRegistryTest, ConcurrentObservationsAreAllCounted) {
  MetricsRegistry registry;
  Histogram* histogram = registry.GetHistogram("gh_h", "h", {1, 5});
  constexpr int kThreads = 4;
  constexpr int kObservations = 10000;
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&registry, histogram] {
      for (int i = 0; i < kObservations; ++i) {
        // Small integers, so every partial double sum is exact whatever the order.
        histogram->Observe(i % 10);
        if (i % 1000 == 0) (void)registry.RenderPrometheusText();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  constexpr uint64_t kTotal = uint64_t{kThreads} * kObservations;
  EXPECT_EQ(histogram->count(), kTotal);
  EXPECT_EQ(histogram->sum(), 4.5 * kTotal);
  EXPECT_EQ(histogram->bucket_count(0), kTotal / 5);      // 0, 1
  EXPECT_EQ(histogram->bucket_count(1), kTotal * 2 / 5);  // 2..5
  EXPECT_EQ(histogram->bucket_count(2), kTotal * 2 / 5);  // 6..9
  EXPECT_THAT(registry.RenderPrometheusText(), HasSubstr("gh_h_count 40000\n"));
}

TEST(MetricsRegistryDeathTest, ReregisteringAHistogramWithOtherBoundsIsABug) {
  MetricsRegistry registry;
  registry.GetHistogram("gh_h", "h", {1, 2});
  EXPECT_DEATH(registry.GetHistogram("gh_h", "h", {1, 3}, {{"k", "v"}}), "GH_CHECK failed");
}

TEST(MetricsRegistryDeathTest, AnLeLabelOnAHistogramIsABug) {
  MetricsRegistry registry;
  EXPECT_DEATH(registry.GetHistogram("gh_h", "h", {1}, {{"le", "1"}}), "GH_CHECK failed");
}

TEST(HistogramDeathTest, BoundsMustBeFiniteAndStrictlyAscending) {
  EXPECT_DEATH(Histogram({2, 1}), "GH_CHECK failed");
  EXPECT_DEATH(Histogram({1, 1}), "GH_CHECK failed");
  EXPECT_DEATH(Histogram({1, std::numeric_limits<double>::infinity()}), "GH_CHECK failed");
}

TEST(MetricsRegistryDeathTest, ReusingANameAsAnotherTypeIsABug) {
  MetricsRegistry registry;
  registry.GetCounter("gh_dup", "d");
  EXPECT_DEATH(registry.GetGauge("gh_dup", "d"), "GH_CHECK failed");
}

}  // namespace
}  // namespace gatehouse::base
