// The fixture of the LbServer tests: an LbServer in process with a test PKI, policy rules and
// metrics, and helpers to reach it over real loopback sockets as mTLS or plain clients.
#ifndef GATEHOUSE_LBSERVER_LB_SERVER_FIXTURE_H_
#define GATEHOUSE_LBSERVER_LB_SERVER_FIXTURE_H_

#include <openssl/ssl.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "base/metrics.h"
#include "config/config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lbserver/lb_server.h"
#include "security/policy.h"
#include "security/tls_context.h"
#include "testing/loopback.h"
#include "testing/status_matchers.h"
#include "testing/test_pki.h"
#include "testing/tls_test_server.h"
#include "testing/wait_for.h"

namespace gatehouse::lbserver::testing {

using ::gatehouse::testing::IsOk;
using ::gatehouse::testing::TestCertOptions;
using ::gatehouse::testing::TestPki;
using ::gatehouse::testing::TlsClient;
using ::gatehouse::testing::WaitFor;

inline TestCertOptions WithRoles(std::vector<std::string> roles) {
  TestCertOptions options;
  options.roles = std::move(roles);
  return options;
}

inline config::Address Loopback(uint16_t port) { return config::Address{"127.0.0.1", port}; }

inline config::LbAppConfig AppConfig(const std::string& name,
                                     const std::vector<uint16_t>& upstream_ports,
                                     size_t listeners = 1) {
  config::LbAppConfig app;
  app.name = name;
  for (size_t i = 0; i < listeners; ++i) {
    // Distinct loopback addresses, port 0: each listener gets its own free port.
    app.listen.push_back(config::Address{absl::StrCat("127.0.0.", 10 + i), 0});
  }
  for (const uint16_t port : upstream_ports) app.upstreams.push_back(Loopback(port));
  return app;
}

// Everything a plain-TCP app's upstream sends until it closes; "" when the connect fails.
inline std::string PlainReply(const std::string& host, uint16_t port) {
  const base::UniqueFd fd = gatehouse::testing::TryConnect(host, port);
  std::string got;
  if (!fd.is_valid()) return got;
  std::array<char, 64> buffer{};
  ssize_t n = 0;
  while ((n = ::recv(fd.get(), buffer.data(), buffer.size(), 0)) > 0) {
    got.append(buffer.data(), static_cast<size_t>(n));
  }
  return got;
}

class LbServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<security::SslCtxPtr> server_ctx =
        security::BuildTlsContext(security::TlsRole::kServer, pki_.ServerFiles());
    ASSERT_THAT(server_ctx, IsOk());
    server_ctx_ = std::shared_ptr<SSL_CTX>(server_ctx->release(), SSL_CTX_free);
    rules_.apps["web"].users = {"alice"};
    rules_.apps["web"].roles = {"dev"};
  }

  std::shared_ptr<SSL_CTX> ClientContext(const std::string& name,
                                         const TestCertOptions& options = {}) {
    absl::StatusOr<security::SslCtxPtr> ctx =
        security::BuildTlsContext(security::TlsRole::kClient, pki_.IssueClient(name, options));
    EXPECT_THAT(ctx, IsOk());
    return ctx.ok() ? std::shared_ptr<SSL_CTX>(ctx->release(), SSL_CTX_free) : nullptr;
  }

  LbServerSettings Settings(std::vector<config::LbAppConfig> apps) {
    LbServerSettings settings;
    settings.lb.workers = 2;
    settings.lb.handshake_timeout = handshake_timeout_;
    settings.lb.apps = std::move(apps);
    settings.tls_context = server_ctx_;
    settings.tls_files = pki_.ServerFiles();
    absl::StatusOr<security::AuthorizationPolicy> policy =
        security::AuthorizationPolicy::Create(rules_);
    EXPECT_THAT(policy, IsOk());
    settings.policy = std::make_shared<const security::AuthorizationPolicy>(std::move(*policy));
    return settings;
  }

  void StartServer(std::vector<config::LbAppConfig> apps) {
    absl::StatusOr<std::unique_ptr<LbServer>> server =
        LbServer::Start(Settings(std::move(apps)), &metrics_);
    ASSERT_THAT(server, IsOk());
    server_ = std::move(*server);
  }

  uint16_t PortOf(const std::string& address) {
    const auto bound = server_->BoundEndpoints();
    const auto it = bound.find(address);
    return it == bound.end() ? 0 : it->second.port();
  }

  // The first line the upstream sends back through the proxy, or the TLS error.
  absl::StatusOr<std::string> FirstLineThrough(SSL_CTX* ctx, uint16_t port,
                                               const std::string& host = "127.0.0.10") {
    absl::StatusOr<TlsClient> client = ConnectTlsClientTo(ctx, host, port);
    if (!client.ok()) return client.status();
    std::string line;
    std::array<char, 64> buffer{};
    while (line.find('\n') == std::string::npos) {
      const int n = SSL_read(client->ssl.get(), buffer.data(), static_cast<int>(buffer.size()));
      if (n <= 0) return absl::UnavailableError(absl::StrCat("closed after \"", line, "\""));
      line.append(buffer.data(), static_cast<size_t>(n));
    }
    return line.substr(0, line.find('\n'));
  }

  // As testing::ConnectTlsClient, to any loopback address, asking for `server_name` (none
  // when empty).
  static absl::StatusOr<TlsClient> ConnectTlsClientTo(SSL_CTX* ctx, const std::string& host,
                                                      uint16_t port,
                                                      const std::string& server_name = "") {
    base::UniqueFd fd = gatehouse::testing::TryConnect(host, port);
    if (!fd.is_valid()) return absl::UnavailableError("connect failed");
    TlsClient client{std::move(fd), security::SslPtr(SSL_new(ctx))};
    SSL_set_fd(client.ssl.get(), client.fd.get());
    // SSL_set_tlsext_host_name() is this call behind a macro with a C-style cast.
    if (!server_name.empty() &&
        SSL_ctrl(client.ssl.get(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                 const_cast<char*>(server_name.c_str())) != 1) {
      return absl::InternalError("cannot set the server name");
    }
    if (SSL_connect(client.ssl.get()) != 1) return absl::UnavailableError("TLS handshake failed");
    return client;
  }

  bool MetricsHave(const std::string& line) {
    return WaitFor(
        [&] { return metrics_.RenderPrometheusText().find(line + "\n") != std::string::npos; });
  }

  std::chrono::nanoseconds handshake_timeout_ = std::chrono::seconds(5);
  TestPki pki_;
  std::shared_ptr<SSL_CTX> server_ctx_;
  security::PolicyRules rules_;
  base::MetricsRegistry metrics_;
  std::unique_ptr<LbServer> server_;
};

}  // namespace gatehouse::lbserver::testing

#endif  // GATEHOUSE_LBSERVER_LB_SERVER_FIXTURE_H_
