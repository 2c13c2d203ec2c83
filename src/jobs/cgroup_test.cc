// Cgroup on real cgroups (as root; skipped otherwise), for the detected layout and for this host
// seen as cgroup v1 only: limits written, kill, populated, destructor, OOM count, usage and the
// removal of stale cgroups.
#include "jobs/cgroup.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <iostream>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/unique_fd.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "jobs/block_device.h"
#include "testing/status_matchers.h"
#include "testing/temp_dir.h"
#include "testing/wait_for.h"

namespace gatehouse::jobs {
namespace {

using ::gatehouse::testing::IsOk;
using ::gatehouse::testing::ReadFileOrFail;
using ::gatehouse::testing::StatusIs;
using ::gatehouse::testing::WaitFor;
using ::testing::HasSubstr;

MATCHER_P(IsOkAndHolds, expected, "is OK and holds " + ::testing::PrintToString(expected)) {
  if (!arg.ok()) {
    *result_listener << "status is " << arg.status();
    return false;
  }
  *result_listener << "holds " << ::testing::PrintToString(*arg);
  return *arg == expected;
}

CgroupLayout::ControllersReader NoCgroup2Expected() {
  return [](const std::string& unified_root) {
    ADD_FAILURE() << "read cgroup.controllers at " << unified_root;
    return absl::StatusOr<std::string>("");
  };
}

// Every hierarchy root of `layout`: the cgroup2 one first, then each v1 mount point once.
std::vector<std::string> HierarchyRootsOf(const CgroupLayout& layout) {
  std::vector<std::string> roots;
  if (layout.mode != CgroupMode::kV1) roots.push_back(layout.unified_root);
  std::set<std::string> v1_roots;
  for (const auto& [controller, mount_point] : layout.v1_controllers) v1_roots.insert(mount_point);
  roots.insert(roots.end(), v1_roots.begin(), v1_roots.end());
  return roots;
}

bool Exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

void WriteOrFail(const std::string& path, const std::string& value) {
  const base::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  const bool written = fd.is_valid() && ::write(fd.get(), value.data(), value.size()) ==
                                            static_cast<ssize_t>(value.size());
  if (!written) ADD_FAILURE() << absl::ErrnoToStatus(errno, "write " + value + " to " + path);
}

// A forked child that waits on a pipe before it execs `argv`, so that the test can move it into a
// cgroup before it runs anything. The destructor kills and reaps it if the test did not.
class BlockedChild {
 public:
  explicit BlockedChild(const std::vector<std::string>& argv) {
    // Everything the child needs is prepared before fork: it may only make async-signal-safe calls.
    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
      ADD_FAILURE() << absl::ErrnoToStatus(errno, "pipe2");
      return;
    }
    const base::UniqueFd read_end(fds[0]);
    release_.Reset(fds[1]);
    // Its write end closes when the exec succeeds (O_CLOEXEC): Release waits for that.
    int exec_fds[2];
    if (::pipe2(exec_fds, O_CLOEXEC) != 0) {
      ADD_FAILURE() << absl::ErrnoToStatus(errno, "pipe2");
      return;
    }
    exec_done_.Reset(exec_fds[0]);
    const base::UniqueFd exec_write_end(exec_fds[1]);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(fds[1]);  // so that a test that never releases it ends the wait with EOF
      ::close(exec_fds[0]);
      char byte = 0;
      if (::read(fds[0], &byte, 1) != 1) ::_exit(126);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    if (pid_ < 0) ADD_FAILURE() << absl::ErrnoToStatus(errno, "fork");
  }
  BlockedChild(const BlockedChild&) = delete;
  BlockedChild& operator=(const BlockedChild&) = delete;
  BlockedChild(BlockedChild&&) = delete;
  BlockedChild& operator=(BlockedChild&&) = delete;
  ~BlockedChild() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  pid_t pid() const { return pid_; }

