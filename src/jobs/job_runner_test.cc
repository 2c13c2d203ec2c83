// The job runner with real processes, cgroups and namespaces (as root; skipped otherwise):
// outcomes (exit code, signal, failed to start, OOM, stop), isolation seen from inside the job,
// limits measured from the outside, output to many concurrent readers, nothing left behind.
#include "jobs/job_runner.h"

#include <sched.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "jobs/block_device.h"
#include "jobs/cgroup_files.h"
#include "testing/status_matchers.h"
#include "testing/temp_dir.h"
#include "testing/wait_for.h"

namespace gatehouse::jobs {
namespace {

using ::gatehouse::testing::IsOk;
using ::gatehouse::testing::StatusIs;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr seconds kJobDeadline(30);

std::chrono::steady_clock::time_point Deadline(seconds timeout = kJobDeadline) {
  return std::chrono::steady_clock::now() + timeout;
}

JobSpec Shell(const std::string& script) {
  JobSpec spec;
  spec.executable = "/bin/sh";
  spec.args = {"-c", script};
  spec.owner = "alice";
  return spec;
}

// Follows a job's output to its end, handing each chunk to `chunk` until it returns false.
void ForEachChunk(OutputReader& reader, const std::function<bool(absl::string_view)>& chunk) {
  std::vector<char> buffer(size_t{64} * 1024);
  while (!reader.at_end()) {
    if (!reader.WaitReadable(Deadline())) {
      ADD_FAILURE() << "output did not end";
      return;
    }
    auto n = reader.Read(absl::MakeSpan(buffer));
    if (!n.ok()) {
      ADD_FAILURE() << n.status();
      return;
    }
    if (!chunk(absl::string_view(buffer.data(), *n))) return;
  }
}

// Reads a job's whole output, following it until the end.
std::string ReadAll(OutputReader& reader) {
  std::string all;
  ForEachChunk(reader, [&all](absl::string_view bytes) {
    all.append(bytes.data(), bytes.size());
    return true;
  });
  return all;
}

bool Exists(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0;
}

// Removes a test's cgroup parent (and anything left under it) from every hierarchy.
void RemoveParent(const std::string& parent) {
  auto layout = CgroupLayout::Detect();
  if (!layout.ok()) return;
  const absl::Status removed = Cgroup::RemoveParent(*layout, parent);
  EXPECT_TRUE(removed.ok()) << removed;
}

class JobRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root for cgroups and namespaces";
    Recreate(DefaultOptions());
  }

  JobRunnerOptions DefaultOptions() const {
    JobRunnerOptions options;
    options.state_dir = state_.File("state");
    options.cgroup_parent = absl::StrCat("gatehouse-test-", ::getpid());
    options.stop_grace = milliseconds(300);
    return options;
  }

  // Replaces the runner with one made with `options`.
  void Recreate(const JobRunnerOptions& options) {
    runner_.reset();
    auto runner = JobRunner::Create(options);
    ASSERT_TRUE(runner.ok()) << runner.status();
    runner_ = *std::move(runner);
    parent_ = options.cgroup_parent;
  }

  void TearDown() override {
    runner_.reset();
    if (!parent_.empty()) RemoveParent(parent_);
  }

  JobStatus Run(const JobSpec& spec) {
    auto id = runner_->Start(spec);
    EXPECT_TRUE(id.ok()) << id.status();
    if (!id.ok()) return {};
    auto status = runner_->WaitForEnd(*id, Deadline());
    EXPECT_TRUE(status.ok()) << status.status();
    EXPECT_TRUE(IsFinal(status->state)) << "job did not end: " << JobStateName(status->state);
    return *status;
  }

  std::string OutputOf(const JobId& id) {
    auto reader = runner_->OpenOutput(id);
    EXPECT_TRUE(reader.ok()) << reader.status();
    return reader.ok() ? ReadAll(**reader) : "";
  }

  // Starts `spec` and waits until the job has written its first output, so it is running.
  std::optional<JobId> StartAndAwaitOutput(const JobSpec& spec) {
    auto id = runner_->Start(spec);
    if (!id.ok()) {
      ADD_FAILURE() << id.status();
      return std::nullopt;
    }
    auto reader = runner_->OpenOutput(*id);
    if (!reader.ok()) {
      ADD_FAILURE() << reader.status();
      return std::nullopt;
    }
    if (!(*reader)->WaitReadable(Deadline())) {
      ADD_FAILURE() << "no output from job " << *id;
      return std::nullopt;
    }
    return *id;
  }

  // Stops the job and waits for its end; returns its status (empty after a failed check).
  JobStatus StopAndAwaitEnd(const JobId& id) {
    EXPECT_TRUE(runner_->Stop(id).ok());
    auto status = runner_->WaitForEnd(id, Deadline());
    EXPECT_TRUE(status.ok()) << status.status();
    return status.ok() ? *status : JobStatus{};
  }

  // The job's directory in every hierarchy, to check it is gone.
  std::vector<std::string> CgroupDirectories(const JobId& id) const {
    std::vector<std::string> directories;
    const CgroupLayout& layout = runner_->layout();
    if (!layout.unified_root.empty()) {
      directories.push_back(absl::StrCat(layout.unified_root, "/", parent_, "/", id));
    }
    for (const auto& [controller, mount] : layout.v1_controllers) {
      directories.push_back(absl::StrCat(mount, "/", parent_, "/", id));
    }
    return directories;
  }

