// TlsTestServer: a blocking loopback TLS server built on the security core, for tests of the
// handshake policy. It accepts connections one at a time on 127.0.0.1:<port>, runs the TLS 1.3
// handshake, records the outcome, and on success writes "hello <user>\n" and closes.
// TlsConnect is the matching client. Every socket operation has a 5 s timeout.
// Thread-safe: outcomes are read from the test thread while the server thread writes them.
#ifndef GATEHOUSE_TESTS_TESTING_TLS_TEST_SERVER_H_
#define GATEHOUSE_TESTS_TESTING_TLS_TEST_SERVER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "base/mutex.h"
#include "base/unique_fd.h"
#include "security/openssl_ptr.h"

namespace gatehouse::testing {

struct HandshakeOutcome {
  bool ok = false;
  std::string user;    // identity user when ok
  std::string error;   // OpenSSL's reason when not ok, and the verify result if it failed
  std::string cipher;  // negotiated suite when ok
  std::string version;
};

class TlsTestServer {
 public:
  // `context` supplies the SSL_CTX for each new connection (so reload can be tested).
  explicit TlsTestServer(std::function<std::shared_ptr<SSL_CTX>()> context);
  TlsTestServer(const TlsTestServer&) = delete;
  TlsTestServer& operator=(const TlsTestServer&) = delete;
  TlsTestServer(TlsTestServer&&) = delete;
  TlsTestServer& operator=(TlsTestServer&&) = delete;
  ~TlsTestServer();

  uint16_t port() const { return port_; }
  // Waits (up to `timeout`) until `count` connections have finished, and returns them all.
  std::vector<HandshakeOutcome> WaitForOutcomes(
      size_t count, std::chrono::milliseconds timeout = std::chrono::seconds(10));

 private:
  void Serve();
  HandshakeOutcome HandleOne(int fd);

  std::function<std::shared_ptr<SSL_CTX>()> context_;
  base::UniqueFd listener_;
  uint16_t port_ = 0;
  base::Mutex mu_;
  base::CondVar changed_;
  std::vector<HandshakeOutcome> outcomes_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

// A client connection whose handshake has completed (blocking socket with 5 s timeouts).
struct TlsClient {
  base::UniqueFd fd;
  security::SslPtr ssl;
};

// Connects to 127.0.0.1:port with `ctx` and completes the handshake, expecting the server
// certificate to be valid for `host`. In TLS 1.3 a server refusing the client's certificate
// says so after this returns, on the first read.
absl::StatusOr<TlsClient> ConnectTlsClient(SSL_CTX* ctx, uint16_t port,
                                           const std::string& host = "localhost");

// Connects to 127.0.0.1:port with `ctx`, expecting the server certificate to be valid for
// `host`, and returns what the server sent until it closed. An error when the handshake fails.
absl::StatusOr<std::string> TlsConnect(SSL_CTX* ctx, uint16_t port,
                                       const std::string& host = "localhost");

}  // namespace gatehouse::testing

#endif  // GATEHOUSE_TESTS_TESTING_TLS_TEST_SERVER_H_
