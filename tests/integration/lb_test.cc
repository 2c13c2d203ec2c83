// The load balancer as an operator runs it: the real gatehoused binary with a config file, real
// TLS clients (our test client, openssl s_client, gatebench), real upstreams on loopback, SIGHUP
// reloads under load and SIGTERM drains; every example in docs/examples passes --check.
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "security/tls_context.h"
#include "testing/byte_pattern.h"
#include "testing/daemon.h"
#include "testing/http_get.h"
#include "testing/loopback.h"
#include "testing/loopback_server.h"
#include "testing/subprocess.h"
#include "testing/temp_dir.h"
#include "testing/test_pki.h"
#include "testing/tls_test_server.h"
#include "testing/wait_for.h"

namespace gatehouse {
namespace {

using ::gatehouse::testing::BuiltProgram;
using ::gatehouse::testing::ChildProcess;
using ::gatehouse::testing::ConnectLoopback;
using ::gatehouse::testing::ConnectTlsClient;
using ::gatehouse::testing::Daemon;
using ::gatehouse::testing::HttpGet;
using ::gatehouse::testing::LoopbackServer;
using ::gatehouse::testing::ProcessResult;
using ::gatehouse::testing::RunProcess;
using ::gatehouse::testing::TempDir;
using ::gatehouse::testing::TestCertOptions;
using ::gatehouse::testing::TestPki;
using ::gatehouse::testing::TlsClient;
using ::gatehouse::testing::TlsTestServer;
using ::gatehouse::testing::WaitFor;
using ::testing::HasSubstr;

std::shared_ptr<SSL_CTX> ClientContext(const security::TlsFiles& files) {
  absl::StatusOr<security::SslCtxPtr> ctx =
      security::BuildTlsContext(security::TlsRole::kClient, files);
  EXPECT_TRUE(ctx.ok()) << ctx.status();
  return ctx.ok() ? std::shared_ptr<SSL_CTX>(ctx->release(), SSL_CTX_free) : nullptr;
}

// The first line an upstream sends through a TLS app, or nullopt when the proxy closes first.
std::optional<std::string> FirstLine(SSL_CTX* ctx, uint16_t port) {
  absl::StatusOr<TlsClient> client = ConnectTlsClient(ctx, port);
  if (!client.ok()) return std::nullopt;
  std::string line;
  std::array<char, 64> buffer{};
  while (line.find('\n') == std::string::npos) {
    const int n = SSL_read(client->ssl.get(), buffer.data(), static_cast<int>(buffer.size()));
    if (n <= 0) return std::nullopt;
    line.append(buffer.data(), static_cast<size_t>(n));
  }
  return line.substr(0, line.find('\n'));
}

// True when a TCP connection to `host`:`port` is accepted (refusal is an answer, not a failure).
bool Connects(const char* host, uint16_t port) {
  return gatehouse::testing::TryConnect(host, port).is_valid();
}

class LbDaemonTest : public ::testing::Test {
 protected:
  // The tls section for the test PKI, the admin endpoint on a free port, and `rest`.
  std::string Config(const std::string& rest) const {
    const security::TlsFiles server = pki_.ServerFiles();
    return absl::StrCat("tls: {ca: ", server.ca_file, ", cert: ", server.cert_file,
                        ", key: ", server.key_file, "}\nadmin: {listen: 127.0.0.1:0}\n", rest);
  }

  // One TLS app, "web", on 127.0.0.1:0 for `rule` (an access rule such as "{users: [alice]}"),
  // forwarding to `upstreams` (loopback ports); `lb` and `app` are extra YAML lines for the lb
  // section and the app, each indented as it must be there.
  std::string WebApp(const std::string& rule, const std::vector<uint16_t>& upstreams,
                     const std::string& lb = "", const std::string& app = "") const {
    std::string list;
    for (const uint16_t port : upstreams) {
      absl::StrAppend(&list, list.empty() ? "" : ", ", "127.0.0.1:", port);
    }
    return Config(absl::StrCat("authorization:\n  apps:\n    web: ", rule, "\nlb:\n", lb,
                               "  apps:\n    - name: web\n      listen: 127.0.0.1:0\n",
                               "      upstreams: [", list, "]\n", app));
  }

