#include "lb/upstream_registry.h"

#include <chrono>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "lb/balancer.h"
#include "testing/fake_clock.h"

namespace gatehouse::lb {
namespace {

using asio::ip::tcp;

tcp::endpoint Endpoint(uint16_t port) { return {asio::ip::make_address("127.0.0.1"), port}; }

TEST(UpstreamRegistryTest, ReconfigurationKeepsHealthEjectionAndCountsOfKeptUpstreams) {
  UpstreamRegistry registry;
  auto old_balancer = MakeBalancer(BalancingAlgorithm::kRoundRobin,
                                   {registry.Get(Endpoint(8001)), registry.Get(Endpoint(8002))});
  old_balancer->upstreams()[0]->SetHealthy(false);
  ASSERT_TRUE(old_balancer->upstreams()[1]->RecordDialFailure(1));
  UpstreamLease held(old_balancer->upstreams()[1]);

  // The reload keeps 8001 and 8002 and adds 8003, before dropping the old configuration.
  auto new_balancer = MakeBalancer(
      BalancingAlgorithm::kLeastConnections,
      {registry.Get(Endpoint(8001)), registry.Get(Endpoint(8002)), registry.Get(Endpoint(8003))});
  old_balancer.reset();
  const auto& upstreams = new_balancer->upstreams();
  EXPECT_FALSE(upstreams[0]->is_healthy()) << "health must survive the reload";
  EXPECT_TRUE(upstreams[1]->is_ejected()) << "ejection must survive the reload";
  EXPECT_EQ(upstreams[1]->open_connections(), 1U) << "the held connection still counts";
  EXPECT_TRUE(upstreams[2]->is_eligible()) << "a new upstream starts fresh";
  EXPECT_EQ(registry.live_count(), 3U);
}

TEST(UpstreamRegistryTest, UpstreamsTimeTheirEjectionsOnTheRegistrysClock) {
  ::gatehouse::testing::FakeClock clock;
  UpstreamRegistry registry(&clock);
  const auto upstream = registry.Get(Endpoint(8001));
  ASSERT_TRUE(upstream->RecordDialFailure(1, {std::chrono::seconds(1), std::chrono::seconds(1)}));
  EXPECT_FALSE(upstream->is_eligible());
  clock.Advance(std::chrono::seconds(1));
  EXPECT_TRUE(upstream->is_eligible()) << "eligible for its trial dial once the backoff is over";
}

TEST(UpstreamRegistryTest, ForgetsUpstreamsNobodyHolds) {
  UpstreamRegistry registry;
  {
    auto upstream = registry.Get(Endpoint(9001));
    upstream->SetHealthy(false);
    EXPECT_EQ(registry.live_count(), 1U);
  }
  EXPECT_EQ(registry.live_count(), 0U);
  EXPECT_TRUE(registry.Get(Endpoint(9001))->is_healthy()) << "a removed upstream comes back new";
}

TEST(UpstreamRegistryTest, ConcurrentGetsOfOneAddressShareOneObject) {
  UpstreamRegistry registry;
  const auto first = registry.Get(Endpoint(7000));
  std::vector<std::thread> threads;
  std::vector<std::shared_ptr<Upstream>> seen(4);
  threads.reserve(seen.size());
  for (std::shared_ptr<Upstream>& slot : seen) {
    threads.emplace_back([&registry, &slot] {
      for (int n = 0; n < 1000; ++n) slot = registry.Get(Endpoint(7000));
    });
  }
  for (auto& thread : threads) thread.join();
  for (const auto& upstream : seen) EXPECT_EQ(upstream, first);
}

}  // namespace
}  // namespace gatehouse::lb