  // Lets the child exec its program, and returns once it has: a process in the middle of an exec
  // cannot be frozen (a sanitizer build's exec unmaps a huge address space and can outlast the
  // v1 freeze timeout).
  void Release() {
    const char byte = 1;
    if (::write(release_.get(), &byte, 1) != 1) {
      ADD_FAILURE() << absl::ErrnoToStatus(errno, "release the child");
    }
    release_.Reset();
    pollfd done{exec_done_.get(), POLLIN, 0};
    if (::poll(&done, 1, /*timeout_ms=*/30000) != 1) ADD_FAILURE() << "the child did not exec";
    exec_done_.Reset();
  }

  // The wait status once the child has exited; nullopt while it still runs after `timeout`.
  std::optional<int> WaitForExit(std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    int status = 0;
    if (!WaitFor([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, timeout)) {
      return std::nullopt;
    }
    reaped_ = true;
    return status;
  }

 private:
  base::UniqueFd release_;
  base::UniqueFd exec_done_;
  pid_t pid_ = -1;
  bool reaped_ = false;
};

bool KilledBySigkill(const std::optional<int>& status) {
  return status.has_value() && WIFSIGNALED(*status) && WTERMSIG(*status) == SIGKILL;
}

size_t ProcessCount(const std::string& directory) {
  const std::vector<absl::string_view> pids =
      absl::StrSplit(ReadFileOrFail(directory + "/cgroup.procs"), '\n', absl::SkipEmpty());
  return pids.size();
}

bool IsEmptyCgroup(const Cgroup& cgroup) {
  const absl::StatusOr<bool> populated = cgroup.Populated();
  return populated.ok() && !*populated;
}

enum class LayoutChoice { kDetected, kV1Only };

std::string LayoutChoiceName(const ::testing::TestParamInfo<LayoutChoice>& info) {
  return info.param == LayoutChoice::kDetected ? "Detected" : "V1Only";
}

absl::StatusOr<CgroupLayout> TestLayout(LayoutChoice choice) {
  if (choice == LayoutChoice::kDetected) return CgroupLayout::Detect();
  // This host seen without its cgroup2 mount: the freezer path, wherever the v1 controllers
  // (freezer included) are mounted.
  std::string without_cgroup2;
  for (const absl::string_view line :
       absl::StrSplit(ReadFileOrFail("/proc/self/mountinfo"), '\n', absl::SkipEmpty())) {
    if (!absl::StrContains(line, " - cgroup2 ")) absl::StrAppend(&without_cgroup2, line, "\n");
  }
  return CgroupLayout::FromMountInfo(without_cgroup2, NoCgroup2Expected());
}

class CgroupTest : public ::testing::TestWithParam<LayoutChoice> {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "creating cgroups needs root";
    absl::StatusOr<CgroupLayout> layout = TestLayout(GetParam());
    if (!layout.ok()) GTEST_SKIP() << "no usable cgroup setup: " << layout.status();
    layout_ = *std::move(layout);
    parent_ = absl::StrCat("gatehouse-cgroup-test-", ::getpid());
  }

  // Removes whatever a failed test left under the parent, then the parent itself.
  void TearDown() override {
    if (!parent_.empty()) {
      EXPECT_THAT(Cgroup::RemoveParent(layout_, parent_), IsOk());
    }
  }

  std::vector<std::string> Roots() const { return HierarchyRootsOf(layout_); }

  std::string V1File(const std::string& controller, const std::string& name,
                     const std::string& file) const {
    return absl::StrCat(layout_.v1_controllers.at(controller), "/", parent_, "/", name, "/", file);
  }

  absl::StatusOr<Cgroup> Create(const std::string& name, const Limits& limits = {},
                                const std::vector<std::string>& io_devices = {}) const {
    return Cgroup::Create(layout_, parent_, name, limits, io_devices);
  }

  // Places `pid` in every hierarchy through the files a spawning child joins by.
  static void Place(const Cgroup& cgroup, pid_t pid) {
    absl::StatusOr<std::vector<base::UniqueFd>> files = cgroup.OpenProcessFiles();
    ASSERT_THAT(files, IsOk());
    ASSERT_EQ(files->size(), cgroup.directories().size());
    const std::string text = absl::StrCat(pid);
    for (const base::UniqueFd& file : *files) {
      EXPECT_EQ(::write(file.get(), text.data(), text.size()), static_cast<ssize_t>(text.size()))
          << absl::ErrnoToStatus(errno, "join " + text);
    }
  }