  // The job's directory for `controller`: the unified one on a v2 host, the controller's own
  // hierarchy otherwise.
  std::string ControllerDirectory(const JobId& id, const std::string& controller) const {
    const CgroupLayout& layout = runner_->layout();
    return layout.mode == CgroupMode::kV2
               ? absl::StrCat(layout.unified_root, "/", parent_, "/", id)
               : absl::StrCat(layout.v1_controllers.at(controller), "/", parent_, "/", id);
  }

  // Removed off the reaper's thread soon after the job ended (CgroupRemover).
  void ExpectCgroupGone(const JobId& id) const {
    for (const std::string& directory : CgroupDirectories(id)) {
      EXPECT_TRUE(testing::WaitFor([&directory] { return !Exists(directory); }, kJobDeadline))
          << directory << " is still there";
    }
  }

  testing::TempDir state_;
  std::string parent_;
  std::unique_ptr<JobRunner> runner_;
};

TEST_F(JobRunnerTest, OutputExitCodeAndUsageOfAJobThatEnds) {
  const JobStatus status = Run(Shell("echo hello; echo oops >&2; exit 3"));
  EXPECT_EQ(status.state, JobState::kExited);
  EXPECT_EQ(status.exit_code, 3);
  EXPECT_FALSE(status.signal.has_value());
  EXPECT_EQ(status.owner, "alice");
  ASSERT_TRUE(status.ended_at.has_value());
  EXPECT_GE(*status.ended_at, status.started_at);
  EXPECT_EQ(OutputOf(status.id), "hello\noops\n");
  ExpectCgroupGone(status.id);
}

TEST_F(JobRunnerTest, SignalThatEndsTheJobIsReported) {
  const JobStatus status = Run(Shell("kill -KILL $$"));
  EXPECT_EQ(status.state, JobState::kExited);
  EXPECT_EQ(status.signal, SIGKILL);
  EXPECT_FALSE(status.exit_code.has_value());
}

TEST_F(JobRunnerTest, CommandsThatCannotStartSayWhy) {
  JobSpec missing;
  missing.executable = "/nonexistent/tool";
  JobStatus status = Run(missing);
  EXPECT_EQ(status.state, JobState::kFailedToStart);
  EXPECT_THAT(status.error, HasSubstr("No such file or directory"));
  EXPECT_THAT(status.error, HasSubstr("/nonexistent/tool"));

  JobSpec not_in_path;
  not_in_path.executable = "no-such-command-anywhere";
  status = Run(not_in_path);
  EXPECT_EQ(status.state, JobState::kFailedToStart);
  EXPECT_THAT(status.error, HasSubstr("not found in PATH"));

  const std::string plain_file = state_.WriteFile("not-a-program", "data");
  ASSERT_EQ(::chmod(plain_file.c_str(), 0644), 0);
  JobSpec not_executable;
  not_executable.executable = plain_file;
  status = Run(not_executable);
  EXPECT_EQ(status.state, JobState::kFailedToStart);
  EXPECT_THAT(status.error, HasSubstr("Permission denied"));

  JobSpec bad_directory = Shell("true");
  bad_directory.working_dir = "/nonexistent-dir";
  status = Run(bad_directory);
  EXPECT_EQ(status.state, JobState::kFailedToStart);
  EXPECT_THAT(status.error, HasSubstr("chdir /nonexistent-dir"));
}

// What NotifyWhenStarted's callback saw: every call is recorded, so that a second one fails.
class StartNotifications {
 public:
  JobRunner::StartCallback Callback() {
    return [this](const JobStatus& status) {
      base::MutexLock lock(&mu_);
      states_.push_back(status.state);
      changed_.NotifyAll();
    };
  }
  // The states seen, once at least one arrived or the deadline passed.
  std::vector<JobState> AwaitFirst() {
    base::MutexLock lock(&mu_);
    changed_.WaitUntil(&mu_, Deadline(),
                       [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return !states_.empty(); });
    return states_;
  }
  std::vector<JobState> seen() {
    base::MutexLock lock(&mu_);
    return states_;
  }

 private:
  base::Mutex mu_;
  base::CondVar changed_;
  std::vector<JobState> states_ ABSL_GUARDED_BY(mu_);
};

TEST_F(JobRunnerTest, StartNotificationsComeOnceWhenTheJobLeavesStarting) {
  StartNotifications running;
  auto id = runner_->Start(Shell("exec sleep 1000"));
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_TRUE(runner_->NotifyWhenStarted(*id, running.Callback()).ok());
  EXPECT_THAT(running.AwaitFirst(), ElementsAre(JobState::kRunning));

  StartNotifications late;  // the job has left STARTING: the callback runs at once, here
  ASSERT_TRUE(runner_->NotifyWhenStarted(*id, late.Callback()).ok());
  EXPECT_THAT(late.seen(), ElementsAre(JobState::kRunning));

  StartNotifications failed;
  JobSpec bad_directory = Shell("true");
  bad_directory.working_dir = "/nonexistent-dir";
  auto failing = runner_->Start(bad_directory);
  ASSERT_TRUE(failing.ok()) << failing.status();
  ASSERT_TRUE(runner_->NotifyWhenStarted(*failing, failed.Callback()).ok());
  EXPECT_THAT(failed.AwaitFirst(), ElementsAre(JobState::kFailedToStart));

  StartNotifications unknown;
  EXPECT_THAT(
      runner_->NotifyWhenStarted("6fa459ea-ee8a-4ca4-894e-db77e160355e", unknown.Callback()),
      StatusIs(absl::StatusCode::kNotFound, HasSubstr("not found")));
  EXPECT_THAT(unknown.seen(), IsEmpty());

  ASSERT_TRUE(runner_->Stop(*id).ok());
  ASSERT_TRUE(runner_->WaitForEnd(*id, Deadline()).ok());
  EXPECT_THAT(running.seen(), ElementsAre(JobState::kRunning)) << "called again at the end";
}

