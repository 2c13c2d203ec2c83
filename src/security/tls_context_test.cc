#include "security/tls_context.h"

#include <openssl/bio.h>
#include <openssl/ssl.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "security/openssl_ptr.h"
#include "testing/log_capture.h"
#include "testing/status_matchers.h"
#include "testing/test_pki.h"
#include "testing/tls_test_server.h"

namespace gatehouse::security {
namespace {

using ::gatehouse::testing::HandshakeOutcome;
using ::gatehouse::testing::IsOk;
using ::gatehouse::testing::ReadFileOrFail;
using ::gatehouse::testing::ScopedLogCapture;
using ::gatehouse::testing::StatusIs;
using ::gatehouse::testing::TestCertOptions;
using ::gatehouse::testing::TestCrlOptions;
using ::gatehouse::testing::TestPki;
using ::gatehouse::testing::TlsConnect;
using ::gatehouse::testing::TlsTestServer;
using ::testing::AllOf;
using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::Not;

std::shared_ptr<SSL_CTX> Shared(absl::StatusOr<SslCtxPtr> ctx) {
  EXPECT_TRUE(ctx.ok()) << ctx.status();
  if (!ctx.ok()) return nullptr;
  return {ctx->release(), OpensslDeleter<SSL_CTX_free>()};
}

class TlsHandshakeTest : public ::testing::Test {
 protected:
  TlsHandshakeTest()
      : server_ctx_(Shared(BuildTlsContext(TlsRole::kServer, pki_.ServerFiles()))),
        server_([this] { return server_ctx_; }) {}

  // Connects with `client_ctx`, then returns the server's view of that connection.
  HandshakeOutcome Connect(SSL_CTX* client_ctx, absl::StatusOr<std::string>* client_result) {
    *client_result = TlsConnect(client_ctx, server_.port());
    const auto outcomes = server_.WaitForOutcomes(++connections_);
    EXPECT_EQ(outcomes.size(), connections_);
    return outcomes.empty() ? HandshakeOutcome{} : outcomes.back();
  }

