// CgroupRemover with real cgroups (root): a populated cgroup is emptied and removed off the
// caller's thread, and the destructor leaves nothing queued behind.
#include "jobs/cgroup_remover.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "jobs/cgroup_layout.h"
#include "testing/wait_for.h"

namespace gatehouse::jobs {
namespace {

bool Exists(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0;
}

bool AllGone(const std::vector<std::string>& directories) {
  for (const std::string& directory : directories) {
    if (Exists(directory)) return false;
  }
  return true;
}

class CgroupRemoverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "SKIPPED: creating cgroups needs root";
    absl::StatusOr<CgroupLayout> layout = CgroupLayout::Detect();
    if (!layout.ok()) GTEST_SKIP() << "SKIPPED: no usable cgroup setup: " << layout.status();
    layout_ = *std::move(layout);
    parent_ = absl::StrCat("gatehouse-remover-test-", ::getpid());
  }
  void TearDown() override {
    if (parent_.empty()) return;
    EXPECT_TRUE(Cgroup::RemoveParent(layout_, parent_).ok());
  }

  Cgroup Make(const std::string& name) {
    absl::StatusOr<Cgroup> cgroup = Cgroup::Create(layout_, parent_, name, Limits{}, {});
    EXPECT_TRUE(cgroup.ok()) << cgroup.status();
    return *std::move(cgroup);
  }

  // A child sleeping in `cgroup`, placed there before it execs.
  static pid_t SleeperIn(const Cgroup& cgroup) {
    absl::StatusOr<std::vector<base::UniqueFd>> procs = cgroup.OpenProcessFiles();
    EXPECT_TRUE(procs.ok()) << procs.status();
    const pid_t pid = ::fork();
    if (pid == 0) {
      for (const base::UniqueFd& fd : *procs) {
        if (::write(fd.get(), "0", 1) != 1) ::_exit(126);
      }
      ::execl("/bin/sleep", "sleep", "1000", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    return pid;
  }

  CgroupLayout layout_;
  std::string parent_;
};

TEST_F(CgroupRemoverTest, APopulatedCgroupIsKilledAndRemovedWithoutBlockingTheCaller) {
  CgroupRemover remover;
  Cgroup cgroup = Make("busy");
  const std::vector<std::string> directories = cgroup.directories();
  const pid_t sleeper = SleeperIn(cgroup);
  ASSERT_TRUE(testing::WaitFor([&cgroup] { return cgroup.Populated().value_or(false); },
                               std::chrono::seconds(10)));
  remover.Remove(std::move(cgroup));
  int status = 0;
  ASSERT_TRUE(testing::WaitFor([&] { return ::waitpid(sleeper, &status, WNOHANG) == sleeper; },
                               std::chrono::seconds(20)));
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  EXPECT_TRUE(testing::WaitFor([&] { return AllGone(directories); }, std::chrono::seconds(20)));
  EXPECT_TRUE(testing::WaitFor([&] { return remover.pending() == 0; }, std::chrono::seconds(5)));
}

TEST_F(CgroupRemoverTest, TheDestructorRemovesWhatIsStillQueued) {
  std::vector<std::string> directories;
  {
    CgroupRemover remover;
    for (int i = 0; i < 5; ++i) {
      Cgroup cgroup = Make(absl::StrCat("idle-", i));
      directories.insert(directories.end(), cgroup.directories().begin(),
                         cgroup.directories().end());
      remover.Remove(std::move(cgroup));
    }
  }
  EXPECT_TRUE(AllGone(directories));
}

}  // namespace
}  // namespace gatehouse::jobs
