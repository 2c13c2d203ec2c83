#include "security/tls_credentials.h"

#include <openssl/ssl.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "security/identity.h"
#include "testing/status_matchers.h"
#include "testing/test_pki.h"
#include "testing/tls_test_server.h"

namespace gatehouse::security {
namespace {

using ::gatehouse::testing::IsOk;
using ::gatehouse::testing::StatusIs;
using ::gatehouse::testing::TestCertOptions;
using ::gatehouse::testing::TestCrlOptions;
using ::gatehouse::testing::TestPki;
using ::gatehouse::testing::TlsConnect;
using ::gatehouse::testing::TlsTestServer;
using ::testing::HasSubstr;

std::string CommonNameOf(SSL_CTX* ctx) {
  auto identity = IdentityFromCertificate(SSL_CTX_get0_certificate(ctx));
  return identity.ok() ? identity->user : "";
}

TEST(TlsCredentialsTest, LoadFailsLikeBuildTlsContext) {
  TestPki pki;
  TlsFiles files = pki.ServerFiles();
  files.cert_file = "/nonexistent.pem";
  EXPECT_THAT(TlsCredentials::Load(TlsRole::kServer, files),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("/nonexistent.pem")));
}

TEST(TlsCredentialsTest, ReloadWithABadFileKeepsTheOldContextAndSaysWhy) {
  TestPki pki;
  const TlsFiles files = pki.ServerFiles();
  auto credentials = TlsCredentials::Load(TlsRole::kServer, files);
  ASSERT_THAT(credentials, IsOk());
  const std::shared_ptr<SSL_CTX> before = (*credentials)->Current();

  const std::string good_cert = ::gatehouse::testing::ReadFileOrFail(files.cert_file);
  pki.dir().WriteFile("server.pem", "corrupted during rotation\n");
  EXPECT_THAT((*credentials)->Reload(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(files.cert_file)));
  EXPECT_EQ((*credentials)->Current(), before);

  pki.dir().WriteFile("server.pem", good_cert);
  TlsFiles missing_key = files;
  missing_key.key_file = pki.dir().File("gone.key");
  EXPECT_THAT((*credentials)->Reload(missing_key),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("gone.key")));
  EXPECT_EQ((*credentials)->Current(), before);
}

TEST(TlsCredentialsTest, ReloadServesTheNewCertificateToNewConnectionsOnly) {
  TestPki pki;
  auto credentials = TlsCredentials::Load(TlsRole::kServer, pki.ServerFiles());
  ASSERT_THAT(credentials, IsOk());
  TlsTestServer server([&credentials] { return (*credentials)->Current(); });
  auto client = BuildTlsContext(TlsRole::kClient, pki.IssueClient("alice", {}));
  ASSERT_THAT(client, IsOk());
  EXPECT_THAT(TlsConnect(client->get(), server.port()), IsOk());

  const std::shared_ptr<SSL_CTX> old_context = (*credentials)->Current();
  TestCertOptions renewed;
  renewed.extended_key_usages = {"serverAuth"};
  renewed.dns_names = {"localhost"};
  ASSERT_THAT((*credentials)->Reload(pki.IssueServer("renewed-server", renewed)), IsOk());
  EXPECT_EQ(CommonNameOf((*credentials)->Current().get()), "renewed-server");
  // A holder of the old context (a connection in flight) still has a usable context.
  EXPECT_EQ(CommonNameOf(old_context.get()), "server");
  EXPECT_THAT(TlsConnect(client->get(), server.port()), IsOk());
  // Reload() with no argument now re-reads the new files.
  EXPECT_THAT((*credentials)->Reload(), IsOk());
  EXPECT_EQ(CommonNameOf((*credentials)->Current().get()), "renewed-server");
}

TEST(TlsCredentialsTest, CrlExpiryFollowsTheCurrentContext) {
  TestPki pki;
  TlsFiles files = pki.ServerFiles();
  auto credentials = TlsCredentials::Load(TlsRole::kServer, files);
  ASSERT_THAT(credentials, IsOk());
  const auto now = std::chrono::system_clock::now();
  EXPECT_EQ((*credentials)->CrlNextUpdate(), std::nullopt);
  EXPECT_FALSE((*credentials)->IsCrlExpired(now));

  TestCrlOptions current;
  current.next_update = std::chrono::hours(24 * 7);
  files.crl_file = pki.dir().WriteFile("crl.pem", pki.CrlPem(current));
  ASSERT_THAT((*credentials)->Reload(files), IsOk());
  const auto week = (*credentials)->CrlNextUpdate();
  ASSERT_TRUE(week.has_value());
  EXPECT_LE(std::chrono::abs(*week - (now + std::chrono::hours(24 * 7))), std::chrono::seconds(5));
  EXPECT_FALSE((*credentials)->IsCrlExpired(now));
  // The same context, judged a week and a minute later: what an exporter would see then.
  EXPECT_TRUE((*credentials)->IsCrlExpired(*week));
  EXPECT_TRUE((*credentials)->IsCrlExpired(now + std::chrono::hours(24 * 7 + 1)));

  // An operator rotates in a CRL that has already expired: the reload succeeds (it is a valid
  // file), and the state says every client is now refused.
  TestCrlOptions expired;
  expired.last_update = std::chrono::hours(-48);
  expired.next_update = std::chrono::hours(-1);
  pki.dir().WriteFile("crl.pem", pki.CrlPem(expired));
  ASSERT_THAT((*credentials)->Reload(), IsOk());
  EXPECT_TRUE((*credentials)->IsCrlExpired(std::chrono::system_clock::now()));
  const auto expired_at = (*credentials)->CrlNextUpdate();
  ASSERT_TRUE(expired_at.has_value());
  EXPECT_LT(*expired_at, now);
}

TEST(TlsCredentialsTest, ConcurrentReadersSeeAValidContextDuringReloads) {
  TestPki pki;
  auto credentials = TlsCredentials::Load(TlsRole::kServer, pki.ServerFiles());
  ASSERT_THAT(credentials, IsOk());
  std::atomic<bool> done{false};
  std::atomic<int> null_contexts{0};
  std::vector<std::thread> readers;
  readers.reserve(3);
  for (int i = 0; i < 3; ++i) {
    readers.emplace_back([&] {
      while (!done.load(std::memory_order_acquire)) {
        const std::shared_ptr<SSL_CTX> ctx = (*credentials)->Current();
        if (ctx == nullptr || SSL_CTX_get0_certificate(ctx.get()) == nullptr) ++null_contexts;
      }
    });
  }
  for (int i = 0; i < 20; ++i) EXPECT_THAT((*credentials)->Reload(), IsOk());
  done.store(true, std::memory_order_release);
  for (auto& reader : readers) reader.join();
  EXPECT_EQ(null_contexts.load(), 0);
}

}  // namespace
}  // namespace gatehouse::security