  TestPki pki_;
  std::shared_ptr<SSL_CTX> server_ctx_;
  TlsTestServer server_;
  size_t connections_ = 0;
};

TEST_F(TlsHandshakeTest, ClientWithIssuedCertificateGetsThroughAsItsIdentity) {
  auto client = Shared(BuildTlsContext(TlsRole::kClient, pki_.IssueClient("alice", {})));
  absl::StatusOr<std::string> received;
  const HandshakeOutcome outcome = Connect(client.get(), &received);
  ASSERT_TRUE(outcome.ok) << outcome.error;
  EXPECT_EQ(outcome.user, "alice");
  EXPECT_EQ(outcome.version, "TLSv1.3");
  EXPECT_THAT(outcome.cipher, AnyOf("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                                    "TLS_CHACHA20_POLY1305_SHA256"));
  ASSERT_THAT(received, IsOk());
  EXPECT_EQ(*received, "hello alice\n");
}

// A client context that skips our policy, to play a misbehaving or old client.
SslCtxPtr RawClientContext(const TlsFiles& files, int max_version) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_set_max_proto_version(ctx.get(), max_version);
  SSL_CTX_load_verify_locations(ctx.get(), files.ca_file.c_str(), nullptr);
  if (!files.cert_file.empty()) {
    EXPECT_EQ(SSL_CTX_use_certificate_chain_file(ctx.get(), files.cert_file.c_str()), 1);
    EXPECT_EQ(SSL_CTX_use_PrivateKey_file(ctx.get(), files.key_file.c_str(), SSL_FILETYPE_PEM), 1);
  }
  return ctx;
}

struct RefusedClient {
  std::string name;
  // Builds the client context from the test PKI (and maybe a second, unrelated PKI).
  std::function<SslCtxPtr(TestPki& pki, TestPki& other)> make;
  // What the server's log would say, and what the client learns from the alert.
  std::string server_error;
  std::string client_error;
};

// Names the case in failure messages instead of dumping its bytes.
void PrintTo(const RefusedClient& c, std::ostream* os) { *os << c.name; }

class RefusedClientTest : public TlsHandshakeTest,
                          public ::testing::WithParamInterface<RefusedClient> {};

TEST_P(RefusedClientTest, ServerRefusesTheHandshake) {
  TestPki other;
  SslCtxPtr client = GetParam().make(pki_, other);
  absl::StatusOr<std::string> received;
  const HandshakeOutcome outcome = Connect(client.get(), &received);
  EXPECT_FALSE(outcome.ok) << "server accepted user " << outcome.user;
  EXPECT_THAT(outcome.error, HasSubstr(GetParam().server_error));
  EXPECT_THAT(received,
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr(GetParam().client_error)));
}

INSTANTIATE_TEST_SUITE_P(
    Table, RefusedClientTest,
    ::testing::Values(
        RefusedClient{"NoClientCertificate",
                      [](TestPki& pki, TestPki&) {
                        TlsFiles files;
                        files.ca_file = pki.ca_file();
                        return RawClientContext(files, TLS1_3_VERSION);
                      },
                      "peer did not return a certificate", "tlsv13 alert certificate required"},
        RefusedClient{"CertificateFromAnotherCa",
                      [](TestPki& pki, TestPki& other) {
                        TlsFiles files = other.IssueClient("mallory", {});
                        files.ca_file = pki.ca_file();  // trusts our server, not its issuer
                        return RawClientContext(files, TLS1_3_VERSION);
                      },
                      "verify result: unable to get local issuer certificate",
                      "tlsv1 alert unknown ca"},
        RefusedClient{"ExpiredCertificate",
                      [](TestPki& pki, TestPki&) {
                        TestCertOptions expired;
                        expired.valid_from = std::chrono::hours(-48);
                        expired.valid_until = std::chrono::hours(-24);
                        return RawClientContext(pki.IssueClient("old", expired), TLS1_3_VERSION);
                      },
                      "verify result: certificate has expired", "sslv3 alert certificate expired"},
        RefusedClient{"NotYetValidCertificate",
                      [](TestPki& pki, TestPki&) {
                        TestCertOptions future;
                        future.valid_from = std::chrono::hours(24);
                        future.valid_until = std::chrono::hours(48);
                        return RawClientContext(pki.IssueClient("early", future), TLS1_3_VERSION);
                      },
                      "verify result: certificate is not yet valid", "sslv3 alert bad certificate"},
        RefusedClient{
            "ServerAuthOnlyCertificate",
            [](TestPki& pki, TestPki&) {
              TestCertOptions server_only;
              server_only.extended_key_usages = {"serverAuth"};
              return RawClientContext(pki.IssueClient("srv", server_only), TLS1_3_VERSION);
            },
            "verify result: unsuitable certificate purpose", "sslv3 alert unsupported certificate"},
        RefusedClient{"CertificateWithoutExtendedKeyUsage",
                      [](TestPki& pki, TestPki&) {
                        TestCertOptions no_eku;
                        no_eku.extended_key_usages.clear();
                        return RawClientContext(pki.IssueClient("any", no_eku), TLS1_3_VERSION);
                      },
                      "verify result: unsuitable certificate purpose",
                      "sslv3 alert unsupported certificate"},
        RefusedClient{"ClientOfferingOnlyP521",
                      [](TestPki& pki, TestPki&) {
                        SslCtxPtr ctx =
                            RawClientContext(pki.IssueClient("p521", {}), TLS1_3_VERSION);
                        EXPECT_EQ(SSL_CTX_set1_groups_list(ctx.get(), "P-521"), 1);
                        return ctx;
                      },
                      "no suitable key share",
                      "TLS handshake: error:0A000410:SSL routines::sslv3 alert handshake failure"},
        RefusedClient{"ClientOfferingOnlyCcmSuite",
                      [](TestPki& pki, TestPki&) {
                        SslCtxPtr ctx =
                            RawClientContext(pki.IssueClient("ccm", {}), TLS1_3_VERSION);
                        EXPECT_EQ(SSL_CTX_set_ciphersuites(ctx.get(), "TLS_AES_128_CCM_SHA256"), 1);
                        return ctx;
                      },
                      "no shared cipher",
                      "TLS handshake: error:0A000410:SSL routines::sslv3 alert handshake failure"},
        RefusedClient{"Tls12OnlyClient",
                      [](TestPki& pki, TestPki&) {
                        return RawClientContext(pki.IssueClient("legacy", {}), TLS1_2_VERSION);
                      },
                      "unsupported protocol",
                      "TLS handshake: error:0A00042E:SSL routines::tlsv1 alert protocol version"}),
    [](const ::testing::TestParamInfo<RefusedClient>& param_info) {
      return param_info.param.name;
    });

TEST_F(TlsHandshakeTest, RevokedCertificateIsRefusedWhenACrlIsConfigured) {
  TlsFiles alice = pki_.IssueClient("alice", {});
  TlsFiles server_files = pki_.ServerFiles();
  server_files.crl_file = pki_.RevokeInNewCrl(alice.cert_file);
  server_ctx_ = Shared(BuildTlsContext(TlsRole::kServer, server_files));
  auto client = Shared(BuildTlsContext(TlsRole::kClient, alice));
  absl::StatusOr<std::string> received;
  const HandshakeOutcome outcome = Connect(client.get(), &received);
  EXPECT_FALSE(outcome.ok);
  EXPECT_THAT(outcome.error, HasSubstr("verify result: certificate revoked"));
  EXPECT_THAT(received, StatusIs(absl::StatusCode::kUnavailable,
                                 HasSubstr("sslv3 alert certificate revoked")));

  auto bob = Shared(BuildTlsContext(TlsRole::kClient, pki_.IssueClient("bob", {})));
  EXPECT_TRUE(Connect(bob.get(), &received).ok) << "an unrevoked certificate still works";
}

// A chain root -> intermediate -> leaf, where the client sends the intermediate. Revocation is
// checked for every certificate of the chain, so each CA needs its CRL in the file.
struct ChainRevocation {
  std::string name;
  bool has_root_crl = true;
  bool is_intermediate_revoked = false;
  bool has_intermediate_crl = true;
  bool is_leaf_revoked = false;
  std::string server_error = "";  // empty: the handshake succeeds
};

void PrintTo(const ChainRevocation& c, std::ostream* os) { *os << c.name; }

class ChainRevocationTest : public TlsHandshakeTest,
                            public ::testing::WithParamInterface<ChainRevocation> {};

TEST_P(ChainRevocationTest, EveryCertificateOfTheChainIsChecked) {
  const ChainRevocation& c = GetParam();
  const KeyAndCertificate intermediate = pki_.IssueIntermediate("Gatehouse test intermediate");
  const TlsFiles ivan = pki_.IssueClientUnder(intermediate, "ivan");
  TestCrlOptions root_crl;
  if (c.is_intermediate_revoked) {
    root_crl.revoked_cert_files = {pki_.dir().File("Gatehouse test intermediate.pem")};
  }
  TestCrlOptions intermediate_crl;
  if (c.is_leaf_revoked) intermediate_crl.revoked_cert_files = {ivan.cert_file};
  std::string crls;
  if (c.has_root_crl) crls += pki_.CrlPem(root_crl);
  if (c.has_intermediate_crl) crls += pki_.CrlPem(intermediate_crl, &intermediate);
  TlsFiles server_files = pki_.ServerFiles();
  server_files.crl_file = pki_.dir().WriteFile("chain.crl.pem", crls);
  server_ctx_ = Shared(BuildTlsContext(TlsRole::kServer, server_files));

  auto client = Shared(BuildTlsContext(TlsRole::kClient, ivan));
  absl::StatusOr<std::string> received;
  const HandshakeOutcome outcome = Connect(client.get(), &received);
  if (c.server_error.empty()) {
    EXPECT_TRUE(outcome.ok) << outcome.error;
    EXPECT_THAT(received, IsOk());
  } else {
    EXPECT_FALSE(outcome.ok) << "server accepted user " << outcome.user;
    EXPECT_THAT(outcome.error, HasSubstr(c.server_error));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, ChainRevocationTest,
    ::testing::Values(ChainRevocation{.name = "NothingRevoked"},
                      ChainRevocation{.name = "LeafRevokedByTheIntermediate",
                                      .is_leaf_revoked = true,
                                      .server_error = "verify result: certificate revoked"},
                      // With a leaf-only check this client got through.
                      ChainRevocation{.name = "IntermediateRevokedByTheRoot",
                                      .is_intermediate_revoked = true,
                                      .server_error = "verify result: certificate revoked"},
                      ChainRevocation{
                          .name = "NoCrlFromTheIntermediate",
                          .has_intermediate_crl = false,
                          .server_error = "verify result: unable to get certificate CRL"}),
    [](const ::testing::TestParamInfo<ChainRevocation>& param_info) {
      return param_info.param.name;
    });

TEST_F(TlsHandshakeTest, ClientRefusesAServerCertificateWithoutServerAuth) {
  TestCertOptions client_only;
  client_only.extended_key_usages = {"clientAuth"};
  client_only.dns_names = {"localhost"};
  server_ctx_ = Shared(BuildTlsContext(TlsRole::kServer, pki_.IssueServer("fake", client_only)));
  auto client = Shared(BuildTlsContext(TlsRole::kClient, pki_.IssueClient("alice", {})));
  EXPECT_THAT(TlsConnect(client.get(), server_.port()),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("certificate verify failed")));
}

TEST_F(TlsHandshakeTest, ClientChecksTheServerNameAndAddress) {
  auto client = Shared(BuildTlsContext(TlsRole::kClient, pki_.IssueClient("alice", {})));
  EXPECT_THAT(TlsConnect(client.get(), server_.port(), "127.0.0.1"), IsOk());
  EXPECT_THAT(TlsConnect(client.get(), server_.port(), "example.com"),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("certificate verify failed")));
  EXPECT_THAT(TlsConnect(client.get(), server_.port(), "10.0.0.1"),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("certificate verify failed")));
}

