// job_output_bench: how fast a job's output reaches its readers, and what that costs the worker in
// memory. A job writes 1 GiB (`head -c 1073741824 /dev/zero`, no limits) and 1, then 16, threads
// each read all of it through an OutputReader with a 256 KiB buffer, from the job's Start until
// the last reader has seen the end. The baseline, in the same run: the same `head` into a pipe
// that this program splices into a file on the same filesystem as the jobs' output, once with
// the pipe's default size and once with 1 MiB (F_SETPIPE_SZ, the size the runner asks for on a
// job's pipe). Each run's file, the job's output included, is deleted once it is measured. Runs
// are interleaved round by round, the order rotating, and the medians are reported.
//
//   job_output_bench [--rounds 3] [--readers 16] [--bytes 1073741824] [--small-bytes 67108864]
//
// Memory: the peak RSS (VmHWM, reset before every run through /proc/self/clear_refs) of this
// process, which is the worker (the runner's reaper and pump run in it), during a small and a big
// run: the readers' buffers are the only memory that depends on the run, and output size should
// not show. Needs root. Prints Markdown tables.
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"
#include "job_bench_support.h"
#include "jobs/job.h"
#include "jobs/job_runner.h"
#include "jobs/output.h"
#include "jobs/spawn.h"

namespace gatehouse::bench {
namespace {

using jobs::JobRunner;

constexpr size_t kSpliceChunkBytes = size_t{1} << 20;  // as the runner's pump moves at most
constexpr int kBigPipeBytes = 1 << 20;
constexpr double kBytesPerGB = 1e9;
constexpr double kKiBPerMiB = 1024;

// Writes back what the previous run left dirty, outside the timed part, so that every run starts
// from the same page-cache state instead of paying for its predecessor's writeback.
absl::Status SyncFilesystem(const std::string& path) {
  const base::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.is_valid() || ::syncfs(fd.get()) != 0) {
    return absl::ErrnoToStatus(errno, "syncfs " + path);
  }
  return absl::OkStatus();
}

struct JobRun {
  double seconds = 0;
  uint64_t rss_before_kib = 0;
  uint64_t peak_rss_kib = 0;
};

absl::Status CheckJob(const JobRunner& runner, const jobs::JobId& id) {
  GH_ASSIGN_OR_RETURN(const jobs::JobStatus status,
                      runner.WaitForEnd(id, Clock::now() + kWaitLimit));
  return CheckExitedZero(id, status);
}

// `state_dir`: the runner's, where the job's output file is.
absl::StatusOr<JobRun> TimeJob(JobRunner& runner, const std::string& state_dir,
                               const std::string& head, uint64_t bytes, int readers) {
  jobs::JobSpec spec;
  spec.executable = head;
  spec.args = {"-c", absl::StrCat(bytes), "/dev/zero"};
  JobRun run;
  GH_ASSIGN_OR_RETURN(run.rss_before_kib, StatusKiB("VmRSS:"));
  GH_RETURN_IF_ERROR(ResetPeakRss());
  std::vector<ReaderResult> results(static_cast<size_t>(readers));
  const Clock::time_point start = Clock::now();
  GH_ASSIGN_OR_RETURN(const jobs::JobId id, runner.Start(spec));
  {
    std::vector<std::jthread> threads;
    threads.reserve(results.size());
    for (ReaderResult& result : results) {
      threads.emplace_back([&runner, &id, &result] { ReadToEnd(runner, id, result); });
    }
  }
  Clock::time_point last_end = start;
  for (const ReaderResult& result : results) {
    GH_RETURN_IF_ERROR(result.status);
    if (result.bytes != bytes) {
      return absl::InternalError(absl::StrCat("a reader got ", result.bytes, " of ", bytes));
    }
    last_end = std::max(last_end, result.end);
  }
  GH_RETURN_IF_ERROR(CheckJob(runner, id));
  GH_ASSIGN_OR_RETURN(run.peak_rss_kib, StatusKiB("VmHWM:"));
  run.seconds = std::chrono::duration<double>(last_end - start).count();
  // Deleted once measured, like the baseline's file, so that every run starts with the same
  // free memory: kept, each run's 1 GiB stayed in the page cache, and on the development VM
  // later runs (the baseline's too) became up to 4 times slower as the page cache grew
  // into memory the guest had not touched before.
  const std::string output = absl::StrCat(state_dir, "/jobs/", id, "/output");
  if (::unlink(output.c_str()) != 0) return absl::ErrnoToStatus(errno, "unlink " + output);
  return run;
}

// Splices everything from the non-blocking `pipe_read` into `file` until end-of-file.
absl::StatusOr<uint64_t> SpliceAll(int pipe_read, int file) {
  uint64_t total = 0;
  while (true) {
    const ssize_t moved = ::splice(pipe_read, nullptr, file, nullptr, kSpliceChunkBytes,
                                   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (moved > 0) {
      total += static_cast<uint64_t>(moved);
      continue;
    }
    if (moved == 0) return total;
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return absl::ErrnoToStatus(errno, "splice into the baseline file");
    pollfd readable{pipe_read, POLLIN, 0};
    if (::poll(&readable, 1, kWaitLimitMs) == 0) {
      return absl::DeadlineExceededError("no bytes in the baseline pipe for " + WaitLimitText());
    }
  }
}

// The baseline: `head` into a pipe, spliced into a file in `dir`. `pipe_bytes`: F_SETPIPE_SZ,
// or the default size. Returns the seconds from the pipe's creation until `head` is reaped.
absl::StatusOr<double> TimePipeToFile(const std::string& dir, const std::string& head,
                                      uint64_t bytes, std::optional<int> pipe_bytes) {
  const std::string path = dir + "/baseline";
  const Clock::time_point start = Clock::now();
  const base::UniqueFd file(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!file.is_valid()) return absl::ErrnoToStatus(errno, "open " + path);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return absl::ErrnoToStatus(errno, "pipe2");
  const base::UniqueFd pipe_read(fds[0]);
  base::UniqueFd pipe_write(fds[1]);
  if (pipe_bytes.has_value() && ::fcntl(pipe_read.get(), F_SETPIPE_SZ, *pipe_bytes) < 0) {
    return absl::ErrnoToStatus(errno, "F_SETPIPE_SZ");
  }
  ::fcntl(pipe_read.get(), F_SETFL, O_NONBLOCK);
  GH_ASSIGN_OR_RETURN(
      const pid_t pid,
      SpawnWithJobEnvironment({head, "-c", absl::StrCat(bytes), "/dev/zero"}, pipe_write.get()));
  pipe_write.Reset();  // `head` holds the only write end: its exit is the end-of-file
  const absl::StatusOr<uint64_t> total = SpliceAll(pipe_read.get(), file.get());
  if (!total.ok()) ::kill(pid, SIGKILL);  // else the reaping below waits for it to time out
  const absl::Status reaped = ReapWithin(pid, head);
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  ::unlink(path.c_str());
  if (!total.ok()) return total.status();
  GH_RETURN_IF_ERROR(reaped);
  if (*total != bytes) return absl::InternalError(absl::StrCat("spliced ", *total, " of ", bytes));
  return seconds;
}

absl::StatusOr<int> DefaultPipeBytes() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return absl::ErrnoToStatus(errno, "pipe2");
  const base::UniqueFd read_end(fds[0]);
  const base::UniqueFd write_end(fds[1]);
  const int size = ::fcntl(read_end.get(), F_GETPIPE_SZ);
  if (size < 0) return absl::ErrnoToStatus(errno, "F_GETPIPE_SZ");
  return size;
}

struct Options {
  int rounds = 3;
  int readers = 16;
  uint64_t bytes = uint64_t{1} << 30;
  uint64_t small_bytes = uint64_t{64} << 20;
};

// The four measured paths, in the order of the tables.
enum Path : size_t { kOneReader, kManyReaders, kBaselineDefault, kBaselineBig, kPaths };
constexpr const char* kPathNames[kPaths] = {"gatehouse, 1 reader", "gatehouse, many readers",
                                            "baseline, default pipe", "baseline, 1 MiB pipe"};

struct Results {
  std::vector<double> seconds[kPaths];
  // For RSS: the small run, and of each kind of big run the one with the highest peak.
  JobRun small;
  JobRun one;
  JobRun many;
};

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return NearestRank(values, 50);
}

