// The cgroup v2 file formats, on a directory laid out as cgroupfs lays out a job's cgroup (the
// files exist, the test fills in what the kernel would report). The development machine's
// controllers are all on v1, so this is where the v2 limits and usage are checked; placement,
// cgroup.kill and `populated` run for real on the hybrid host's cgroup2 tree (cgroup_test).
#include "jobs/cgroup_v2.h"

#include <unistd.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"
#include "testing/temp_dir.h"

namespace gatehouse::jobs::cgroup_v2 {
namespace {

using ::testing::HasSubstr;
using testing::IsOk;
using testing::StatusIs;

class CgroupV2Test : public ::testing::Test {
 protected:
  // The interface files of a new v2 cgroup that the code touches, empty.
  void SetUp() override {
    for (const char* name :
         {"cgroup.subtree_control", "cpu.max", "memory.max", "io.max", "pids.max"}) {
      Put(name, "");
    }
  }

  void Put(const std::string& name, const std::string& contents) const {
    dir_.WriteFile(name, contents);
  }

  // Fails the test when the file is missing, so an expected "" means "present and untouched".
  std::string Get(const std::string& name) const {
    return gatehouse::testing::ReadFileOrFail(dir_.File(name));
  }

  std::string directory() const { return dir_.path().string(); }

  gatehouse::testing::TempDir dir_;
};

TEST_F(CgroupV2Test, EnablesOnlyTheMissingControllers) {
  Put("cgroup.subtree_control", "memory pids\n");
  ASSERT_THAT(EnableControllers(directory()), IsOk());
  // One write of "+cpu +io" at offset 0 (cgroupfs takes it as a command; this regular file
  // keeps the tail of what it held).
  EXPECT_EQ(Get("cgroup.subtree_control"), "+cpu +ioids\n");
}

TEST_F(CgroupV2Test, LeavesADelegatedParentUntouched) {
  Put("cgroup.subtree_control", "cpu io memory pids\n");
  ASSERT_THAT(EnableControllers(directory()), IsOk());
  EXPECT_EQ(Get("cgroup.subtree_control"), "cpu io memory pids\n");
}

TEST_F(CgroupV2Test, WritesEveryLimitInTheKernelsFormat) {
  Put("memory.swap.max", "");
  Limits limits;
  limits.cpus = 1.5;
  limits.memory_bytes = uint64_t{256} << 20;
  limits.io_read_bytes_per_second = 1000;
  limits.io_write_bytes_per_second = 2000;
  limits.pids = 64;
  ASSERT_THAT(WriteLimits(directory(), limits, {"8:0"}), IsOk());
  EXPECT_EQ(Get("cpu.max"), "150000 100000");
  EXPECT_EQ(Get("memory.max"), "268435456");
  EXPECT_EQ(Get("memory.swap.max"), "0");
  EXPECT_EQ(Get("io.max"), "8:0 rbps=1000 wbps=2000");
  EXPECT_EQ(Get("pids.max"), "64");
}

TEST_F(CgroupV2Test, WritesOnlyTheLimitsThatAreSet) {
  Limits limits;
  limits.io_write_bytes_per_second = 4096;
  ASSERT_THAT(WriteLimits(directory(), limits, {"253:1"}), IsOk());
  EXPECT_EQ(Get("io.max"), "253:1 wbps=4096");
  EXPECT_EQ(Get("cpu.max"), "");
  EXPECT_EQ(Get("memory.max"), "");
  EXPECT_EQ(Get("pids.max"), "");
}

TEST_F(CgroupV2Test, WithoutSwapAccountingThereIsNoSwapLimitToWrite) {
  Limits limits;
  limits.memory_bytes = 4096;
  ASSERT_THAT(WriteLimits(directory(), limits, {}), IsOk());
  EXPECT_EQ(Get("memory.max"), "4096");
}

TEST_F(CgroupV2Test, AMissingInterfaceFileIsAnErrorNamingIt) {
  Limits limits;
  limits.pids = 8;
  ASSERT_EQ(::unlink(dir_.File("pids.max").c_str()), 0);
  EXPECT_THAT(WriteLimits(directory(), limits, {}),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("pids.max")));
  limits = Limits();
  limits.cpus = -1;
  EXPECT_THAT(WriteLimits(directory(), limits, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("-1")));
}

TEST_F(CgroupV2Test, ReadsUsageAcrossDevices) {
  Put("cpu.stat",
      "usage_usec 5000\nuser_usec 3000\nsystem_usec 2000\nnr_periods 0\nnr_throttled 0\n");
  Put("memory.peak", "1048576\n");
  Put("memory.current", "4096\n");
  Put("io.stat",
      "8:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n"
      "253:0 rbytes=1000 wbytes=2000 rios=3 wios=4 dbytes=0 dios=0\n");
  absl::StatusOr<ResourceUsage> usage = ReadUsage(directory());
  ASSERT_THAT(usage, IsOk());
  EXPECT_EQ(usage->cpu_user, std::chrono::milliseconds(3));
  EXPECT_EQ(usage->cpu_system, std::chrono::milliseconds(2));
  EXPECT_EQ(usage->memory_peak_bytes, 1048576U);
  EXPECT_EQ(usage->io_read_bytes, 1100U);
  EXPECT_EQ(usage->io_write_bytes, 2200U);
}

TEST_F(CgroupV2Test, BeforeMemoryPeakExistedTheCurrentUsageStandsIn) {
  Put("cpu.stat", "user_usec 0\nsystem_usec 0\n");
  Put("memory.current", "8192\n");
  Put("io.stat", "");
  absl::StatusOr<ResourceUsage> usage = ReadUsage(directory());
  ASSERT_THAT(usage, IsOk());
  EXPECT_EQ(usage->memory_peak_bytes, 8192U);
  EXPECT_EQ(usage->io_read_bytes, 0U);
}

TEST_F(CgroupV2Test, MalformedUsageIsAnErrorNamingTheFile) {
  Put("cpu.stat", "user_usec lots\nsystem_usec 0\n");
  Put("memory.peak", "1\n");
  Put("io.stat", "");
  EXPECT_THAT(ReadUsage(directory()), StatusIs(absl::StatusCode::kInternal,
                                               ::testing::AllOf(HasSubstr("\"lots\" in "),
                                                                HasSubstr(dir_.File("cpu.stat")))));
}

TEST_F(CgroupV2Test, CountsOomKillsFromMemoryEvents) {
  Put("memory.events", "low 0\nhigh 0\nmax 3\noom 2\noom_kill 2\noom_group_kill 0\n");
  absl::StatusOr<uint64_t> kills = ReadOomKills(directory());
  ASSERT_THAT(kills, IsOk());
  EXPECT_EQ(*kills, 2U);
}

}  // namespace
}  // namespace gatehouse::jobs::cgroup_v2
