// LbServer in process, over real loopback sockets: mTLS clients with certificates made at test
// time, real upstreams, the real policy and rate limiter. The daemon-level behaviour (signals,
// config files, access log) is tested against the binary in tests/integration.
#include "lbserver/lb_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/ssl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <csignal>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lb/hash_balancer.h"
#include "lb/maglev_table.h"
#include "lb/upstream.h"
#include "lbserver/lb_server_fixture.h"
#include "security/tls_context.h"
#include "testing/loopback.h"
#include "testing/loopback_server.h"
#include "testing/status_matchers.h"
#include "testing/test_pki.h"
#include "testing/tls_test_server.h"
#include "testing/wait_for.h"

namespace gatehouse::lbserver {
namespace {

using ::gatehouse::lbserver::testing::AppConfig;
using ::gatehouse::lbserver::testing::LbServerTest;
using ::gatehouse::lbserver::testing::Loopback;
using ::gatehouse::lbserver::testing::PlainReply;
using ::gatehouse::lbserver::testing::WithRoles;
using ::gatehouse::testing::IsOk;
using ::gatehouse::testing::LoopbackServer;
using ::gatehouse::testing::TestCertOptions;
using ::gatehouse::testing::TestPki;
using ::gatehouse::testing::TlsClient;
using ::gatehouse::testing::WaitFor;
using ::testing::HasSubstr;

// The line ("u1", "u2", ...) of the upstream a hash balancer over `servers` (the daemon's own
// table, built from the same upstream names) gives `key`.
std::string ExpectedHashPick(const std::vector<const LoopbackServer*>& servers, uint64_t key) {
  std::vector<std::shared_ptr<lb::Upstream>> upstreams;
  upstreams.reserve(servers.size());
  for (const LoopbackServer* server : servers) {
    upstreams.push_back(std::make_shared<lb::Upstream>(
        asio::ip::tcp::endpoint(asio::ip::address_v4::loopback(), server->port())));
  }
  lb::HashBalancer balancer(upstreams);
  const std::optional<lb::UpstreamLease> lease = balancer.PickForKey(key);
  for (size_t i = 0; i < upstreams.size(); ++i) {
    if (lease.has_value() && &lease->upstream() == upstreams[i].get()) {
      return absl::StrCat("u", i + 1);
    }
  }
  return "none";
}

TEST_F(LbServerTest, AnAllowedUserReachesTheUpstreamThroughEveryListener) {
  LoopbackServer upstream(LoopbackServer::SayLine("u1"));
  StartServer({AppConfig("web", {upstream.port()}, /*listeners=*/2)});
  const auto alice = ClientContext("alice");
  for (const std::string host : {"127.0.0.10", "127.0.0.11"}) {
    const uint16_t port = PortOf(host + ":0");
    ASSERT_NE(port, 0) << host;
    EXPECT_EQ(FirstLineThrough(alice.get(), port, host).value_or("failed"), "u1") << host;
  }
  const auto by_role = ClientContext("dave", WithRoles({"dev"}));
  EXPECT_EQ(FirstLineThrough(by_role.get(), PortOf("127.0.0.10:0")).value_or("failed"), "u1");
  EXPECT_TRUE(MetricsHave(R"(gatehouse_lb_connections_total{app="web"} 3)"));
}

TEST_F(LbServerTest, RoundRobinSpreadsConnectionsOverTheUpstreams) {
  LoopbackServer first(LoopbackServer::SayLine("u1"));
  LoopbackServer second(LoopbackServer::SayLine("u2"));
  StartServer({AppConfig("web", {first.port(), second.port()})});
  const auto alice = ClientContext("alice");
  std::map<std::string, int> seen;
  for (int i = 0; i < 10; ++i) {
    ++seen[FirstLineThrough(alice.get(), PortOf("127.0.0.10:0")).value_or("failed")];
  }
  EXPECT_EQ(seen["u1"], 5);
  EXPECT_EQ(seen["u2"], 5);
}

TEST_F(LbServerTest, HashBalancingKeepsEachIdentityOnTheUpstreamItsKeyNames) {
  LoopbackServer first(LoopbackServer::SayLine("u1"));
  LoopbackServer second(LoopbackServer::SayLine("u2"));
  LoopbackServer third(LoopbackServer::SayLine("u3"));
  config::LbAppConfig app = AppConfig("web", {first.port(), second.port(), third.port()});
  app.balancing = config::Balancing::kHash;
  app.hash_key = config::HashKey::kClientIdentity;
  StartServer({app});
  std::set<std::string> reached;
  for (int user = 0; user < 8; ++user) {
    const std::string name = absl::StrCat("user", user);
    const auto client = ClientContext(name, WithRoles({"dev"}));
    const std::string expected = ExpectedHashPick({&first, &second, &third}, lb::StableHash(name));
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(FirstLineThrough(client.get(), PortOf("127.0.0.10:0")).value_or("failed"), expected)
          << name << ", connection " << i;
    }
    reached.insert(expected);
  }
  EXPECT_GE(reached.size(), 2U);  // the identities do not all share one upstream
}

TEST_F(LbServerTest, HashBalancingByAddressSendsOneClientAddressToOneUpstream) {
  LoopbackServer first(LoopbackServer::SayLine("u1"));
  LoopbackServer second(LoopbackServer::SayLine("u2"));
  LoopbackServer third(LoopbackServer::SayLine("u3"));
  config::LbAppConfig app = AppConfig("open", {first.port(), second.port(), third.port()});
  app.tls = config::AppTls::kNone;
  app.balancing = config::Balancing::kHash;
  app.hash_key = config::HashKey::kClientAddress;
  rules_.apps["open"].users = {"*"};
  StartServer({app});
  const std::array<unsigned char, 4> client_address = {127, 0, 0, 1};
  const std::string expected =
      absl::StrCat(ExpectedHashPick({&first, &second, &third},
                                    lb::StableHash(absl::string_view(
                                        reinterpret_cast<const char*>(client_address.data()), 4))),
                   "\n");
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(PlainReply("127.0.0.10", PortOf("127.0.0.10:0")), expected) << "connection " << i;
  }
}