  TempDir tmp_;
  TestPki pki_;
};

TEST_F(LbDaemonTest, AllowedUsersReachTheUpstreamsThroughEveryListenerAndAreLogged) {
  LoopbackServer first(LoopbackServer::SayLine("u1"));
  LoopbackServer second(LoopbackServer::SayLine("u2"));
  Daemon daemon(tmp_, WebApp("{users: [alice], roles: [dev]}", {first.port(), second.port()},
                             "  workers: 2\n", "      balancing: round_robin\n"));
  ASSERT_TRUE(daemon.started()) << daemon.process().output();
  const uint16_t port = daemon.PortOf("web");
  ASSERT_NE(port, 0) << daemon.process().output();
  const auto alice = ClientContext(pki_.IssueClient("alice"));
  TestCertOptions dev;
  dev.roles = {"dev"};
  const auto by_role = ClientContext(pki_.IssueClient("dave", dev));
  std::map<std::string, int> seen;
  for (int i = 0; i < 4; ++i) ++seen[FirstLine(alice.get(), port).value_or("refused")];
  for (int i = 0; i < 4; ++i) ++seen[FirstLine(by_role.get(), port).value_or("refused")];
  EXPECT_EQ(seen["u1"], 4);
  EXPECT_EQ(seen["u2"], 4);
  EXPECT_TRUE(daemon.MetricsHave(R"(gatehouse_lb_connections_total{app="web"} 8)"));
  EXPECT_TRUE(daemon.process().WaitForOutput("access app=web client=127.0.0.1:"));
  EXPECT_TRUE(daemon.process().WaitForOutput("identity=dave upstream=127.0.0.1:"));
}

TEST_F(LbDaemonTest, RefusesBadClientsAtTheHandshakeAndUnauthorizedOnesAfterIt) {
  LoopbackServer upstream(LoopbackServer::SayLine("u1"));
  Daemon daemon(tmp_, WebApp("{users: [alice]}", {upstream.port()}, "  workers: 1\n"));
  ASSERT_TRUE(daemon.started()) << daemon.process().output();
  const std::string target = absl::StrCat("127.0.0.1:", daemon.PortOf("web"));
  const std::string ca = pki_.ca_file();

  // A TLS 1.2-only client, and a TLS 1.3 client without a certificate, through openssl itself.
  const ProcessResult tls12 = RunProcess({"/usr/bin/openssl", "s_client", "-connect", target,
                                          "-tls1_2", "-CAfile", ca, "-servername", "localhost"});
  EXPECT_NE(tls12.exit_code, 0) << tls12.output;
  EXPECT_TRUE(daemon.MetricsHave(
      R"(gatehouse_lb_handshake_failures_total{app="web",reason="protocol_version"} 1)"));
  RunProcess({"/usr/bin/openssl", "s_client", "-connect", target, "-tls1_3", "-CAfile", ca},
             "hello\n");
  EXPECT_TRUE(daemon.MetricsHave(
      R"(gatehouse_lb_handshake_failures_total{app="web",reason="no_certificate"} 1)"));

  TestCertOptions expired;
  expired.valid_from = std::chrono::hours(-48);
  expired.valid_until = std::chrono::hours(-1);
  const security::TlsFiles expired_files = pki_.IssueClient("alice", expired);
  RunProcess({"/usr/bin/openssl", "s_client", "-connect", target, "-CAfile", ca, "-cert",
              expired_files.cert_file, "-key", expired_files.key_file},
             "hello\n");
  EXPECT_TRUE(
      daemon.MetricsHave(R"(gatehouse_lb_handshake_failures_total{app="web",reason="expired"} 1)"));

  TestCertOptions no_client_auth;
  no_client_auth.extended_key_usages = {"serverAuth"};
  const security::TlsFiles wrong_usage = pki_.IssueClient("alice", no_client_auth);
  RunProcess({"/usr/bin/openssl", "s_client", "-connect", target, "-CAfile", ca, "-cert",
              wrong_usage.cert_file, "-key", wrong_usage.key_file},
             "hello\n");
  EXPECT_TRUE(daemon.MetricsHave(
      R"(gatehouse_lb_handshake_failures_total{app="web",reason="wrong_usage"} 1)"));

  TestPki other;
  security::TlsFiles foreign = other.IssueClient("alice");
  foreign.ca_file = ca;
  EXPECT_FALSE(FirstLine(ClientContext(foreign).get(), daemon.PortOf("web")).has_value());
  EXPECT_TRUE(daemon.MetricsHave(
      R"(gatehouse_lb_handshake_failures_total{app="web",reason="untrusted"} 1)"));

  EXPECT_FALSE(
      FirstLine(ClientContext(pki_.IssueClient("bob")).get(), daemon.PortOf("web")).has_value());
  EXPECT_TRUE(daemon.MetricsHave(
      R"(gatehouse_lb_authorization_denials_total{app="web",reason="not_allowed"} 1)"));
  EXPECT_EQ(upstream.accepted(), 0U) << "no refused client may reach the upstream";
  EXPECT_EQ(FirstLine(ClientContext(pki_.IssueClient("alice")).get(), daemon.PortOf("web")), "u1");
}

TEST_F(LbDaemonTest, AnSniListenerRoutesOpensslClientsByServerName) {
  // pass.localhost goes through untouched to an upstream that terminates TLS itself (it sees
  // alice's certificate and greets her); own.localhost ends here with the route's own
  // certificate, which openssl checks against the name; other names are refused.
  absl::StatusOr<security::SslCtxPtr> upstream_context =
      security::BuildTlsContext(security::TlsRole::kServer, pki_.ServerFiles());
  ASSERT_TRUE(upstream_context.ok()) << upstream_context.status();
  std::shared_ptr<SSL_CTX> shared_upstream_context(upstream_context->release(), SSL_CTX_free);
  TlsTestServer tls_upstream([&shared_upstream_context] { return shared_upstream_context; });
  LoopbackServer plain(LoopbackServer::SayLine("terminated by gatehoused"));
  TestCertOptions own;
  own.extended_key_usages = {"serverAuth"};
  own.dns_names = {"own.localhost"};
  const security::TlsFiles own_files = pki_.IssueServer("own", own);
  Daemon daemon(
      tmp_, Config(absl::StrCat(
                "authorization:\n  apps:\n    pass: {users: [\"*\"]}\n    ends: {users: [alice]}\n"
                "lb:\n  apps:\n    - name: edge\n      listen: 127.0.0.1:0\n      tls: sni\n"
                "      routes:\n        - {server_name: pass.localhost, app: pass}\n"
                "        - {server_name: own.localhost, app: ends, certificate: {cert: ",
                own_files.cert_file, ", key: ", own_files.key_file, "}}\n",
                "    - {name: pass, upstreams: [127.0.0.1:", tls_upstream.port(), "], tls: none}\n",
                "    - {name: ends, upstreams: [127.0.0.1:", plain.port(), "]}\n")));
  ASSERT_TRUE(daemon.started()) << daemon.process().output();
  const std::string target = absl::StrCat("127.0.0.1:", daemon.PortOf("edge"));
  const security::TlsFiles alice = pki_.IssueClient("alice");
  const auto s_client = [&](const std::string& name, bool verify_name) {
    std::vector<std::string> argv = {"/usr/bin/openssl",
                                     "s_client",
                                     "-connect",
                                     target,
                                     "-servername",
                                     name,
                                     "-CAfile",
                                     pki_.ca_file(),
                                     "-cert",
                                     alice.cert_file,
                                     "-key",
                                     alice.key_file,
                                     "-ign_eof",
                                     "-verify_return_error"};
    if (verify_name) argv.insert(argv.end(), {"-verify_hostname", name});
    return RunProcess(argv);
  };

  const ProcessResult passed = s_client("pass.localhost", /*verify_name=*/false);
  EXPECT_THAT(passed.output, HasSubstr("hello alice")) << passed.output;
  const ProcessResult ended = s_client("own.localhost", /*verify_name=*/true);
  EXPECT_EQ(ended.exit_code, 0) << ended.output;
  EXPECT_THAT(ended.output, HasSubstr("terminated by gatehoused")) << ended.output;
  const ProcessResult unknown = s_client("other.localhost", /*verify_name=*/false);
  EXPECT_NE(unknown.exit_code, 0) << unknown.output;
  EXPECT_TRUE(daemon.MetricsHave(
      R"(gatehouse_lb_sni_refusals_total{app="edge",reason="unknown_server_name"} 1)"));
  EXPECT_TRUE(daemon.process().WaitForOutput("server_name=own.localhost"));
}

TEST_F(LbDaemonTest, AClientPastItsBurstIsRefusedWhileAnotherIsServed) {
  LoopbackServer upstream(LoopbackServer::SayLine("u1"));
  Daemon daemon(tmp_, WebApp("{users: [alice, bob]}", {upstream.port()}, "  workers: 2\n",
                             "      rate_limit: {connections_per_second: 0.01, burst: 3}\n"));
  ASSERT_TRUE(daemon.started()) << daemon.process().output();
  const uint16_t port = daemon.PortOf("web");
  const auto alice = ClientContext(pki_.IssueClient("alice"));
  const auto bob = ClientContext(pki_.IssueClient("bob"));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(FirstLine(alice.get(), port), "u1") << i;
  EXPECT_FALSE(FirstLine(alice.get(), port).has_value());
  EXPECT_EQ(FirstLine(bob.get(), port), "u1");
  EXPECT_TRUE(daemon.MetricsHave(
      R"(gatehouse_lb_rate_limit_refusals_total{app="web",reason="rate_limited"} 1)"));
}

TEST_F(LbDaemonTest, AKilledUpstreamIsEjectedAndThenNoNewConnectionFails) {
  LoopbackServer healthy(LoopbackServer::SayLine("up"));
  auto doomed = std::make_unique<LoopbackServer>(LoopbackServer::SayLine("doomed"));
  const uint16_t doomed_port = doomed->port();
  Daemon daemon(tmp_,
                WebApp("{users: [alice]}", {healthy.port(), doomed_port}, "  workers: 2\n",
                       "      health_check: {interval: 100ms, timeout: 50ms, rise: 2, fall: 2}\n"));
  ASSERT_TRUE(daemon.started()) << daemon.process().output();
  doomed.reset();
  EXPECT_TRUE(daemon.MetricsHave(absl::StrCat(
      R"(gatehouse_lb_upstream_eligible{app="web",upstream="127.0.0.1:)", doomed_port, "\"} 0")));
  const auto alice = ClientContext(pki_.IssueClient("alice"));
  const uint16_t port = daemon.PortOf("web");
  for (int i = 0; i < 20; ++i) EXPECT_EQ(FirstLine(alice.get(), port), "up") << i;
}

TEST_F(LbDaemonTest, ASlowlorisClientIsDroppedAtTheHandshakeDeadlineWhileOthersAreServed) {
  LoopbackServer upstream(LoopbackServer::SayLine("u1"));
  Daemon daemon(tmp_, WebApp("{users: [alice]}", {upstream.port()},
                             "  workers: 1\n  handshake_timeout: 1s\n"));
  ASSERT_TRUE(daemon.started()) << daemon.process().output();
  const uint16_t port = daemon.PortOf("web");
  // Connects and never speaks; its one byte of ClientHello is not a handshake either.
  base::UniqueFd silent = ConnectLoopback(port, std::chrono::seconds(20));
  ASSERT_TRUE(silent.is_valid());
  ASSERT_EQ(::send(silent.get(), "\x16", 1, MSG_NOSIGNAL), 1);
  const auto alice = ClientContext(pki_.IssueClient("alice"));
  EXPECT_EQ(FirstLine(alice.get(), port), "u1");
  char byte = 0;
  // recv returns 0 (closed) once the deadline drops the client; it blocks until then, up to the
  // 20 s socket timeout, which would fail the test.
  EXPECT_EQ(::recv(silent.get(), &byte, 1, 0), 0);
  EXPECT_TRUE(
      daemon.MetricsHave(R"(gatehouse_lb_handshake_failures_total{app="web",reason="timeout"} 1)"));
}

// Reloads that add and remove upstreams and apps while gatebench opens connections to an app
// that stays and a 200 MiB transfer runs through a plain app that stays.
TEST_F(LbDaemonTest, TwentyReloadsUnderLoadLoseNoConnectionAndNoByte) {
  LoopbackServer echo_a;
  LoopbackServer echo_b;
  const auto config = [&](bool variant) {
    std::string apps =
        absl::StrCat(R"(
authorization:
  apps:
    web: {users: [alice]}
    bulk: {users: ["*"]}
)",
                     variant ? "    extra: {users: [alice]}\n" : "", R"(
lb:
  workers: 2
  apps:
    - name: web
      listen: 127.0.0.1:0
      upstreams: [127.0.0.1:)",
                     echo_a.port(), variant ? absl::StrCat(", 127.0.0.1:", echo_b.port()) : "",
                     R"(]
    - name: bulk
      listen: 127.0.0.2:0
      tls: none
      upstreams: [127.0.0.1:)",
                     echo_b.port(), "]\n");
    if (variant) {
      absl::StrAppend(&apps, "    - name: extra\n      listen: 127.0.0.3:0\n      upstreams: [",
                      "127.0.0.1:", echo_a.port(), "]\n");
    }
    return Config(apps);
  };
  Daemon daemon(tmp_, config(false));
  ASSERT_TRUE(daemon.started()) << daemon.process().output();
  const uint16_t web_port = daemon.PortOf("web");
  const security::TlsFiles alice = pki_.IssueClient("alice");

