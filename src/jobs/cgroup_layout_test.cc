// CgroupLayout::FromMountInfo on sample /proc/self/mountinfo texts: pure v2, hybrid, pure v1,
// missing controllers, escaped mount points and reader errors. Needs no cgroups of its own.
#include "jobs/cgroup_layout.h"

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"

namespace gatehouse::jobs {
namespace {

using ::gatehouse::testing::IsOk;
using ::gatehouse::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;

constexpr char kRootMount[] = "26 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n";

std::string V1Mount(int id, const std::string& mount_point, const std::string& super_options) {
  return absl::StrCat(id, " 30 0:", id, " / ", mount_point, " rw,nosuid,nodev,noexec shared:", id,
                      " - cgroup cgroup ", super_options, "\n");
}

std::string Cgroup2Mount(const std::string& mount_point) {
  return absl::StrCat("40 30 0:40 / ", mount_point,
                      " rw,nosuid,nodev,noexec,relatime shared:9 master:3 - cgroup2 cgroup2 "
                      "rw,nsdelegate\n");
}

// Hands out `controllers` as the cgroup2 mount's cgroup.controllers and records where it looked.
CgroupLayout::ControllersReader ControllersAre(const std::string& controllers,
                                               std::string* asked_root = nullptr) {
  return [controllers, asked_root](const std::string& unified_root) {
    if (asked_root != nullptr) *asked_root = unified_root;
    return absl::StatusOr<std::string>(controllers);
  };
}

CgroupLayout::ControllersReader NoCgroup2Expected() {
  return [](const std::string& unified_root) {
    ADD_FAILURE() << "read cgroup.controllers at " << unified_root;
    return absl::StatusOr<std::string>("");
  };
}

// The separate v1 mounts of the development machine, plus the name=systemd one to be ignored.
std::string SeparateV1Mounts(bool with_memory) {
  std::string mounts = V1Mount(31, "/sys/fs/cgroup/cpu", "rw,cpu") +
                       V1Mount(32, "/sys/fs/cgroup/cpuacct", "rw,cpuacct") +
                       V1Mount(33, "/sys/fs/cgroup/cpuset", "rw,cpuset") +
                       V1Mount(35, "/sys/fs/cgroup/devices", "rw,devices") +
                       V1Mount(36, "/sys/fs/cgroup/freezer", "rw,freezer") +
                       V1Mount(37, "/sys/fs/cgroup/blkio", "rw,blkio") +
                       V1Mount(38, "/sys/fs/cgroup/pids", "rw,pids") +
                       V1Mount(39, "/sys/fs/cgroup/systemd", "rw,xattr,name=systemd");
  if (with_memory) mounts += V1Mount(34, "/sys/fs/cgroup/memory", "rw,memory");
  return mounts;
}

TEST(FromMountInfoTest, PureV2WithControllersUsesOnlyTheUnifiedTree) {
  std::string asked_root;
  const absl::StatusOr<CgroupLayout> layout = CgroupLayout::FromMountInfo(
      absl::StrCat(kRootMount, Cgroup2Mount("/sys/fs/cgroup")),
      ControllersAre("cpuset cpu io memory hugetlb pids rdma misc\n", &asked_root));
  ASSERT_THAT(layout, IsOk());
  EXPECT_EQ(layout->mode, CgroupMode::kV2);
  EXPECT_EQ(layout->unified_root, "/sys/fs/cgroup");
  EXPECT_THAT(layout->v1_controllers, IsEmpty());
  EXPECT_EQ(asked_root, "/sys/fs/cgroup");
}

TEST(FromMountInfoTest, HybridLikeTheDevelopmentMachineKeepsTheControllersItUses) {
  const absl::StatusOr<CgroupLayout> layout =
      CgroupLayout::FromMountInfo(absl::StrCat(kRootMount, SeparateV1Mounts(/*with_memory=*/true),
                                               Cgroup2Mount("/sys/fs/cgroup/unified")),
                                  ControllersAre("hugetlb\n"));
  ASSERT_THAT(layout, IsOk());
  EXPECT_EQ(layout->mode, CgroupMode::kHybrid);
  EXPECT_EQ(layout->unified_root, "/sys/fs/cgroup/unified");
  EXPECT_THAT(
      layout->v1_controllers,
      ElementsAre(Pair("blkio", "/sys/fs/cgroup/blkio"), Pair("cpu", "/sys/fs/cgroup/cpu"),
                  Pair("cpuacct", "/sys/fs/cgroup/cpuacct"),
                  Pair("memory", "/sys/fs/cgroup/memory"), Pair("pids", "/sys/fs/cgroup/pids")));
}

TEST(FromMountInfoTest, CoMountedCpuAndCpuacctShareOneMountPoint) {
  const std::string mountinfo = absl::StrCat(
      kRootMount, V1Mount(31, "/sys/fs/cgroup/cpu,cpuacct", "rw,cpu,cpuacct"),
      V1Mount(34, "/sys/fs/cgroup/memory", "rw,memory"),
      V1Mount(37, "/sys/fs/cgroup/blkio", "rw,blkio"),
      V1Mount(38, "/sys/fs/cgroup/pids", "rw,pids"),
      V1Mount(36, "/sys/fs/cgroup/freezer", "rw,freezer"), Cgroup2Mount("/sys/fs/cgroup/unified"));
  const absl::StatusOr<CgroupLayout> layout =
      CgroupLayout::FromMountInfo(mountinfo, ControllersAre(""));
  ASSERT_THAT(layout, IsOk());
  EXPECT_EQ(layout->mode, CgroupMode::kHybrid);
  EXPECT_EQ(layout->v1_controllers.at("cpu"), "/sys/fs/cgroup/cpu,cpuacct");
  EXPECT_EQ(layout->v1_controllers.at("cpuacct"), "/sys/fs/cgroup/cpu,cpuacct");
}

TEST(FromMountInfoTest, PureV1NeedsTheFreezer) {
  const absl::StatusOr<CgroupLayout> layout = CgroupLayout::FromMountInfo(
      absl::StrCat(kRootMount, SeparateV1Mounts(/*with_memory=*/true)), NoCgroup2Expected());
  ASSERT_THAT(layout, IsOk());
  EXPECT_EQ(layout->mode, CgroupMode::kV1);
  EXPECT_EQ(layout->unified_root, "");
  EXPECT_EQ(layout->v1_controllers.size(), 6U);
  EXPECT_EQ(layout->v1_controllers.at("freezer"), "/sys/fs/cgroup/freezer");

  std::string without_freezer;
  for (const absl::string_view line :
       absl::StrSplit(absl::StrCat(kRootMount, SeparateV1Mounts(/*with_memory=*/true)), '\n')) {
    if (!absl::EndsWith(line, "rw,freezer")) absl::StrAppend(&without_freezer, line, "\n");
  }
  EXPECT_THAT(CgroupLayout::FromMountInfo(without_freezer, NoCgroup2Expected()),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("freezer")));
}

TEST(FromMountInfoTest, MissingMemoryControllerIsNamed) {
  EXPECT_THAT(
      CgroupLayout::FromMountInfo(absl::StrCat(kRootMount, SeparateV1Mounts(/*with_memory=*/false),
                                               Cgroup2Mount("/sys/fs/cgroup/unified")),
                                  ControllersAre("hugetlb\n")),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("memory")));
  EXPECT_THAT(CgroupLayout::FromMountInfo(absl::StrCat(kRootMount, Cgroup2Mount("/sys/fs/cgroup")),
                                          ControllersAre("cpu io pids\n")),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("memory")));
  EXPECT_THAT(
      CgroupLayout::FromMountInfo(absl::StrCat(kRootMount, SeparateV1Mounts(/*with_memory=*/false)),
                                  NoCgroup2Expected()),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("memory")));
}

TEST(FromMountInfoTest, UnescapesMountPoints) {
  std::string asked_root;
  const absl::StatusOr<CgroupLayout> layout = CgroupLayout::FromMountInfo(
      absl::StrCat(kRootMount, Cgroup2Mount("/run/my\\040cgroups\\134v2")),
      ControllersAre("cpu memory io pids", &asked_root));
  ASSERT_THAT(layout, IsOk());
  EXPECT_EQ(layout->unified_root, "/run/my cgroups\\v2");
  EXPECT_EQ(asked_root, "/run/my cgroups\\v2");
}

TEST(FromMountInfoTest, ReaderErrorIsReturned) {
  const CgroupLayout::ControllersReader unreadable = [](const std::string& unified_root) {
    return absl::StatusOr<std::string>(
        absl::PermissionDeniedError(unified_root + "/cgroup.controllers"));
  };
  EXPECT_THAT(CgroupLayout::FromMountInfo(absl::StrCat(kRootMount, Cgroup2Mount("/sys/fs/cgroup")),
                                          unreadable),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("/sys/fs/cgroup")));
}

}  // namespace
}  // namespace gatehouse::jobs