TEST_F(LbServerTest, AValidUserWithoutTheAppIsClosedAfterTheHandshakeAndCounted) {
  LoopbackServer upstream(LoopbackServer::SayLine("u1"));
  StartServer({AppConfig("web", {upstream.port()})});
  const auto mallory = ClientContext("mallory", WithRoles({"ops"}));
  const absl::StatusOr<std::string> line = FirstLineThrough(mallory.get(), PortOf("127.0.0.10:0"));
  EXPECT_FALSE(line.ok()) << *line;
  EXPECT_TRUE(
      MetricsHave(R"(gatehouse_lb_authorization_denials_total{app="web",reason="not_allowed"} 1)"));
  EXPECT_EQ(upstream.accepted(), 0U);
}

TEST_F(LbServerTest, ClientsWithoutAGoodCertificateFailTheHandshakeEachUnderItsReason) {
  LoopbackServer upstream(LoopbackServer::SayLine("u1"));
  StartServer({AppConfig("web", {upstream.port()})});
  const uint16_t port = PortOf("127.0.0.10:0");

  absl::StatusOr<security::SslCtxPtr> anonymous =
      security::BuildTlsContext(security::TlsRole::kClient, {pki_.ca_file(), "", "", ""});
  ASSERT_THAT(anonymous, IsOk());
  EXPECT_FALSE(FirstLineThrough(anonymous->get(), port).ok());
  EXPECT_TRUE(
      MetricsHave(R"(gatehouse_lb_handshake_failures_total{app="web",reason="no_certificate"} 1)"));

  TestCertOptions expired_options;
  expired_options.valid_from = std::chrono::hours(-48);
  expired_options.valid_until = std::chrono::hours(-24);
  const auto expired = ClientContext("alice", expired_options);
  EXPECT_FALSE(FirstLineThrough(expired.get(), port).ok());
  EXPECT_TRUE(
      MetricsHave(R"(gatehouse_lb_handshake_failures_total{app="web",reason="expired"} 1)"));

  TestCertOptions server_only_options;
  server_only_options.extended_key_usages = {"serverAuth"};
  const auto server_only = ClientContext("alice", server_only_options);
  EXPECT_FALSE(FirstLineThrough(server_only.get(), port).ok());
  EXPECT_TRUE(
      MetricsHave(R"(gatehouse_lb_handshake_failures_total{app="web",reason="wrong_usage"} 1)"));

  TestPki other_ca;
  absl::StatusOr<security::SslCtxPtr> foreign =
      security::BuildTlsContext(security::TlsRole::kClient, [&] {
        security::TlsFiles files = other_ca.IssueClient("alice");
        files.ca_file = pki_.ca_file();  // trusts our server, presents another CA's certificate
        return files;
      }());
  ASSERT_THAT(foreign, IsOk());
  EXPECT_FALSE(FirstLineThrough(foreign->get(), port).ok());
  EXPECT_TRUE(
      MetricsHave(R"(gatehouse_lb_handshake_failures_total{app="web",reason="untrusted"} 1)"));
  EXPECT_EQ(upstream.accepted(), 0U);
}