  // The 200 MiB transfer: one thread writes a known pattern, this one reads the echo back.
  static const std::regex kBulk(R"(lb app bulk listening on 127\.0\.0\.2:(\d+))");
  std::smatch match;
  const std::string log = daemon.process().output();
  ASSERT_TRUE(std::regex_search(log, match, kBulk)) << log;
  const auto bulk_port = static_cast<uint16_t>(std::stoi(match[1].str()));
  base::UniqueFd bulk =
      gatehouse::testing::TryConnect("127.0.0.2", bulk_port, std::chrono::seconds(30));
  ASSERT_TRUE(bulk.is_valid());
  constexpr uint64_t kBulkBytes = uint64_t{200} << 20;
  constexpr uint64_t kSeed = 14;
  std::thread writer([fd = bulk.get()] {
    if (gatehouse::testing::WritePattern(fd, kSeed, kBulkBytes, size_t{256} * 1024)) {
      ::shutdown(fd, SHUT_WR);
    }
  });
  // On any early return, end the transfer so the writer returns, and join it.
  const absl::Cleanup join_writer = [&] {
    ::shutdown(bulk.get(), SHUT_RDWR);
    writer.join();
  };

  const std::string report = tmp_.File("connrate.json");
  ChildProcess load({BuiltProgram("gatebench"),
                     "connrate",
                     "--target",
                     absl::StrCat("127.0.0.1:", web_port),
                     "--connections",
                     "4",
                     "--duration",
                     "6s",
                     "--size",
                     "64",
                     "--tls",
                     "--ca",
                     pki_.ca_file(),
                     "--cert",
                     alice.cert_file,
                     "--key",
                     alice.key_file,
                     "--server-name",
                     "localhost",
                     "--quiet",
                     "--json",
                     report});
  for (int i = 1; i <= 20; ++i) {
    ASSERT_TRUE(daemon.Reload(config(i % 2 == 1), i)) << "reload " << i << "\n"
                                                      << daemon.process().output();
  }
  // After an odd count the extra app is there; after the 20th it is gone again.
  const uint16_t extra_port = daemon.PortOf("extra");
  ASSERT_NE(extra_port, 0);

