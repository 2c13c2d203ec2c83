#include "lb/hash_balancer.h"

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "asio/ip/address.hpp"
#include "asio/ip/tcp.hpp"
#include "gtest/gtest.h"
#include "lb/maglev_table.h"
#include "lb/upstream.h"

namespace gatehouse::lb {
namespace {

constexpr size_t kKeys = 100'000;

// Upstreams 10.0.0.1:8080, 10.0.0.2:8080, ...; nothing connects to them.
std::vector<std::shared_ptr<Upstream>> Upstreams(size_t count) {
  std::vector<std::shared_ptr<Upstream>> upstreams;
  for (size_t i = 0; i < count; ++i) {
    upstreams.push_back(std::make_shared<Upstream>(
        asio::ip::tcp::endpoint(asio::ip::make_address(absl::StrCat("10.0.0.", i + 1)), 8080)));
  }
  return upstreams;
}

uint64_t Key(size_t i) { return StableHash(absl::StrCat("client-", i)); }

// The upstream's name each of `kKeys` keys is given; "" for none.
std::vector<std::string> Assignments(Balancer& balancer) {
  std::vector<std::string> names;
  names.reserve(kKeys);
  for (size_t i = 0; i < kKeys; ++i) {
    const std::optional<UpstreamLease> lease = balancer.PickForKey(Key(i));
    names.push_back(lease.has_value() ? lease->upstream().name() : "");
  }
  return names;
}

TEST(HashBalancerTest, TheSameKeyGetsTheSameUpstream) {
  HashBalancer balancer(Upstreams(7));
  const std::vector<std::string> first = Assignments(balancer);
  EXPECT_EQ(Assignments(balancer), first);
  // A new balancer over the same upstreams (a reload, another node) agrees.
  HashBalancer rebuilt(Upstreams(7));
  EXPECT_EQ(Assignments(rebuilt), first);
}

TEST(HashBalancerTest, SpreadsKeysEvenly) {
  HashBalancer balancer(Upstreams(10));
  std::map<std::string, size_t> counts;
  for (const std::string& name : Assignments(balancer)) ++counts[name];
  ASSERT_EQ(counts.size(), 10U);
  for (const auto& [name, count] : counts) {
    // 10,000 expected; the binomial standard deviation is 95, the table's imbalance < 1 %.
    EXPECT_NEAR(static_cast<double>(count), 10'000.0, 600.0) << name;
  }
}

TEST(HashBalancerTest, OneOfTenLeavingMovesAboutATenthOfTheKeys) {
  const std::vector<std::shared_ptr<Upstream>> upstreams = Upstreams(10);
  HashBalancer before(upstreams);
  std::vector<std::shared_ptr<Upstream>> remaining = upstreams;
  const std::string leaving = remaining[3]->name();
  remaining.erase(remaining.begin() + 3);
  HashBalancer after(remaining);

  const std::vector<std::string> old_names = Assignments(before);
  const std::vector<std::string> new_names = Assignments(after);
  size_t moved = 0;
  size_t moved_from_others = 0;
  for (size_t i = 0; i < kKeys; ++i) {
    if (old_names[i] == new_names[i]) continue;
    ++moved;
    if (old_names[i] != leaving) ++moved_from_others;
  }
  const double fraction = static_cast<double>(moved) / kKeys;
  EXPECT_GE(fraction, 0.09);
  EXPECT_LE(fraction, 0.12);
  // Keys of the upstreams that stay mostly stay.
  EXPECT_LE(static_cast<double>(moved_from_others) / kKeys, 0.02);
}

TEST(HashBalancerTest, AnIneligibleUpstreamsKeysSpreadOverTheOthersAndComeBack) {
  const std::vector<std::shared_ptr<Upstream>> upstreams = Upstreams(10);
  HashBalancer balancer(upstreams);
  const std::vector<std::string> healthy = Assignments(balancer);
  const std::string down = upstreams[0]->name();
  upstreams[0]->SetHealthy(false);
  const std::vector<std::string> degraded = Assignments(balancer);

  std::map<std::string, size_t> takers;
  size_t keys_of_down = 0;
  for (size_t i = 0; i < kKeys; ++i) {
    ASSERT_NE(degraded[i], down);
    if (healthy[i] == down) {
      ++keys_of_down;
      ++takers[degraded[i]];
    } else {
      ASSERT_EQ(degraded[i], healthy[i]) << "key " << i << " moved off a healthy upstream";
    }
  }
  ASSERT_GT(keys_of_down, 0U);
  // All nine others take a share, none more than twice a fair one.
  EXPECT_EQ(takers.size(), 9U);
  for (const auto& [name, count] : takers) {
    EXPECT_LE(count, 2 * keys_of_down / 9) << name;
  }

  upstreams[0]->SetHealthy(true);
  EXPECT_EQ(Assignments(balancer), healthy);
}

TEST(HashBalancerTest, ExcludedUpstreamsAreSkippedTheSameWayEachTime) {
  const std::vector<std::shared_ptr<Upstream>> upstreams = Upstreams(5);
  HashBalancer balancer(upstreams);
  for (size_t i = 0; i < 1000; ++i) {
    const std::optional<UpstreamLease> first = balancer.PickForKey(Key(i));
    ASSERT_TRUE(first.has_value());
    const Upstream* const exclude[] = {&first->upstream()};
    const std::optional<UpstreamLease> second = balancer.PickForKey(Key(i), exclude);
    ASSERT_TRUE(second.has_value());
    EXPECT_NE(&second->upstream(), &first->upstream());
    EXPECT_EQ(&balancer.PickForKey(Key(i), exclude)->upstream(), &second->upstream());
  }
}

TEST(HashBalancerTest, FindsTheLastEligibleUpstreamAmongMany) {
  const std::vector<std::shared_ptr<Upstream>> upstreams = Upstreams(200);
  for (size_t i = 0; i < upstreams.size(); ++i) upstreams[i]->SetHealthy(i == 137);
  HashBalancer balancer(upstreams);
  for (size_t i = 0; i < 1000; ++i) {
    const std::optional<UpstreamLease> lease = balancer.PickForKey(Key(i));
    ASSERT_TRUE(lease.has_value());
    EXPECT_EQ(&lease->upstream(), upstreams[137].get());
  }
  upstreams[137]->SetHealthy(false);
  EXPECT_EQ(balancer.PickForKey(Key(0)), std::nullopt);
}

}  // namespace
}  // namespace gatehouse::lb
