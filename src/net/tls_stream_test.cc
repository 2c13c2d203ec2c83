// TlsStream against a server that refuses the client's certificate. In TLS 1.3 the client's
// handshake completes before the server has checked its certificate; the refusal (an alert, then
// a close) arrives afterwards, and a write can meet the closed socket before any read has seen
// the alert. The stream must still report the alert's reason rather than a bare socket error.
#include "net/tls_stream.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "asio/co_spawn.hpp"
#include "asio/connect.hpp"
#include "asio/detached.hpp"
#include "asio/io_context.hpp"
#include "asio/ip/tcp.hpp"
#include "asio/ssl/error.hpp"
#include "gtest/gtest.h"
#include "security/tls_context.h"
#include "testing/test_pki.h"
#include "testing/tls_test_server.h"

namespace gatehouse::net {
namespace {

using asio::ip::tcp;
using testing::TestPki;
using testing::TlsTestServer;

constexpr std::chrono::seconds kDeadline(10);

std::shared_ptr<SSL_CTX> SharedContext(security::TlsRole role, const security::TlsFiles& files) {
  auto context = security::BuildTlsContext(role, files);
  EXPECT_TRUE(context.ok()) << context.status();
  return context.ok() ? std::shared_ptr<SSL_CTX>(context->release(), SSL_CTX_free) : nullptr;
}

// What a client without a certificate saw: the handshake's outcome and the first write error.
struct RefusedClient {
  std::error_code handshake;
  std::error_code write;
  int writes = 0;
};

asio::awaitable<void> WriteUntilRefused(tcp::socket socket, SSL_CTX* context, TlsTestServer& server,
                                        RefusedClient& seen) {
  TlsStream stream(std::move(socket), context, TlsSide::kClient);
  seen.handshake = co_await stream.Handshake(kDeadline);
  if (seen.handshake) co_return;
  // The server has refused and closed: its alert sits unread in this socket's receive buffer.
  // The first write still goes out; the server's kernel answers it with a reset, and a later
  // write fails on the socket.
  server.WaitForOutcomes(1);
  const std::string request(1024, 'x');
  const auto deadline = std::chrono::steady_clock::now() + kDeadline;
  while (!seen.write && std::chrono::steady_clock::now() < deadline) {
    seen.write = co_await stream.WriteAll(request.data(), request.size());
    ++seen.writes;
  }
}

TEST(TlsStreamTest, WriteAfterTheServerRefusedTheCertificateReportsTheAlert) {
  TestPki pki;
  std::shared_ptr<SSL_CTX> server_context =
      SharedContext(security::TlsRole::kServer, pki.ServerFiles());
  security::TlsFiles no_certificate;
  no_certificate.ca_file = pki.ca_file();
  const std::shared_ptr<SSL_CTX> client_context =
      SharedContext(security::TlsRole::kClient, no_certificate);
  ASSERT_NE(server_context, nullptr);
  ASSERT_NE(client_context, nullptr);
  TlsTestServer server([&server_context]() -> std::shared_ptr<SSL_CTX> { return server_context; });

  asio::io_context io;
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(asio::ip::address_v4::loopback(), server.port()));
  RefusedClient seen;
  asio::co_spawn(io, WriteUntilRefused(std::move(socket), client_context.get(), server, seen),
                 asio::detached);
  io.run_for(2 * kDeadline);

  const std::vector<testing::HandshakeOutcome> outcomes = server.WaitForOutcomes(1);
  ASSERT_EQ(outcomes.size(), 1U);
  EXPECT_FALSE(outcomes[0].ok);
  ASSERT_FALSE(seen.handshake) << seen.handshake.message();
  ASSERT_TRUE(seen.write) << "no write failed in " << seen.writes << " writes";
  EXPECT_EQ(seen.write.category(), asio::error::get_ssl_category())
      << seen.write.category().name() << ": " << seen.write.message();
  EXPECT_EQ(ERR_GET_REASON(static_cast<unsigned long>(seen.write.value())),  // NOLINT
            SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED)
      << seen.write.message();
}

}  // namespace
}  // namespace gatehouse::net
