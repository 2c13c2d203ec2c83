#include "security/tls_context.h"

#include <openssl/ssl.h>

#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"
#include "testing/test_pki.h"
#include "testing/tls_test_server.h"

namespace gatehouse::security {
namespace {

using ::gatehouse::testing::HandshakeOutcome;
using ::gatehouse::testing::IsOk;
using ::gatehouse::testing::StatusIs;
using ::gatehouse::testing::TestCertOptions;
using ::gatehouse::testing::TestPki;
using ::gatehouse::testing::TlsConnect;
using ::gatehouse::testing::TlsTestServer;
using ::testing::AnyOf;
using ::testing::HasSubstr;

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
  std::string server_error;
};

class RefusedClientTest : public TlsHandshakeTest,
                          public ::testing::WithParamInterface<RefusedClient> {};

TEST_P(RefusedClientTest, ServerRefusesTheHandshake) {
  TestPki other;
  SslCtxPtr client = GetParam().make(pki_, other);
  absl::StatusOr<std::string> received;
  const HandshakeOutcome outcome = Connect(client.get(), &received);
  EXPECT_FALSE(outcome.ok) << "server accepted user " << outcome.user;
  EXPECT_THAT(outcome.error, HasSubstr(GetParam().server_error));
  EXPECT_FALSE(received.ok()) << "client received " << *received;
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
                      "peer did not return a certificate"},
        RefusedClient{"CertificateFromAnotherCa",
                      [](TestPki& pki, TestPki& other) {
                        TlsFiles files = other.IssueClient("mallory", {});
                        files.ca_file = pki.ca_file();  // trusts our server, not its issuer
                        return RawClientContext(files, TLS1_3_VERSION);
                      },
                      "certificate verify failed"},
        RefusedClient{"ExpiredCertificate",
                      [](TestPki& pki, TestPki&) {
                        TestCertOptions expired;
                        expired.valid_from = std::chrono::hours(-48);
                        expired.valid_until = std::chrono::hours(-24);
                        return RawClientContext(pki.IssueClient("old", expired), TLS1_3_VERSION);
                      },
                      "certificate verify failed"},
        RefusedClient{"NotYetValidCertificate",
                      [](TestPki& pki, TestPki&) {
                        TestCertOptions future;
                        future.valid_from = std::chrono::hours(24);
                        future.valid_until = std::chrono::hours(48);
                        return RawClientContext(pki.IssueClient("early", future), TLS1_3_VERSION);
                      },
                      "certificate verify failed"},
        RefusedClient{"ServerAuthOnlyCertificate",
                      [](TestPki& pki, TestPki&) {
                        TestCertOptions server_only;
                        server_only.extended_key_usages = {"serverAuth"};
                        return RawClientContext(pki.IssueClient("srv", server_only),
                                                TLS1_3_VERSION);
                      },
                      "certificate verify failed"},
        RefusedClient{"CertificateWithoutExtendedKeyUsage",
                      [](TestPki& pki, TestPki&) {
                        TestCertOptions no_eku;
                        no_eku.extended_key_usages.clear();
                        return RawClientContext(pki.IssueClient("any", no_eku), TLS1_3_VERSION);
                      },
                      "certificate verify failed"},
        RefusedClient{"ClientOfferingOnlyP521",
                      [](TestPki& pki, TestPki&) {
                        SslCtxPtr ctx =
                            RawClientContext(pki.IssueClient("p521", {}), TLS1_3_VERSION);
                        EXPECT_EQ(SSL_CTX_set1_groups_list(ctx.get(), "P-521"), 1);
                        return ctx;
                      },
                      "no suitable key share"},
        RefusedClient{"ClientOfferingOnlyCcmSuite",
                      [](TestPki& pki, TestPki&) {
                        SslCtxPtr ctx =
                            RawClientContext(pki.IssueClient("ccm", {}), TLS1_3_VERSION);
                        EXPECT_EQ(SSL_CTX_set_ciphersuites(ctx.get(), "TLS_AES_128_CCM_SHA256"), 1);
                        return ctx;
                      },
                      "no shared cipher"},
        RefusedClient{"Tls12OnlyClient",
                      [](TestPki& pki, TestPki&) {
                        return RawClientContext(pki.IssueClient("legacy", {}), TLS1_2_VERSION);
                      },
                      "unsupported protocol"}),
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
  EXPECT_THAT(outcome.error, HasSubstr("certificate verify failed"));

  auto bob = Shared(BuildTlsContext(TlsRole::kClient, pki_.IssueClient("bob", {})));
  EXPECT_TRUE(Connect(bob.get(), &received).ok) << "an unrevoked certificate still works";
}

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
  EXPECT_FALSE(TlsConnect(anonymous->get(), server_.port()).ok());
  EXPECT_THAT(BuildTlsContext(TlsRole::kServer, ca_only),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("load certificate chain")));
}