TEST_F(TlsHandshakeTest, ClientWithoutCertificateIsBuiltButRefusedByOurServer) {
  TlsFiles ca_only;
  ca_only.ca_file = pki_.ca_file();
  auto anonymous = BuildTlsContext(TlsRole::kClient, ca_only);
  ASSERT_THAT(anonymous, IsOk());
  EXPECT_THAT(
      TlsConnect(anonymous->get(), server_.port()),
      StatusIs(absl::StatusCode::kUnavailable, HasSubstr("tlsv13 alert certificate required")));
  EXPECT_THAT(BuildTlsContext(TlsRole::kServer, ca_only),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("load certificate chain : error:80000002:system library::No such "
                                 "file or directory")));
}

TEST_F(TlsHandshakeTest, ServerKeepsNoSessionsForResumption) {
  EXPECT_EQ(SSL_CTX_get_session_cache_mode(server_ctx_.get()), SSL_SESS_CACHE_OFF);
  EXPECT_EQ(SSL_CTX_get_num_tickets(server_ctx_.get()), 0U);
}

// Without a chain of its own, OpenSSL would build one, with a signature check, on every
// handshake. The context carries it from the start: here empty, since the server certificate's
// issuer is the root, which peers hold already.
TEST_F(TlsHandshakeTest, ServerChainIsBuiltOnceWithoutTheRoot) {
  STACK_OF(X509)* chain = nullptr;
  ASSERT_EQ(SSL_CTX_get0_chain_certs(server_ctx_.get(), &chain), 1);
  ASSERT_NE(chain, nullptr) << "no fixed chain: OpenSSL builds it per handshake";
  EXPECT_EQ(sk_X509_num(chain), 0);
}

