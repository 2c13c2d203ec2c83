// TlsStream against a server that refuses the client's certificate. In TLS 1.3 the client's
// handshake completes before the server has checked its certificate; the refusal (an alert, then
// a close) arrives afterwards, and a write can meet the closed socket before any read has seen
// the alert. The stream must still report the alert's reason rather than a bare socket error.
// And WaitReadable() with bytes already inside OpenSSL, which the socket no longer signals.
#include "net/tls_stream.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <tuple>
#include <variant>
#include <vector>

#include "asio/co_spawn.hpp"
#include "asio/connect.hpp"
#include "asio/detached.hpp"
#include "asio/experimental/as_tuple.hpp"
#include "asio/experimental/awaitable_operators.hpp"
#include "asio/io_context.hpp"
#include "asio/ip/tcp.hpp"
#include "asio/ssl/error.hpp"
#include "asio/steady_timer.hpp"
#include "asio/this_coro.hpp"
#include "asio/use_awaitable.hpp"
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

// What the server side of OpenSslHeldBytes saw.
struct HeldBytes {
  std::error_code server_handshake;
  std::error_code client_handshake;
  std::error_code write;
  StreamRead first;
  bool second_wait_returned = false;  // false: it waited for the socket until the deadline
  std::error_code second_wait;
  std::string rest;
};

asio::awaitable<void> ReadWithBytesHeldInOpenSsl(TlsStream& server, TlsStream& client,
                                                 HeldBytes& seen) {
  using asio::experimental::awaitable_operators::operator&&;
  using asio::experimental::awaitable_operators::operator||;
  std::tie(seen.server_handshake, seen.client_handshake) =
      co_await (server.Handshake(kDeadline) && client.Handshake(kDeadline));
  if (seen.server_handshake || seen.client_handshake) co_return;
  seen.write = co_await client.WriteAll("hello, world", 12);
  if (seen.write) co_return;
  if (co_await server.WaitReadable()) co_return;
  // OpenSSL decrypts the whole record and hands out one byte; it keeps the other eleven, and
  // the socket, now empty, will not signal them.
  char byte = 0;
  seen.first = server.TryReadSome(&byte, 1);
  asio::steady_timer deadline(co_await asio::this_coro::executor, kDeadline);
  auto waited = co_await (server.WaitReadable() ||
                          deadline.async_wait(asio::experimental::as_tuple(asio::use_awaitable)));
  seen.second_wait_returned = waited.index() == 0;
  if (!seen.second_wait_returned) co_return;
  seen.second_wait = std::get<0>(waited);
  char rest[64];
  const StreamRead read = server.TryReadSome(rest, sizeof(rest));
  seen.rest.assign(rest, read.bytes);
}

TEST(TlsStreamTest, WaitReadableReturnsForBytesOpenSslAlreadyHolds) {
  TestPki pki;
  std::shared_ptr<SSL_CTX> server_context =
      SharedContext(security::TlsRole::kServer, pki.ServerFiles());
  std::shared_ptr<SSL_CTX> client_context =
      SharedContext(security::TlsRole::kClient, pki.IssueClient("alice"));
  ASSERT_NE(server_context, nullptr);
  ASSERT_NE(client_context, nullptr);
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  tcp::socket client_socket(io);
  client_socket.connect(acceptor.local_endpoint());
  TlsStream server(acceptor.accept(), server_context.get(), TlsSide::kServer);
  TlsStream client(std::move(client_socket), client_context.get(), TlsSide::kClient);
  HeldBytes seen;
  asio::co_spawn(io, ReadWithBytesHeldInOpenSsl(server, client, seen), asio::detached);
  io.run_for(3 * kDeadline);

  ASSERT_FALSE(seen.server_handshake) << seen.server_handshake.message();
  ASSERT_FALSE(seen.client_handshake) << seen.client_handshake.message();
  ASSERT_FALSE(seen.write) << seen.write.message();
  EXPECT_EQ(seen.first.bytes, 1U);
  ASSERT_TRUE(seen.second_wait_returned) << "WaitReadable waited on the socket for bytes "
                                            "OpenSSL already held";
  EXPECT_FALSE(seen.second_wait) << seen.second_wait.message();
  EXPECT_EQ(seen.rest, "ello, world");
}

}  // namespace
}  // namespace gatehouse::net
