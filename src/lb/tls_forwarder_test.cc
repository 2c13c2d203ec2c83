// The forwarder with a TLS client side (TlsStream + Forward): integrity, half-close by
// close_notify in both directions, truncation, refused handshakes, handshake and idle timeouts.
// The client is plain OpenSSL on a non-blocking socket, driven by a poll loop, so one thread
// can send and receive on one SSL object at once.
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "asio/ssl/error.hpp"
#include "base/unique_fd.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lb/forwarder.h"
#include "lb/testing/test_proxy.h"
#include "net/tls_stream.h"
#include "security/openssl_error.h"
#include "security/openssl_ptr.h"
#include "security/tls_context.h"
#include "testing/byte_pattern.h"
#include "testing/loopback.h"
#include "testing/loopback_server.h"
#include "testing/test_pki.h"
#include "testing/tls_test_server.h"
#include "testing/wait_for.h"

namespace gatehouse::lb {
namespace {

using ::gatehouse::lb::testing::TestProxy;
using ::gatehouse::testing::ConnectLoopback;
using ::gatehouse::testing::ConnectTlsClient;
using ::gatehouse::testing::FillPattern;
using ::gatehouse::testing::LoopbackServer;
using ::gatehouse::testing::PatternChecker;
using ::gatehouse::testing::TestPki;
using ::gatehouse::testing::TlsClient;
using ::gatehouse::testing::WaitFor;
using ::gatehouse::testing::WriteAll;
using std::chrono::milliseconds;
using std::chrono::seconds;

security::SslCtxPtr ContextOrDie(security::TlsRole role, const security::TlsFiles& files) {
  auto context = security::BuildTlsContext(role, files);
  EXPECT_TRUE(context.ok()) << context.status();
  return context.ok() ? std::move(*context) : nullptr;
}

// A connected client whose handshake has completed, its socket switched to non-blocking.
absl::StatusOr<TlsClient> ConnectTls(SSL_CTX* context, uint16_t port) {
  absl::StatusOr<TlsClient> client = ConnectTlsClient(context, port);
  if (client.ok()) {
    ::fcntl(client->fd.get(), F_SETFL, ::fcntl(client->fd.get(), F_GETFL) | O_NONBLOCK);
  }
  return client;
}

struct PumpResult {
  uint64_t sent = 0;
  uint64_t received = 0;
  bool intact = true;             // every received byte matched the pattern
  bool got_close_notify = false;  // the server ended its side cleanly
  std::string received_text;      // the first bytes received, for short replies
  std::string error;              // empty unless the exchange failed
};

struct PumpOptions {
  uint64_t seed = 1;
  uint64_t send_bytes = 0;
  size_t write_size = 16384;
  bool send_close_notify = true;  // after the last byte
  bool check_pattern = true;      // received bytes are the echo of what was sent
};

// Sends and receives at once until the server's close_notify has arrived and everything has
// been sent (and close_notify too when asked), or until an error or a 60 s deadline.
class TlsPump {
 public:
  TlsPump(const TlsClient& client, const PumpOptions& options)
      : fd_(client.fd.get()),
        ssl_(client.ssl.get()),
        options_(options),
        out_(options.write_size),
        in_(size_t{64} * 1024),
        shutdown_sent_(!options.send_close_notify),
        checker_(options.seed) {}

  PumpResult Run() {
    const auto deadline = std::chrono::steady_clock::now() + seconds(60);
    while (!(result_.got_close_notify && result_.sent == options_.send_bytes && shutdown_sent_)) {
      if (std::chrono::steady_clock::now() > deadline) result_.error = "deadline passed";
      if (!result_.error.empty()) break;
      bool want_write = false;
      const bool sent = SendStep(&want_write);
      const bool received = ReceiveStep();
      if (!sent && !received) {
        pollfd wait{fd_, static_cast<int16_t>(POLLIN | (want_write ? POLLOUT : 0)), 0};
        ::poll(&wait, 1, 100);
      }
    }
    return result_;
  }