  // Every byte back, in order, then end-of-stream: the echo upstream saw the whole stream.
  gatehouse::testing::PatternChecker checker(kSeed);
  std::vector<uint8_t> buffer(size_t{256} * 1024);
  int read_errno = 0;
  while (true) {
    const ssize_t n = ::recv(bulk.get(), buffer.data(), buffer.size(), 0);
    if (n <= 0) {
      read_errno = n < 0 ? errno : 0;
      break;
    }
    if (!checker.Check(buffer.data(), static_cast<size_t>(n))) break;
  }
  EXPECT_TRUE(checker.ok()) << "a wrong byte after " << checker.checked();
  EXPECT_EQ(checker.checked(), kBulkBytes)
      << "read error: " << std::error_code(read_errno, std::system_category()).message() << "\n"
      << daemon.process().output();

  const ProcessResult load_result = load.WaitForExit(std::chrono::seconds(60));
  ASSERT_EQ(load_result.exit_code, 0) << load_result.output;
  const nlohmann::json totals = nlohmann::json::parse(gatehouse::testing::ReadFileOrFail(report));
  EXPECT_GT(totals["total"]["requests"].get<uint64_t>(), 20U);
  EXPECT_EQ(totals["total"]["errors"].get<uint64_t>(), 0U) << totals["total"].dump();

