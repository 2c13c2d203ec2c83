#include "lb/forwarder.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "base/unique_fd.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
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
using ::gatehouse::testing::WriteAll;
using ::gatehouse::testing::WritePattern;

ForwarderOptions WithSplice(bool use_splice) {
  ForwarderOptions options;
  options.use_splice = use_splice;
  return options;
}

struct IntegrityCase {
  bool use_splice;
  size_t write_size;
};

class ForwarderIntegrityTest : public ::testing::TestWithParam<IntegrityCase> {};

TEST_P(ForwarderIntegrityTest, HundredMebibytesEachWayArriveIntact) {
  constexpr uint64_t kTotal = 100ULL << 20;
  LoopbackServer echo;
  const ForwarderOptions options = WithSplice(GetParam().use_splice);
  TestProxy proxy(echo.port(), TestProxy::Plain(options));
  base::UniqueFd client = ConnectLoopback(proxy.port(), std::chrono::seconds(20));
  int64_t received = 0;
  std::thread reader([&] { received = ReadAndVerify(client.get(), 42); });
  EXPECT_TRUE(WritePattern(client.get(), 42, kTotal, GetParam().write_size));
  ::shutdown(client.get(), SHUT_WR);
  reader.join();
  EXPECT_EQ(received, static_cast<int64_t>(kTotal)) << "-1 means corrupted bytes";
  const auto results = proxy.WaitForResults(1);
  ASSERT_EQ(results.size(), 1U);
  EXPECT_EQ(results[0].end, ForwardEnd::kClosed) << results[0].error.message();
  EXPECT_EQ(results[0].client_to_upstream_bytes, kTotal);
  EXPECT_EQ(results[0].upstream_to_client_bytes, kTotal);
}

INSTANTIATE_TEST_SUITE_P(SpliceAndCopy, ForwarderIntegrityTest,
                         ::testing::Values(IntegrityCase{true, 1000}, IntegrityCase{true, 1 << 20},
                                           IntegrityCase{false, 1000},
                                           IntegrityCase{false, 1 << 20}),
                         [](const ::testing::TestParamInfo<IntegrityCase>& param_info) {
                           return std::string(param_info.param.use_splice ? "Splice" : "Copy") +
                                  (param_info.param.write_size < 4096 ? "SmallWrites"
                                                                      : "LargeWrites");
                         });

class ForwarderTest : public ::testing::TestWithParam<bool> {
 protected:
  ForwarderOptions Options() const { return WithSplice(GetParam()); }
};

TEST_P(ForwarderTest, HalfCloseStillDeliversTheUpstreamReply) {
  // The upstream reads to end-of-stream, then answers with how much it got.
  LoopbackServer upstream([](int fd) {
    char buffer[4096];
    uint64_t total = 0;
    ssize_t n = 0;
    while ((n = ::read(fd, buffer, sizeof(buffer))) > 0) total += static_cast<uint64_t>(n);
    const std::string reply = "got " + std::to_string(total) + " bytes";
    WriteAll(fd, reply.data(), reply.size());
  });
  TestProxy proxy(upstream.port(), TestProxy::Plain(Options()));
  base::UniqueFd client = ConnectLoopback(proxy.port(), std::chrono::seconds(20));
  ASSERT_TRUE(WritePattern(client.get(), 7, 300000, 4096));
  ASSERT_EQ(::shutdown(client.get(), SHUT_WR), 0);
  std::string reply;
  char buffer[256];
  ssize_t n = 0;
  while ((n = ::read(client.get(), buffer, sizeof(buffer))) > 0) {
    reply.append(buffer, static_cast<size_t>(n));
  }
  EXPECT_EQ(reply, "got 300000 bytes");
  const auto results = proxy.WaitForResults(1);
  ASSERT_EQ(results.size(), 1U);
  EXPECT_EQ(results[0].end, ForwardEnd::kClosed);
  EXPECT_EQ(results[0].client_to_upstream_bytes, 300000U);
  EXPECT_EQ(results[0].upstream_to_client_bytes, reply.size());
}

TEST_P(ForwarderTest, IdleConnectionIsClosedAfterTheTimeout) {
  LoopbackServer echo;
  ForwarderOptions options = Options();
  options.idle_timeout = std::chrono::milliseconds(200);
  TestProxy proxy(echo.port(), TestProxy::Plain(options));
  base::UniqueFd client = ConnectLoopback(proxy.port(), std::chrono::seconds(20));
  char byte = 0;
  EXPECT_EQ(::read(client.get(), &byte, 1), 0) << "expected EOF from the idle timeout";
  const auto results = proxy.WaitForResults(1);
  ASSERT_EQ(results.size(), 1U);
  EXPECT_EQ(results[0].end, ForwardEnd::kIdleTimeout);
}