 private:
  // One write (or the close_notify after the last one); true when something went out.
  bool SendStep(bool* want_write) {
    ERR_clear_error();
    if (result_.sent == options_.send_bytes) {
      if (!shutdown_sent_) shutdown_sent_ = SSL_shutdown(ssl_) >= 0;
      return shutdown_sent_;
    }
    if (out_pending_ == 0) {
      out_pending_ = static_cast<size_t>(
          std::min<uint64_t>(options_.write_size, options_.send_bytes - result_.sent));
      FillPattern(options_.seed, result_.sent, out_.data(), out_pending_);
    }
    size_t n = 0;
    if (SSL_write_ex(ssl_, out_.data(), out_pending_, &n) == 1) {
      result_.sent += n;
      out_pending_ = 0;
      return true;
    }
    *want_write = SSL_get_error(ssl_, 0) == SSL_ERROR_WANT_WRITE;
    return false;
  }

  // One read; true when something came in.
  bool ReceiveStep() {
    if (result_.got_close_notify) return false;
    ERR_clear_error();
    size_t n = 0;
    if (SSL_read_ex(ssl_, in_.data(), in_.size(), &n) == 1) {
      result_.received += n;
      if (result_.received_text.size() < 256) {
        result_.received_text.append(reinterpret_cast<const char*>(in_.data()),
                                     std::min<size_t>(n, 256));
      }
      if (options_.check_pattern && !checker_.Check(in_.data(), n)) result_.intact = false;
      return true;
    }
    const int ssl_error = SSL_get_error(ssl_, 0);
    if (ssl_error == SSL_ERROR_ZERO_RETURN) {
      result_.got_close_notify = true;
      return true;
    }
    if (ssl_error != SSL_ERROR_WANT_READ && ssl_error != SSL_ERROR_WANT_WRITE) {
      result_.error = "read failed: " + security::DrainOpensslErrors();
    }
    return false;
  }

  const int fd_;
  SSL* const ssl_;
  const PumpOptions options_;
  std::vector<uint8_t> out_;
  std::vector<uint8_t> in_;
  size_t out_pending_ = 0;
  bool shutdown_sent_;
  PatternChecker checker_;
  PumpResult result_;
};

PumpResult Pump(const TlsClient& client, const PumpOptions& options) {
  return TlsPump(client, options).Run();
}

class TlsForwarderTest : public ::testing::Test {
 protected:
  TlsForwarderTest()
      : server_context_(ContextOrDie(security::TlsRole::kServer, pki_.ServerFiles())),
        client_context_(ContextOrDie(security::TlsRole::kClient, pki_.IssueClient("alice"))) {}