TEST_F(JobRunnerTest, PathIsSearchedAsTheJobsUserSoRootOnlyDirectoriesTellNothing) {
  // A directory only root may enter, holding one tool: as the job's user (65534 by default),
  // the tool there and a name that is nowhere fail alike.
  const std::string hidden = state_.File("root-only");
  ASSERT_EQ(::mkdir(hidden.c_str(), 0700), 0);
  const std::string tool = state_.WriteFile("root-only/secret-tool", "#!/bin/sh\necho ran\n");
  ASSERT_EQ(::chmod(tool.c_str(), 0755), 0);
  std::vector<std::string> errors;
  for (const char* name : {"secret-tool", "absent-tool"}) {
    JobSpec spec;
    spec.executable = name;
    spec.env = {absl::StrCat("PATH=", hidden)};
    const JobStatus status = Run(spec);
    EXPECT_EQ(status.state, JobState::kFailedToStart) << name;
    errors.push_back(absl::StrReplaceAll(status.error, {{name, "NAME"}}));
  }
  EXPECT_EQ(errors[0], errors[1]);
  EXPECT_THAT(errors[0], HasSubstr("Permission denied"));

  // Where the job's user may look, the name is found and runs.
  JobSpec visible;
  visible.executable = "sh";
  visible.args = {"-c", "echo found"};
  visible.env = {"PATH=/nonexistent:/bin"};
  const JobStatus found = Run(visible);
  EXPECT_EQ(found.state, JobState::kExited) << found.error;
  EXPECT_EQ(OutputOf(found.id), "found\n");
}

TEST_F(JobRunnerTest, BadSpecsAreRefused) {
  JobSpec empty;
  EXPECT_FALSE(runner_->Start(empty).ok());
  JobSpec relative = Shell("true");
  relative.working_dir = "tmp";
  EXPECT_FALSE(runner_->Start(relative).ok());
  JobSpec no_cpu = Shell("true");
  no_cpu.limits.cpus = 0;
  EXPECT_FALSE(runner_->Start(no_cpu).ok());
  // More CPUs than the host has; a value this size once overflowed the v1 quota to "unlimited".
  for (const double cpus : {1e12, std::numeric_limits<double>::infinity(),
                            static_cast<double>(::sysconf(_SC_NPROCESSORS_ONLN)) + 1}) {
    JobSpec too_many = Shell("true");
    too_many.limits.cpus = cpus;
    EXPECT_THAT(runner_->Start(too_many).status(),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("more than the host's")))
        << cpus;
  }
  JobSpec uid_alone = Shell("true");
  uid_alone.uid = 65534;
  EXPECT_THAT(runner_->Start(uid_alone).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("uid and gid go together")));
  // The spec reaches the init as NUL-terminated strings: an embedded NUL would shift its fields.
  JobSpec nul_in_arg = Shell(std::string("echo a\0b", 8));
  JobSpec nul_in_env = Shell("true");
  nul_in_env.env.emplace_back("A=1\0B=2", 7);
  JobSpec nul_in_dir = Shell("true");
  nul_in_dir.working_dir = std::string("/tmp\0/x", 7);
  for (const JobSpec& spec : {nul_in_arg, nul_in_env, nul_in_dir}) {
    EXPECT_THAT(runner_->Start(spec).status(),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("NUL byte")));
  }
  EXPECT_FALSE(runner_->Stop("no-such-job").ok());
  EXPECT_FALSE(runner_->Status("no-such-job").ok());
}

