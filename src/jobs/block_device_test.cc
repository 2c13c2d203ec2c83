// DiskOfPath on this host's filesystems: tmpfs has no disk, / resolves to a whole disk (not a
// partition), a missing path is NotFound, distinct from "no disk".
#include "jobs/block_device.h"

#include <linux/magic.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"
#include "testing/temp_dir.h"

namespace gatehouse::jobs {
namespace {

using ::gatehouse::testing::IsOk;
using ::gatehouse::testing::ReadFileOrFail;
using ::gatehouse::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

TEST(DiskOfPathTest, TmpfsHasNoDisk) {
  struct statfs info {};
  if (::statfs("/dev/shm", &info) != 0 || info.f_type != TMPFS_MAGIC) {
    GTEST_SKIP() << "/dev/shm is not a tmpfs on this host";
  }
  EXPECT_THAT(DiskOfPath("/dev/shm"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("/dev/shm")));
}

TEST(DiskOfPathTest, RootFilesystemResolvesToAWholeDisk) {
  const absl::StatusOr<std::string> disk = DiskOfPath("/");
  if (absl::IsFailedPrecondition(disk.status())) {
    GTEST_SKIP() << "/ has no block device here: " << disk.status();
  }
  ASSERT_THAT(disk, IsOk());
  EXPECT_THAT(*disk, MatchesRegex("[0-9]+:[0-9]+"));
  const std::string sysfs = "/sys/dev/block/" + *disk;
  EXPECT_NE(::access((sysfs + "/partition").c_str(), F_OK), 0) << *disk << " is a partition";
  EXPECT_EQ(ReadFileOrFail(sysfs + "/dev"), *disk + "\n");
}

TEST(DiskOfPathTest, MissingPathIsNotFound) {
  EXPECT_THAT(DiskOfPath("/no/such/gatehouse/path"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("/no/such/gatehouse/path")));
}

}  // namespace
}  // namespace gatehouse::jobs
