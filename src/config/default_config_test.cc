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
  EXPECT_THAT(config->authorization.apps, IsEmpty());
  EXPECT_THAT(config->authorization.job_start.users, IsEmpty());
  EXPECT_THAT(config->authorization.job_start.roles, ElementsAre("admin", "dev"));
}

}  // namespace
}  // namespace gatehouse::config