  TestPki pki_;
  security::SslCtxPtr server_context_;
  security::SslCtxPtr client_context_;
};

TEST_F(TlsForwarderTest, ThirtyTwoMebibytesEachWayArriveIntactWithSmallAndLargeWrites) {
  constexpr uint64_t kTotal = 32ULL << 20;
  LoopbackServer echo;
  TestProxy proxy(echo.port(), TestProxy::Tls(server_context_.get()));
  for (const size_t write_size : {size_t{1000}, size_t{1} << 20}) {
    auto client = ConnectTls(client_context_.get(), proxy.port());
    ASSERT_TRUE(client.ok()) << client.status();
    const PumpResult pumped = Pump(*client, {.seed = write_size,
                                             .send_bytes = kTotal,
                                             .write_size = write_size,
                                             .send_close_notify = true,
                                             .check_pattern = true});
    EXPECT_EQ(pumped.error, "");
    EXPECT_TRUE(pumped.intact) << "corrupted bytes with writes of " << write_size;
    EXPECT_EQ(pumped.received, kTotal);
    EXPECT_TRUE(pumped.got_close_notify);
  }
  const auto results = proxy.WaitForResults(2);
  ASSERT_EQ(results.size(), 2U);
  for (const ForwardResult& result : results) {
    EXPECT_EQ(result.end, ForwardEnd::kClosed) << result.error.message();
    EXPECT_EQ(result.client_to_upstream_bytes, kTotal);
    EXPECT_EQ(result.upstream_to_client_bytes, kTotal);
  }
}

TEST_F(TlsForwarderTest, ClientCloseNotifyIsEndOfStreamAndTheReplyStillArrives) {
  // The upstream reads to end-of-stream, then answers with how much it got.
  LoopbackServer upstream([](int fd) {
    char buffer[4096];
    uint64_t total = 0;
    ssize_t n = 0;
    while ((n = ::read(fd, buffer, sizeof(buffer))) > 0) total += static_cast<uint64_t>(n);
    const std::string reply = "got " + std::to_string(total) + " bytes";
    WriteAll(fd, reply.data(), reply.size());
  });
  TestProxy proxy(upstream.port(), TestProxy::Tls(server_context_.get()));
  auto client = ConnectTls(client_context_.get(), proxy.port());
  ASSERT_TRUE(client.ok()) << client.status();
  const PumpResult pumped =
      Pump(*client, {.send_bytes = 300000, .send_close_notify = true, .check_pattern = false});
  EXPECT_EQ(pumped.error, "");
  EXPECT_EQ(pumped.received_text, "got 300000 bytes");
  EXPECT_TRUE(pumped.got_close_notify) << "the upstream's end must arrive as close_notify";
  const auto results = proxy.WaitForResults(1);
  ASSERT_EQ(results.size(), 1U);
  EXPECT_EQ(results[0].end, ForwardEnd::kClosed) << results[0].error.message();
  EXPECT_EQ(results[0].client_to_upstream_bytes, 300000U);
}

TEST_F(TlsForwarderTest, UpstreamHalfCloseSendsCloseNotifyAndTheClientCanStillSend) {
  std::atomic<int64_t> upstream_received{-1};
  LoopbackServer upstream([&](int fd) {
    WriteAll(fd, "bye", 3);
    ::shutdown(fd, SHUT_WR);
    char buffer[4096];
    int64_t total = 0;
    ssize_t n = 0;
    while ((n = ::read(fd, buffer, sizeof(buffer))) > 0) total += n;
    upstream_received = total;
  });
  TestProxy proxy(upstream.port(), TestProxy::Tls(server_context_.get()));
  auto client = ConnectTls(client_context_.get(), proxy.port());
  ASSERT_TRUE(client.ok()) << client.status();
  const PumpResult pumped =
      Pump(*client, {.send_bytes = 100000, .send_close_notify = true, .check_pattern = false});
  EXPECT_EQ(pumped.error, "");
  EXPECT_EQ(pumped.received_text, "bye");
  EXPECT_TRUE(WaitFor([&] { return upstream_received.load() >= 0; }));
  EXPECT_EQ(upstream_received.load(), 100000) << "sending after close_notify was received";
  const auto results = proxy.WaitForResults(1);
  ASSERT_EQ(results.size(), 1U);
  EXPECT_EQ(results[0].end, ForwardEnd::kClosed) << results[0].error.message();
}

TEST_F(TlsForwarderTest, TcpCloseWithoutCloseNotifyIsATruncationError) {
  LoopbackServer sink([](int fd) {
    char buffer[4096];
    while (::read(fd, buffer, sizeof(buffer)) > 0) {
    }
  });
  TestProxy proxy(sink.port(), TestProxy::Tls(server_context_.get()));
  auto client = ConnectTls(client_context_.get(), proxy.port());
  ASSERT_TRUE(client.ok()) << client.status();
  size_t written = 0;
  ASSERT_EQ(SSL_write_ex(client->ssl.get(), "hello", 5, &written), 1);
  client->fd.Reset();  // TCP FIN without close_notify
  const auto results = proxy.WaitForResults(1);
  ASSERT_EQ(results.size(), 1U);
  EXPECT_EQ(results[0].end, ForwardEnd::kError);
  EXPECT_EQ(results[0].error, asio::ssl::error::stream_truncated) << results[0].error.message();
}

TEST_F(TlsForwarderTest, IdleTlsConnectionIsClosedAfterTheTimeout) {
  LoopbackServer echo;
  ForwarderOptions options;
  options.idle_timeout = milliseconds(200);
  TestProxy proxy(echo.port(), TestProxy::Tls(server_context_.get(), options));
  auto client = ConnectTls(client_context_.get(), proxy.port());
  ASSERT_TRUE(client.ok()) << client.status();
  const auto results = proxy.WaitForResults(1, seconds(10));
  ASSERT_EQ(results.size(), 1U);
  EXPECT_EQ(results[0].end, ForwardEnd::kIdleTimeout);
}

// A client that never speaks TLS must not hold its connection beyond the handshake timeout.
TEST_F(TlsForwarderTest, SilentClientTimesOutInTheHandshake) {
  LoopbackServer echo;
  TestProxy proxy(echo.port(), TestProxy::Tls(server_context_.get(), {}, milliseconds(200)));
  base::UniqueFd silent = ConnectLoopback(proxy.port(), seconds(20));
  const auto results = proxy.WaitForResults(1, seconds(10));
  ASSERT_EQ(results.size(), 1U);
  EXPECT_EQ(results[0].error, asio::error::timed_out) << results[0].error.message();
  char byte = 0;
  EXPECT_EQ(::read(silent.get(), &byte, 1), 0) << "the proxy must close the connection";
}

TEST_F(TlsForwarderTest, PlainTextClientIsRefusedInTheHandshake) {
  LoopbackServer echo;
  TestProxy proxy(echo.port(), TestProxy::Tls(server_context_.get()));
  base::UniqueFd plain = ConnectLoopback(proxy.port(), seconds(20));
  const std::string request = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_TRUE(WriteAll(plain.get(), request.data(), request.size()));
  const auto results = proxy.WaitForResults(1, seconds(10));
  ASSERT_EQ(results.size(), 1U);
  EXPECT_EQ(results[0].end, ForwardEnd::kError);
  EXPECT_EQ(&results[0].error.category(), &asio::error::get_ssl_category())
      << results[0].error.message();
}

TEST_F(TlsForwarderTest, ClientWithoutCertificateOrFromAnotherCaIsRefused) {
  LoopbackServer echo;
  TestProxy proxy(echo.port(), TestProxy::Tls(server_context_.get()));
  // Trusts the server but has no certificate of its own.
  security::SslCtxPtr anonymous(SSL_CTX_new(TLS_client_method()));
  ASSERT_EQ(SSL_CTX_load_verify_locations(anonymous.get(), pki_.ca_file().c_str(), nullptr), 1);
  SSL_CTX_set_verify(anonymous.get(), SSL_VERIFY_PEER, nullptr);
  // A certificate from another CA, trusting our server's CA.
  TestPki other_pki;
  security::TlsFiles stranger = other_pki.IssueClient("mallory");
  stranger.ca_file = pki_.ca_file();
  security::SslCtxPtr stranger_context = ContextOrDie(security::TlsRole::kClient, stranger);
  for (SSL_CTX* context : {anonymous.get(), stranger_context.get()}) {
    auto client = ConnectTls(context, proxy.port());
    // TLS 1.3: the client's handshake completes before the server checks its certificate; the
    // refusal arrives as an alert on the first read.
    if (client.ok()) {
      const PumpResult pumped = Pump(*client, {.send_bytes = 5, .check_pattern = false});
      EXPECT_NE(pumped.error, "");
      EXPECT_EQ(pumped.received, 0U);
    }
  }
  const auto results = proxy.WaitForResults(2, seconds(10));
  ASSERT_EQ(results.size(), 2U);
  for (const ForwardResult& result : results) {
    EXPECT_EQ(result.end, ForwardEnd::kError);
    EXPECT_EQ(&result.error.category(), &asio::error::get_ssl_category()) << result.error.message();
    EXPECT_EQ(result.client_to_upstream_bytes, 0U);
  }
}

}  // namespace
}  // namespace gatehouse::lb