TEST_F(LbServerTest, AClientPastItsBurstIsRefusedWhileAnotherIsServed) {
  LoopbackServer upstream(LoopbackServer::SayLine("u1"));
  config::LbAppConfig app = AppConfig("web", {upstream.port()});
  // 0.001/s: no token comes back during the test.
  app.rate_limit = {.connections_per_second = 0.001, .burst = 2, .max_concurrent = 0};
  rules_.apps["web"].users = {"alice", "bob"};
  StartServer({app});
  const uint16_t port = PortOf("127.0.0.10:0");
  const auto alice = ClientContext("alice");
  const auto bob = ClientContext("bob");
  EXPECT_EQ(FirstLineThrough(alice.get(), port).value_or("failed"), "u1");
  EXPECT_EQ(FirstLineThrough(alice.get(), port).value_or("failed"), "u1");
  EXPECT_FALSE(FirstLineThrough(alice.get(), port).ok());
  EXPECT_EQ(FirstLineThrough(bob.get(), port).value_or("failed"), "u1");
  EXPECT_TRUE(
      MetricsHave(R"(gatehouse_lb_rate_limit_refusals_total{app="web",reason="rate_limited"} 1)"));
}

TEST_F(LbServerTest, PlainAppsAdmitAnyoneOnlyUnderAWildcardRule) {
  LoopbackServer upstream(LoopbackServer::SayLine("u1"));
  config::LbAppConfig open_app = AppConfig("open", {upstream.port()});
  open_app.tls = config::AppTls::kNone;
  config::LbAppConfig closed_app = AppConfig("closed", {upstream.port()});
  closed_app.listen = {config::Address{"127.0.0.20", 0}};
  closed_app.tls = config::AppTls::kNone;
  rules_.apps["open"].users = {"*"};
  StartServer({open_app, closed_app});

  EXPECT_EQ(PlainReply("127.0.0.10", PortOf("127.0.0.10:0")), "u1\n");
  EXPECT_EQ(PlainReply("127.0.0.20", PortOf("127.0.0.20:0")), "");
  EXPECT_TRUE(MetricsHave(
      R"(gatehouse_lb_authorization_denials_total{app="closed",reason="not_allowed"} 1)"));
}

TEST_F(LbServerTest, ReloadAddsAndRemovesAppsAndKeepsTheSocketsOfListenersThatStay) {
  LoopbackServer first(LoopbackServer::SayLine("u1"));
  LoopbackServer second(LoopbackServer::SayLine("u2"));
  rules_.apps["api"].users = {"alice"};
  config::LbAppConfig web = AppConfig("web", {first.port()});
  config::LbAppConfig api = AppConfig("api", {second.port()});
  api.listen = {config::Address{"127.0.0.20", 0}};
  StartServer({web});
  const uint16_t web_port = PortOf("127.0.0.10:0");
  const auto alice = ClientContext("alice");
  // A connection held open across the reload keeps its upstream.
  absl::StatusOr<TlsClient> held = ConnectTlsClientTo(alice.get(), "127.0.0.10", web_port);
  ASSERT_THAT(held, IsOk());

  web.upstreams = {Loopback(second.port())};
  ASSERT_THAT(server_->Reload(Settings({web, api})), IsOk());
  EXPECT_EQ(PortOf("127.0.0.10:0"), web_port);
  EXPECT_EQ(FirstLineThrough(alice.get(), web_port).value_or("failed"), "u2");
  const uint16_t api_port = PortOf("127.0.0.20:0");
  ASSERT_NE(api_port, 0);
  EXPECT_EQ(FirstLineThrough(alice.get(), api_port, "127.0.0.20").value_or("failed"), "u2");
  std::array<char, 8> buffer{};
  EXPECT_EQ(SSL_read(held->ssl.get(), buffer.data(), 3), 3);
  EXPECT_EQ(std::string(buffer.data(), 2), "u1");

  ASSERT_THAT(server_->Reload(Settings({api})), IsOk());
  EXPECT_EQ(PortOf("127.0.0.10:0"), 0);
  EXPECT_TRUE(
      WaitFor([&] { return !ConnectTlsClientTo(alice.get(), "127.0.0.10", web_port).ok(); }));
  EXPECT_EQ(FirstLineThrough(alice.get(), api_port, "127.0.0.20").value_or("failed"), "u2");
}

