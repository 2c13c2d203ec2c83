#include "base/open_file_limit.h"

#include <linux/capability.h>
#include <sys/resource.h>

#include <cstdint>
#include <fstream>
#include <string>

#include "absl/cleanup/cleanup.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"

namespace gatehouse::base {
namespace {

using ::gatehouse::testing::IsOk;

TEST(RaiseOpenFileLimitTest, RaisesALowSoftLimitAndNeverLowersIt) {
  rlimit original{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &original), 0);
  ASSERT_GE(original.rlim_max, 512U) << "the test needs a hard limit of at least 512";
  const absl::Cleanup restore = [&original] { ::setrlimit(RLIMIT_NOFILE, &original); };
  rlimit low = original;
  low.rlim_cur = 256;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);

  const absl::StatusOr<OpenFileLimit> raised = RaiseOpenFileLimit(512);
  ASSERT_THAT(raised, IsOk());
  EXPECT_EQ(raised->soft, 512U);
  EXPECT_EQ(raised->hard, original.rlim_max);
  rlimit now{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &now), 0);
  EXPECT_EQ(now.rlim_cur, 512U);

  const absl::StatusOr<OpenFileLimit> unchanged = RaiseOpenFileLimit(300);
  ASSERT_THAT(unchanged, IsOk());
  EXPECT_EQ(unchanged->soft, 512U);
}

// CAP_SYS_RESOURCE from the effective set in /proc/self/status: containers often run root
// without it.
bool HasSysResourceCapability() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("CapEff:", 0) != 0) continue;
    const uint64_t effective = std::stoull(line.substr(7), nullptr, 16);
    return (effective >> CAP_SYS_RESOURCE) & 1U;
  }
  return false;
}

TEST(RaiseOpenFileLimitTest, GoesPastTheHardLimitWhenPrivileged) {
  if (!HasSysResourceCapability()) {
    GTEST_SKIP() << "raising the hard limit needs CAP_SYS_RESOURCE, which this process lacks";
  }
  rlimit original{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &original), 0);
  const absl::Cleanup restore = [&original] { ::setrlimit(RLIMIT_NOFILE, &original); };
  const uint64_t wanted = original.rlim_max + 1000;
  const absl::StatusOr<OpenFileLimit> raised = RaiseOpenFileLimit(wanted);
  ASSERT_THAT(raised, IsOk());
  EXPECT_EQ(raised->soft, wanted);
  EXPECT_EQ(raised->hard, wanted);
}

}  // namespace
}  // namespace gatehouse::base
