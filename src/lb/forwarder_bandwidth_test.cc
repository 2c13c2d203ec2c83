// Bandwidth limits of the forwarder, end to end over loopback: the bytes arrive intact, no
// faster than the limit allows, on every path, and a throttled connection still ends promptly.
// Only lower bounds on time are asserted (a slow machine may be slower, never faster than the
// limit); upper bounds are the tests' deadlines.
#include <sys/resource.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "lb/forwarder.h"
#include "lb/testing/test_proxy.h"
#include "testing/byte_pattern.h"
#include "testing/loopback.h"
#include "testing/loopback_server.h"

namespace gatehouse::lb {
namespace {

using ::gatehouse::lb::testing::TestProxy;
using ::gatehouse::testing::ConnectLoopback;
using ::gatehouse::testing::LoopbackServer;
using ::gatehouse::testing::ReadAndVerify;
using ::gatehouse::testing::WritePattern;
using std::chrono::duration;
using std::chrono::seconds;
using std::chrono::steady_clock;

constexpr uint64_t kRate = 1 << 20;             // 1 MiB/s
constexpr uint64_t kTotal = uint64_t{3} << 19;  // 1.5 MiB
// The bucket's burst at 1 MiB/s (100 ms worth): what may pass before the limit bites.
constexpr uint64_t kBurst = kRate / 10;

struct LimitCase {
  SpliceMode mode;
  bool limit_upload;  // else the download
};

class ForwarderBandwidthTest : public ::testing::TestWithParam<LimitCase> {};

// CPU seconds (user + system) the whole test process has used so far.
double ProcessCpuSeconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  const auto seconds_of = [](const timeval& time) {
    return static_cast<double>(time.tv_sec) + static_cast<double>(time.tv_usec) / 1e6;
  };
  return seconds_of(usage.ru_utime) + seconds_of(usage.ru_stime);
}

// Sends kTotal bytes through an echo upstream and reads them back; returns the seconds it took.
double EchoThrough(uint16_t port, int64_t* received) {
  base::UniqueFd client = ConnectLoopback(port, seconds(20));
  const steady_clock::time_point start = steady_clock::now();
  std::thread reader([&] { *received = ReadAndVerify(client.get(), 5); });
  EXPECT_TRUE(WritePattern(client.get(), 5, kTotal, size_t{64} * 1024));
  ::shutdown(client.get(), SHUT_WR);
  reader.join();
  return duration<double>(steady_clock::now() - start).count();
}

TEST_P(ForwarderBandwidthTest, BytesArriveIntactNoFasterThanTheLimit) {
  LoopbackServer echo;
  ForwarderOptions options;
  options.splice = GetParam().mode;
  if (GetParam().limit_upload) {
    options.client_to_upstream_bytes_per_second = kRate;
  } else {
    options.upstream_to_client_bytes_per_second = kRate;
  }
  TestProxy proxy(echo.port(), TestProxy::Plain(options));

  int64_t received = 0;
  const double cpu_before = ProcessCpuSeconds();
  const double elapsed = EchoThrough(proxy.port(), &received);
  const double cpu = ProcessCpuSeconds() - cpu_before;

  EXPECT_EQ(received, static_cast<int64_t>(kTotal)) << "-1 means corrupted bytes";
  const double floor = static_cast<double>(kTotal - kBurst) / static_cast<double>(kRate);
  EXPECT_GE(elapsed, floor * 0.98) << "faster than the limit allows";
  // Moving 1 MiB/s costs the proxy, client and upstream together a few percent of a core. A
  // throttled direction that woke for every few bytes accrued would keep one core busy.
  EXPECT_LT(cpu, elapsed / 2) << "a throttled direction spins instead of waiting";
  const auto results = proxy.WaitForResults(1);
  ASSERT_EQ(results.size(), 1U);
  EXPECT_EQ(results[0].end, ForwardEnd::kClosed) << results[0].error.message();
  EXPECT_EQ(results[0].client_to_upstream_bytes, kTotal);
  EXPECT_EQ(results[0].upstream_to_client_bytes, kTotal);
}

INSTANTIATE_TEST_SUITE_P(
    PathsAndDirections, ForwarderBandwidthTest,
    ::testing::Values(LimitCase{SpliceMode::kNever, true}, LimitCase{SpliceMode::kNever, false},
                      LimitCase{SpliceMode::kAlways, true}, LimitCase{SpliceMode::kAlways, false},
                      LimitCase{SpliceMode::kAuto, true}, LimitCase{SpliceMode::kAuto, false}),
    [](const ::testing::TestParamInfo<LimitCase>& param_info) {
      return std::string(SpliceModeName(param_info.param.mode)) +
             (param_info.param.limit_upload ? "Upload" : "Download");
    });

TEST(ForwarderBandwidthEndTest, AThrottledConnectionEndsWithoutWaitingForItsBucket) {
  // At 1 KiB/s the upload passes its 4 KiB burst, then waits 4 s for the next 4 KiB. The idle
  // timeout (300 ms of no byte moving) closes the connection meanwhile, and the waiting
  // direction must end with it instead of sleeping out its bucket.
  LoopbackServer echo;
  ForwarderOptions options;
  options.client_to_upstream_bytes_per_second = 1024;
  options.idle_timeout = std::chrono::milliseconds(300);
  TestProxy proxy(echo.port(), TestProxy::Plain(options));
  base::UniqueFd client = ConnectLoopback(proxy.port(), seconds(20));
  const steady_clock::time_point start = steady_clock::now();
  EXPECT_TRUE(WritePattern(client.get(), 9, uint64_t{64} * 1024, size_t{64} * 1024));
  const auto results = proxy.WaitForResults(1, seconds(20));
  const double elapsed = duration<double>(steady_clock::now() - start).count();
  ASSERT_EQ(results.size(), 1U);
  EXPECT_EQ(results[0].end, ForwardEnd::kIdleTimeout);
  EXPECT_EQ(results[0].client_to_upstream_bytes, 4096U);
  // Ending with the bucket's wait would take at least 4 s.
  EXPECT_LT(elapsed, 3.5);
}

TEST(ForwarderBandwidthOptionsTest, ALimitIsZeroOrWithinItsBounds) {
  ForwarderOptions options;
  options.client_to_upstream_bytes_per_second = kMinBytesPerSecond;
  options.upstream_to_client_bytes_per_second = kMaxBytesPerSecond;
  EXPECT_TRUE(ValidateForwarderOptions(options).ok());
  options.client_to_upstream_bytes_per_second = kMinBytesPerSecond - 1;
  EXPECT_FALSE(ValidateForwarderOptions(options).ok());
  options.client_to_upstream_bytes_per_second = 0;
  options.upstream_to_client_bytes_per_second = kMaxBytesPerSecond + 1;
  EXPECT_FALSE(ValidateForwarderOptions(options).ok());
}

}  // namespace
}  // namespace gatehouse::lb