// Runs a whole handshake between a client and a server of `server_ctx` over an in-memory BIO
// pair, on the calling thread. True when both ends completed it.
bool HandshakeInMemory(SSL_CTX* server_ctx, SSL_CTX* client_ctx) {
  SslPtr server(SSL_new(server_ctx));
  SslPtr client(SSL_new(client_ctx));
  BIO* server_end = nullptr;
  BIO* client_end = nullptr;
  if (!server || !client || BIO_new_bio_pair(&server_end, 0, &client_end, 0) != 1) return false;
  SSL_set_bio(server.get(), server_end, server_end);
  SSL_set_bio(client.get(), client_end, client_end);
  SSL_set_accept_state(server.get());
  SSL_set_connect_state(client.get());
  // A TLS 1.3 handshake with client certificates takes 3 flights; 16 rounds is ample.
  for (int round = 0; round < 16; ++round) {
    const int client_done = SSL_do_handshake(client.get());
    const int server_done = SSL_do_handshake(server.get());
    if (client_done == 1 && server_done == 1) return true;
    for (const auto& [ssl, result] :
         {std::pair{client.get(), client_done}, std::pair{server.get(), server_done}}) {
      const int error = SSL_get_error(ssl, result);
      if (result != 1 && error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) {
        return false;
      }
    }
  }
  return false;
}

