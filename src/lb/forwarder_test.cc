#include "lb/forwarder.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "asio/co_spawn.hpp"
#include "asio/detached.hpp"
#include "asio/executor_work_guard.hpp"
#include "asio/experimental/as_tuple.hpp"
#include "asio/io_context.hpp"
#include "asio/use_awaitable.hpp"
#include "base/mutex.h"
#include "base/unique_fd.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/loopback.h"
#include "testing/loopback_server.h"

namespace gatehouse::lb {
namespace {

using asio::ip::tcp;
using ::gatehouse::testing::ConnectLoopback;
using ::gatehouse::testing::LoopbackServer;
using ::gatehouse::testing::WriteAll;

constexpr auto kAsTuple = asio::experimental::as_tuple(asio::use_awaitable);

// A forwarding proxy on 127.0.0.1:port() in front of 127.0.0.1:upstream_port, on `threads`
// worker threads, each with its own io_context; connections are spread over the workers.
class TestProxy {
 public:
  TestProxy(uint16_t upstream_port, ForwarderOptions options, int threads = 1)
      : upstream_(asio::ip::make_address("127.0.0.1"), upstream_port), options_(options) {
    // Required by Forward (see forwarder.h): a peer that resets must not kill the test.
    std::signal(SIGPIPE, SIG_IGN);
    for (int i = 0; i < threads; ++i) {
      workers_.push_back(std::make_unique<asio::io_context>(1));
      // Without outstanding work a worker's run() returns at once, before any connection.
      work_guards_.push_back(asio::make_work_guard(*workers_.back()));
    }
    acceptor_ = std::make_unique<tcp::acceptor>(
        *workers_[0], tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port_ = acceptor_->local_endpoint().port();
    asio::co_spawn(*workers_[0], AcceptLoop(), asio::detached);
    for (auto& worker : workers_) {
      threads_.emplace_back([io = worker.get()] { io->run(); });
    }
  }
  TestProxy(const TestProxy&) = delete;
  TestProxy& operator=(const TestProxy&) = delete;
  TestProxy(TestProxy&&) = delete;
  TestProxy& operator=(TestProxy&&) = delete;
  ~TestProxy() {
    for (auto& worker : workers_) worker->stop();
    for (auto& thread : threads_) thread.join();
  }

  uint16_t port() const { return port_; }

  std::vector<ForwardResult> WaitForResults(
      size_t count, std::chrono::seconds timeout = std::chrono::seconds(60)) {
    base::MutexLock lock(&mu_);
    done_.WaitUntil(&mu_, std::chrono::steady_clock::now() + timeout,
                    [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return results_.size() >= count; });
    return results_;
  }

 private:
  asio::awaitable<void> AcceptLoop() {
    for (size_t next = 0;; ++next) {
      asio::io_context& worker = *workers_[next % workers_.size()];
      auto [error, client] = co_await acceptor_->async_accept(worker, kAsTuple);
      if (error) co_return;
      asio::co_spawn(worker, Serve(std::move(client)), asio::detached);
    }
  }

  asio::awaitable<void> Serve(tcp::socket client) {
    tcp::socket upstream(client.get_executor());
    auto [error] = co_await upstream.async_connect(upstream_, kAsTuple);
    ForwardResult result;
    if (error) {
      result.end = ForwardEnd::kError;
      result.error = error;
    } else {
      result = co_await Forward(std::move(client), std::move(upstream), options_);
    }
    base::MutexLock lock(&mu_);
    results_.push_back(result);
    done_.NotifyAll();
  }

  const tcp::endpoint upstream_;
  const ForwarderOptions options_;
  std::vector<std::unique_ptr<asio::io_context>> workers_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work_guards_;
  std::unique_ptr<tcp::acceptor> acceptor_;
  uint16_t port_ = 0;
  std::vector<std::thread> threads_;
  base::Mutex mu_;
  base::CondVar done_;
  std::vector<ForwardResult> results_ ABSL_GUARDED_BY(mu_);
};

// Deterministic bytes: the same (seed, offset) always gives the same byte.
uint8_t PatternByte(uint64_t seed, uint64_t offset) {
  uint64_t x = seed ^ (offset / 8 + 1) * 0x9E3779B97F4A7C15ULL;
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ULL;
  x ^= x >> 29;
  return static_cast<uint8_t>(x >> ((offset % 8) * 8));
}

// Reads until EOF; returns bytes read, or -1 on the first byte that differs from the pattern.
int64_t ReadAndVerify(int fd, uint64_t seed) {
  std::vector<uint8_t> buffer(size_t{128} * 1024);
  uint64_t offset = 0;
  while (true) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -2;
    if (n == 0) return static_cast<int64_t>(offset);
    for (ssize_t i = 0; i < n; ++i, ++offset) {
      if (buffer[static_cast<size_t>(i)] != PatternByte(seed, offset)) return -1;
    }
  }
}

bool WritePattern(int fd, uint64_t seed, uint64_t total, size_t write_size) {
  std::vector<uint8_t> buffer(write_size);
  for (uint64_t offset = 0; offset < total;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(write_size, total - offset));
    for (size_t i = 0; i < n; ++i) buffer[i] = PatternByte(seed, offset + i);
    if (!WriteAll(fd, buffer.data(), n)) return false;
    offset += n;
  }
  return true;
}

struct IntegrityCase {
  bool use_splice;
  size_t write_size;
};

class ForwarderIntegrityTest : public ::testing::TestWithParam<IntegrityCase> {};

TEST_P(ForwarderIntegrityTest, HundredMebibytesEachWayArriveIntact) {
  constexpr uint64_t kTotal = 100ULL << 20;
  LoopbackServer echo;
  ForwarderOptions options;
  options.use_splice = GetParam().use_splice;
  TestProxy proxy(echo.port(), options);
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
  ForwarderOptions Options() const {
    ForwarderOptions options;
    options.use_splice = GetParam();
    return options;
  }
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
  TestProxy proxy(upstream.port(), Options());
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
  TestProxy proxy(echo.port(), options);
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
  TestProxy proxy(talker.port(), options);
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
  TestProxy proxy(resetter.port(), Options());
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
  TestProxy proxy(echo.port(), ForwarderOptions{}, /*threads=*/2);
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