  // The extra app, removed by the last reload, refuses; a fresh add serves again.
  EXPECT_TRUE(WaitFor([&] { return !Connects("127.0.0.3", extra_port); }));
  const size_t extra_listens = daemon.ListeningPorts("extra").size();
  ASSERT_TRUE(daemon.Reload(config(true), 21));
  EXPECT_TRUE(WaitFor([&] { return daemon.ListeningPorts("extra").size() == extra_listens + 1; }));
}

TEST_F(LbDaemonTest, ABadFileOnReloadKeepsTheRunningApps) {
  LoopbackServer upstream(LoopbackServer::SayLine("u1"));
  const std::string good = WebApp("{users: [alice]}", {upstream.port()});
  Daemon daemon(tmp_, good);
  ASSERT_TRUE(daemon.started()) << daemon.process().output();
  const std::string bad = absl::StrReplaceAll(good, {{"upstreams", "upstream"}});
  ASSERT_TRUE(daemon.Reload(bad, 1, "failure"));
  ASSERT_TRUE(daemon.process().WaitForOutput("reload rejected"));
  EXPECT_TRUE(daemon.process().WaitForOutput("gatehouse.yaml:10:")) << daemon.process().output();
  const auto alice = ClientContext(pki_.IssueClient("alice"));
  EXPECT_EQ(FirstLine(alice.get(), daemon.PortOf("web")), "u1");
}