TEST_F(LbServerTest, AReloadThatCannotBindChangesNothing) {
  LoopbackServer upstream(LoopbackServer::SayLine("u1"));
  StartServer({AppConfig("web", {upstream.port()})});
  const uint16_t port = PortOf("127.0.0.10:0");
  // Taken by someone else without SO_REUSEPORT: binding it must fail.
  LoopbackServer squatter(LoopbackServer::SayLine("x"));
  rules_.apps["api"].users = {"alice"};
  config::LbAppConfig api = AppConfig("api", {upstream.port()});
  api.listen = {Loopback(squatter.port())};
  const absl::Status status = server_->Reload(Settings({AppConfig("web", {upstream.port()}), api}));
  EXPECT_THAT(status.message(), HasSubstr(absl::StrCat("127.0.0.1:", squatter.port())));
  EXPECT_EQ(server_->BoundEndpoints().size(), 1U);
  const auto alice = ClientContext("alice");
  EXPECT_EQ(FirstLineThrough(alice.get(), port).value_or("failed"), "u1");
}

TEST_F(LbServerTest, ShutdownDrainsAnOpenConnectionThenRefusesNewOnes) {
  // An upstream that echoes, so the connection stays open until the client ends it.
  LoopbackServer upstream;
  StartServer({AppConfig("web", {upstream.port()})});
  const uint16_t port = PortOf("127.0.0.10:0");
  const auto alice = ClientContext("alice");
  absl::StatusOr<TlsClient> client = ConnectTlsClientTo(alice.get(), "127.0.0.10", port);
  ASSERT_THAT(client, IsOk());
  ASSERT_EQ(SSL_write(client->ssl.get(), "ping", 4), 4);
  std::array<char, 8> buffer{};
  ASSERT_EQ(SSL_read(client->ssl.get(), buffer.data(), 4), 4);
  ASSERT_TRUE(WaitFor([&] { return server_->open_connections() == 1; }));

  std::thread shutdown([this] { server_->Shutdown(std::chrono::seconds(20)); });
  // New connections are refused while the open one still works.
  EXPECT_TRUE(WaitFor([&] { return !ConnectTlsClientTo(alice.get(), "127.0.0.10", port).ok(); }));
  ASSERT_EQ(SSL_write(client->ssl.get(), "pong", 4), 4);
  EXPECT_EQ(SSL_read(client->ssl.get(), buffer.data(), 4), 4);
  EXPECT_EQ(std::string(buffer.data(), 4), "pong");
  SSL_shutdown(client->ssl.get());
  client->fd.Reset();
  shutdown.join();
  EXPECT_EQ(server_->open_connections(), 0U);
}

TEST_F(LbServerTest, AnUpstreamThatRefusesIsSkippedForOneThatServes) {
  LoopbackServer serving(LoopbackServer::SayLine("u1"));
  uint16_t refusing_port = 0;
  {
    LoopbackServer gone(LoopbackServer::SayLine("gone"));
    refusing_port = gone.port();
  }
  StartServer({AppConfig("web", {refusing_port, serving.port()})});
  const auto alice = ClientContext("alice");
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(FirstLineThrough(alice.get(), PortOf("127.0.0.10:0")).value_or("failed"), "u1");
  }
  EXPECT_TRUE(MetricsHave(R"(gatehouse_lb_connections_total{app="web"} 6)"));
  // Every refused attempt is counted, though each was retried on the serving upstream.
  EXPECT_GE(metrics_.GetCounter("gatehouse_lb_dial_failures_total", "", {{"app", "web"}})->value(),
            1U);
}

int OpenDescriptorCount() {
  int count = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    ++count;
  }
  return count;
}