// What a job can reach of the host, whoever it runs as: the unprivileged default user, or root
// asked for explicitly.
TEST_F(JobRunnerTest, AJobHasNoCapabilityTerminalRaisedLimitOrViewOfOtherCgroups) {
  // A root-only file in a directory anyone may enter, as the dev PKI's ca.key is.
  testing::TempDir secrets;
  ASSERT_EQ(::chmod(secrets.path().c_str(), 0755), 0);
  const std::string key = secrets.WriteFile("ca.key", "secret");
  ASSERT_EQ(::chmod(key.c_str(), 0600), 0);
  // The worker's own open-file limit raised, as gatehoused raises it for the lb.
  rlimit files{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &files), 0);
  files.rlim_cur = std::min<rlim_t>(files.rlim_max, 4096);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &files), 0);
  ASSERT_GT(files.rlim_cur, 1024U) << "the hard limit leaves nothing to reset";
  const std::string script = absl::StrCat(
      "echo ids=$(id -u):$(id -g); grep -E '^Cap(Eff|Bnd|Amb)' /proc/self/status;"
      " set -- $(cat /proc/$$/stat); echo pid=$1 sid=$6; echo nofile=$(ulimit -n);"
      " echo cgroupfs=$(ls -A /sys/fs/cgroup | wc -l);"
      " echo own=$(grep -c -v ':/$' /proc/self/cgroup);"
      " cat ",
      key, " >/dev/null 2>&1 && echo key=read || echo key=denied");
  JobSpec as_default = Shell(script);
  JobSpec as_root = Shell(script);
  as_root.uid = 0;
  as_root.gid = 0;
  for (const auto& [spec, ids] :
       {std::pair{as_default, "65534:65534"}, std::pair{as_root, "0:0"}}) {
    const JobStatus status = Run(spec);
    ASSERT_EQ(status.state, JobState::kExited) << status.error;
    const std::string output = OutputOf(status.id);
    EXPECT_THAT(output, HasSubstr(absl::StrCat("ids=", ids, "\n")));
    EXPECT_THAT(output, HasSubstr("CapEff:\t0000000000000000\n")) << output;
    EXPECT_THAT(output, HasSubstr("CapBnd:\t0000000000000000\n")) << output;
    EXPECT_THAT(output, HasSubstr("CapAmb:\t0000000000000000\n")) << output;
    // A session of its own (the shell is pid 2, after the init): no controlling terminal.
    EXPECT_THAT(output, HasSubstr("pid=2 sid=2\n")) << output;
    EXPECT_THAT(output, HasSubstr("nofile=1024\n")) << output;
    // No cgroup tree to browse, and its own cgroups are the roots of its namespace.
    EXPECT_THAT(output, HasSubstr("cgroupfs=0\n")) << output;
    EXPECT_THAT(output, HasSubstr("own=0\n")) << output;
    if (std::string(ids) != "0:0") {
      EXPECT_THAT(output, HasSubstr("key=denied\n")) << output;
    }
  }
}

// A process's argv is readable by every local user in /proc/PID/cmdline; a job's environment
// (tokens, passwords) must not be in any.
TEST_F(JobRunnerTest, TheEnvironmentTravelsInNoProcessArgv) {
  JobSpec spec = Shell("cat /proc/1/cmdline | tr '\\0' ' '; echo; echo token=$API_TOKEN");
  spec.env.emplace_back("API_TOKEN=hunter2-3f9a");
  const JobStatus status = Run(spec);
  ASSERT_EQ(status.state, JobState::kExited) << status.error;
  const std::string output = OutputOf(status.id);
  EXPECT_THAT(output, HasSubstr("token=hunter2-3f9a\n"));
  EXPECT_EQ(output.find("hunter2"), output.find("token=hunter2") + 6)
      << "the init's argv holds the environment:\n"
      << output;
}

TEST_F(JobRunnerTest, TheJobSeesOnlyItsOwnProcessesNetworkAndHostname) {
  const JobStatus status =
      Run(Shell("echo pid=$$; echo procs=$(ls /proc | grep -c '^[0-9]');"
                " echo host=$(cat /proc/sys/kernel/hostname); echo fds=$(ls /proc/self/fd | wc -l);"
                " echo net=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ');"
                " echo $(grep NoNewPrivs /proc/self/status);"
                " echo shared=$(grep -c shared: /proc/self/mountinfo); echo ipc=$(readlink "
                "/proc/self/ns/ipc)"));
  ASSERT_EQ(status.state, JobState::kExited) << status.error;
  const std::string output = OutputOf(status.id);
  // PID 1 is the init; the shell is its first child.
  EXPECT_THAT(output, HasSubstr("pid=2\n"));
  EXPECT_THAT(output, ::testing::ContainsRegex("procs=[2-6]\n"));
  EXPECT_THAT(output, HasSubstr(absl::StrCat("host=", status.id.substr(0, 8), "\n")));
  // ls of /proc/self/fd sees 0, 1, 2 and its own directory fd: nothing of the worker's.
  EXPECT_THAT(output, HasSubstr("fds=4\n"));
  const std::string net = output.substr(output.find("net=") + 4);
  EXPECT_EQ(net.substr(0, net.find('\n')), "lo") << output;
  EXPECT_THAT(output, HasSubstr("NoNewPrivs: 1\n"));
  EXPECT_THAT(output, HasSubstr("shared=0\n")) << "mount propagation must be private";
  char own_ipc[64] = {};
  ASSERT_GT(::readlink("/proc/self/ns/ipc", own_ipc, sizeof(own_ipc) - 1), 0);
  EXPECT_THAT(output, HasSubstr("ipc=ipc:"));
  EXPECT_THAT(output, ::testing::Not(HasSubstr(absl::StrCat("ipc=", own_ipc))));
}

// The namespace link ("net:[4026532...]") a thread sees after entering `namespace_fd`, or
// the error. On its own thread: the test's thread must stay in the host's namespace.
std::string NamespaceEnteredThrough(int namespace_fd) {
  std::string seen;
  std::thread([&seen, namespace_fd] {
    if (::setns(namespace_fd, CLONE_NEWNET) != 0) {
      seen = absl::StrCat("setns: ", std::error_code(errno, std::system_category()).message());
      return;
    }
    char link[64] = {};
    const ssize_t n = ::readlink("/proc/thread-self/ns/net", link, sizeof(link) - 1);
    seen = n > 0 ? std::string(link, n) : "readlink failed";
  }).join();
  return seen;
}

