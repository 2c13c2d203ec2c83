// `config_source` (etcd) and `global_rate_limits` (Redis) through the public loader.
#include <cstdio>
#include <filesystem>
#include <string>

#include "config/config_loader.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"

namespace gatehouse::config {
namespace {

using ::gatehouse::testing::IsOk;
using ::gatehouse::testing::StatusIs;
using ::testing::HasSubstr;

constexpr char kEtcdSource[] = R"yaml(
config_source:
  etcd:
    endpoints: [https://10.0.0.1:2379, https://10.0.0.2:2379]
    key: /prod/gatehouse
    tls: {ca: ca.pem, cert: node.pem, key: node.key}
    cache: /var/cache/gh.yaml
log: {level: debug}
)yaml";

TEST(ClusterSectionsTest, ReadsAnEtcdSourceFile) {
  const absl::StatusOr<Config> config = ParseConfig(kEtcdSource, "gh.yaml");
  ASSERT_THAT(config, IsOk());
  ASSERT_TRUE(config->etcd_source.has_value());
  const EtcdSourceConfig& etcd = *config->etcd_source;
  EXPECT_THAT(etcd.endpoints,
              ::testing::ElementsAre("https://10.0.0.1:2379", "https://10.0.0.2:2379"));
  EXPECT_EQ(etcd.key, "/prod/gatehouse");
  EXPECT_EQ(etcd.tls.ca_file, "ca.pem");
  EXPECT_EQ(etcd.tls.cert_file, "node.pem");
  EXPECT_EQ(etcd.tls.key_file, "node.key");
  EXPECT_EQ(etcd.cache_file, "/var/cache/gh.yaml");
  EXPECT_EQ(config->log.level, "debug");
  // Nothing else is set: the document in etcd is the config.
  EXPECT_FALSE(config->tls.has_value());
  EXPECT_FALSE(config->dev_pki.has_value());
  EXPECT_FALSE(config->lb.has_value());
}

TEST(ClusterSectionsTest, EtcdDefaultsKeyAndCache) {
  const absl::StatusOr<Config> config = ParseConfig(R"yaml(
config_source:
  etcd: {endpoints: [https://127.0.0.1:2379], tls: {ca: a, cert: b, key: c}}
)yaml",
                                                    "gh.yaml");
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ(config->etcd_source->key, "/gatehouse/config");
  EXPECT_EQ(config->etcd_source->cache_file, "/var/lib/gatehouse/etcd-config-cache.yaml");
}

TEST(ClusterSectionsTest, RejectsBadEtcdSources) {
  const struct {
    const char* yaml;
    const char* error;
  } cases[] = {
      {"config_source:\n  etcd: {endpoints: [http://127.0.0.1:2379], tls: {ca: a, cert: b, key: "
       "c}}\n",
       "is not an https:// URL"},
      {"config_source:\n  etcd: {endpoints: [], tls: {ca: a, cert: b, key: c}}\n",
       "expected 1 to 16 endpoints"},
      {"config_source:\n  etcd: {endpoints: [https://a:1, https://a:1], tls: {ca: a, cert: b, "
       "key: c}}\n",
       "duplicate entry"},
      {"config_source:\n  etcd: {endpoints: [https://a:1]}\n", "tls"},
      {"config_source:\n  etcd: {endpoints: [https://a:1], tls: {ca: a, cert: b}}\n", "key"},
      {"config_source:\n  etcd: {endpoints: [https://a:1], key: gatehouse, tls: {ca: a, cert: "
       "b, key: c}}\n",
       "is not a key like /gatehouse/config"},
      {"config_source: {}\n", "etcd"},
      {"config_source:\n  etcd: {endpoints: [https://a:1], tls: {ca: a, cert: b, key: c}}\n"
       "dev_pki: {dir: /pki}\n",
       "is not allowed next to config_source"},
  };
  for (const auto& test_case : cases) {
    EXPECT_THAT(ParseConfig(test_case.yaml, "gh.yaml"),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(test_case.error)))
        << test_case.yaml;
  }
}

TEST(ClusterSectionsTest, ResolvesEtcdPathsNextToTheFile) {
  // LoadConfigFile resolves; the parse above keeps them as written. Checked through a real file.
  const std::string dir = ::testing::TempDir();
  const std::string path = dir + "/cluster_sections_test.yaml";
  {
    FILE* file = std::fopen(path.c_str(), "w");
    ASSERT_NE(file, nullptr);
    std::fputs(kEtcdSource, file);
    std::fclose(file);
  }
  const absl::StatusOr<Config> config = LoadConfigFile(path);
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ(config->etcd_source->tls.ca_file, std::filesystem::path(dir) / "ca.pem");
  EXPECT_EQ(config->etcd_source->cache_file, "/var/cache/gh.yaml");
  std::remove(path.c_str());
}

constexpr char kGlobalApp[] = R"yaml(
dev_pki: {dir: /pki}
lb:
  apps:
    - name: web
      listen: 127.0.0.1:8443
      upstreams: [127.0.0.1:9000]
      rate_limit: {connections_per_second: 50, burst: 50, scope: global}
)yaml";

TEST(ClusterSectionsTest, ReadsGlobalRateLimits) {
  const absl::StatusOr<Config> config = ParseConfig(std::string(kGlobalApp) + R"yaml(
global_rate_limits:
  redis: 10.0.0.5:6380
  password_file: /etc/gatehouse/redis.password
  timeout: 50ms
  fallback: closed
  lease_size: 7
)yaml",
                                                    "gh.yaml");
  ASSERT_THAT(config, IsOk());
  ASSERT_TRUE(config->global_rate_limits.has_value());
  const GlobalRateLimitsConfig& limits = *config->global_rate_limits;
  EXPECT_EQ(limits.redis.ToString(), "10.0.0.5:6380");
  EXPECT_EQ(limits.password_file, "/etc/gatehouse/redis.password");
  EXPECT_EQ(limits.timeout, std::chrono::milliseconds(50));
  EXPECT_EQ(limits.fallback, GlobalLimitFallback::kClosed);
  EXPECT_EQ(limits.lease_size, 7U);
  EXPECT_EQ(config->lb->apps[0].rate_limit.scope, RateLimitScope::kGlobal);
}