  CgroupLayout layout_;
  std::string parent_;
};

TEST_P(CgroupTest, DetectedLayoutPointsAtMountedHierarchies) {
  std::cout << "cgroup mode: " << CgroupModeName(layout_.mode) << ", roots:";
  for (const std::string& root : Roots()) std::cout << " " << root;
  std::cout << "\n";
  for (const std::string& root : Roots()) {
    EXPECT_TRUE(Exists(root + "/cgroup.procs")) << root;
  }
}

TEST_P(CgroupTest, CreateWritesLimitsAndRemoveDeletesEveryDirectory) {
  Limits limits;
  limits.cpus = 0.5;
  limits.memory_bytes = uint64_t{64} << 20;
  limits.pids = 32;
  limits.io_read_bytes_per_second = uint64_t{1} << 20;
  limits.io_write_bytes_per_second = uint64_t{2} << 20;
  std::vector<std::string> devices;
  const absl::StatusOr<std::string> disk = DiskOfPath("/");
  if (disk.ok()) {
    devices.push_back(*disk);
  } else {
    std::cout << "IO limits not checked: " << disk.status() << "\n";
  }
  absl::StatusOr<Cgroup> cgroup = Create("limits", limits, devices);
  ASSERT_THAT(cgroup, IsOk());
  EXPECT_EQ(cgroup->mode(), layout_.mode);
  ASSERT_EQ(cgroup->directories().size(), Roots().size());
  for (const std::string& directory : cgroup->directories()) {
    EXPECT_TRUE(Exists(directory + "/cgroup.procs")) << directory;
  }

  if (layout_.mode == CgroupMode::kV2) {
    const std::string& directory = cgroup->directories().front();
    EXPECT_EQ(ReadFileOrFail(directory + "/cpu.max"), "50000 100000\n");
    EXPECT_EQ(ReadFileOrFail(directory + "/memory.max"), "67108864\n");
    if (Exists(directory + "/memory.swap.max")) {
      EXPECT_EQ(ReadFileOrFail(directory + "/memory.swap.max"), "0\n");
    }
    EXPECT_EQ(ReadFileOrFail(directory + "/pids.max"), "32\n");
    if (!devices.empty()) {
      EXPECT_THAT(ReadFileOrFail(directory + "/io.max"),
                  HasSubstr(devices[0] + " rbps=1048576 wbps=2097152"));
    }
  } else {
    EXPECT_EQ(ReadFileOrFail(V1File("cpu", "limits", "cpu.cfs_period_us")), "100000\n");
    EXPECT_EQ(ReadFileOrFail(V1File("cpu", "limits", "cpu.cfs_quota_us")), "50000\n");
    EXPECT_EQ(ReadFileOrFail(V1File("memory", "limits", "memory.limit_in_bytes")), "67108864\n");
    const std::string memsw = V1File("memory", "limits", "memory.memsw.limit_in_bytes");
    if (Exists(memsw)) {
      EXPECT_EQ(ReadFileOrFail(memsw), "67108864\n");
    }
    EXPECT_EQ(ReadFileOrFail(V1File("pids", "limits", "pids.max")), "32\n");
    if (!devices.empty()) {
      EXPECT_EQ(ReadFileOrFail(V1File("blkio", "limits", "blkio.throttle.read_bps_device")),
                devices[0] + " 1048576\n");
      EXPECT_EQ(ReadFileOrFail(V1File("blkio", "limits", "blkio.throttle.write_bps_device")),
                devices[0] + " 2097152\n");
    }
  }

  const std::vector<std::string> directories = cgroup->directories();
  ASSERT_THAT(cgroup->Remove(), IsOk());
  for (const std::string& directory : directories) EXPECT_FALSE(Exists(directory)) << directory;
  EXPECT_THAT(cgroup->Populated(), IsOkAndHolds(false));
  EXPECT_THAT(cgroup->OpenProcessFiles(),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("cgroup.procs")));
  EXPECT_THAT(cgroup->Remove(), IsOk());
}