TEST_F(JobRunnerTest, NetworkNamespaceOfARunningJobIsTheJobsOwnAndDiesWithIt) {
  const std::optional<JobId> id =
      StartAndAwaitOutput(Shell("echo $(readlink /proc/self/ns/net); exec sleep 1000"));
  ASSERT_TRUE(id.has_value());
  absl::StatusOr<base::UniqueFd> namespace_fd = runner_->NetworkNamespaceOf(*id);
  ASSERT_THAT(namespace_fd, IsOk());
  auto reader = runner_->OpenOutput(*id);
  ASSERT_THAT(reader, IsOk());
  std::string line;
  ForEachChunk(**reader, [&line](absl::string_view bytes) {
    line.append(bytes.data(), bytes.size());
    return !absl::StrContains(line, '\n');
  });
  const std::string job_namespace = std::string(absl::StripAsciiWhitespace(line));
  ASSERT_THAT(job_namespace, ::testing::StartsWith("net:["));
  EXPECT_EQ(NamespaceEnteredThrough(namespace_fd->get()), job_namespace);
  char own[64] = {};
  ASSERT_GT(::readlink("/proc/self/ns/net", own, sizeof(own) - 1), 0);
  EXPECT_NE(job_namespace, own);

  StopAndAwaitEnd(*id);
  // The descriptor taken while it ran reaches nothing now, and none is handed out.
  EXPECT_THAT(NamespaceEnteredThrough(namespace_fd->get()), ::testing::StartsWith("setns: "));
  EXPECT_EQ(runner_->NetworkNamespaceOf(*id).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(runner_->NetworkNamespaceOf("no-such-job").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(JobRunnerTest, RunsAsTheGivenUserAndGroup) {
  JobSpec spec = Shell("echo $(id -u) $(id -g) $(id -G)");
  spec.uid = 65534;
  spec.gid = 65534;
  const JobStatus status = Run(spec);
  ASSERT_EQ(status.state, JobState::kExited) << status.error;
  EXPECT_EQ(OutputOf(status.id), "65534 65534 65534\n");
}

TEST_F(JobRunnerTest, LoopbackIsUpInsideTheJob) {
  if (!Exists("/proc/net/if_inet6")) GTEST_SKIP() << "no IPv6 to tell an up lo by its ::1";
  // The kernel gives lo its ::1 address only when lo comes up.
  const JobStatus status = Run(Shell("cat /proc/net/if_inet6"));
  ASSERT_EQ(status.state, JobState::kExited) << status.error;
  EXPECT_THAT(OutputOf(status.id),
              ::testing::ContainsRegex("^00000000000000000000000000000001 .* lo\n$"));
}

// "Key: value" from /proc/<pid>/status, or "" when the process or the key is not there.
std::string ProcStatusField(pid_t pid, absl::string_view key) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (absl::StartsWith(line, absl::StrCat(key, ":"))) {
      return std::string(absl::StripAsciiWhitespace(line.substr(key.size() + 1)));
    }
  }
  return "";
}

// The pid (in this namespace) of the job's init: the process of its cgroup that is PID 1 in its
// own namespace. -1 until it is there.
pid_t FindInit(const std::string& cgroup_directory) {
  std::ifstream procs(cgroup_directory + "/cgroup.procs");
  pid_t pid = 0;
  while (procs >> pid) {
    if (absl::EndsWith(ProcStatusField(pid, "NSpid"), "\t1")) return pid;
  }
  return -1;
}

// The init is a small program of its own, not a copy-on-write image of the worker: its memory
// stays small however big the worker is (256 MiB, every page touched, here).
TEST_F(JobRunnerTest, TheInitHoldsNoCopyOfTheWorkersMemory) {
  const std::vector<char> ballast(size_t{256} << 20, 1);
  const std::optional<JobId> id = StartAndAwaitOutput(Shell("echo started; exec sleep 1000"));
  ASSERT_TRUE(id.has_value());
  const std::string cgroup = CgroupDirectories(*id).front();
  pid_t init = -1;
  ASSERT_TRUE(testing::WaitFor([&] { return (init = FindInit(cgroup)) > 0; }, seconds(10)))
      << "no init in " << cgroup;
  EXPECT_EQ(ProcStatusField(init, "Name"), "gatehouse-init");
  uint64_t rss_kib = 0;
  const std::string rss = ProcStatusField(init, "VmRSS");
  ASSERT_TRUE(absl::SimpleAtoi(rss.substr(0, rss.find(' ')), &rss_kib)) << rss;
  EXPECT_LT(rss_kib, 8 * 1024) << "the init's resident memory; the worker holds "
                               << (ballast.size() >> 20) << " MiB";
  EXPECT_EQ(StopAndAwaitEnd(*id).state, JobState::kStopped);
  EXPECT_EQ(ballast.back(), 1);
}

// A binary upgrade's successor starts its runner while the predecessor's still runs jobs.
TEST_F(JobRunnerTest, ASecondRunnerThatKeepsStaleCgroupsLeavesTheFirstRunnersJobsAlone) {
  const std::optional<JobId> id = StartAndAwaitOutput(Shell("echo up; exec sleep 1000"));
  ASSERT_TRUE(id.has_value());
  JobRunnerOptions options = DefaultOptions();
  options.remove_stale_cgroups = false;
  auto successor = JobRunner::Create(options);
  ASSERT_TRUE(successor.ok()) << successor.status();
  auto status = runner_->Status(*id);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->state, JobState::kRunning);
  for (const std::string& directory : CgroupDirectories(*id)) {
    EXPECT_TRUE(Exists(directory)) << directory;
  }
  successor->reset();  // it has no jobs of its own: nothing of the first runner's goes with it
  EXPECT_EQ(runner_->Status(*id)->state, JobState::kRunning);
  EXPECT_EQ(StopAndAwaitEnd(*id).state, JobState::kStopped);
}