double MiB(uint64_t kib) { return static_cast<double>(kib) / kKiBPerMiB; }

// "1 GiB", "64 MiB", or the bytes when neither divides them.
std::string SizeText(uint64_t bytes) {
  if (bytes % (uint64_t{1} << 30) == 0) return absl::StrCat(bytes >> 30, " GiB");
  if (bytes % (uint64_t{1} << 20) == 0) return absl::StrCat(bytes >> 20, " MiB");
  return absl::StrCat(bytes, " bytes");
}

void PrintTables(const Options& options, const Results& results, int default_pipe_bytes) {
  double gbps[kPaths];
  for (size_t path = 0; path < kPaths; ++path) {
    gbps[path] = static_cast<double>(options.bytes) / kBytesPerGB / Median(results.seconds[path]);
  }
  const std::string many = absl::StrCat(options.readers, " readers");
  std::cout << std::fixed << std::setprecision(2);
  std::cout << "Output of `head -c " << options.bytes << " /dev/zero` (GB = 10^9 bytes; median of "
            << options.rounds << " interleaved rounds; GB/s per reader = bytes / time from "
            << "Start() or the spawn until the last reader has read the end):\n\n"
            << "| path | GB/s per reader | GB/s all readers |\n|---|---|---|\n"
            << "| gatehouse, 1 reader | " << gbps[kOneReader] << " | " << gbps[kOneReader] << " |\n"
            << "| gatehouse, " << many << " | " << gbps[kManyReaders] << " | "
            << gbps[kManyReaders] * options.readers << " |\n"
            << "| baseline: pipe (default " << default_pipe_bytes / 1024
            << " KiB) spliced into a file | " << gbps[kBaselineDefault] << " | "
            << gbps[kBaselineDefault] << " |\n"
            << "| baseline: pipe (F_SETPIPE_SZ 1 MiB) spliced into a file | " << gbps[kBaselineBig]
            << " | " << gbps[kBaselineBig] << " |\n\n";
  std::cout << "| gatehouse GB/s per reader / baseline GB/s | default pipe | 1 MiB pipe |\n"
            << "|---|---|---|\n";
  for (const Path path : {kOneReader, kManyReaders}) {
    std::cout << "| " << (path == kOneReader ? std::string("1 reader") : many) << " | "
              << gbps[path] / gbps[kBaselineDefault] << " | " << gbps[path] / gbps[kBaselineBig]
              << " |\n";
  }
  std::cout << "\nTarget: " << many << " / baseline >= 0.50.\n\n";
  std::cout << "Worker RSS in MiB (VmRSS just before the run; peak: VmHWM, reset before the run "
            << "and read after it; of the rounds, the run with the highest peak):\n\n"
            << "| run | RSS before | peak RSS during | growth |\n|---|---|---|---|\n";
  const std::pair<std::string, const JobRun*> rows[] = {
      {absl::StrCat(SizeText(options.small_bytes), ", ", many), &results.small},
      {absl::StrCat(SizeText(options.bytes), ", 1 reader"), &results.one},
      {absl::StrCat(SizeText(options.bytes), ", ", many), &results.many}};
  for (const auto& [label, run] : rows) {
    std::cout << "| " << label << " | " << MiB(run->rss_before_kib) << " | "
              << MiB(run->peak_rss_kib) << " | "
              << MiB(run->peak_rss_kib) - MiB(run->rss_before_kib) << " |\n";
  }
}

