// Helpers shared by the job worker benchmarks (job_start_bench, job_output_bench): a scratch
// directory on disk, a JobRunner under a cgroup parent of the benchmark's own that leaves nothing
// behind, the checks that a job or a spawned process ended well, and the exit code and error
// report of a benchmark program. For benchmarks only: they need root, and they report failures as
// statuses for the program to print.
//
// Thread-safety: ScratchDir and BenchRunner are thread-compatible (one owner). The JobRunner that
// BenchRunner::runner() returns is thread-safe and may be used from any thread until Close() or
// the BenchRunner's destruction, which must not race with those uses. The free functions keep no
// state and are thread-safe.
#ifndef GATEHOUSE_BENCH_JOB_BENCH_SUPPORT_H_
#define GATEHOUSE_BENCH_JOB_BENCH_SUPPORT_H_

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "jobs/job.h"
#include "jobs/job_runner.h"

namespace gatehouse::bench {

using Clock = std::chrono::steady_clock;

// How long a benchmark waits for a job or a process to end before it gives up.
inline constexpr auto kWaitLimit = std::chrono::seconds(60);
inline constexpr int kWaitLimitMs = static_cast<int>(kWaitLimit / std::chrono::milliseconds(1));
// "60 s", for errors.
std::string WaitLimitText();

// Starts `argv` (argv[0] a path) with posix_spawn and the environment a job gets by default
// (jobs::JobSpec's), so that a baseline process starts as a job's does. `stdout_fd` (borrowed),
// unless -1, becomes its stdout. Errors name argv[0].
absl::StatusOr<pid_t> SpawnWithJobEnvironment(const std::vector<std::string>& argv,
                                              int stdout_fd = -1);

// The nearest-rank `percent` percentile of `sorted` (ascending, not empty).
double NearestRank(const std::vector<double>& sorted, double percent);

// A "VmRSS:" or "VmHWM:" line of /proc/self/status, in KiB.
absl::StatusOr<uint64_t> StatusKiB(const std::string& key);
// Sets VmHWM back to the current RSS, so that the next reading is the peak of one run.
absl::Status ResetPeakRss();

// What one reader of a job's output got, and when it saw the end.
struct ReaderResult {
  absl::Status status;
  uint64_t bytes = 0;
  Clock::time_point end;
};
// One reader: everything from the first byte to the end, 256 KiB at a time, through the
// library's OutputReader.
void ReadToEnd(const jobs::JobRunner& runner, const jobs::JobId& id, ReaderResult& result);

// A fresh directory under /var/tmp, on a disk as the worker's state directory is in production
// (/tmp may be a tmpfs). Removed with everything in it.
class ScratchDir {
 public:
  static absl::StatusOr<std::unique_ptr<ScratchDir>> Create();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  ScratchDir(ScratchDir&&) = delete;
  ScratchDir& operator=(ScratchDir&&) = delete;
  ~ScratchDir();

  const std::string& path() const { return path_; }

 private:
  explicit ScratchDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// A JobRunner under a cgroup parent of this process's own. The runner removes its jobs' cgroups
// when destroyed; the parent's directories, made on first use in every hierarchy, are removed
// here after it so that a run leaves nothing behind.
class BenchRunner {
 public:
  static absl::StatusOr<std::unique_ptr<BenchRunner>> Create(const std::string& state_dir);
  BenchRunner(const BenchRunner&) = delete;
  BenchRunner& operator=(const BenchRunner&) = delete;
  BenchRunner(BenchRunner&&) = delete;
  BenchRunner& operator=(BenchRunner&&) = delete;
  ~BenchRunner() { Close().IgnoreError(); }

  jobs::JobRunner& runner() const { return *runner_; }
  const std::string& parent() const { return parent_; }

  // Destroys the runner, then removes the parent cgroup in every hierarchy. Idempotent.
  absl::Status Close();

 private:
  BenchRunner(std::unique_ptr<jobs::JobRunner> runner, std::string parent)
      : runner_(std::move(runner)), parent_(std::move(parent)) {}
  std::unique_ptr<jobs::JobRunner> runner_;
  std::string parent_;
};

// Ok when job `id`, as `status` says it ended, exited with code 0; otherwise Internal, with its
// state, exit code and error.
absl::Status CheckExitedZero(const jobs::JobId& id, const jobs::JobStatus& status);

// Waits up to kWaitLimit for `pid` to exit (a pidfd, because waitpid has no timeout), reaps it
// and checks that it exited 0. Kills and reaps it at the deadline.
absl::Status ReapWithin(pid_t pid, const std::string& name);

// A benchmark's exit code for the outcome of its measurement: 0 when `status` is ok; otherwise 1,
// after printing "`program`: `status`" on stderr.
int ExitCode(std::string_view program, const absl::Status& status);

// For main(): returns what `run` returns, or 1 after printing "`program`: what" on stderr when it
// throws (out of memory for the samples, a reader thread that could not be started).
int RunCatchingExceptions(std::string_view program, absl::FunctionRef<int()> run);

}  // namespace gatehouse::bench

#endif  // GATEHOUSE_BENCH_JOB_BENCH_SUPPORT_H_