TEST(JobRunnerRestartTest, StaleCgroupsOfAPreviousWorkerAreRemoved) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root for cgroups";
  auto layout = CgroupLayout::Detect();
  ASSERT_TRUE(layout.ok()) << layout.status();
  const std::string parent = absl::StrCat("gatehouse-restart-test-", ::getpid());
  // Stands for a cgroup a previous worker left behind: still there when the new runner starts.
  std::optional<Cgroup> stale;
  {
    auto created = Cgroup::Create(*layout, parent, "left-behind", Limits{}, {});
    ASSERT_TRUE(created.ok()) << created.status();
    stale.emplace(*std::move(created));
  }
  const std::vector<std::string> directories = stale->directories();
  for (const std::string& directory : directories) ASSERT_TRUE(Exists(directory)) << directory;
  testing::TempDir state;
  JobRunnerOptions options;
  options.state_dir = state.File("state");
  options.cgroup_parent = parent;
  auto runner = JobRunner::Create(options);
  ASSERT_TRUE(runner.ok()) << runner.status();
  for (const std::string& directory : directories) EXPECT_FALSE(Exists(directory)) << directory;
  runner->reset();
  stale.reset();  // finds nothing left to remove
  RemoveParent(parent);
}

TEST_F(JobRunnerTest, StopEndsAJobThatIgnoresSigtermAndItsDoubleForkedChild) {
  const std::optional<JobId> id = StartAndAwaitOutput(
      Shell("trap '' TERM; (setsid sleep 1000 &); sleep 1000 & echo started; wait"));
  ASSERT_TRUE(id.has_value());
  const JobStatus status = StopAndAwaitEnd(*id);
  EXPECT_EQ(status.state, JobState::kStopped);
  EXPECT_EQ(status.signal, SIGKILL);
  ExpectCgroupGone(*id);
}

TEST_F(JobRunnerTest, StopOfACooperativeJobEndsItBySigterm) {
  const std::optional<JobId> id = StartAndAwaitOutput(Shell("echo ready; exec sleep 1000"));
  ASSERT_TRUE(id.has_value());
  const JobStatus status = StopAndAwaitEnd(*id);
  EXPECT_EQ(status.state, JobState::kStopped);
  EXPECT_EQ(status.signal, SIGTERM) << "the init forwards SIGTERM to the job";
}

TEST_F(JobRunnerTest, MemoryAboveTheLimitEndsAsOomKilledAndTheWorkerGoesOn) {
  // tail keeps a line that never ends: it grows until the OOM killer takes it, the job's main
  // process (exec).
  JobSpec spec = Shell("exec tail /dev/zero");
  spec.limits.memory_bytes = uint64_t{256} << 20;
  const JobStatus status = Run(spec);
  EXPECT_EQ(status.state, JobState::kOomKilled) << status.error;
  EXPECT_GT(status.usage.memory_peak_bytes, uint64_t{128} << 20);
  EXPECT_EQ(Run(Shell("echo still here")).state, JobState::kExited);
}

TEST_F(JobRunnerTest, AJobThatOutlivesAnOomKilledChildHasExited) {
  JobSpec spec = Shell("head -c 536870912 /dev/zero | tail; echo survived");
  spec.limits.memory_bytes = uint64_t{256} << 20;
  const JobStatus status = Run(spec);
  EXPECT_EQ(status.state, JobState::kExited) << "the OOM killer took tail, not the job";
  EXPECT_EQ(status.exit_code, 0);
  EXPECT_THAT(OutputOf(status.id), ::testing::EndsWith("survived\n"));
}

TEST_F(JobRunnerTest, OutputPastTheCapIsDroppedWhileTheJobRunsOn) {
  JobRunnerOptions options = DefaultOptions();
  options.max_output_bytes = uint64_t{1} << 20;
  Recreate(options);
  const JobStatus status = Run(Shell("head -c 4194304 /dev/zero; exit 7"));
  EXPECT_EQ(status.state, JobState::kExited) << status.error;
  EXPECT_EQ(status.exit_code, 7) << "the job was not blocked or killed by the cap";
  EXPECT_EQ(OutputOf(status.id).size(), options.max_output_bytes);
  EXPECT_THAT(status.error, HasSubstr("output truncated at 1048576 bytes (3145728 more dropped)"));
}