// The runner's state directory in the scratch directory `dir`.
std::string StateDir(const std::string& dir) { return dir + "/state"; }

// One run of `path`; records its time (and for gatehouse its peak RSS) in `results`.
absl::Status RunPath(Path path, JobRunner& runner, const std::string& dir, const std::string& head,
                     const Options& options, Results& results) {
  GH_RETURN_IF_ERROR(SyncFilesystem(dir));
  double seconds = 0;
  if (path == kOneReader || path == kManyReaders) {
    const bool one = path == kOneReader;
    GH_ASSIGN_OR_RETURN(const JobRun run, TimeJob(runner, StateDir(dir), head, options.bytes,
                                                  one ? 1 : options.readers));
    JobRun& highest = one ? results.one : results.many;
    if (run.peak_rss_kib > highest.peak_rss_kib) highest = run;
    seconds = run.seconds;
  } else {
    const std::optional<int> pipe_bytes =
        path == kBaselineBig ? std::optional<int>(kBigPipeBytes) : std::nullopt;
    GH_ASSIGN_OR_RETURN(seconds, TimePipeToFile(dir, head, options.bytes, pipe_bytes));
  }
  results.seconds[path].push_back(seconds);
  std::cerr << kPathNames[path] << ": " << seconds << " s\n";
  return absl::OkStatus();
}

