#include "node/node.h"

#include <sys/stat.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"
#include "testing/temp_dir.h"
#include "testing/test_pki.h"

namespace gatehouse::node {
namespace {

using ::gatehouse::testing::IsOk;
using ::gatehouse::testing::StatusIs;
using ::gatehouse::testing::TempDir;
using ::gatehouse::testing::TestPki;
using ::testing::HasSubstr;

config::Config TlsConfig(const TestPki& pki) {
  config::Config config;
  const security::TlsFiles files = pki.ServerFiles();
  config.tls = config::TlsConfig{files.ca_file, files.cert_file, files.key_file, ""};
  config.admin.listen = {"127.0.0.1", 0};
  config.authorization.apps["web"].users = {"alice"};
  return config;
}

uint64_t Reloads(Node& node, const std::string& result) {
  return node.metrics()
      .GetCounter("gatehouse_config_reloads_total", "", {{"result", result}})
      ->value();
}

TEST(NodeTest, StartsWithTlsFilesAndServesAdmin) {
  TestPki pki;
  auto node = Node::Start(TlsConfig(pki));
  ASSERT_THAT(node, IsOk());
  EXPECT_GT((*node)->admin_port(), 0);
  EXPECT_TRUE((*node)->policy()->MayUseApp({"alice", {}}, "web"));
  EXPECT_THAT((*node)->metrics().RenderPrometheusText(),
              HasSubstr("gatehouse_build_info{version=\"0.1.0\"} 1"));
}

TEST(NodeTest, StartCreatesTheDevPkiOnceWithPrivateKeys) {
  TempDir tmp;
  config::Config config;
  config.dev_pki = config::DevPkiConfig{tmp.File("state/pki")};
  config.admin.listen = {"127.0.0.1", 0};
  {
    auto node = Node::Start(config);
    ASSERT_THAT(node, IsOk());
  }
  struct stat info {};
  ASSERT_EQ(::stat(tmp.File("state/pki/admin.key").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600U);
  // A second start reuses it.
  auto again = Node::Start(config);
  ASSERT_THAT(again, IsOk());
}

TEST(NodeTest, StartFailsOnBadTlsFilesAndBadPolicy) {
  TestPki pki;
  config::Config bad_tls = TlsConfig(pki);
  bad_tls.tls->key_file = "/nonexistent/key.pem";
  EXPECT_THAT(Node::Start(bad_tls),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("/nonexistent/key.pem")));
  EXPECT_THAT(Validate(bad_tls),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("/nonexistent/key.pem")));
  config::Config bad_policy = TlsConfig(pki);
  bad_policy.authorization.job_start.roles = {"*"};
  EXPECT_THAT(Node::Start(bad_policy),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("jobs.start")));
  EXPECT_THAT(Validate(TlsConfig(pki)), IsOk());
}

TEST(NodeTest, FailedReloadKeepsEverythingAndCountsIt) {
  TestPki pki;
  auto node = Node::Start(TlsConfig(pki));
  ASSERT_THAT(node, IsOk());
  const auto policy_before = (*node)->policy();
  const auto context_before = (*node)->server_credentials().Current();

  config::Config broken = TlsConfig(pki);
  broken.authorization.apps["web"].users = {"bob"};
  broken.tls->cert_file = "/nonexistent/cert.pem";
  EXPECT_THAT((*node)->Reload(broken),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("/nonexistent/cert.pem")));
  EXPECT_EQ((*node)->policy(), policy_before) << "policy must not change on a failed reload";
  EXPECT_EQ((*node)->server_credentials().Current(), context_before);
  EXPECT_EQ(Reloads(**node, "failure"), 1U);
  EXPECT_THAT((*node)->Reload(absl::InvalidArgumentError("gh.yaml:1:1: bad")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("gh.yaml:1:1")));
  EXPECT_EQ(Reloads(**node, "failure"), 2U);
  EXPECT_EQ(Reloads(**node, "success"), 0U);
}

TEST(NodeTest, SuccessfulReloadSwapsPolicyAndCredentials) {
  TestPki pki;
  auto node = Node::Start(TlsConfig(pki));
  ASSERT_THAT(node, IsOk());
  const auto context_before = (*node)->server_credentials().Current();
  config::Config next = TlsConfig(pki);
  next.authorization.apps["web"].users = {"bob"};
  ASSERT_THAT((*node)->Reload(next), IsOk());
  EXPECT_FALSE((*node)->policy()->MayUseApp({"alice", {}}, "web"));
  EXPECT_TRUE((*node)->policy()->MayUseApp({"bob", {}}, "web"));
  EXPECT_NE((*node)->server_credentials().Current(), context_before);
  EXPECT_EQ(Reloads(**node, "success"), 1U);
}

}  // namespace
}  // namespace gatehouse::node