TEST_F(JobRunnerTest, MaxJobsCountsRunningJobsOnly) {
  JobRunnerOptions options = DefaultOptions();
  options.max_jobs = 2;
  Recreate(options);
  const std::optional<JobId> first = StartAndAwaitOutput(Shell("echo up; exec sleep 1000"));
  const std::optional<JobId> second = StartAndAwaitOutput(Shell("echo up; exec sleep 1000"));
  ASSERT_TRUE(first.has_value() && second.has_value());
  EXPECT_THAT(runner_->Start(Shell("true")).status(),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("max_jobs")));
  EXPECT_EQ(StopAndAwaitEnd(*first).state, JobState::kStopped);
  // An ended job frees its slot; kept for its retention, it does not take one.
  EXPECT_EQ(Run(Shell("true")).state, JobState::kExited);
  EXPECT_EQ(StopAndAwaitEnd(*second).state, JobState::kStopped);
}

TEST_F(JobRunnerTest, EndedJobsPastTheirCountOrAgeAreRemovedWithTheirOutput) {
  JobRunnerOptions options = DefaultOptions();
  options.max_ended_jobs = 2;
  Recreate(options);
  std::vector<JobId> ids;
  ids.reserve(3);
  for (int i = 0; i < 3; ++i) ids.push_back(Run(Shell("echo kept")).id);
  const std::string first_output = absl::StrCat(options.state_dir, "/jobs/", ids[0], "/output");
  EXPECT_TRUE(testing::WaitFor([&] { return !runner_->Status(ids[0]).ok(); }, kJobDeadline))
      << "the oldest of three ended jobs is still kept with max_ended_jobs 2";
  // Its file goes right after its entry, outside the runner's lock.
  EXPECT_TRUE(testing::WaitFor([&] { return !Exists(first_output); }, kJobDeadline))
      << first_output << " outlived its job";
  EXPECT_TRUE(runner_->Status(ids[1]).ok());
  EXPECT_EQ(OutputOf(ids[2]), "kept\n");

  options.max_ended_jobs = 1000;
  options.ended_job_retention = milliseconds(200);
  Recreate(options);
  const JobId aged = Run(Shell("echo short-lived")).id;
  EXPECT_TRUE(testing::WaitFor([&] { return !runner_->Status(aged).ok(); }, kJobDeadline))
      << "an ended job outlived its retention";
}

TEST_F(JobRunnerTest, ReadersPerJobAreCapped) {
  JobRunnerOptions options = DefaultOptions();
  options.max_readers_per_job = 2;
  Recreate(options);
  const JobStatus status = Run(Shell("echo shared"));
  auto first = runner_->OpenOutput(status.id);
  auto second = runner_->OpenOutput(status.id);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_THAT(runner_->OpenOutput(status.id).status(),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("the cap")));
  first->reset();  // a reader that leaves frees its place
  auto third = runner_->OpenOutput(status.id);
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(ReadAll(**third), "shared\n");
}

TEST_F(JobRunnerTest, ForkBombUnderAPidsLimitIsContainedAndStoppable) {
  // `exec`: the job's own process needs no fork once the bomb is going, so it lives on until
  // stopped however many forks the limit refuses.
  JobSpec spec = Shell("bomb() { bomb | bomb & }; bomb; exec sleep 1000");
  spec.limits.pids = 64;
  auto id = runner_->Start(spec);
  ASSERT_TRUE(id.ok()) << id.status();
  // The limit is what stops the bomb: the kernel counts the forks it refused.
  const std::string pids_directory = ControllerDirectory(*id, "pids");
  absl::StatusOr<uint64_t> refused;  // "max N": N forks refused because of pids.max
  EXPECT_TRUE(testing::WaitFor(
      [&] {
        refused = cgroup_files::ReadKeyedValue(pids_directory + "/pids.events", "max");
        return refused.ok() && *refused > 0;
      },
      kJobDeadline))
      << "no fork was refused: " << refused.status();
  EXPECT_EQ(StopAndAwaitEnd(*id).state, JobState::kStopped);
  ExpectCgroupGone(*id);
}

TEST_F(JobRunnerTest, HalfACpuLimitIsEnforcedByTheScheduler) {
  JobSpec spec = Shell("while :; do :; done");
  spec.limits.cpus = 0.5;
  auto id = runner_->Start(spec);
  ASSERT_TRUE(id.ok()) << id.status();
  // The scheduler counts the periods in which it stopped the job for having used its quota.
  // Ten of them also make the run long enough (a second or more) for the ratio below to be
  // meaningful. Other tests share the two cores, which only makes this slower.
  const std::string cpu_stat = ControllerDirectory(*id, "cpu") + "/cpu.stat";
  absl::StatusOr<uint64_t> throttled;
  EXPECT_TRUE(testing::WaitFor(
      [&] {
        throttled = cgroup_files::ReadKeyedValue(cpu_stat, "nr_throttled");
        return throttled.ok() && *throttled >= 10;
      },
      kJobDeadline))
      << "nr_throttled " << throttled.value_or(0) << " (" << throttled.status() << ")";
  const JobStatus status = StopAndAwaitEnd(*id);
  ASSERT_TRUE(status.ended_at.has_value());
  const double wall = std::chrono::duration<double>(*status.ended_at - status.started_at).count();
  const double cpu =
      std::chrono::duration<double>(status.usage.cpu_user + status.usage.cpu_system).count();
  // Contention can only lower the ratio; only a limit that does not hold can raise it.
  EXPECT_LT(cpu / wall, 0.6) << cpu << " s of CPU in " << wall << " s";
  EXPECT_GT(cpu, 0.0);
}