// The first handshakes on a fresh context (after every reload) verify against certificates no
// handshake has used yet. OpenSSL caches their decoded extensions on first use unless the
// context's builder did; under ThreadSanitizer this test caught the lazy write racing a reader.
TEST(TlsContextTest, FirstHandshakesOnAFreshContextMayRunOnManyThreads) {
  TestPki pki;
  constexpr int kContexts = 8;
  constexpr int kThreads = 4;
  std::vector<std::shared_ptr<SSL_CTX>> clients;
  clients.reserve(kThreads);
  for (int i = 0; i < kThreads; ++i) {
    clients.push_back(
        Shared(BuildTlsContext(TlsRole::kClient, pki.IssueClient(absl::StrCat("c", i), {}))));
  }
  for (int round = 0; round < kContexts; ++round) {
    auto server = Shared(BuildTlsContext(TlsRole::kServer, pki.ServerFiles()));
    ASSERT_NE(server, nullptr);
    std::atomic<int> ready{0};
    std::atomic<int> completed{0};
    std::vector<std::thread> threads;
    threads.reserve(kThreads);
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&, i] {
        // Start together so that the first verifications overlap; spinning is bounded by the
        // other threads' start-up, not by a clock.
        ready.fetch_add(1);
        while (ready.load() < kThreads) std::this_thread::yield();
        if (HandshakeInMemory(server.get(), clients[i].get())) completed.fetch_add(1);
      });
    }
    for (std::thread& thread : threads) thread.join();
    EXPECT_EQ(completed.load(), kThreads) << "round " << round;
  }
}

// The file contents of two CRLs from the test CA, the second revoking a certificate.
std::pair<std::string, std::string> TwoCrls(TestPki& pki) {
  TestCrlOptions revoking;
  revoking.revoked_cert_files = {pki.IssueClient("revoked", {}).cert_file};
  return {pki.CrlPem({}), pki.CrlPem(revoking)};
}

std::string CertificatePem(const TestPki& pki) { return ReadFileOrFail(pki.ca_file()); }

struct BadFiles {
  std::string name;
  std::function<TlsFiles(TestPki& pki)> make;
  // The file the error must name, and what it must say about it.
  std::string TlsFiles::*bad_file;
  std::string reason;
};

void PrintTo(const BadFiles& c, std::ostream* os) { *os << c.name; }

class BadFilesTest : public ::testing::TestWithParam<BadFiles> {};

TEST_P(BadFilesTest, BuildFailsNamingTheFileAndTheReason) {
  TestPki pki;
  const TlsFiles files = GetParam().make(pki);
  const std::string& bad_file = files.*GetParam().bad_file;
  ASSERT_FALSE(bad_file.empty());
  EXPECT_THAT(BuildTlsContext(TlsRole::kServer, files),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr(bad_file), HasSubstr(GetParam().reason))));
}

// Replaces `crl_file` (or `ca_file`) with a file holding `contents`.
TlsFiles WithCrl(TestPki& pki, const std::string& contents) {
  TlsFiles files = pki.ServerFiles();
  files.crl_file = pki.dir().WriteFile("bad.crl.pem", contents);
  return files;
}

TlsFiles WithCa(TestPki& pki, const std::string& contents) {
  TlsFiles files = pki.ServerFiles();
  files.ca_file = pki.dir().WriteFile("bad-ca.pem", contents);
  return files;
}