// EMFILE on accept: the acceptor pauses (10 ms doubling to 1 s) instead of retrying at once,
// which would spin a core while the connection waits in the queue; service resumes after.
TEST_F(LbServerTest, RunningOutOfDescriptorsPausesAcceptingInsteadOfSpinning) {
  LoopbackServer upstream(LoopbackServer::SayLine("u1"));
  StartServer({AppConfig("web", {upstream.port()})});
  const uint16_t port = PortOf("127.0.0.10:0");
  rlimit original{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &original), 0);
  int ready[2];
  int hold[2];
  ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(hold, O_CLOEXEC), 0);
  base::UniqueFd ready_read(ready[0]);
  base::UniqueFd ready_write(ready[1]);
  base::UniqueFd hold_read(hold[0]);
  base::UniqueFd hold_write(hold[1]);
  rlimit low = original;
  low.rlim_cur = static_cast<rlim_t>(OpenDescriptorCount()) + 4;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  // The clients live in a child process, so their descriptors do not count against ours. It
  // makes only system calls: it is a fork of a process with threads.
  const pid_t child = ::fork();
  if (child == 0) {
    ::close(hold_write.get());  // else its own copy would keep the pipe open for ever
    ::setrlimit(RLIMIT_NOFILE, &original);
    sockaddr_in address = gatehouse::testing::LoopbackAddress(port);
    address.sin_addr.s_addr = htonl(0x7F00000A);  // 127.0.0.10
    for (int i = 0; i < 40; ++i) {
      const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      (void)!::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address));
    }
    (void)!::write(ready_write.get(), "x", 1);
    char byte = 0;
    (void)!::read(hold_read.get(), &byte, 1);  // until the parent closes its end
    ::_exit(0);
  }
  ASSERT_GT(child, 0);
  hold_read.Reset();
  ready_write.Reset();
  char byte = 0;
  EXPECT_EQ(::read(ready_read.get(), &byte, 1), 1);
  base::Counter* errors =
      metrics_.GetCounter("gatehouse_lb_accept_errors_total", "", {{"reason", "out_of_resources"}});
  EXPECT_TRUE(WaitFor([&] { return errors->value() >= 4; }));
  // Four failures take pauses of 10 + 20 + 40 ms; an acceptor that retried at once failed over
  // a hundred times by then when this test was checked against one.
  EXPECT_LT(errors->value(), 50U);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &original), 0);
  hold_write.Reset();
  int status = 0;
  if (!WaitFor([&] { return ::waitpid(child, &status, WNOHANG) == child; })) {
    ::kill(child, SIGKILL);
    ::waitpid(child, &status, 0);
    ADD_FAILURE() << "the client process did not exit";
  }
  const auto alice = ClientContext("alice");
  EXPECT_TRUE(WaitFor(
      [&] { return FirstLineThrough(alice.get(), PortOf("127.0.0.10:0")).value_or("") == "u1"; }));
}

// Reads a PROXY v2 header and answers with what it says: "<source port> cn=<CN> roles=<a,b>".
LoopbackServer::Handler DescribeProxyHeader() {
  return [](int fd) {
    std::array<uint8_t, 16> fixed{};
    if (::recv(fd, fixed.data(), fixed.size(), MSG_WAITALL) != 16) return;
    const size_t length = (size_t{fixed[14]} << 8) | fixed[15];
    std::vector<uint8_t> rest(length);
    if (::recv(fd, rest.data(), length, MSG_WAITALL) != static_cast<ssize_t>(length)) return;
    const auto source_port = static_cast<uint16_t>((rest[8] << 8) | rest[9]);
    std::string cn;
    std::string roles;
    // TLVs after the 12 bytes of IPv4 addresses and ports.
    for (size_t at = 12; at + 3 <= rest.size();) {
      const uint8_t type = rest[at];
      const size_t size = (size_t{rest[at + 1]} << 8) | rest[at + 2];
      const std::string value(rest.begin() + static_cast<std::ptrdiff_t>(at + 3),
                              rest.begin() + static_cast<std::ptrdiff_t>(at + 3 + size));
      if (type == 0x20) {
        // client flags (1) and verify (4), then sub-TLVs; 0x22 is the CN.
        for (size_t sub = 5; sub + 3 <= value.size();) {
          const size_t sub_size = (size_t{static_cast<uint8_t>(value[sub + 1])} << 8) |
                                  static_cast<uint8_t>(value[sub + 2]);
          if (static_cast<uint8_t>(value[sub]) == 0x22) cn = value.substr(sub + 3, sub_size);
          sub += 3 + sub_size;
        }
      } else if (type == 0xE0) {
        roles += (roles.empty() ? "" : ",") + value;
      }
      at += 3 + size;
    }
    const std::string reply = absl::StrCat(source_port, " cn=", cn, " roles=", roles, "\n");
    gatehouse::testing::WriteAll(fd, reply.data(), reply.size());
  };
}