TEST_F(JobRunnerTest, DirectWritesAreThrottledByTheIoLimit) {
  auto disk = DiskOfPath(state_.File("state"));
  if (!disk.ok()) GTEST_SKIP() << "state dir not on a block device: " << disk.status();
  JobSpec spec = Shell(absl::StrCat("dd if=/dev/zero of=", state_.File("state"),
                                    "/direct bs=1M count=8 oflag=direct 2>&1"));
  // The state directory is root's (0700): root owns it, so a root job writes there without
  // any capability.
  spec.uid = 0;
  spec.gid = 0;
  spec.limits.io_write_bytes_per_second = uint64_t{4} << 20;
  const JobStatus status = Run(spec);
  ASSERT_EQ(status.exit_code, 0) << OutputOf(status.id);
  const double wall = std::chrono::duration<double>(*status.ended_at - status.started_at).count();
  // 8 MiB at 4 MiB/s: about 2 s (the first second's budget may go at once).
  EXPECT_GT(wall, 1.2) << OutputOf(status.id);
}

// Reads to the end, checking every byte against `expected` as it comes; returns the bytes read.
size_t ReadAndCompare(OutputReader& reader, const std::string& expected) {
  size_t offset = 0;
  ForEachChunk(reader, [&](absl::string_view bytes) {
    if (offset + bytes.size() > expected.size() ||
        expected.compare(offset, bytes.size(), bytes.data(), bytes.size()) != 0) {
      ADD_FAILURE() << "wrong bytes at offset " << offset;
      return false;
    }
    offset += bytes.size();
    return true;
  });
  return offset;
}

TEST_F(JobRunnerTest, FiftyReadersGetTheSameCompleteOutputAndLateReadersGetItAll) {
  // About 50 MiB: the numbers 1 to 6,500,000, one per line.
  constexpr int kLines = 6'500'000;
  std::string expected;
  expected.reserve(size_t{52} << 20);
  for (int i = 1; i <= kLines; ++i) absl::StrAppend(&expected, i, "\n");
  auto id = runner_->Start(Shell(absl::StrCat("seq 1 ", kLines)));
  ASSERT_TRUE(id.ok()) << id.status();
  constexpr int kReaders = 50;
  std::vector<size_t> seen(kReaders);
  std::vector<std::thread> readers;
  for (int i = 0; i < kReaders; ++i) {
    auto reader = runner_->OpenOutput(*id);
    ASSERT_TRUE(reader.ok());
    readers.emplace_back(
        [&seen, &expected, i, owned = std::shared_ptr<OutputReader>(std::move(*reader))] {
          seen[i] = ReadAndCompare(*owned, expected);
        });
  }
  for (std::thread& reader : readers) reader.join();
  auto status = runner_->WaitForEnd(*id, Deadline());
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->exit_code, 0);
  for (int i = 0; i < kReaders; ++i) EXPECT_EQ(seen[i], expected.size()) << "reader " << i;
  auto late = runner_->OpenOutput(*id);
  ASSERT_TRUE(late.ok());
  EXPECT_EQ(ReadAndCompare(**late, expected), expected.size()) << "a reader after the end";
}

TEST_F(JobRunnerTest, ManyJobsAtOnceAllEndAndListShowsThem) {
  std::vector<JobId> ids;
  for (int i = 0; i < 20; ++i) {
    auto id = runner_->Start(Shell(absl::StrCat("echo job ", i)));
    ASSERT_TRUE(id.ok()) << id.status();
    ids.push_back(*id);
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    auto status = runner_->WaitForEnd(ids[i], Deadline());
    ASSERT_TRUE(status.ok());
    EXPECT_EQ(status->state, JobState::kExited);
    EXPECT_EQ(OutputOf(ids[i]), absl::StrCat("job ", i, "\n"));
  }
  EXPECT_EQ(runner_->List().size(), 20U);
  // Every init was reaped through its pidfd: no child of this process is left to wait for.
  siginfo_t info{};
  EXPECT_EQ(::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT), -1);
  EXPECT_EQ(errno, ECHILD);
}

TEST_F(JobRunnerTest, AReaderThatNeverReadsDoesNotHoldTheJobBack) {
  auto id = runner_->Start(Shell("head -c 67108864 /dev/zero"));
  ASSERT_TRUE(id.ok()) << id.status();
  auto idle_reader = runner_->OpenOutput(*id);
  ASSERT_TRUE(idle_reader.ok());
  auto status = runner_->WaitForEnd(*id, Deadline());
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->state, JobState::kExited);
  EXPECT_EQ((*idle_reader)->offset(), 0U);
  EXPECT_FALSE((*idle_reader)->at_end());
  // It held nothing back and lost nothing: all of it is still there for the idle reader.
  EXPECT_EQ(ReadAll(**idle_reader).size(), size_t{67108864});
  EXPECT_TRUE((*idle_reader)->at_end());
}

}  // namespace
}  // namespace gatehouse::jobs