INSTANTIATE_TEST_SUITE_P(
    Table, BadFilesTest,
    ::testing::Values(
        BadFiles{"MissingCertificate",
                 [](TestPki& pki) {
                   TlsFiles f = pki.ServerFiles();
                   f.cert_file = "/nonexistent/server.pem";
                   return f;
                 },
                 &TlsFiles::cert_file,
                 "load certificate chain /nonexistent/server.pem: error:80000002:system "
                 "library::No such "
                 "file or directory"},
        BadFiles{"GarbageCertificate",
                 [](TestPki& pki) {
                   TlsFiles f = pki.ServerFiles();
                   f.cert_file = pki.dir().WriteFile("garbage.pem", "not a certificate\n");
                   return f;
                 },
                 &TlsFiles::cert_file, ": error:0480006C:PEM routines::no start line"},
        BadFiles{
            "MissingKey",
            [](TestPki& pki) {
              TlsFiles f = pki.ServerFiles();
              f.key_file = "/nonexistent/server.key";
              return f;
            },
            &TlsFiles::key_file,
            "load private key /nonexistent/server.key: error:80000002:system library::No such file "
            "or directory"},
        BadFiles{"CertificateAsKey",
                 [](TestPki& pki) {
                   TlsFiles f = pki.ServerFiles();
                   f.key_file = f.ca_file;  // a certificate, not a key
                   return f;
                 },
                 &TlsFiles::key_file, ": error:1E08010C:DECODER routines::unsupported"},
        BadFiles{"MissingCa",
                 [](TestPki& pki) {
                   TlsFiles f = pki.ServerFiles();
                   f.ca_file = "/nonexistent/ca.pem";
                   return f;
                 },
                 &TlsFiles::ca_file, "open CA file /nonexistent/ca.pem: No such file or directory"},
        BadFiles{"EmptyCaFile", [](TestPki& pki) { return WithCa(pki, "\n"); }, &TlsFiles::ca_file,
                 ": no PEM CA found"},
        BadFiles{"KeyInCaFile",
                 [](TestPki& pki) {
                   TlsFiles f = pki.ServerFiles();
                   f.ca_file = f.key_file;
                   return f;
                 },
                 &TlsFiles::ca_file, ": PEM block 1 is a \"PRIVATE KEY\", not a CERTIFICATE"},
        BadFiles{"CaBundleWithSecondCertificateCutShort",
                 [](TestPki& pki) {
                   const std::string ca = CertificatePem(pki);
                   return WithCa(pki, ca + ca.substr(0, ca.size() / 2));
                 },
                 &TlsFiles::ca_file, ": PEM block 2 is cut short or malformed"},
        BadFiles{"CaBundleCutInsideTheSecondBeginLine",
                 [](TestPki& pki) { return WithCa(pki, CertificatePem(pki) + "-----BEGIN CERT"); },
                 &TlsFiles::ca_file,
                 ": 2 BEGIN and 1 END lines but only 1 readable PEM blocks; a block is damaged or "
                 "cut short"},
        BadFiles{"CaBundleWithTextAfterTheLastCertificate",
                 [](TestPki& pki) { return WithCa(pki, CertificatePem(pki) + "Certificate:\n"); },
                 &TlsFiles::ca_file,
                 ": unexpected text after PEM block 1; the file is cut short or corrupt"},
        BadFiles{"MissingCrl",
                 [](TestPki& pki) {
                   TlsFiles f = pki.ServerFiles();
                   f.crl_file = "/nonexistent/crl.pem";
                   return f;
                 },
                 &TlsFiles::crl_file,
                 "open CRL file /nonexistent/crl.pem: No such file or directory"},
        BadFiles{"CrlFileWithoutCrl", [](TestPki& pki) { return WithCrl(pki, "\n"); },
                 &TlsFiles::crl_file, ": no PEM CRL found"},
        BadFiles{"CertificateInCrlFile",
                 [](TestPki& pki) {
                   TlsFiles f = pki.ServerFiles();
                   f.crl_file = f.ca_file;
                   return f;
                 },
                 &TlsFiles::crl_file, ": PEM block 1 is a \"CERTIFICATE\", not an X509 CRL"},
        // The defect this table was extended for: the first CRL loaded, the rest silently lost.
        BadFiles{"CrlFileWithSecondCrlCutShort",
                 [](TestPki& pki) {
                   const auto [first, second] = TwoCrls(pki);
                   return WithCrl(pki, first + second.substr(0, second.size() / 2));
                 },
                 &TlsFiles::crl_file, ": PEM block 2 is cut short or malformed"},
        BadFiles{"CrlFileWithSecondCrlMissingItsEndLine",
                 [](TestPki& pki) {
                   const auto [first, second] = TwoCrls(pki);
                   return WithCrl(pki, first + second.substr(0, second.find("-----END")));
                 },
                 &TlsFiles::crl_file, ": PEM block 2 is cut short or malformed"},
        BadFiles{"CrlFileCutInsideTheSecondBeginLine",
                 [](TestPki& pki) {
                   const auto [first, second] = TwoCrls(pki);
                   return WithCrl(pki, first + second.substr(0, 17));
                 },
                 &TlsFiles::crl_file,
                 ": 2 BEGIN and 1 END lines but only 1 readable PEM blocks; a block is damaged or "
                 "cut short"},
        BadFiles{"CrlFileWithDamagedSecondBeginLine",
                 [](TestPki& pki) {
                   auto [first, second] = TwoCrls(pki);
                   second.replace(0, std::string("-----BEGIN X509 CRL-----").size(),
                                  "-----BEGIN X509 CRL---");
                   return WithCrl(pki, first + second);
                 },
                 &TlsFiles::crl_file,
                 ": 2 BEGIN and 2 END lines but only 1 readable PEM blocks; a block is damaged or "
                 "cut short"},
        BadFiles{"CrlFileCutBeforeTheSecondBeginLine",
                 [](TestPki& pki) {
                   const auto [first, second] = TwoCrls(pki);
                   return WithCrl(pki, first + "Certificate Revocation List (CRL):\n  Vers");
                 },
                 &TlsFiles::crl_file,
                 ": unexpected text after PEM block 1; the file is cut short or corrupt"},
        BadFiles{"CrlFileWithBadBase64InSecondCrl",
                 [](TestPki& pki) {
                   auto [first, second] = TwoCrls(pki);
                   second[second.find('\n') + 10] = '!';
                   return WithCrl(pki, first + second);
                 },
                 &TlsFiles::crl_file, ": PEM block 2 is cut short or malformed"},
        BadFiles{"CrlOfAnotherCaWithTheSameName",
                 [](TestPki& pki) {
                   TestPki other;  // its CA has our CA's name and another key
                   return WithCrl(pki, other.CrlPem({}));
                 },
                 &TlsFiles::crl_file,
                 ": the CRL from \"CN=Gatehouse test CA\" is not signed by that CA's key"},
        BadFiles{"NoCrlFromTheRootCa",
                 [](TestPki& pki) {
                   const KeyAndCertificate intermediate = pki.IssueIntermediate("intermediate");
                   return WithCrl(pki, pki.CrlPem({}, &intermediate));
                 },
                 &TlsFiles::crl_file, ": no CRL from CA \"CN=Gatehouse test CA\""}),
    [](const ::testing::TestParamInfo<BadFiles>& param_info) { return param_info.param.name; });

