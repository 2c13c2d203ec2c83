// The cache file of an etcd config source: what it writes, and every way reading it back fails.
// (The source against a real etcd is tests/integration/cluster_test.cc.)
#include "node/etcd_config_source.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"
#include "testing/temp_dir.h"

namespace gatehouse::node {
namespace {

using ::gatehouse::testing::IsOk;
using ::gatehouse::testing::StatusIs;
using ::gatehouse::testing::TempDir;
using ::testing::HasSubstr;

TEST(EtcdConfigCacheTest, ReadsBackWhatItWrites) {
  TempDir dir;
  const std::string yaml = "dev_pki: {dir: /pki}\n# a comment\n";
  const std::string path =
      dir.WriteFile("cache.yaml", CacheFileText("/gatehouse/config", 42, yaml));
  const absl::StatusOr<CachedDocument> cached = ReadCacheFile(path, "/gatehouse/config");
  ASSERT_THAT(cached, IsOk());
  EXPECT_EQ(cached->yaml, yaml);
  EXPECT_EQ(cached->mod_revision, 42);
}

TEST(EtcdConfigCacheTest, RefusesACacheOfAnotherKeyOrAGarbledOne) {
  TempDir dir;
  const std::string other =
      dir.WriteFile("other.yaml", CacheFileText("/other/config", 42, "log: {}\n"));
  EXPECT_THAT(ReadCacheFile(other, "/gatehouse/config"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("is not a cache of etcd key /gatehouse/config")));
  for (const std::string& text :
       {std::string("dev_pki: {dir: /pki}\n"), CacheFileText("/gatehouse/config", 0, "log: {}\n"),
        std::string("# gatehouse config cache: etcd key /gatehouse/config mod_revision 12x\n"),
        std::string("# gatehouse config cache: etcd key /gatehouse/config mod_revision 7")}) {
    const std::string path = dir.WriteFile("garbled.yaml", text);
    EXPECT_THAT(ReadCacheFile(path, "/gatehouse/config"),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is not a cache")))
        << text;
  }
}

TEST(EtcdConfigCacheTest, NoFileIsNotFound) {
  TempDir dir;
  EXPECT_THAT(ReadCacheFile(dir.File("absent.yaml"), "/gatehouse/config"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("absent.yaml")));
}

TEST(EtcdConfigCacheTest, DocumentNamesSayKeyAndRevision) {
  EXPECT_EQ(EtcdDocumentName("/gatehouse/config", 7), "<etcd /gatehouse/config at revision 7>");
}

}  // namespace
}  // namespace gatehouse::node
