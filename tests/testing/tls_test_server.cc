#include "testing/tls_test_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "security/identity.h"
#include "security/openssl_error.h"
#include "security/tls_context.h"
#include "testing/loopback.h"

namespace gatehouse::testing {
namespace {

constexpr std::chrono::seconds kSocketTimeout(5);

}  // namespace

TlsTestServer::TlsTestServer(std::function<std::shared_ptr<SSL_CTX>()> context)
    : context_(std::move(context)) {
  listener_.Reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address = LoopbackAddress(0);
  socklen_t length = sizeof(address);
  if (::bind(listener_.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::listen(listener_.get(), 16) != 0 ||
      ::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ADD_FAILURE() << absl::ErrnoToStatus(errno, "listen on loopback");
    return;
  }
  port_ = ntohs(address.sin_port);
  thread_ = std::thread([this] { Serve(); });
}

TlsTestServer::~TlsTestServer() {
  // shutdown() wakes the thread blocked in accept(); it then sees the error and returns.
  ::shutdown(listener_.get(), SHUT_RDWR);
  if (thread_.joinable()) thread_.join();
}

void TlsTestServer::Serve() {
  while (true) {
    base::UniqueFd client(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!client.is_valid()) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;
    }
    SetSocketTimeouts(client.get(), kSocketTimeout);
    HandshakeOutcome outcome = HandleOne(client.get());
    base::MutexLock lock(&mu_);
    outcomes_.push_back(std::move(outcome));
    changed_.NotifyAll();
  }
}

HandshakeOutcome TlsTestServer::HandleOne(int fd) {
  HandshakeOutcome outcome;
  const std::shared_ptr<SSL_CTX> ctx = context_();
  security::SslPtr ssl(SSL_new(ctx.get()));
  SSL_set_fd(ssl.get(), fd);
  ERR_clear_error();
  if (SSL_accept(ssl.get()) != 1) {
    outcome.error = security::DrainOpensslErrors();
    if (outcome.error.empty()) outcome.error = "handshake failed without an OpenSSL error";
    // "certificate verify failed" alone does not say why; the verify result does.
    const long verify_result = SSL_get_verify_result(ssl.get());  // NOLINT(google-runtime-int)
    if (verify_result != X509_V_OK) {
      absl::StrAppend(&outcome.error,
                      "; verify result: ", X509_verify_cert_error_string(verify_result));
    }
    return outcome;
  }
  security::X509Ptr peer(SSL_get1_peer_certificate(ssl.get()));
  auto identity = security::IdentityFromCertificate(peer.get());
  if (!identity.ok()) {
    outcome.error = static_cast<std::string>(identity.status().message());
    return outcome;
  }
  outcome.ok = true;
  outcome.user = identity->user;
  outcome.cipher = SSL_get_cipher_name(ssl.get());
  outcome.version = SSL_get_version(ssl.get());
  const std::string greeting = absl::StrCat("hello ", identity->user, "\n");
  SSL_write(ssl.get(), greeting.data(), static_cast<int>(greeting.size()));
  SSL_shutdown(ssl.get());
  return outcome;
}

std::vector<HandshakeOutcome> TlsTestServer::WaitForOutcomes(size_t count,
                                                             std::chrono::milliseconds timeout) {
  base::MutexLock lock(&mu_);
  changed_.WaitUntil(&mu_, std::chrono::steady_clock::now() + timeout,
                     [this, count]()
                         ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return outcomes_.size() >= count; });
  return outcomes_;
}

absl::StatusOr<TlsClient> ConnectTlsClient(SSL_CTX* ctx, uint16_t port, const std::string& host) {
  TlsClient client{ConnectLoopback(port, kSocketTimeout), security::SslPtr(SSL_new(ctx))};
  if (!client.fd.is_valid()) return absl::UnavailableError("connect failed");
  SSL_set_fd(client.ssl.get(), client.fd.get());
  if (absl::Status status = security::ExpectServerName(client.ssl.get(), host); !status.ok()) {
    return status;
  }
  ERR_clear_error();
  if (SSL_connect(client.ssl.get()) != 1) {
    return security::OpensslError(absl::StatusCode::kUnavailable, "TLS handshake");
  }
  return client;
}

absl::StatusOr<std::string> TlsConnect(SSL_CTX* ctx, uint16_t port, const std::string& host) {
  absl::StatusOr<TlsClient> client = ConnectTlsClient(ctx, port, host);
  if (!client.ok()) return client.status();
  SSL* ssl = client->ssl.get();
  // In TLS 1.3 the server checks the client certificate after the client's handshake is done,
  // so a refusal shows up here, as an alert instead of data.
  std::string received;
  std::array<char, 256> buffer{};
  while (true) {
    const int n = SSL_read(ssl, buffer.data(), static_cast<int>(buffer.size()));
    if (n <= 0) {
      if (SSL_get_error(ssl, n) == SSL_ERROR_ZERO_RETURN) break;
      return security::OpensslError(absl::StatusCode::kUnavailable,
                                    absl::StrCat("TLS read after \"", received, "\""));
    }
    received.append(buffer.data(), static_cast<size_t>(n));
  }
  return received;
}

}  // namespace gatehouse::testing
