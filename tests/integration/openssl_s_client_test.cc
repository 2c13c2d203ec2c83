// The issue's acceptance check, with the real tools: certificates from `gatehouse certs`, a
// loopback TLS server built on the security core, and the `openssl s_client` binary.
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "security/tls_credentials.h"
#include "testing/subprocess.h"
#include "testing/temp_dir.h"
#include "testing/tls_test_server.h"

namespace gatehouse {
namespace {

using ::gatehouse::testing::BuiltProgram;
using ::gatehouse::testing::ProcessResult;
using ::gatehouse::testing::RunProcess;
using ::gatehouse::testing::TempDir;
using ::gatehouse::testing::TlsTestServer;
using ::testing::HasSubstr;
using ::testing::Not;

class OpensslSClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ProcessResult init = RunProcess({BuiltProgram("gatehouse"), "certs", "init", "--dir", dir_});
    ASSERT_EQ(init.exit_code, 0) << init.output;
    ProcessResult issue =
        RunProcess({BuiltProgram("gatehouse"), "certs", "issue", "--dir", dir_, "--name", "alice"});
    ASSERT_EQ(issue.exit_code, 0) << issue.output;
    auto credentials = security::TlsCredentials::Load(
        security::TlsRole::kServer,
        {dir_ + "/ca.pem", dir_ + "/server.pem", dir_ + "/server.key", ""});
    ASSERT_TRUE(credentials.ok()) << credentials.status();
    credentials_ = *std::move(credentials);
    server_ = std::make_unique<TlsTestServer>([this] { return credentials_->Current(); });
  }

  // Runs s_client with `flags` and returns its output; the server's verdict is in outcomes.
  ProcessResult SClient(const std::vector<std::string>& flags) {
    std::vector<std::string> argv = {"/usr/bin/openssl",
                                     "s_client",
                                     "-connect",
                                     "127.0.0.1:" + std::to_string(server_->port()),
                                     "-CAfile",
                                     dir_ + "/ca.pem",
                                     "-verify_return_error",
                                     "-ign_eof"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    return RunProcess(argv);
  }

  TempDir tmp_;
  std::string dir_ = tmp_.File("pki");
  std::unique_ptr<security::TlsCredentials> credentials_;
  std::unique_ptr<TlsTestServer> server_;
};

TEST_F(OpensslSClientTest, RefusesTls12EvenWithAValidCertificate) {
  ProcessResult result =
      SClient({"-tls1_2", "-cert", dir_ + "/alice.pem", "-key", dir_ + "/alice.key"});
  EXPECT_NE(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, Not(HasSubstr("hello alice")));
  const auto outcomes = server_->WaitForOutcomes(1);
  ASSERT_EQ(outcomes.size(), 1U);
  EXPECT_FALSE(outcomes[0].ok);
  EXPECT_THAT(outcomes[0].error, HasSubstr("unsupported protocol"));
}

TEST_F(OpensslSClientTest, AcceptsTls13WithACertificateFromCertsIssue) {
  ProcessResult result =
      SClient({"-tls1_3", "-cert", dir_ + "/alice.pem", "-key", dir_ + "/alice.key"});
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("hello alice"));
  EXPECT_THAT(result.output, HasSubstr("Verification: OK"));
  const auto outcomes = server_->WaitForOutcomes(1);
  ASSERT_EQ(outcomes.size(), 1U);
  EXPECT_TRUE(outcomes[0].ok) << outcomes[0].error;
  EXPECT_EQ(outcomes[0].user, "alice");
  EXPECT_EQ(outcomes[0].version, "TLSv1.3");
}

TEST_F(OpensslSClientTest, RefusesTls13WithoutAClientCertificate) {
  ProcessResult result = SClient({"-tls1_3"});
  EXPECT_THAT(result.output, Not(HasSubstr("hello")));
  const auto outcomes = server_->WaitForOutcomes(1);
  ASSERT_EQ(outcomes.size(), 1U);
  EXPECT_FALSE(outcomes[0].ok);
  EXPECT_THAT(outcomes[0].error, HasSubstr("peer did not return a certificate"));
}

TEST_F(OpensslSClientTest, RefusesTheServerCertificateAsAClientCertificate) {
  ProcessResult result =
      SClient({"-tls1_3", "-cert", dir_ + "/server.pem", "-key", dir_ + "/server.key"});
  EXPECT_THAT(result.output, Not(HasSubstr("hello")));
  const auto outcomes = server_->WaitForOutcomes(1);
  ASSERT_EQ(outcomes.size(), 1U);
  EXPECT_FALSE(outcomes[0].ok);
  EXPECT_THAT(outcomes[0].error, HasSubstr("certificate verify failed"));
}

}  // namespace
}  // namespace gatehouse
