#include "base/atomic_file.h"

#include <sys/stat.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"
#include "testing/temp_dir.h"

namespace gatehouse::base {
namespace {

using ::gatehouse::testing::FileMode;
using ::gatehouse::testing::IsOk;
using ::gatehouse::testing::ReadFileOrFail;
using ::gatehouse::testing::StatusIs;
using ::gatehouse::testing::TempDir;
using ::testing::HasSubstr;

TEST(WriteFileAtomicallyTest, WritesContentsWithExactMode) {
  TempDir dir;
  const std::string path = dir.File("key.pem");
  ASSERT_THAT(WriteFileAtomically(path, "secret", 0600, ExistingFile::kKeep), IsOk());
  EXPECT_EQ(ReadFileOrFail(path), "secret");
  EXPECT_EQ(FileMode(path), 0600U);
  ASSERT_THAT(WriteFileAtomically(dir.File("cert.pem"), "public", 0644, ExistingFile::kKeep),
              IsOk());
  EXPECT_EQ(FileMode(dir.File("cert.pem")), 0644U);
}

TEST(WriteFileAtomicallyTest, KeepRefusesToOverwriteAndLeavesNoTempFiles) {
  TempDir dir;
  const std::string path = dir.File("a");
  ASSERT_THAT(WriteFileAtomically(path, "first", 0600, ExistingFile::kKeep), IsOk());
  EXPECT_THAT(WriteFileAtomically(path, "second", 0600, ExistingFile::kKeep),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr(path)));
  EXPECT_EQ(ReadFileOrFail(path), "first");
  ASSERT_THAT(WriteFileAtomically(path, "third", 0600, ExistingFile::kReplace), IsOk());
  EXPECT_EQ(ReadFileOrFail(path), "third");
  int entries = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    ++entries;
  }
  EXPECT_EQ(entries, 1);
}

TEST(WriteFileAtomicallyTest, MissingDirectoryIsAnErrorNamingThePath) {
  TempDir dir;
  EXPECT_THAT(WriteFileAtomically(dir.File("no/such/dir/f"), "x", 0600, ExistingFile::kReplace),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no/such/dir/f")));
}

TEST(MakeDirectoriesTest, CreatesParentsAndRejectsAFileInTheWay) {
  TempDir dir;
  const std::string nested = dir.File("a/b/c");
  ASSERT_THAT(MakeDirectories(nested, 0700), IsOk());
  EXPECT_EQ(FileMode(nested), 0700U);
  EXPECT_THAT(MakeDirectories(nested, 0700), IsOk());
  const std::string file = dir.WriteFile("plain", "x");
  EXPECT_THAT(MakeDirectories(file, 0700),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not a directory")));
}

}  // namespace
}  // namespace gatehouse::base