absl::Status Measure(const Options& options) {
  GH_ASSIGN_OR_RETURN(const std::string head,
                      jobs::ResolveExecutable("head", jobs::SearchPathOf(jobs::JobSpec{}.env)));
  GH_ASSIGN_OR_RETURN(const int default_pipe_bytes, DefaultPipeBytes());
  GH_ASSIGN_OR_RETURN(const std::unique_ptr<ScratchDir> scratch, ScratchDir::Create());
  GH_ASSIGN_OR_RETURN(const std::unique_ptr<BenchRunner> bench,
                      BenchRunner::Create(StateDir(scratch->path())));
  Results results;
  // An unmeasured job first: the small run then starts from a worker that has run a job already
  // (reaper, allocator arenas, reader threads), as the 1 GiB runs do. Measured first and cold,
  // it showed the worker's first-job start-up as growth, and the big runs' growth looked smaller.
  GH_RETURN_IF_ERROR(TimeJob(bench->runner(), StateDir(scratch->path()), head, options.small_bytes,
                             options.readers)
                         .status());
  GH_ASSIGN_OR_RETURN(results.small, TimeJob(bench->runner(), StateDir(scratch->path()), head,
                                             options.small_bytes, options.readers));
  for (int round = 0; round < options.rounds; ++round) {
    for (size_t step = 0; step < kPaths; ++step) {
      const auto path = static_cast<Path>((step + static_cast<size_t>(round)) % kPaths);
      GH_RETURN_IF_ERROR(RunPath(path, bench->runner(), scratch->path(), head, options, results));
    }
  }
  GH_RETURN_IF_ERROR(bench->Close());
  PrintTables(options, results, default_pipe_bytes);
  return absl::OkStatus();
}

int Run(int argc, char** argv) {
  CLI::App app{"job_output_bench: job output streaming throughput and worker RSS"};
  Options options;
  app.add_option("--rounds", options.rounds, "interleaved rounds of every path")
      ->check(CLI::Range(1, 100));
  app.add_option("--readers", options.readers, "concurrent readers of the many-reader runs")
      ->check(CLI::Range(2, 256));
  app.add_option("--bytes", options.bytes, "output size of the measured runs")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 36));
  app.add_option("--small-bytes", options.small_bytes, "output size of the RSS comparison run")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 36));
  CLI11_PARSE(app, argc, argv);
  return ExitCode("job_output_bench", Measure(options));
}

}  // namespace
}  // namespace gatehouse::bench

int main(int argc, char** argv) {
  return gatehouse::bench::RunCatchingExceptions(
      "job_output_bench", [argc, argv] { return gatehouse::bench::Run(argc, argv); });
}
