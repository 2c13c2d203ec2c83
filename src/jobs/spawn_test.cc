// SpawnInit's own failure paths, below the job runner (as root; skipped otherwise): a child that
// cannot join its cgroups or cannot start the init reports the step and errno on the exec-status
// pipe and exits, and nothing runs.
#include "jobs/spawn.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "jobs/job_init_image.h"
#include "testing/status_matchers.h"

namespace gatehouse::jobs {
namespace {

using ::testing::HasSubstr;

// A pipe whose write end stands for the job's output.
struct OutputPipe {
  OutputPipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) ADD_FAILURE() << "pipe2 failed with errno " << errno;
    read_end.Reset(fds[0]);
    write_end.Reset(fds[1]);
  }
  base::UniqueFd read_end;
  base::UniqueFd write_end;
};

// Waits (up to 10 s) until the init has exited. Every write end of its pipes is closed then, so
// reading them to the end cannot block.
bool AwaitExit(const SpawnedInit& init) {
  pollfd exited{init.pidfd.get(), POLLIN, 0};
  return ::poll(&exited, 1, 10000) == 1;
}

// The SetupFailure the child wrote, after checking that its init ended with 127.
SetupFailure ExpectSetupFailure(SpawnedInit& init) {
  if (!AwaitExit(init)) {
    ADD_FAILURE() << "the child did not exit";  // the reads and the reap below would block
    return {};
  }
  siginfo_t info{};
  EXPECT_EQ(::waitid(P_PIDFD, static_cast<id_t>(init.pidfd.get()), &info, WEXITED), 0);
  EXPECT_EQ(info.si_code, CLD_EXITED);
  EXPECT_EQ(info.si_status, 127);
  SetupFailure failure;
  EXPECT_EQ(::read(init.exec_status.get(), &failure, sizeof(failure)),
            static_cast<ssize_t>(sizeof(failure)));
  return failure;
}

TEST(SearchPathOfTest, TheLastPathEntryElseTheDefault) {
  EXPECT_EQ(SearchPathOf({}), "/usr/local/bin:/usr/bin:/bin");
  EXPECT_EQ(SearchPathOf({"HOME=/root", "PATH=/opt/bin:/bin"}), "/opt/bin:/bin");
  EXPECT_EQ(SearchPathOf({"PATH=/first", "PATHS=/not-it", "PATH=/second"}), "/second");
}

class SpawnTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root for namespaces";
    request_.executable = "/bin/true";
    request_.hostname = "spawntest";
    request_.output_fd = output_.write_end.get();
  }

  SpawnRequest request_;
  OutputPipe output_;
};

TEST_F(SpawnTest, ARequestWithoutTheInitProgramIsRefused) {
  EXPECT_THAT(SpawnInit(request_),
              testing::StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("init program")));
}

TEST_F(SpawnTest, AnInitThatIsNoProgramFailsToStartWithTheReason) {
  const base::UniqueFd not_a_program(::memfd_create("not-a-program", MFD_CLOEXEC));
  ASSERT_TRUE(not_a_program.is_valid());
  ASSERT_EQ(::write(not_a_program.get(), "plain text\n", 11), 11);
  request_.init_fd = not_a_program.get();
  absl::StatusOr<SpawnedInit> init = SpawnInit(request_);
  ASSERT_THAT(init, testing::IsOk());
  const SetupFailure failure = ExpectSetupFailure(*init);
  EXPECT_EQ(failure.step, init_protocol::kStepExecInit);
  EXPECT_EQ(failure.error, ENOEXEC);
  EXPECT_EQ(DescribeSetupFailure(failure, request_), "start the job's init: Exec format error");
}

TEST_F(SpawnTest, ACgroupThatCannotBeJoinedStopsTheSpawnBeforeTheInitRuns) {
  absl::StatusOr<base::UniqueFd> program = LoadJobInit();
  ASSERT_THAT(program, testing::IsOk());
  request_.init_fd = program->get();
  // Read-only: the child's write of "0" into it fails as a cgroup.procs write would.
  const base::UniqueFd read_only(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  request_.cgroup_procs_fds = {read_only.get()};
  absl::StatusOr<SpawnedInit> init = SpawnInit(request_);
  ASSERT_THAT(init, testing::IsOk());
  const SetupFailure failure = ExpectSetupFailure(*init);
  EXPECT_EQ(failure.step, init_protocol::kStepJoinCgroup);
  EXPECT_EQ(failure.error, EBADF);
  // The job never ran: its output is empty and ends once the child is gone.
  output_.write_end.Reset();
  char byte = 0;
  EXPECT_EQ(::read(output_.read_end.get(), &byte, 1), 0);
}

TEST_F(SpawnTest, TheInitRunsTheJobWithItsArgumentsAndEnvironment) {
  absl::StatusOr<base::UniqueFd> program = LoadJobInit();
  ASSERT_THAT(program, testing::IsOk());
  request_.init_fd = program->get();
  request_.executable = "/bin/sh";
  request_.args = {"-c", "echo \"$0|$1|$GREETING|$(cat /proc/sys/kernel/hostname)\"; exit 7",
                   "zero", "an arg"};
  request_.env = {"GREETING=hello there", "PATH=/usr/bin:/bin"};
  absl::StatusOr<SpawnedInit> init = SpawnInit(request_);
  ASSERT_THAT(init, testing::IsOk());
  output_.write_end.Reset();
  ASSERT_TRUE(AwaitExit(*init)) << "the job did not end";
  std::string output;
  char buffer[256];
  ssize_t n = 0;
  while ((n = ::read(output_.read_end.get(), buffer, sizeof(buffer))) > 0) {
    output.append(buffer, static_cast<size_t>(n));
  }
  EXPECT_EQ(output, "zero|an arg|hello there|spawntest\n");
  int wait_status = 0;
  ASSERT_EQ(::read(init->exit_status.get(), &wait_status, sizeof(wait_status)),
            static_cast<ssize_t>(sizeof(wait_status)));
  EXPECT_TRUE(WIFEXITED(wait_status));
  EXPECT_EQ(WEXITSTATUS(wait_status), 7);
  char none = 0;
  EXPECT_EQ(::read(init->exec_status.get(), &none, 1), 0) << "exec status: EOF on success";
  siginfo_t info{};
  EXPECT_EQ(::waitid(P_PIDFD, static_cast<id_t>(init->pidfd.get()), &info, WEXITED), 0);
}

}  // namespace
}  // namespace gatehouse::jobs