TEST_P(ForwarderTest, TrafficInOneDirectionKeepsTheConnectionAlive) {
  // The upstream talks for ~4 idle timeouts while the client says nothing at all.
  LoopbackServer talker([](int fd) {
    for (int i = 0; i < 20; ++i) {
      if (!WriteAll(fd, "tick", 4)) return;
      // Load shape, not synchronization: spaced writes are what this test is about.
      std::this_thread::sleep_for(std::chrono::milliseconds(40));
    }
  });
  ForwarderOptions options = Options();
  options.idle_timeout = std::chrono::milliseconds(200);
  TestProxy proxy(talker.port(), TestProxy::Plain(options));
  base::UniqueFd client = ConnectLoopback(proxy.port(), std::chrono::seconds(20));
  std::string received;
  char buffer[64];
  ssize_t n = 0;
  while ((n = ::read(client.get(), buffer, sizeof(buffer))) > 0) {
    received.append(buffer, static_cast<size_t>(n));
  }
  EXPECT_EQ(received.size(), 80U) << "the connection was cut while the upstream was talking";
  ::close(client.Release());
  const auto results = proxy.WaitForResults(1);
  ASSERT_EQ(results.size(), 1U);
  EXPECT_NE(results[0].end, ForwardEnd::kIdleTimeout);
}

TEST_P(ForwarderTest, UpstreamResetClosesTheClient) {
  LoopbackServer resetter([](int fd) {
    char buffer[16];
    (void)::read(fd, buffer, sizeof(buffer));
    const linger abort_on_close{1, 0};  // close() now sends RST
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof(abort_on_close));
  });
  TestProxy proxy(resetter.port(), TestProxy::Plain(Options()));
  base::UniqueFd client = ConnectLoopback(proxy.port(), std::chrono::seconds(20));
  ASSERT_TRUE(WriteAll(client.get(), "hello", 5));
  char byte = 0;
  EXPECT_LE(::read(client.get(), &byte, 1), 0);
  const auto results = proxy.WaitForResults(1);
  ASSERT_EQ(results.size(), 1U);
  EXPECT_EQ(results[0].end, ForwardEnd::kError);
  EXPECT_TRUE(results[0].error) << "the reset must be reported";
}

INSTANTIATE_TEST_SUITE_P(SpliceAndCopy, ForwarderTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& param_info) {
                           return std::string(param_info.param ? "Splice" : "Copy");
                         });

TEST(ForwarderStressTest, ManyConcurrentConnectionsOnTwoWorkers) {
  constexpr int kClientThreads = 6;
  constexpr int kConnectionsPerThread = 40;
  constexpr uint64_t kBytes = uint64_t{64} * 1024;
  LoopbackServer echo;
  TestProxy proxy(echo.port(), TestProxy::Plain(ForwarderOptions{}), /*threads=*/2);
  std::atomic<int> failures{0};
  std::vector<std::thread> clients;
  clients.reserve(kClientThreads);
  for (int t = 0; t < kClientThreads; ++t) {
    clients.emplace_back([&, t] {
      for (int c = 0; c < kConnectionsPerThread; ++c) {
        base::UniqueFd fd = ConnectLoopback(proxy.port(), std::chrono::seconds(20));
        const auto seed = static_cast<uint64_t>(t) * 1000 + static_cast<uint64_t>(c);
        int64_t received = 0;
        std::thread reader([&] { received = ReadAndVerify(fd.get(), seed); });
        const bool wrote = WritePattern(fd.get(), seed, kBytes, 8192);
        ::shutdown(fd.get(), SHUT_WR);
        reader.join();
        if (!wrote || received != static_cast<int64_t>(kBytes)) ++failures;
      }
    });
  }
  for (auto& client : clients) client.join();
  EXPECT_EQ(failures.load(), 0);
  const auto results =
      proxy.WaitForResults(static_cast<size_t>(kClientThreads) * kConnectionsPerThread);
  ASSERT_EQ(results.size(), static_cast<size_t>(kClientThreads * kConnectionsPerThread));
  for (const ForwardResult& result : results) {
    EXPECT_EQ(result.end, ForwardEnd::kClosed) << result.error.message();
  }
}

}  // namespace
}  // namespace gatehouse::lb
