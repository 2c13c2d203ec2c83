// TestProxy: a forwarding proxy for the lb tests, on 127.0.0.1:port() in front of one upstream
// on 127.0.0.1, on `threads` worker threads with one io_context each; connections are spread
// over the workers round-robin. What happens to each accepted connection is the test's
// `ServeFn` (plain Forward, or a TLS handshake then Forward); the proxy records the results.
#ifndef GATEHOUSE_LB_TESTING_TEST_PROXY_H_
#define GATEHOUSE_LB_TESTING_TEST_PROXY_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "asio/awaitable.hpp"
#include "asio/executor_work_guard.hpp"
#include "asio/io_context.hpp"
#include "asio/ip/tcp.hpp"
#include "base/mutex.h"
#include "lb/forwarder.h"
#include "net/tls_stream.h"

namespace gatehouse::lb::testing {

class TestProxy {
 public:
  // Serves one accepted client; `upstream` is connected already.
  using ServeFn = std::function<asio::awaitable<ForwardResult>(asio::ip::tcp::socket client,
                                                               asio::ip::tcp::socket upstream)>;

  // Plain Forward with `options`.
  static ServeFn Plain(ForwarderOptions options);
  // A TLS server handshake with `context` (within `handshake_timeout`), then Forward; a failed
  // handshake is recorded as kError with its error.
  static ServeFn Tls(SSL_CTX* context, ForwarderOptions options = {},
                     std::chrono::nanoseconds handshake_timeout = std::chrono::seconds(10));

  TestProxy(uint16_t upstream_port, ServeFn serve, int threads = 1);
  TestProxy(const TestProxy&) = delete;
  TestProxy& operator=(const TestProxy&) = delete;
  TestProxy(TestProxy&&) = delete;
  TestProxy& operator=(TestProxy&&) = delete;
  ~TestProxy();

  uint16_t port() const { return port_; }

  // Waits up to `timeout` for `count` connections to end; returns the results so far. A failed
  // upstream connect is recorded as kError with the connect error.
  std::vector<ForwardResult> WaitForResults(
      size_t count, std::chrono::seconds timeout = std::chrono::seconds(60));

 private:
  asio::awaitable<void> AcceptLoop();
  asio::awaitable<void> Serve(asio::ip::tcp::socket client);

  const asio::ip::tcp::endpoint upstream_;
  const ServeFn serve_;
  std::vector<std::unique_ptr<asio::io_context>> workers_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work_guards_;
  std::unique_ptr<asio::ip::tcp::acceptor> acceptor_;
  uint16_t port_ = 0;
  std::vector<std::thread> threads_;
  base::Mutex mu_;
  base::CondVar done_;
  std::vector<ForwardResult> results_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gatehouse::lb::testing

#endif  // GATEHOUSE_LB_TESTING_TEST_PROXY_H_
