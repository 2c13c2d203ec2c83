// job_start_bench: how long the job worker takes from Start() to a final state for a job that
// does nothing (/bin/true), side by side in one run with unshare(1), bwrap(1) and a bare
// posix_spawn (the floor). One launch of each per round, the order rotating from round to round,
// so that noise on a shared VM hits every launcher alike.
//
//   job_start_bench [--runs 300] [--warmup 5] [--io]
//
// The gatehouse figure is a job's whole life: its id, output directory and file, a cgroup in
// every hierarchy (created with the limits written, the init placed in it, removed after the
// exit), clone3 into new PID, mount, network, UTS and IPC namespaces, the init's setup (/proc,
// hostname, lo), the fork and exec of the command, and the reaper's wake-ups. A row with the
// cgroup's creation and removal alone (no process) shows that part's share. Needs root.
// Prints Markdown tables.

#include <algorithm>
#include <chrono>
#include <iomanip>
#include <iostream>
#include <memory>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "job_bench_support.h"
#include "jobs/block_device.h"
#include "jobs/cgroup.h"
#include "jobs/cgroup_layout.h"
#include "jobs/job.h"
#include "jobs/job_runner.h"
#include "jobs/limits.h"
#include "jobs/spawn.h"

namespace gatehouse::bench {
namespace {

using jobs::JobRunner;

constexpr uint64_t kMiB = uint64_t{1} << 20;
// High enough never to throttle /bin/true: the --io row measures the cost of setting the limit.
constexpr uint64_t kIoWriteBytesPerSecond = 100 * kMiB;

struct Command {
  std::string label;
  std::vector<std::string> argv;  // argv[0] resolved to a path
};

absl::StatusOr<Command> MakeCommand(std::string label, std::vector<std::string> argv,
                                    const std::string& package) {
  auto path = jobs::ResolveExecutable(argv[0], jobs::SearchPathOf(jobs::JobSpec{}.env));
  if (!path.ok()) {
    return absl::NotFoundError(absl::StrCat(path.status().message(), " (package ", package,
                                            ": bash scripts/install-deps.sh --with bench)"));
  }
  argv[0] = *path;
  return Command{std::move(label), std::move(argv)};
}

absl::StatusOr<std::vector<Command>> PeerCommands() {
  GH_ASSIGN_OR_RETURN(Command unshare,
                      MakeCommand("unshare --fork --pid --mount --net --uts --ipc --mount-proc",
                                  {"unshare", "--fork", "--pid", "--mount", "--net", "--uts",
                                   "--ipc", "--mount-proc", "/bin/true"},
                                  "util-linux"));
  GH_ASSIGN_OR_RETURN(Command bwrap,
                      MakeCommand("bwrap --unshare-all --die-with-parent --ro-bind / / --proc "
                                  "/proc --dev /dev",
                                  {"bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/",
                                   "/", "--proc", "/proc", "--dev", "/dev", "/bin/true"},
                                  "bubblewrap"));
  GH_ASSIGN_OR_RETURN(Command floor,
                      MakeCommand("posix_spawn + waitpid (floor)", {"/bin/true"}, "coreutils"));
  return std::vector<Command>{std::move(unshare), std::move(bwrap), std::move(floor)};
}

absl::StatusOr<double> TimeSpawn(const Command& command) {
  const Clock::time_point start = Clock::now();
  GH_ASSIGN_OR_RETURN(const pid_t pid, SpawnWithJobEnvironment(command.argv));
  GH_RETURN_IF_ERROR(ReapWithin(pid, command.argv[0]));
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

absl::StatusOr<double> TimeJob(JobRunner& runner, const jobs::JobSpec& spec) {
  const Clock::time_point start = Clock::now();
  GH_ASSIGN_OR_RETURN(const jobs::JobId id, runner.Start(spec));
  GH_ASSIGN_OR_RETURN(const jobs::JobStatus status,
                      runner.WaitForEnd(id, Clock::now() + kWaitLimit));
  const Clock::time_point end = Clock::now();
  GH_RETURN_IF_ERROR(CheckExitedZero(id, status));
  return std::chrono::duration<double, std::milli>(end - start).count();
}

absl::StatusOr<double> TimeCgroupOnly(const BenchRunner& bench, const jobs::Limits& limits,
                                      int round) {
  const Clock::time_point start = Clock::now();
  GH_ASSIGN_OR_RETURN(
      jobs::Cgroup cgroup,
      jobs::Cgroup::Create(bench.runner().layout(), bench.parent(),
                           absl::StrCat("cgroup-only-", round), limits, limits.io_devices));
  GH_RETURN_IF_ERROR(cgroup.Remove());
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

struct Summary {
  double p50 = 0;
  double p90 = 0;
  double p99 = 0;
  double mean = 0;
};

// Nearest-rank percentiles.
Summary Summarize(std::vector<double> samples) {
  std::sort(samples.begin(), samples.end());
  return {
      NearestRank(samples, 50), NearestRank(samples, 90), NearestRank(samples, 99),
      std::accumulate(samples.begin(), samples.end(), 0.0) / static_cast<double>(samples.size())};
}

struct Options {
  int runs = 300;
  int warmup = 5;
  bool io = false;
};

absl::StatusOr<jobs::Limits> BenchLimits(bool io, const std::string& state_dir) {
  jobs::Limits limits;
  limits.cpus = 1;
  limits.memory_bytes = 256 * kMiB;
  limits.pids = 64;
  if (io) {
    limits.io_write_bytes_per_second = kIoWriteBytesPerSecond;
    // Given explicitly so that the cgroup-alone row writes the very limit the jobs get.
    GH_ASSIGN_OR_RETURN(std::string disk, jobs::DiskOfPath(state_dir));
    limits.io_devices.push_back(std::move(disk));
  }
  return limits;
}

void PrintTables(const Options& options, const std::vector<std::string>& labels,
                 const std::vector<std::vector<double>>& samples, const std::string& mode) {
  std::vector<Summary> summaries;
  summaries.reserve(samples.size());
  for (const auto& row : samples) summaries.push_back(Summarize(row));
  std::cout << std::fixed << std::setprecision(2);
  std::cout << "Start-to-exit latency of `/bin/true` in ms, " << options.runs
            << " interleaved rounds after " << options.warmup
            << " warm-up rounds; gatehouse: JobRunner (cgroups " << mode
            << "), limits cpus 1, memory 256 MiB, pids 64"
            << (options.io ? ", io write 100 MiB/s" : "")
            << ", from just before Start() to WaitForEnd() returning; its cgroup is created and "
               "removed in every run:\n\n";
  std::cout << "| launcher | p50 | p90 | p99 | mean |\n|---|---|---|---|---|\n";
  for (size_t i = 0; i < labels.size(); ++i) {
    const Summary& summary = summaries[i];
    std::cout << "| " << labels[i] << " | " << summary.p50 << " | " << summary.p90 << " | "
              << summary.p99 << " | " << summary.mean << " |\n";
  }
  // Rows 0, 1 and 2 are gatehouse, unshare and bwrap (see Run).
  std::cout << "\n| gatehouse / unshare (p50) | gatehouse / bwrap (p50) | targets |\n"
            << "|---|---|---|\n"
            << "| " << summaries[0].p50 / summaries[1].p50 << " | "
            << summaries[0].p50 / summaries[2].p50 << " | <= 1.00 and <= 0.50 |\n";
}

absl::Status Measure(const Options& options) {
  GH_ASSIGN_OR_RETURN(const std::unique_ptr<ScratchDir> scratch, ScratchDir::Create());
  GH_ASSIGN_OR_RETURN(const std::unique_ptr<BenchRunner> bench,
                      BenchRunner::Create(scratch->path() + "/state"));
  jobs::JobSpec spec;
  spec.executable = "/bin/true";
  GH_ASSIGN_OR_RETURN(spec.limits, BenchLimits(options.io, scratch->path()));
  GH_ASSIGN_OR_RETURN(std::vector<Command> commands, PeerCommands());

  // Launchers by row: gatehouse, the three commands, the cgroup alone.
  const size_t launchers = commands.size() + 2;
  std::vector<std::vector<double>> samples(launchers);
  for (int round = 0; round < options.warmup + options.runs; ++round) {
    for (size_t step = 0; step < launchers; ++step) {
      const size_t launcher = (step + static_cast<size_t>(round)) % launchers;
      absl::StatusOr<double> ms = launcher == 0 ? TimeJob(bench->runner(), spec)
                                  : launcher <= commands.size()
                                      ? TimeSpawn(commands[launcher - 1])
                                      : TimeCgroupOnly(*bench, spec.limits, round);
      if (!ms.ok()) return ms.status();
      if (round >= options.warmup) samples[launcher].push_back(*ms);
    }
  }
  const std::string mode = jobs::CgroupModeName(bench->runner().layout().mode);
  GH_RETURN_IF_ERROR(bench->Close());

  std::vector<std::string> labels = {"gatehouse JobRunner"};
  for (const Command& command : commands) labels.push_back("`" + command.label + "`");
  labels.emplace_back("gatehouse cgroup alone: create with limits, remove (no process)");
  PrintTables(options, labels, samples, mode);
  return absl::OkStatus();
}

int Run(int argc, char** argv) {
  CLI::App app{
      "job_start_bench: start-to-exit latency of the job worker against unshare and bwrap"};
  Options options;
  app.add_option("--runs", options.runs, "measured rounds (one launch of each per round)")
      ->check(CLI::Range(1, 100000));
  app.add_option("--warmup", options.warmup, "rounds run first and not counted")
      ->check(CLI::Range(0, 1000));
  app.add_flag("--io", options.io, "also set an IO write limit (on the state directory's disk)");
  CLI11_PARSE(app, argc, argv);
  return ExitCode("job_start_bench", Measure(options));
}

}  // namespace
}  // namespace gatehouse::bench

int main(int argc, char** argv) {
  return gatehouse::bench::RunCatchingExceptions(
      "job_start_bench", [argc, argv] { return gatehouse::bench::Run(argc, argv); });
}