TEST_F(LbDaemonTest, SigtermDrainsALiveTransferToCompletionThenExitsZero) {
  LoopbackServer echo;
  Daemon daemon(tmp_,
                WebApp("{users: [alice]}", {echo.port()}, "  workers: 1\n  drain_timeout: 60s\n"));
  ASSERT_TRUE(daemon.started()) << daemon.process().output();
  const uint16_t port = daemon.PortOf("web");
  const auto alice = ClientContext(pki_.IssueClient("alice"));
  absl::StatusOr<TlsClient> client = ConnectTlsClient(alice.get(), port);
  ASSERT_TRUE(client.ok()) << client.status();
  std::array<char, 4096> buffer{};
  ASSERT_EQ(SSL_write(client->ssl.get(), "ping", 4), 4);
  ASSERT_EQ(SSL_read(client->ssl.get(), buffer.data(), 4), 4);

  daemon.process().Signal(SIGTERM);
  ASSERT_TRUE(daemon.process().WaitForOutput("draining 1 open connection"));
  EXPECT_TRUE(WaitFor([&] { return !Connects("127.0.0.1", port); }));
  EXPECT_EQ(HttpGet(daemon.admin_port(), "/readyz").status, 503);
  // The open connection still carries 8 MiB each way, byte-exact.
  constexpr uint64_t kBytes = uint64_t{8} << 20;
  constexpr uint64_t kSeed = 7;
  // One SSL object used by two threads: OpenSSL allows SSL_read and SSL_write on one connection
  // from two threads only with care, so the writer goes first with a window the socket buffers
  // and the proxy can hold, then the reader checks.
  gatehouse::testing::PatternChecker checker(kSeed);
  std::vector<uint8_t> chunk(16384);
  uint64_t sent = 0;
  while (checker.checked() < kBytes && checker.ok()) {
    while (sent < kBytes && sent - checker.checked() < uint64_t{256} * 1024) {
      gatehouse::testing::FillPattern(kSeed, sent, chunk.data(), chunk.size());
      ASSERT_EQ(SSL_write(client->ssl.get(), chunk.data(), static_cast<int>(chunk.size())),
                static_cast<int>(chunk.size()));
      sent += chunk.size();
    }
    const int n = SSL_read(client->ssl.get(), buffer.data(), static_cast<int>(buffer.size()));
    ASSERT_GT(n, 0) << "after " << checker.checked() << " bytes";
    checker.Check(reinterpret_cast<const uint8_t*>(buffer.data()), static_cast<size_t>(n));
  }
  EXPECT_TRUE(checker.ok());
  EXPECT_EQ(checker.checked(), kBytes);
  SSL_shutdown(client->ssl.get());
  client->fd.Reset();
  const ProcessResult result = daemon.process().WaitForExit(std::chrono::seconds(30));
  EXPECT_FALSE(result.timed_out);
  EXPECT_EQ(result.exit_code, 0) << result.output;
}

TEST(LbCheckTest, EveryDocumentedExampleChecksOut) {
  const std::filesystem::path examples =
      // NOLINTNEXTLINE(concurrency-mt-unsafe): tests never modify the environment.
      std::filesystem::path(std::getenv("GATEHOUSE_SOURCE_DIR")) / "docs" / "examples";
  int checked = 0;
  for (const std::filesystem::directory_entry& entry :
       std::filesystem::directory_iterator(examples)) {
    if (entry.path().extension() != ".yaml") continue;
    const ProcessResult check =
        RunProcess({BuiltProgram("gatehoused"), "--config", entry.path().string(), "--check"});
    EXPECT_EQ(check.exit_code, 0) << entry.path() << ": " << check.output;
    EXPECT_THAT(check.output, HasSubstr("configuration OK")) << entry.path();
    ++checked;
  }
  EXPECT_GE(checked, 4) << "examples in " << examples;
}

}  // namespace
}  // namespace gatehouse
