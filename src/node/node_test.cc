#include "node/node.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

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

std::string ReadFile(const std::string& path) {
  std::ifstream file(path);
  return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
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
  const std::string ca_before = ReadFile(tmp.File("state/pki/ca.pem"));
  const std::string key_before = ReadFile(tmp.File("state/pki/server.key"));
  ASSERT_FALSE(ca_before.empty());
  // A second start reuses it: the same CA and server key, not a fresh PKI.
  auto again = Node::Start(config);
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(ReadFile(tmp.File("state/pki/ca.pem")), ca_before);
  EXPECT_EQ(ReadFile(tmp.File("state/pki/server.key")), key_before);
}

TEST(NodeTest, AReloadWithABadPolicyWritesNoDevPki) {
  TestPki pki;
  auto node = Node::Start(TlsConfig(pki));
  ASSERT_THAT(node, IsOk());
  TempDir tmp;
  config::Config next;
  next.dev_pki = config::DevPkiConfig{tmp.File("new-pki")};
  next.admin.listen = {"127.0.0.1", 0};
  next.authorization.job_start.roles = {"*"};
  EXPECT_THAT((*node)->Reload(next),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("jobs.start")));
  EXPECT_FALSE(std::filesystem::exists(tmp.File("new-pki")));
}

TEST(NodeTest, StartsTheLoadBalancerAndReloadsItsApps) {
  TestPki pki;
  config::Config config = TlsConfig(pki);
  config::LbConfig lb;
  lb.workers = 1;
  config::LbAppConfig web;
  web.name = "web";
  web.listen = {{"127.0.0.1", 0}};
  web.upstreams = {{"127.0.0.1", 9}};
  lb.apps = {web};
  config.lb = lb;
  auto node = Node::Start(config);
  ASSERT_THAT(node, IsOk());
  ASSERT_NE((*node)->lb(), nullptr);
  EXPECT_EQ((*node)->lb()->BoundEndpoints().count("127.0.0.1:0"), 1U);

  config.lb->apps[0].listen = {{"127.0.0.2", 0}};
  ASSERT_THAT((*node)->Reload(config), IsOk());
  EXPECT_EQ((*node)->lb()->BoundEndpoints().count("127.0.0.1:0"), 0U);
  EXPECT_EQ((*node)->lb()->BoundEndpoints().count("127.0.0.2:0"), 1U);
  EXPECT_EQ(Reloads(**node, "success"), 1U);
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

TEST(NodeTest, PublishesWhenTheCrlExpires) {
  TestPki pki;
  config::Config config = TlsConfig(pki);
  gatehouse::testing::TestCrlOptions fresh;
  config.tls->crl_file = pki.dir().WriteFile("fresh.crl", pki.CrlPem(fresh));
  auto node = Node::Start(config);
  ASSERT_THAT(node, IsOk());
  const std::string text = (*node)->metrics().RenderPrometheusText();
  EXPECT_THAT(text, HasSubstr("gatehouse_tls_crl_expired 0\n"));
  EXPECT_THAT(text,
              ::testing::ContainsRegex("gatehouse_tls_crl_next_update_seconds [1-9][0-9]+\n"));

  gatehouse::testing::TestCrlOptions stale;
  stale.last_update = std::chrono::hours(-48);
  stale.next_update = std::chrono::hours(-24);
  config.tls->crl_file = pki.dir().WriteFile("stale.crl", pki.CrlPem(stale));
  ASSERT_THAT((*node)->Reload(config), IsOk());
  EXPECT_THAT((*node)->metrics().RenderPrometheusText(),
              HasSubstr("gatehouse_tls_crl_expired 1\n"));
}

}  // namespace
}  // namespace gatehouse::node