TEST_F(TlsHandshakeTest, ServerKeepsNoSessionsForResumption) {
  EXPECT_EQ(SSL_CTX_get_session_cache_mode(server_ctx_.get()), SSL_SESS_CACHE_OFF);
  EXPECT_EQ(SSL_CTX_get_num_tickets(server_ctx_.get()), 0U);
}

struct BadFiles {
  std::string name;
  std::function<TlsFiles(const TestPki& pki)> make;
  std::string error;
};

class BadFilesTest : public ::testing::TestWithParam<BadFiles> {};

TEST_P(BadFilesTest, BuildFailsNamingTheFile) {
  TestPki pki;
  EXPECT_THAT(BuildTlsContext(TlsRole::kServer, GetParam().make(pki)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(GetParam().error)));
}

INSTANTIATE_TEST_SUITE_P(
    Table, BadFilesTest,
    ::testing::Values(BadFiles{"MissingCertificate",
                               [](const TestPki& pki) {
                                 TlsFiles f = pki.ServerFiles();
                                 f.cert_file = "/nonexistent/server.pem";
                                 return f;
                               },
                               "load certificate chain /nonexistent/server.pem"},
                      BadFiles{"MissingKey",
                               [](const TestPki& pki) {
                                 TlsFiles f = pki.ServerFiles();
                                 f.key_file = "/nonexistent/server.key";
                                 return f;
                               },
                               "load private key /nonexistent/server.key"},
                      BadFiles{"MissingCa",
                               [](const TestPki& pki) {
                                 TlsFiles f = pki.ServerFiles();
                                 f.ca_file = "/nonexistent/ca.pem";
                                 return f;
                               },
                               "load CA /nonexistent/ca.pem"},
                      BadFiles{"GarbageCertificate",
                               [](const TestPki& pki) {
                                 TlsFiles f = pki.ServerFiles();
                                 f.cert_file =
                                     pki.dir().WriteFile("garbage.pem", "not a certificate\n");
                                 return f;
                               },
                               "garbage.pem"},
                      BadFiles{"KeyOfAnotherCertificate",
                               [](const TestPki& pki) {
                                 TlsFiles f = pki.ServerFiles();
                                 f.key_file = f.ca_file;  // a certificate, not a key
                                 return f;
                               },
                               "load private key"},
                      BadFiles{"MissingCrl",
                               [](const TestPki& pki) {
                                 TlsFiles f = pki.ServerFiles();
                                 f.crl_file = "/nonexistent/crl.pem";
                                 return f;
                               },
                               "open CRL /nonexistent/crl.pem"},
                      BadFiles{"CrlFileWithoutCrl",
                               [](const TestPki& pki) {
                                 TlsFiles f = pki.ServerFiles();
                                 f.crl_file = pki.dir().WriteFile("empty.crl", "\n");
                                 return f;
                               },
                               "no PEM CRL found"}),
    [](const ::testing::TestParamInfo<BadFiles>& param_info) { return param_info.param.name; });

TEST(TlsContextTest, MismatchedKeyAndCertificateIsRefused) {
  TestPki pki;
  TlsFiles other = pki.IssueClient("other", {});
  TlsFiles files = pki.ServerFiles();
  files.key_file = other.key_file;
  EXPECT_THAT(BuildTlsContext(TlsRole::kServer, files),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(other.key_file)));
}

}  // namespace
}  // namespace gatehouse::security