TEST_F(LbServerTest, ProxyProtocolTellsTheUpstreamTheClientAndItsIdentity) {
  LoopbackServer upstream(DescribeProxyHeader());
  config::LbAppConfig app = AppConfig("web", {upstream.port()});
  app.proxy_protocol = config::ProxyProtocol::kV2;
  StartServer({app});
  const auto carol = ClientContext("alice", WithRoles({"dev", "ops"}));
  absl::StatusOr<TlsClient> client =
      ConnectTlsClientTo(carol.get(), "127.0.0.10", PortOf("127.0.0.10:0"));
  ASSERT_THAT(client, IsOk());
  sockaddr_in local{};
  socklen_t size = sizeof(local);
  ASSERT_EQ(::getsockname(client->fd.get(), reinterpret_cast<sockaddr*>(&local), &size), 0);
  std::array<char, 128> buffer{};
  const int n = SSL_read(client->ssl.get(), buffer.data(), static_cast<int>(buffer.size()));
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buffer.data(), static_cast<size_t>(n)),
            absl::StrCat(ntohs(local.sin_port), " cn=alice roles=dev,ops\n"));
}

TEST_F(LbServerTest, LeastConnectionsSendsTheNextClientToTheLessBusyUpstream) {
  LoopbackServer busy;  // echoes: a connection to it stays open
  LoopbackServer idle(LoopbackServer::SayLine("idle"));
  config::LbAppConfig app = AppConfig("web", {busy.port(), idle.port()});
  app.balancing = config::Balancing::kLeastConnections;
  StartServer({app});
  const auto alice = ClientContext("alice");
  const uint16_t port = PortOf("127.0.0.10:0");
  // Each pick happens only once the proxy has counted the previous short connection to the
  // other upstream as ended, so the counts it compares are exactly the ones the test sees.
  const std::string idle_has_none =
      absl::StrCat(R"(gatehouse_lb_upstream_open_connections{app="web",upstream="127.0.0.1:)",
                   idle.port(), "\"} 0");
  // Ties are broken at random: hold one connection on the echoing upstream, bounded in tries.
  std::optional<TlsClient> held;
  for (int attempt = 0; attempt < 64 && !held.has_value(); ++attempt) {
    ASSERT_TRUE(MetricsHave(idle_has_none));
    absl::StatusOr<TlsClient> client = ConnectTlsClientTo(alice.get(), "127.0.0.10", port);
    ASSERT_THAT(client, IsOk());
    ASSERT_EQ(SSL_write(client->ssl.get(), "x", 1), 1);
    std::array<char, 8> buffer{};
    ASSERT_GT(SSL_read(client->ssl.get(), buffer.data(), 1), 0);
    if (buffer[0] == 'x') held = std::move(*client);
  }
  ASSERT_TRUE(held.has_value()) << "64 tied picks all went to the same upstream";
  ASSERT_EQ(busy.open_connections(), 1U);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(MetricsHave(idle_has_none));
    EXPECT_EQ(FirstLineThrough(alice.get(), port).value_or(""), "idle");
  }
}

// Sends `bytes` through the proxy to an echoing upstream and reads them all back; how long that
// took, or the error. The reply must equal what was sent.
absl::StatusOr<absl::Duration> EchoRoundTrip(SSL* ssl, size_t bytes) {
  std::string sent(bytes, '\0');
  for (size_t i = 0; i < bytes; ++i) sent[i] = static_cast<char>('a' + i % 26);
  const absl::Time start = absl::Now();
  if (SSL_write(ssl, sent.data(), static_cast<int>(sent.size())) != static_cast<int>(bytes)) {
    return absl::UnavailableError("write failed");
  }
  std::string got;
  std::array<char, size_t{16} * 1024> buffer{};
  while (got.size() < bytes) {
    const int n = SSL_read(ssl, buffer.data(), static_cast<int>(buffer.size()));
    if (n <= 0) return absl::UnavailableError(absl::StrCat("closed after ", got.size(), " bytes"));
    got.append(buffer.data(), static_cast<size_t>(n));
  }
  if (got != sent) return absl::DataLossError("the echo differs from what was sent");
  return absl::Now() - start;
}