TEST(TlsContextTest, MismatchedKeyAndCertificateIsRefused) {
  TestPki pki;
  TlsFiles other = pki.IssueClient("other", {});
  TlsFiles files = pki.ServerFiles();
  files.key_file = other.key_file;
  EXPECT_THAT(
      BuildTlsContext(TlsRole::kServer, files),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("load private key " + other.key_file +
                         ": error:05800074:x509 certificate routines::key values mismatch")));
}

TEST(TlsContextTest, CaBundleWithSeveralCertificatesTrustsEach) {
  TestPki pki;
  TestPki other;
  TlsFiles files = pki.ServerFiles();
  files.ca_file = pki.dir().WriteFile(
      "bundle.pem", "Our CA\n" + CertificatePem(pki) + "\nTheirs\n" + CertificatePem(other) + "\n");
  auto server_ctx = BuildTlsContext(TlsRole::kServer, files);
  ASSERT_THAT(server_ctx, IsOk());
  std::shared_ptr<SSL_CTX> server_shared(server_ctx->release(), OpensslDeleter<SSL_CTX_free>());
  TlsTestServer server([&server_shared] { return server_shared; });
  for (TestPki* issuer : {&pki, &other}) {
    TlsFiles client_files = issuer->IssueClient("carol", {});
    client_files.ca_file = pki.ca_file();  // the server's certificate is from `pki`
    auto client = BuildTlsContext(TlsRole::kClient, client_files);
    ASSERT_THAT(client, IsOk());
    EXPECT_THAT(TlsConnect(client->get(), server.port()), IsOk());
  }
  // Both CA names are offered to clients.
  EXPECT_EQ(sk_X509_NAME_num(SSL_CTX_get_client_CA_list(server_shared.get())), 2);
}

// A CRL that OpenSSL will soon, or already does, refuse to use: the build succeeds (refusing it
// would stop the daemon from starting or reloading anything), but the log says so, and
// CrlNextUpdate tells when it happens.
struct CrlValidity {
  std::string name;
  std::chrono::hours last_update;
  std::optional<std::chrono::hours> next_update;
  std::string warning;  // empty: no warning expected
};

void PrintTo(const CrlValidity& c, std::ostream* os) { *os << c.name; }

class CrlValidityTest : public ::testing::TestWithParam<CrlValidity> {};