TEST_P(CgroupTest, CreateFailuresNameTheProblemAndLeaveNothingBehind) {
  EXPECT_THAT(Create("a/b"), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("a/b")));
  EXPECT_THAT(Create(".."), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("..")));
  EXPECT_THAT(Cgroup::Create(layout_, "../escape", "job", {}, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("../escape")));

  // The kernel refuses a CPU quota under 1 ms: 0.001 CPUs is 100 us per 100 ms period.
  Limits too_little_cpu;
  too_little_cpu.cpus = 0.001;
  EXPECT_THAT(Create("refused", too_little_cpu),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::AllOf(HasSubstr("cpu"), HasSubstr("100"))));
  for (const std::string& root : Roots()) {
    EXPECT_FALSE(Exists(absl::StrCat(root, "/", parent_, "/refused"))) << root;
  }

  // A second cgroup of the same name fails and leaves the first one alone.
  absl::StatusOr<Cgroup> first = Create("taken");
  ASSERT_THAT(first, IsOk());
  EXPECT_THAT(Create("taken"), StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("taken")));
  for (const std::string& directory : first->directories()) {
    EXPECT_TRUE(Exists(directory)) << directory;
  }
  EXPECT_THAT(first->Remove(), IsOk());
}

// A cgroup2 tree without cgroup.kill (Linux before 5.14) could not end a job: Create refuses it
// before making the job's directories. Plain directories stand in for the hierarchies.
TEST(CgroupWithoutKillFileTest, CreateRefusesItAndMakesNoJobDirectory) {
  const testing::TempDir roots;
  CgroupLayout layout{CgroupMode::kHybrid, roots.File("unified"), {}};
  for (const char* controller : {"cpu", "cpuacct", "memory", "blkio", "pids"}) {
    layout.v1_controllers.emplace(controller, roots.File(controller));
  }
  for (const std::string& root : HierarchyRootsOf(layout)) {
    ASSERT_EQ(::mkdir(root.c_str(), 0755), 0) << root;
  }
  EXPECT_THAT(Cgroup::Create(layout, "parent", "job", {}, {}),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       ::testing::AllOf(HasSubstr(roots.File("unified/parent/cgroup.kill")),
                                        HasSubstr("5.14"))));
  for (const std::string& root : HierarchyRootsOf(layout)) {
    EXPECT_FALSE(Exists(root + "/parent/job")) << root;
  }
}

TEST_P(CgroupTest, KillEndsEveryProcessAndPopulatedFollows) {
  absl::StatusOr<Cgroup> cgroup = Create("kill");
  ASSERT_THAT(cgroup, IsOk());
  EXPECT_THAT(cgroup->Populated(), IsOkAndHolds(false));
  // A background grandchild too: the kill must reach what the job started.
  BlockedChild child({"/bin/sh", "-c", "/bin/sleep 30 & exec /bin/sleep 30"});
  Place(*cgroup, child.pid());
  EXPECT_THAT(cgroup->Populated(), IsOkAndHolds(true));
  child.Release();
  const std::string& directory = cgroup->directories().front();
  ASSERT_TRUE(WaitFor([&] { return ProcessCount(directory) == 2; }));

  ASSERT_THAT(cgroup->Kill(), IsOk());
  EXPECT_TRUE(KilledBySigkill(child.WaitForExit()));
  EXPECT_TRUE(WaitFor([&] { return IsEmptyCgroup(*cgroup); }));
  const std::vector<std::string> directories = cgroup->directories();
  ASSERT_THAT(cgroup->Remove(), IsOk());
  for (const std::string& path : directories) EXPECT_FALSE(Exists(path)) << path;
}

