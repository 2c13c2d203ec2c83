#include "lb/tcp_proxy.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <thread>

#include "asio/co_spawn.hpp"
#include "asio/detached.hpp"
#include "asio/executor_work_guard.hpp"
#include "asio/experimental/as_tuple.hpp"
#include "asio/io_context.hpp"
#include "asio/use_awaitable.hpp"
#include "base/unique_fd.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/loopback.h"
#include "testing/loopback_server.h"
#include "testing/wait_for.h"

namespace gatehouse::lb {
namespace {

using asio::ip::tcp;
using ::gatehouse::testing::ConnectLoopback;
using ::gatehouse::testing::LoopbackServer;
using ::gatehouse::testing::WaitFor;
using ::gatehouse::testing::WriteAll;
using ::testing::HasSubstr;

constexpr auto kAsTuple = asio::experimental::as_tuple(asio::use_awaitable);

// Accepts on 127.0.0.1 and runs ProxyConnection for each client on one worker thread.
class ProxyUnderTest {
 public:
  explicit ProxyUnderTest(std::vector<std::shared_ptr<Upstream>> upstreams)
      : balancer_(MakeBalancer(BalancingAlgorithm::kRoundRobin, std::move(upstreams))),
        metrics_(RegisterProxyMetrics(registry_, "gh_lb", {{"app", "web"}})),
        acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    std::signal(SIGPIPE, SIG_IGN);  // required by Forward (see forwarder.h)
    asio::co_spawn(io_, AcceptLoop(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  ProxyUnderTest(const ProxyUnderTest&) = delete;
  ProxyUnderTest& operator=(const ProxyUnderTest&) = delete;
  ProxyUnderTest(ProxyUnderTest&&) = delete;
  ProxyUnderTest& operator=(ProxyUnderTest&&) = delete;
  ~ProxyUnderTest() {
    io_.stop();
    thread_.join();
  }

  uint16_t port() const { return acceptor_.local_endpoint().port(); }
  const ProxyMetrics& metrics() const { return metrics_; }
  std::string RenderMetrics() const { return registry_.RenderPrometheusText(); }

 private:
  asio::awaitable<void> AcceptLoop() {
    while (true) {
      auto [error, client] = co_await acceptor_.async_accept(kAsTuple);
      if (error) co_return;
      ProxyOptions options;
      options.client_name = "test-client";
      options.app_name = "web";
      options.dial.eject_after_failures = 0;
      asio::co_spawn(io_, ProxyConnection(std::move(client), *balancer_, options, metrics_),
                     asio::detached);
    }
  }

  base::MetricsRegistry registry_;
  std::unique_ptr<Balancer> balancer_;
  ProxyMetrics metrics_;
  asio::io_context io_{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard_ = asio::make_work_guard(io_);
  tcp::acceptor acceptor_;
  std::thread thread_;
};

std::shared_ptr<Upstream> At(uint16_t port) {
  return std::make_shared<Upstream>(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
}

TEST(ProxyConnectionTest, NoReachableUpstreamClosesTheClientAtOnceAndCountsIt) {
  auto upstream = At(1);  // port 1 on loopback: nothing listens, connects are refused
  ProxyUnderTest proxy({upstream});
  base::UniqueFd client = ConnectLoopback(proxy.port());
  const auto start = std::chrono::steady_clock::now();
  char byte = 0;
  EXPECT_EQ(::read(client.get(), &byte, 1), 0) << "the client must see end-of-stream";
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  EXPECT_TRUE(WaitFor([&] { return proxy.metrics().no_upstream->value() == 1; }));
  EXPECT_EQ(proxy.metrics().connections->value(), 0U);
  EXPECT_THAT(proxy.RenderMetrics(), HasSubstr("gh_lb_no_upstream_total{app=\"web\"} 1"));
  EXPECT_EQ(upstream->open_connections(), 0U);
}

TEST(ProxyConnectionTest, ForwardsCountsBytesAndReleasesTheUpstreamSlot) {
  LoopbackServer echo;
  auto upstream = At(echo.port());
  ProxyUnderTest proxy({upstream});
  {
    base::UniqueFd client = ConnectLoopback(proxy.port());
    ASSERT_TRUE(WriteAll(client.get(), "hello", 5));
    char reply[5];
    ASSERT_EQ(::recv(client.get(), reply, sizeof(reply), MSG_WAITALL), 5);
    EXPECT_EQ(std::string(reply, 5), "hello");
    EXPECT_EQ(upstream->open_connections(), 1U) << "a live connection holds its slot";
    ::shutdown(client.get(), SHUT_WR);
    char end = 0;
    EXPECT_EQ(::read(client.get(), &end, 1), 0);
  }
  EXPECT_TRUE(WaitFor([&] { return upstream->open_connections() == 0; }));
  EXPECT_TRUE(WaitFor([&] { return proxy.metrics().upstream_to_client_bytes->value() == 5; }));
  EXPECT_EQ(proxy.metrics().connections->value(), 1U);
  EXPECT_EQ(proxy.metrics().client_to_upstream_bytes->value(), 5U);
  EXPECT_EQ(proxy.metrics().no_upstream->value(), 0U);
}

}  // namespace
}  // namespace gatehouse::lb
