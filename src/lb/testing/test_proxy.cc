#include "lb/testing/test_proxy.h"

#include <csignal>
#include <utility>

#include "asio/co_spawn.hpp"
#include "asio/detached.hpp"
#include "asio/experimental/as_tuple.hpp"
#include "asio/use_awaitable.hpp"

namespace gatehouse::lb::testing {
namespace {

using asio::ip::tcp;

constexpr auto kAsTuple = asio::experimental::as_tuple(asio::use_awaitable);

asio::awaitable<ForwardResult> HandshakeThenForward(tcp::socket client, tcp::socket upstream,
                                                    SSL_CTX* context, ForwarderOptions options,
                                                    std::chrono::nanoseconds handshake_timeout) {
  auto stream = std::make_unique<net::TlsStream>(std::move(client), context);
  if (std::error_code error = co_await stream->Handshake(handshake_timeout)) {
    ForwardResult refused;
    refused.end = ForwardEnd::kError;
    refused.error = error;
    co_return refused;
  }
  co_return co_await Forward(std::move(stream), std::move(upstream), options);
}

}  // namespace

TestProxy::ServeFn TestProxy::Tls(SSL_CTX* context, ForwarderOptions options,
                                  std::chrono::nanoseconds handshake_timeout) {
  return [=](tcp::socket client, tcp::socket upstream) {
    return HandshakeThenForward(std::move(client), std::move(upstream), context, options,
                                handshake_timeout);
  };
}

TestProxy::ServeFn TestProxy::Plain(ForwarderOptions options) {
  return [options](tcp::socket client, tcp::socket upstream) {
    return Forward(std::move(client), std::move(upstream), options);
  };
}

TestProxy::TestProxy(uint16_t upstream_port, ServeFn serve, int threads)
    : upstream_(asio::ip::make_address("127.0.0.1"), upstream_port), serve_(std::move(serve)) {
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

TestProxy::~TestProxy() {
  for (auto& worker : workers_) worker->stop();
  for (auto& thread : threads_) thread.join();
}

std::vector<ForwardResult> TestProxy::WaitForResults(size_t count, std::chrono::seconds timeout) {
  base::MutexLock lock(&mu_);
  done_.WaitUntil(&mu_, std::chrono::steady_clock::now() + timeout,
                  [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return results_.size() >= count; });
  return results_;
}

asio::awaitable<void> TestProxy::AcceptLoop() {
  for (size_t next = 0;; ++next) {
    asio::io_context& worker = *workers_[next % workers_.size()];
    auto [error, client] = co_await acceptor_->async_accept(worker, kAsTuple);
    if (error) co_return;
    asio::co_spawn(worker, Serve(std::move(client)), asio::detached);
  }
}

asio::awaitable<void> TestProxy::Serve(tcp::socket client) {
  tcp::socket upstream(client.get_executor());
  auto [error] = co_await upstream.async_connect(upstream_, kAsTuple);
  ForwardResult result;
  if (error) {
    result.end = ForwardEnd::kError;
    result.error = error;
  } else {
    result = co_await serve_(std::move(client), std::move(upstream));
  }
  base::MutexLock lock(&mu_);
  results_.push_back(result);
  done_.NotifyAll();
}

}  // namespace gatehouse::lb::testing