TEST(ClusterSectionsTest, GlobalRateLimitDefaults) {
  const absl::StatusOr<Config> config = ParseConfig(
      std::string(kGlobalApp) + "global_rate_limits: {redis: 127.0.0.1:6379}\n", "gh.yaml");
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ(config->global_rate_limits->fallback, GlobalLimitFallback::kOpen);
  EXPECT_EQ(config->global_rate_limits->timeout, std::chrono::milliseconds(200));
  EXPECT_EQ(config->global_rate_limits->lease_size, 0U);
  EXPECT_TRUE(config->global_rate_limits->password_file.empty());
}

TEST(ClusterSectionsTest, RejectsBadGlobalRateLimits) {
  const struct {
    std::string yaml;
    const char* error;
  } cases[] = {
      {kGlobalApp, "needs the global_rate_limits section"},
      {std::string(kGlobalApp) + "global_rate_limits: {}\n", "redis"},
      {std::string(kGlobalApp) + "global_rate_limits: {redis: redis.local:6379}\n", "redis"},
      {std::string(kGlobalApp) + "global_rate_limits: {redis: 127.0.0.1:1, fallback: maybe}\n",
       "is not one of: open, closed"},
      {std::string(kGlobalApp) + "global_rate_limits: {redis: 127.0.0.1:1, lease_size: 0}\n",
       "lease_size"},
      {std::string(kGlobalApp) + "global_rate_limits: {redis: 127.0.0.1:1, timeout: 11s}\n",
       "at most 10s"},
      {"dev_pki: {dir: /pki}\nlb:\n  apps:\n    - {name: web, listen: 127.0.0.1:1, upstreams: "
       "[127.0.0.1:2], rate_limit: {max_concurrent: 3, scope: global}}\n"
       "global_rate_limits: {redis: 127.0.0.1:1}\n",
       "scope: global needs connections_per_second"},
      {"dev_pki: {dir: /pki}\nlb:\n  apps:\n    - {name: web, listen: 127.0.0.1:1, upstreams: "
       "[127.0.0.1:2], rate_limit: {connections_per_second: 1, burst: 1, scope: planet}}\n",
       "is not one of: local, global"},
  };
  for (const auto& test_case : cases) {
    EXPECT_THAT(ParseConfig(test_case.yaml, "gh.yaml"),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(test_case.error)))
        << test_case.yaml;
  }
}

TEST(ClusterSectionsTest, RequireAbsolutePathsNamesTheFirstRelativeOne) {
  const absl::StatusOr<Config> absolute =
      ParseConfig("tls: {ca: /etc/gh/ca.pem, cert: /etc/gh/s.pem, key: /etc/gh/s.key}\n", "doc");
  ASSERT_THAT(absolute, IsOk());
  EXPECT_THAT(RequireAbsolutePaths(*absolute, "doc"), IsOk());
  const absl::StatusOr<Config> relative =
      ParseConfig(std::string(kGlobalApp) +
                      "global_rate_limits: {redis: 127.0.0.1:1, password_file: redis.pw}\n",
                  "doc");
  ASSERT_THAT(relative, IsOk());
  // dev_pki's "/pki" is absolute; the password file is not.
  EXPECT_THAT(RequireAbsolutePaths(*relative, "<etcd /k at revision 3>"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("<etcd /k at revision 3>: path \"redis.pw\" is relative")));
}

}  // namespace
}  // namespace gatehouse::config
