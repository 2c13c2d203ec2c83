#include "config/default_config.h"

#include <string>
#include <vector>

#include "config/config_loader.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"

namespace gatehouse::config {
namespace {

using ::gatehouse::testing::IsOk;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(DefaultConfigTest, ParsesIntoLoopbackDevPkiConfig) {
  const absl::StatusOr<Config> config =
      ParseConfig(EmbeddedDefaultConfig(), kEmbeddedDefaultConfigName);
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ(config->log.format, base::LogFormat::kText);
  EXPECT_EQ(config->log.level, "info");
  EXPECT_FALSE(config->tls.has_value());
  ASSERT_TRUE(config->dev_pki.has_value());
  EXPECT_EQ(config->dev_pki->dir, "./.gatehouse/pki");
  EXPECT_EQ(config->admin.listen.host, "127.0.0.1");
  EXPECT_EQ(config->admin.listen.port, 9901);
  EXPECT_EQ(config->authorization.admin_role, "admin");
  ASSERT_EQ(config->authorization.apps.count("example"), 1U);
  EXPECT_THAT(config->authorization.apps.at("example").roles, ElementsAre("dev"));
  ASSERT_TRUE(config->lb.has_value());
  ASSERT_EQ(config->lb->apps.size(), 2U);
  const LbAppConfig& app = config->lb->apps.front();
  EXPECT_EQ(app.name, "example");
  ASSERT_EQ(app.listen.size(), 1U);
  EXPECT_EQ(app.listen.front().ToString(), "127.0.0.1:8443");
  ASSERT_EQ(app.upstreams.size(), 1U);
  EXPECT_EQ(app.upstreams.front().ToString(), "127.0.0.1:8080");
  EXPECT_EQ(app.tls, AppTls::kMutual);
  // The scale-to-zero example: a server started on the first connection.
  const LbAppConfig& notes = config->lb->apps.back();
  EXPECT_EQ(notes.name, "notes");
  EXPECT_EQ(notes.listen.front().ToString(), "127.0.0.1:8444");
  EXPECT_TRUE(notes.upstreams.empty());
  ASSERT_TRUE(notes.launch.has_value());
  EXPECT_EQ(notes.launch->port, 8080);
  EXPECT_EQ(notes.launch->command.front(), "/usr/bin/python3");
  EXPECT_THAT(config->authorization.apps.at("notes").roles, ElementsAre("admin", "dev"));
  EXPECT_THAT(config->authorization.job_start.users, IsEmpty());
  EXPECT_THAT(config->authorization.job_start.roles, ElementsAre("admin", "dev"));
}

}  // namespace
}  // namespace gatehouse::config
