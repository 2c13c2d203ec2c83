// tls: sni apps in a real LbServer over loopback: routing by the ClientHello's server name to a
// passthrough app (its upstream terminates TLS itself) or to an app whose TLS ends here with the
// route's own certificate or the server's; unknown names, missing names, garbage and a client
// that never finishes its ClientHello are refused and counted.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <array>
#include <chrono>
#include <string>

#include "absl/strings/str_cat.h"
#include "config/config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lb/testing/client_hello_bytes.h"
#include "lbserver/lb_server_fixture.h"
#include "security/openssl_ptr.h"
#include "testing/loopback.h"
#include "testing/loopback_server.h"

namespace gatehouse::lbserver {
namespace {

using ::gatehouse::lbserver::testing::AppConfig;
using ::gatehouse::lbserver::testing::LbServerTest;
using ::gatehouse::testing::LoopbackServer;
using ::gatehouse::testing::TestCertOptions;
using ::gatehouse::testing::TlsClient;

constexpr char kEdge[] = "127.0.0.30:0";

// An upstream that terminates TLS itself with `context` and then says `line`.
LoopbackServer::Handler TlsSayLine(std::shared_ptr<SSL_CTX> context, const std::string& line) {
  return [context = std::move(context), text = line + "\n"](int fd) {
    gatehouse::testing::SetSocketTimeouts(fd, std::chrono::seconds(10));
    const security::SslPtr ssl(SSL_new(context.get()));
    SSL_set_fd(ssl.get(), fd);
    if (SSL_accept(ssl.get()) != 1) return;
    SSL_write(ssl.get(), text.data(), static_cast<int>(text.size()));
    SSL_shutdown(ssl.get());
  };
}

// The first line the server behind the route says over an established TLS client.
std::string FirstLine(TlsClient& client) {
  std::string line;
  std::array<char, 64> buffer{};
  while (line.find('\n') == std::string::npos) {
    const int n = SSL_read(client.ssl.get(), buffer.data(), static_cast<int>(buffer.size()));
    if (n <= 0) return absl::StrCat("closed after \"", line, "\"");
    line.append(buffer.data(), static_cast<size_t>(n));
  }
  return line.substr(0, line.find('\n'));
}

// The certificate the server presented names `host`.
bool PresentedCertificateNames(TlsClient& client, const std::string& host) {
  X509* const certificate = SSL_get0_peer_certificate(client.ssl.get());
  return certificate != nullptr &&
         X509_check_host(certificate, host.data(), host.size(), 0, nullptr) == 1;
}

// Sends `bytes` and reads until the connection closes: what came back ("" when nothing did).
std::string SendAndReadToEnd(uint16_t port, const std::string& bytes) {
  const base::UniqueFd fd = gatehouse::testing::TryConnect("127.0.0.30", port);
  if (!fd.is_valid()) return "connect failed";
  if (::send(fd.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(bytes.size())) {
    return "send failed";
  }
  std::string got;
  std::array<char, 4096> buffer{};
  ssize_t n = 0;
  while ((n = ::recv(fd.get(), buffer.data(), buffer.size(), 0)) > 0) {
    got.append(buffer.data(), static_cast<size_t>(n));
  }
  return got;
}

class SniRoutingTest : public LbServerTest {
 protected:
  // edge (tls: sni) routes pass.example to `pass` (tls: none, passthrough to `pass_port`),
  // own.example to `ends` with its own certificate, default.example to `ends` with the
  // server's, echo.example to `echo` (tls: none, a plain echo upstream).
  void StartEdge(uint16_t pass_port, uint16_t ends_port, uint16_t echo_port) {
    TestCertOptions own;
    own.extended_key_usages = {"serverAuth"};
    own.dns_names = {"own.example"};
    const security::TlsFiles own_files = pki_.IssueServer("own", own);
    config::LbAppConfig edge;
    edge.name = "edge";
    edge.listen = {config::Address{"127.0.0.30", 0}};
    edge.tls = config::AppTls::kSni;
    edge.routes = {
        {.server_name = "pass.example", .app = "pass", .certificate = std::nullopt},
        {.server_name = "own.example",
         .app = "ends",
         .certificate = config::CertificateFilesConfig{own_files.cert_file, own_files.key_file}},
        {.server_name = "default.example", .app = "ends", .certificate = std::nullopt},
        {.server_name = "echo.example", .app = "echo", .certificate = std::nullopt},
    };
    config::LbAppConfig pass = AppConfig("pass", {pass_port});
    pass.listen.clear();
    pass.tls = config::AppTls::kNone;
    config::LbAppConfig ends = AppConfig("ends", {ends_port});
    ends.listen.clear();
    config::LbAppConfig echo = AppConfig("echo", {echo_port});
    echo.listen.clear();
    echo.tls = config::AppTls::kNone;
    rules_.apps["pass"].users = {"*"};
    rules_.apps["echo"].users = {"*"};
    rules_.apps["ends"].users = {"alice"};
    StartServer({edge, pass, ends, echo});
  }
};

TEST_F(SniRoutingTest, APassthroughRouteHandsTheUntouchedTlsConnectionToItsUpstream) {
  // The upstream completes the handshake with the client itself: had the proxy terminated
  // TLS or dropped a byte of the peeked ClientHello, it could not.
  LoopbackServer upstream(TlsSayLine(server_ctx_, "upstream ended TLS"));
  LoopbackServer unused;
  StartEdge(upstream.port(), unused.port(), unused.port());
  const auto alice = ClientContext("alice");
  absl::StatusOr<TlsClient> client =
      ConnectTlsClientTo(alice.get(), "127.0.0.30", PortOf(kEdge), "pass.example");
  ASSERT_THAT(client, ::gatehouse::testing::IsOk());
  EXPECT_EQ(FirstLine(*client), "upstream ended TLS");
  EXPECT_TRUE(MetricsHave(R"(gatehouse_lb_connections_total{app="pass"} 1)"));
}

TEST_F(SniRoutingTest, ATerminatingRoutePresentsItsOwnCertificateOrTheServers) {
  LoopbackServer plain(LoopbackServer::SayLine("plain upstream"));
  StartEdge(plain.port(), plain.port(), plain.port());
  const auto alice = ClientContext("alice");
  absl::StatusOr<TlsClient> own =
      ConnectTlsClientTo(alice.get(), "127.0.0.30", PortOf(kEdge), "Own.Example");
  ASSERT_THAT(own, ::gatehouse::testing::IsOk());
  EXPECT_TRUE(PresentedCertificateNames(*own, "own.example"));
  EXPECT_FALSE(PresentedCertificateNames(*own, "localhost"));
  EXPECT_EQ(FirstLine(*own), "plain upstream");

  absl::StatusOr<TlsClient> fallback =
      ConnectTlsClientTo(alice.get(), "127.0.0.30", PortOf(kEdge), "default.example");
  ASSERT_THAT(fallback, ::gatehouse::testing::IsOk());
  EXPECT_TRUE(PresentedCertificateNames(*fallback, "localhost"));
  EXPECT_EQ(FirstLine(*fallback), "plain upstream");
  EXPECT_TRUE(MetricsHave(R"(gatehouse_lb_connections_total{app="ends"} 2)"));
}

TEST_F(SniRoutingTest, TheRoutesAppDecidesWhoMayConnect) {
  LoopbackServer plain(LoopbackServer::SayLine("plain upstream"));
  StartEdge(plain.port(), plain.port(), plain.port());
  const auto bob = ClientContext("bob");
  absl::StatusOr<TlsClient> client =
      ConnectTlsClientTo(bob.get(), "127.0.0.30", PortOf(kEdge), "own.example");
  ASSERT_THAT(client,
              ::gatehouse::testing::IsOk());  // the handshake passes; authorization then closes
  EXPECT_THAT(FirstLine(*client), ::testing::HasSubstr("closed"));
  EXPECT_TRUE(MetricsHave(
      R"(gatehouse_lb_authorization_denials_total{app="ends",reason="not_allowed"} 1)"));
}

TEST_F(SniRoutingTest, UnknownAndMissingServerNamesAreRefused) {
  LoopbackServer upstream(LoopbackServer::SayLine("must not be reached"));
  StartEdge(upstream.port(), upstream.port(), upstream.port());
  const auto alice = ClientContext("alice");
  EXPECT_FALSE(ConnectTlsClientTo(alice.get(), "127.0.0.30", PortOf(kEdge), "other.example").ok());
  EXPECT_FALSE(ConnectTlsClientTo(alice.get(), "127.0.0.30", PortOf(kEdge)).ok());
  EXPECT_TRUE(
      MetricsHave(R"(gatehouse_lb_sni_refusals_total{app="edge",reason="unknown_server_name"} 2)"));
  EXPECT_EQ(upstream.accepted(), 0U);
}

TEST_F(SniRoutingTest, AClientHelloSplitAcrossWritesIsReadWholeAndForwardedByteExact) {
  LoopbackServer echo;
  StartEdge(echo.port(), echo.port(), echo.port());
  const std::string hello = lb::testing::OpenSslClientHello("echo.example");
  ASSERT_GT(hello.size(), 20U);
  const base::UniqueFd fd = gatehouse::testing::TryConnect("127.0.0.30", PortOf(kEdge));
  ASSERT_TRUE(fd.is_valid());
  const int on = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
  // The record header alone, then a few bytes, then the rest.
  for (const auto& [from, to] : {std::pair<size_t, size_t>{0, 5}, {5, 12}, {12, hello.size()}}) {
    ASSERT_EQ(::send(fd.get(), hello.data() + from, to - from, MSG_NOSIGNAL),
              static_cast<ssize_t>(to - from));
  }
  std::string got(hello.size(), '\0');
  ASSERT_EQ(::recv(fd.get(), got.data(), got.size(), MSG_WAITALL),
            static_cast<ssize_t>(hello.size()));
  EXPECT_EQ(got, hello);
}

TEST_F(SniRoutingTest, GarbageAndAClientHelloThatNeverCompletesAreRefused) {
  LoopbackServer upstream(LoopbackServer::SayLine("must not be reached"));
  handshake_timeout_ = std::chrono::milliseconds(300);
  StartEdge(upstream.port(), upstream.port(), upstream.port());
  EXPECT_EQ(SendAndReadToEnd(PortOf(kEdge), "GET / HTTP/1.1\r\nHost: a\r\n\r\n"), "");
  // A record header that promises more than ever comes: closed at the handshake timeout.
  EXPECT_EQ(SendAndReadToEnd(PortOf(kEdge), std::string("\x16\x03\x01\x02\x00\x01", 6)), "");
  EXPECT_TRUE(
      MetricsHave(R"(gatehouse_lb_sni_refusals_total{app="edge",reason="bad_client_hello"} 2)"));
  EXPECT_EQ(upstream.accepted(), 0U);
}

}  // namespace
}  // namespace gatehouse::lbserver