TEST_F(LbServerTest, BandwidthLimitsHoldATlsConnectionToTheAppsRateInEachDirection) {
  // 96 KiB at 32 KiB/s, less the bucket's 4 KiB burst: at least 2.875 s either way.
  constexpr size_t kBytes = size_t{96} * 1024;
  constexpr uint64_t kRate = uint64_t{32} * 1024;
  const absl::Duration floor = absl::Seconds(static_cast<double>(kBytes - 4096) / kRate);
  LoopbackServer upstream;  // echoes
  config::LbAppConfig upload = AppConfig("web", {upstream.port()});
  upload.bandwidth.upload_bytes_per_second = kRate;
  config::LbAppConfig download = AppConfig("api", {upstream.port()});
  download.listen = {config::Address{"127.0.0.20", 0}};
  download.bandwidth.download_bytes_per_second = kRate;
  config::LbAppConfig unlimited = AppConfig("free", {upstream.port()});
  unlimited.listen = {config::Address{"127.0.0.30", 0}};
  rules_.apps["api"].users = {"alice"};
  rules_.apps["free"].users = {"alice"};
  StartServer({upload, download, unlimited});
  const auto alice = ClientContext("alice");

  for (const std::string host : {"127.0.0.10", "127.0.0.20"}) {
    absl::StatusOr<TlsClient> client =
        ConnectTlsClientTo(alice.get(), host, PortOf(absl::StrCat(host, ":0")));
    ASSERT_THAT(client, IsOk());
    const absl::StatusOr<absl::Duration> took = EchoRoundTrip(client->ssl.get(), kBytes);
    ASSERT_THAT(took, IsOk()) << host;
    EXPECT_GE(*took, floor) << host;
  }
  // The same bytes through an app without limits: the floor above is the limit's doing.
  absl::StatusOr<TlsClient> client =
      ConnectTlsClientTo(alice.get(), "127.0.0.30", PortOf("127.0.0.30:0"));
  ASSERT_THAT(client, IsOk());
  const absl::StatusOr<absl::Duration> took = EchoRoundTrip(client->ssl.get(), kBytes);
  ASSERT_THAT(took, IsOk());
  EXPECT_LT(*took, floor);
}

TEST_F(LbServerTest, AReloadKeepsRateLimitBucketsAndUpstreamHealthOfWhatStays) {
  LoopbackServer upstream(LoopbackServer::SayLine("u1"));
  uint16_t dead_port = 0;
  {
    LoopbackServer gone(LoopbackServer::SayLine("gone"));
    dead_port = gone.port();
  }
  config::LbAppConfig app = AppConfig("web", {upstream.port(), dead_port});
  app.rate_limit = {.connections_per_second = 0.001, .burst = 1, .max_concurrent = 0};
  app.health_check =
      config::HealthCheckConfig{std::chrono::milliseconds(50), std::chrono::milliseconds(20), 1, 1};
  StartServer({app});
  const std::string dead_eligible = absl::StrCat(
      R"(gatehouse_lb_upstream_eligible{app="web",upstream="127.0.0.1:)", dead_port, "\"}");
  ASSERT_TRUE(MetricsHave(dead_eligible + " 0"));
  const auto alice = ClientContext("alice");
  const uint16_t port = PortOf("127.0.0.10:0");
  EXPECT_EQ(FirstLineThrough(alice.get(), port).value_or("failed"), "u1");
  EXPECT_FALSE(FirstLineThrough(alice.get(), port).ok());

  // Same limits, a longer idle timeout: the bucket stays empty, the dead upstream stays out.
  app.idle_timeout = std::chrono::hours(2);
  ASSERT_THAT(server_->Reload(Settings({app})), IsOk());
  EXPECT_NE(metrics_.RenderPrometheusText().find(dead_eligible + " 0\n"), std::string::npos);
  EXPECT_FALSE(FirstLineThrough(alice.get(), port).ok());

  // New limits start with fresh buckets.
  app.rate_limit.burst = 2;
  ASSERT_THAT(server_->Reload(Settings({app})), IsOk());
  EXPECT_EQ(FirstLineThrough(alice.get(), port).value_or("failed"), "u1");

  // Without a health check nothing would ever mark the dead upstream up again: it is trusted
  // again, and its dials (with passive ejection) decide.
  app.health_check.reset();
  ASSERT_THAT(server_->Reload(Settings({app})), IsOk());
  EXPECT_NE(metrics_.RenderPrometheusText().find(dead_eligible + " 1\n"), std::string::npos);
}

}  // namespace
}  // namespace gatehouse::lbserver