TEST_P(CgroupTest, DestructorKillsAndRemovesButAMovedFromCgroupDoesNot) {
  std::optional<Cgroup> holder;
  {
    absl::StatusOr<Cgroup> created = Create("scoped");
    ASSERT_THAT(created, IsOk());
    holder.emplace(*std::move(created));
  }
  const std::vector<std::string> directories = holder->directories();
  for (const std::string& directory : directories) {
    EXPECT_TRUE(Exists(directory)) << "the moved-from cgroup removed " << directory;
  }
  BlockedChild child({"/bin/sleep", "30"});
  Place(*holder, child.pid());
  child.Release();

  holder.reset();
  EXPECT_TRUE(KilledBySigkill(child.WaitForExit()));
  for (const std::string& directory : directories) EXPECT_FALSE(Exists(directory)) << directory;
}

TEST_P(CgroupTest, OomKillIsCounted) {
  Limits limits;
  limits.memory_bytes = uint64_t{64} << 20;
  absl::StatusOr<Cgroup> cgroup = Create("oom", limits);
  ASSERT_THAT(cgroup, IsOk());
  EXPECT_THAT(cgroup->OomKills(), IsOkAndHolds(0U));
  const std::vector<std::string> allocate_256_mib =
      Exists("/usr/bin/python3")
          ? std::vector<std::string>{"/usr/bin/python3", "-c", "b = b'x' * (256 << 20)"}
          : std::vector<std::string>{"/bin/sh", "-c",
                                     "x=$(head -c 300000000 /dev/zero | tr '\\0' a)"};
  BlockedChild child(allocate_256_mib);
  Place(*cgroup, child.pid());
  child.Release();
  EXPECT_TRUE(KilledBySigkill(child.WaitForExit()));
  const absl::StatusOr<uint64_t> oom_kills = cgroup->OomKills();
  ASSERT_THAT(oom_kills, IsOk());
  EXPECT_GE(*oom_kills, 1U);
}

TEST_P(CgroupTest, UsageCountsCpuAndMemory) {
  absl::StatusOr<Cgroup> cgroup = Create("usage");
  ASSERT_THAT(cgroup, IsOk());
  BlockedChild child({"/bin/sh", "-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done"});
  Place(*cgroup, child.pid());
  child.Release();
  const std::optional<int> status = child.WaitForExit();
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
  const absl::StatusOr<ResourceUsage> usage = cgroup->Usage();
  ASSERT_THAT(usage, IsOk());
  EXPECT_GT(usage->cpu_user + usage->cpu_system, std::chrono::nanoseconds(0));
  EXPECT_GT(usage->memory_peak_bytes, 0U);
}

TEST_P(CgroupTest, RemoveStaleKillsAndRemovesLeftovers) {
  EXPECT_THAT(Cgroup::RemoveStale(layout_, parent_), IsOkAndHolds(0));
  // Leftovers of a worker that died: directories in every hierarchy, one of them still running.
  std::vector<std::string> stale;
  for (const std::string& root : Roots()) {
    const std::string parent = absl::StrCat(root, "/", parent_);
    ASSERT_TRUE(::mkdir(parent.c_str(), 0755) == 0 || errno == EEXIST) << parent;
    for (const char* name : {"stale-a", "stale-b"}) {
      stale.push_back(absl::StrCat(parent, "/", name));
      ASSERT_EQ(::mkdir(stale.back().c_str(), 0755), 0) << absl::ErrnoToStatus(errno, stale.back());
    }
  }
  BlockedChild child({"/bin/sleep", "30"});
  for (const std::string& directory : stale) {
    if (absl::EndsWith(directory, "stale-a")) {
      WriteOrFail(directory + "/cgroup.procs", absl::StrCat(child.pid()));
    }
  }
  child.Release();

  EXPECT_THAT(Cgroup::RemoveStale(layout_, parent_), IsOkAndHolds(2));
  EXPECT_TRUE(KilledBySigkill(child.WaitForExit()));
  for (const std::string& directory : stale) EXPECT_FALSE(Exists(directory)) << directory;
  EXPECT_THAT(Cgroup::RemoveStale(layout_, parent_), IsOkAndHolds(0));
}

INSTANTIATE_TEST_SUITE_P(Layouts, CgroupTest,
                         ::testing::Values(LayoutChoice::kDetected, LayoutChoice::kV1Only),
                         LayoutChoiceName);

}  // namespace
}  // namespace gatehouse::jobs