TEST_P(CrlValidityTest, LoadWarnsAndReportsNextUpdate) {
  const CrlValidity& c = GetParam();
  TestPki pki;
  TestCrlOptions options;
  options.last_update = c.last_update;
  options.next_update = c.next_update;
  TlsFiles files = pki.ServerFiles();
  files.crl_file = pki.dir().WriteFile("crl.pem", pki.CrlPem(options));

  ScopedLogCapture log;
  const auto now = std::chrono::system_clock::now();
  auto ctx = BuildTlsContext(TlsRole::kServer, files);
  ASSERT_THAT(ctx, IsOk());
  if (c.warning.empty()) {
    EXPECT_THAT(log.Text(), Not(HasSubstr("[warning]")));
  } else {
    EXPECT_THAT(log.Text(), HasSubstr("[warning] CRL file " + files.crl_file +
                                      ": the CRL from \"CN=Gatehouse test CA\" " + c.warning));
  }
  const auto next_update = CrlNextUpdate(ctx->get());
  if (!c.next_update.has_value()) {
    EXPECT_EQ(next_update, std::nullopt);
  } else {
    ASSERT_TRUE(next_update.has_value());
    // The CRL stores whole seconds, written a moment before `now` was read.
    EXPECT_LE(std::chrono::abs(*next_update - (now + *c.next_update)), std::chrono::seconds(5));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, CrlValidityTest,
    ::testing::Values(
        CrlValidity{"Current", std::chrono::hours(-1), std::chrono::hours(24 * 7), ""},
        CrlValidity{"WithoutNextUpdate", std::chrono::hours(-1), std::nullopt, ""},
        CrlValidity{"ExpiringWithinADay", std::chrono::hours(-1), std::chrono::hours(2),
                    "expires at "},
        CrlValidity{"Expired", std::chrono::hours(-48), std::chrono::hours(-1), "expired at "},
        CrlValidity{"NotYetValid", std::chrono::hours(2), std::chrono::hours(24 * 7),
                    "is not valid until "}),
    [](const ::testing::TestParamInfo<CrlValidity>& param_info) { return param_info.param.name; });

TEST_F(TlsHandshakeTest, ExpiredCrlRefusesEveryClient) {
  TestCrlOptions expired;
  expired.last_update = std::chrono::hours(-48);
  expired.next_update = std::chrono::hours(-1);
  TlsFiles server_files = pki_.ServerFiles();
  server_files.crl_file = pki_.dir().WriteFile("expired.crl.pem", pki_.CrlPem(expired));
  server_ctx_ = Shared(BuildTlsContext(TlsRole::kServer, server_files));
  const auto next_update = CrlNextUpdate(server_ctx_.get());
  ASSERT_TRUE(next_update.has_value());
  ASSERT_LT(*next_update, std::chrono::system_clock::now());
  auto client = Shared(BuildTlsContext(TlsRole::kClient, pki_.IssueClient("alice", {})));
  absl::StatusOr<std::string> received;
  const HandshakeOutcome outcome = Connect(client.get(), &received);
  EXPECT_FALSE(outcome.ok);
  EXPECT_THAT(outcome.error, HasSubstr("verify result: CRL has expired"));
}

TEST(TlsContextTest, CrlNextUpdateIsTheEarliestOfSeveralCrls) {
  TestPki pki;
  const KeyAndCertificate intermediate = pki.IssueIntermediate("intermediate");
  TestCrlOptions root_crl;
  root_crl.next_update = std::chrono::hours(24 * 30);
  TestCrlOptions intermediate_crl;
  intermediate_crl.next_update = std::chrono::hours(24 * 3);
  TlsFiles files = pki.ServerFiles();
  files.crl_file = pki.dir().WriteFile(
      "crls.pem", pki.CrlPem(root_crl) + pki.CrlPem(intermediate_crl, &intermediate));
  const auto now = std::chrono::system_clock::now();
  auto ctx = BuildTlsContext(TlsRole::kServer, files);
  ASSERT_THAT(ctx, IsOk());
  const auto next_update = CrlNextUpdate(ctx->get());
  ASSERT_TRUE(next_update.has_value());
  EXPECT_LE(std::chrono::abs(*next_update - (now + std::chrono::hours(24 * 3))),
            std::chrono::seconds(5));
}

TEST(TlsContextTest, ContextWithoutCrlHasNoNextUpdate) {
  TestPki pki;
  auto ctx = BuildTlsContext(TlsRole::kServer, pki.ServerFiles());
  ASSERT_THAT(ctx, IsOk());
  EXPECT_EQ(CrlNextUpdate(ctx->get()), std::nullopt);
}

}  // namespace
}  // namespace gatehouse::security
