// job_api_bench: what the job API (gRPC over the security core's mutual TLS) adds to the job
// library, side by side in one run, on one JobRunner: the one a JobApi in this process serves.
//
// Start latency: the time until a job of /bin/true has left STARTING, by the `Start` RPC (which
// replies then) against the library's JobRunner::Start + WaitUntilStarted on the same runner,
// with 1 and with 8 concurrent clients (threads; each RPC client has its own connection). The
// two paths alternate round by round. p50 and p99 in microseconds.
//
// Streaming: a job writes `--bytes` (`head -c N /dev/zero`) and 1, then `--readers`, concurrent
// `gatehouse logs -f ID` processes (the real CLI, output to /dev/null) read all of it, from the
// job's Start until the last one has exited; against the library's own OutputReaders (threads,
// 256 KiB buffers) on the same kind of job. Reported as GB/s per client (bytes / seconds, each
// client moving all of them), medians of `--rounds`. The peak RSS of this process, the daemon's
// part (runner, gRPC server, TLS front), is read for a small and a big output.
//
//   job_api_bench --cli PATH [--runs 200] [--rounds 3] [--readers 16] [--bytes 1073741824]
//
// Needs root. Prints Markdown tables. Client and server share the machine's 2 cores here, as
// they would on one host.
#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "api/job_api.h"
#include "base/metrics.h"
#include "base/status_macros.h"
#include "gatehouse/v1/jobs.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "job_bench_support.h"
#include "jobs/cgroup.h"
#include "jobs/output.h"
#include "security/dev_pki.h"
#include "security/policy.h"

extern char** environ;

namespace gatehouse::bench {
namespace {

constexpr double kBytesPerGB = 1e9;
constexpr double kKiBPerMiB = 1024;
constexpr int kConcurrentStarters = 8;

struct Options {
  std::string cli;
  int runs = 200;
  int rounds = 3;
  int readers = 16;
  uint64_t bytes = uint64_t{1} << 30;
  uint64_t small_bytes = uint64_t{64} << 20;
};

absl::StatusOr<std::string> ReadWhole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError("cannot read " + path);
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

// A JobApi on loopback with a dev PKI of its own, and the files a client needs.
class ApiUnderTest {
 public:
  static absl::StatusOr<std::unique_ptr<ApiUnderTest>> Create(const std::string& dir) {
    std::unique_ptr<ApiUnderTest> api(new ApiUnderTest());
    api->pki_ = dir + "/pki";
    GH_RETURN_IF_ERROR(security::InitDevPki(api->pki_, /*force=*/false));
    GH_RETURN_IF_ERROR(security::IssueDevClientCertificate(
        api->pki_, {.name = "bench", .roles = {"admin"}}, /*force=*/false));
    security::PolicyRules rules;
    rules.job_start.roles = {"admin"};
    GH_ASSIGN_OR_RETURN(security::AuthorizationPolicy policy,
                        security::AuthorizationPolicy::Create(rules));
    api::JobApiSettings settings;
    settings.listen = asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0);
    const security::DevPkiPaths paths = security::DevPkiPathsIn(api->pki_);
    settings.tls.ca_file = paths.ca_cert;
    settings.tls.cert_file = paths.server_cert;
    settings.tls.key_file = paths.server_key;
    settings.runner.state_dir = dir + "/state";
    settings.runner.cgroup_parent = absl::StrCat("gatehouse-api-bench-", ::getpid());
    settings.runner.stop_grace = std::chrono::seconds(1);
    settings.runner.max_jobs = 1000;
    api->parent_ = settings.runner.cgroup_parent;
    settings.policy = std::make_shared<const security::AuthorizationPolicy>(std::move(policy));
    GH_ASSIGN_OR_RETURN(api->api_, api::JobApi::Start(settings, &api->metrics_));
    api->target_ = absl::StrCat("127.0.0.1:", api->api_->endpoint().port());
    return api;
  }

  ApiUnderTest(const ApiUnderTest&) = delete;
  ApiUnderTest& operator=(const ApiUnderTest&) = delete;
  ApiUnderTest(ApiUnderTest&&) = delete;
  ApiUnderTest& operator=(ApiUnderTest&&) = delete;
  ~ApiUnderTest() {
    if (api_ == nullptr) return;
    const jobs::CgroupLayout layout = api_->runner().layout();
    api_.reset();
    jobs::Cgroup::RemoveParent(layout, parent_).IgnoreError();
  }

  jobs::JobRunner& runner() { return api_->runner(); }
  const std::string& target() const { return target_; }
  std::string ClientFile(const std::string& name) const { return pki_ + "/" + name; }

  // A stub with a connection of its own.
  absl::StatusOr<std::unique_ptr<v1::JobService::Stub>> NewClient() const {
    grpc::SslCredentialsOptions tls;
    GH_ASSIGN_OR_RETURN(tls.pem_root_certs, ReadWhole(ClientFile("ca.pem")));
    GH_ASSIGN_OR_RETURN(tls.pem_cert_chain, ReadWhole(ClientFile("bench.pem")));
    GH_ASSIGN_OR_RETURN(tls.pem_private_key, ReadWhole(ClientFile("bench.key")));
    grpc::ChannelArguments arguments;
    arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return v1::JobService::NewStub(
        grpc::CreateCustomChannel(target_, grpc::SslCredentials(tls), arguments));
  }

 private:
  ApiUnderTest() = default;
  base::MetricsRegistry metrics_;
  std::string pki_;
  std::string parent_;
  std::string target_;
  std::unique_ptr<api::JobApi> api_;
};

absl::StatusOr<jobs::JobId> StartByRpc(v1::JobService::Stub& stub, const std::string& command,
                                       const std::vector<std::string>& args) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kWaitLimit);
  v1::StartRequest request;
  request.set_command(command);
  for (const std::string& arg : args) request.add_args(arg);
  v1::StartResponse response;
  const grpc::Status status = stub.Start(&context, request, &response);
  if (!status.ok()) return absl::InternalError("Start RPC: " + status.error_message());
  return response.job_id();
}

absl::StatusOr<jobs::JobId> StartByLibrary(jobs::JobRunner& runner, const std::string& command,
                                           const std::vector<std::string>& args) {
  jobs::JobSpec spec;
  spec.executable = command;
  spec.args = args;
  GH_ASSIGN_OR_RETURN(jobs::JobId id, runner.Start(std::move(spec)));
  GH_RETURN_IF_ERROR(runner.WaitUntilStarted(id, Clock::now() + kWaitLimit).status());
  return id;
}

struct Latencies {
  std::vector<double> rpc_us;
  std::vector<double> library_us;
};

// `clients` threads, each alternating an RPC start and a library start `runs` times.
absl::StatusOr<Latencies> MeasureStarts(ApiUnderTest& api, int clients, int runs) {
  std::vector<Latencies> per_client(static_cast<size_t>(clients));
  std::vector<absl::Status> errors(static_cast<size_t>(clients));
  std::vector<std::unique_ptr<v1::JobService::Stub>> stubs;
  for (int i = 0; i < clients; ++i) {
    GH_ASSIGN_OR_RETURN(std::unique_ptr<v1::JobService::Stub> stub, api.NewClient());
    // Connect and warm up outside the measurement.
    GH_RETURN_IF_ERROR(StartByRpc(*stub, "/bin/true", {}).status());
    stubs.push_back(std::move(stub));
  }
  {
    std::vector<std::jthread> threads;
    for (size_t i = 0; i < per_client.size(); ++i) {
      threads.emplace_back([&, i] {
        for (int run = 0; run < runs && errors[i].ok(); ++run) {
          Clock::time_point start = Clock::now();
          absl::StatusOr<jobs::JobId> rpc = StartByRpc(*stubs[i], "/bin/true", {});
          const double rpc_us =
              std::chrono::duration<double, std::micro>(Clock::now() - start).count();
          start = Clock::now();
          absl::StatusOr<jobs::JobId> library = StartByLibrary(api.runner(), "/bin/true", {});
          const double library_us =
              std::chrono::duration<double, std::micro>(Clock::now() - start).count();
          if (!rpc.ok() || !library.ok()) {
            errors[i] = rpc.ok() ? library.status() : rpc.status();
            return;
          }
          per_client[i].rpc_us.push_back(rpc_us);
          per_client[i].library_us.push_back(library_us);
        }
      });
    }
  }
  Latencies all;
  for (size_t i = 0; i < per_client.size(); ++i) {
    GH_RETURN_IF_ERROR(errors[i]);
    all.rpc_us.insert(all.rpc_us.end(), per_client[i].rpc_us.begin(), per_client[i].rpc_us.end());
    all.library_us.insert(all.library_us.end(), per_client[i].library_us.begin(),
                          per_client[i].library_us.end());
  }
  std::sort(all.rpc_us.begin(), all.rpc_us.end());
  std::sort(all.library_us.begin(), all.library_us.end());
  return all;
}

// Starts `gatehouse logs -f ID` with its output to /dev/null.
absl::StatusOr<pid_t> SpawnFollower(const Options& options, const ApiUnderTest& api,
                                    const jobs::JobId& id) {
  const std::vector<std::string> argv = {options.cli, "logs",
                                         "-f",        id,
                                         "--server",  api.target(),
                                         "--ca",      api.ClientFile("ca.pem"),
                                         "--cert",    api.ClientFile("bench.pem"),
                                         "--key",     api.ClientFile("bench.key")};
  std::vector<char*> raw;
  raw.reserve(argv.size() + 1);
  for (const std::string& arg : argv) raw.push_back(const_cast<char*>(arg.c_str()));
  raw.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  const int error =
      ::posix_spawn(&pid, options.cli.c_str(), &actions, nullptr, raw.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (error != 0) return absl::ErrnoToStatus(error, "posix_spawn " + options.cli);
  return pid;
}

struct StreamRun {
  double seconds = 0;
  uint64_t peak_rss_kib = 0;
  double daemon_cpu_seconds = 0;   // this process: the runner, gRPC and the TLS front
  double clients_cpu_seconds = 0;  // the CLI processes, all together
};

double CpuSeconds(int who) {
  rusage usage{};
  ::getrusage(who, &usage);
  const auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

absl::Status RemoveOutput(const std::string& state_dir, const jobs::JobId& id) {
  const std::string output = absl::StrCat(state_dir, "/jobs/", id, "/output");
  if (::unlink(output.c_str()) != 0) return absl::ErrnoToStatus(errno, "unlink " + output);
  return absl::OkStatus();
}

// One job of `bytes`, read by `readers` CLI processes (by_cli) or library readers.
absl::StatusOr<StreamRun> TimeStream(const Options& options, ApiUnderTest& api,
                                     const std::string& state_dir, uint64_t bytes, int readers,
                                     bool by_cli) {
  StreamRun run;
  GH_RETURN_IF_ERROR(ResetPeakRss());
  const std::vector<std::string> args = {"-c", absl::StrCat(bytes), "/dev/zero"};
  const double self_before = CpuSeconds(RUSAGE_SELF);
  const double children_before = CpuSeconds(RUSAGE_CHILDREN);
  const Clock::time_point start = Clock::now();
  GH_ASSIGN_OR_RETURN(const jobs::JobId id, StartByLibrary(api.runner(), "/usr/bin/head", args));
  if (by_cli) {
    std::vector<pid_t> pids;
    absl::Status spawned = absl::OkStatus();
    for (int i = 0; i < readers && spawned.ok(); ++i) {
      absl::StatusOr<pid_t> pid = SpawnFollower(options, api, id);
      if (pid.ok()) {
        pids.push_back(*pid);
      } else {
        spawned = pid.status();
      }
    }
    absl::Status reaped = absl::OkStatus();
    for (const pid_t pid : pids) {
      const absl::Status one = ReapWithin(pid, "gatehouse logs -f");
      if (reaped.ok()) reaped = one;
    }
    GH_RETURN_IF_ERROR(spawned);
    GH_RETURN_IF_ERROR(reaped);
  } else {
    std::vector<ReaderResult> results(static_cast<size_t>(readers));
    {
      std::vector<std::jthread> threads;
      threads.reserve(results.size());
      for (ReaderResult& result : results) {
        threads.emplace_back([&api, &id, &result] { ReadToEnd(api.runner(), id, result); });
      }
    }
    for (const ReaderResult& result : results) {
      GH_RETURN_IF_ERROR(result.status);
      if (result.bytes != bytes) {
        return absl::InternalError(absl::StrCat("a reader got ", result.bytes, " of ", bytes));
      }
    }
  }
  run.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  run.daemon_cpu_seconds = CpuSeconds(RUSAGE_SELF) - self_before;
  run.clients_cpu_seconds = CpuSeconds(RUSAGE_CHILDREN) - children_before;
  GH_ASSIGN_OR_RETURN(const jobs::JobStatus ended,
                      api.runner().WaitForEnd(id, Clock::now() + kWaitLimit));
  GH_RETURN_IF_ERROR(CheckExitedZero(id, ended));
  GH_ASSIGN_OR_RETURN(run.peak_rss_kib, StatusKiB("VmHWM:"));
  GH_RETURN_IF_ERROR(RemoveOutput(state_dir, id));
  return run;
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return NearestRank(values, 50);
}

void PrintStartTable(int clients, const Latencies& latencies) {
  const double rpc_p50 = NearestRank(latencies.rpc_us, 50);
  const double library_p50 = NearestRank(latencies.library_us, 50);
  std::cout << std::fixed << std::setprecision(0) << "| " << clients << " | "
            << latencies.rpc_us.size() << " | " << library_p50 << " | "
            << NearestRank(latencies.library_us, 99) << " | " << rpc_p50 << " | "
            << NearestRank(latencies.rpc_us, 99) << " | " << std::setprecision(2)
            << rpc_p50 / library_p50 << "x |\n";
}

// What the streaming rounds measured. Paths: 0 library 1 reader, 1 CLI 1 client, 2 library
// many readers, 3 CLI many clients.
struct StreamingResults {
  std::vector<double> seconds[4];
  // Per GiB delivered to one client, of the CLI runs with the most clients.
  std::vector<double> daemon_cpu_per_gib;
  std::vector<double> client_cpu_per_gib;
  uint64_t peak_small_kib = 0;
  uint64_t peak_big_kib = 0;
};

absl::Status MeasureStreaming(const Options& options, ApiUnderTest& api,
                              const std::string& state_dir, StreamingResults& results) {
  for (int round = 0; round < options.rounds; ++round) {
    size_t path = 0;
    for (const int readers : {1, options.readers}) {
      for (const bool by_cli : {false, true}) {
        GH_ASSIGN_OR_RETURN(const StreamRun run,
                            TimeStream(options, api, state_dir, options.bytes, readers, by_cli));
        results.seconds[path++].push_back(run.seconds);
        if (!by_cli) continue;
        results.peak_big_kib = std::max(results.peak_big_kib, run.peak_rss_kib);
        if (readers != options.readers) continue;
        const double gib_delivered =
            static_cast<double>(options.bytes) * readers / static_cast<double>(uint64_t{1} << 30);
        results.daemon_cpu_per_gib.push_back(run.daemon_cpu_seconds / gib_delivered);
        results.client_cpu_per_gib.push_back(run.clients_cpu_seconds / gib_delivered);
      }
    }
    GH_ASSIGN_OR_RETURN(const StreamRun small,
                        TimeStream(options, api, state_dir, options.small_bytes, options.readers,
                                   /*by_cli=*/true));
    results.peak_small_kib = std::max(results.peak_small_kib, small.peak_rss_kib);
  }
  return absl::OkStatus();
}

void PrintStreaming(const Options& options, const StreamingResults& results) {
  const double gb = static_cast<double>(options.bytes) / kBytesPerGB;
  std::cout << "\n### Streaming a " << options.bytes << "-byte output, GB/s per client (median of "
            << options.rounds << ")\n\n"
            << "| clients | library readers | `gatehouse logs -f` | CLI / library |\n"
            << "|---|---|---|---|\n";
  for (size_t i = 0; i < 2; ++i) {
    const double library = gb / Median(results.seconds[2 * i]);
    const double cli = gb / Median(results.seconds[2 * i + 1]);
    std::cout << std::fixed << std::setprecision(2) << "| " << (i == 0 ? 1 : options.readers)
              << " | " << library << " | " << cli << " | " << cli / library << "x |\n";
  }
  const double daemon_cpu = Median(results.daemon_cpu_per_gib);
  const double client_cpu = Median(results.client_cpu_per_gib);
  const auto cores = static_cast<double>(std::thread::hardware_concurrency());
  std::cout << "\nCPU per GiB delivered to one client, " << options.readers
            << " CLI clients: daemon " << std::setprecision(2) << daemon_cpu << " s, client "
            << client_cpu << " s (the job's `head` and the kernel's page cache work excluded). "
            << "With all " << cores << " CPUs on that work alone, each of " << options.readers
            << " clients could get at most "
            << cores / (options.readers * (daemon_cpu + client_cpu)) *
                   static_cast<double>(uint64_t{1} << 30) / kBytesPerGB
            << " GB/s.\n";
  std::cout << "\nPeak RSS of the daemon's part (this process) while " << options.readers
            << " CLI clients streamed: " << std::setprecision(1)
            << static_cast<double>(results.peak_small_kib) / kKiBPerMiB << " MiB for a "
            << options.small_bytes << "-byte output, "
            << static_cast<double>(results.peak_big_kib) / kKiBPerMiB << " MiB for "
            << options.bytes << " bytes.\n";
}

absl::Status RunAll(const Options& options) {
  GH_ASSIGN_OR_RETURN(const std::unique_ptr<ScratchDir> scratch, ScratchDir::Create());
  GH_ASSIGN_OR_RETURN(const std::unique_ptr<ApiUnderTest> api,
                      ApiUnderTest::Create(scratch->path()));
  std::cout << "### Start latency to RUNNING (/bin/true), microseconds\n\n"
            << "| clients | starts per path | library p50 | library p99 | RPC p50 | RPC p99 | "
               "RPC / library at p50 |\n|---|---|---|---|---|---|---|\n";
  for (const int clients : {1, kConcurrentStarters}) {
    GH_ASSIGN_OR_RETURN(const Latencies latencies,
                        MeasureStarts(*api, clients, options.runs / clients));
    PrintStartTable(clients, latencies);
  }
  StreamingResults results;
  GH_RETURN_IF_ERROR(MeasureStreaming(options, *api, scratch->path() + "/state", results));
  PrintStreaming(options, results);
  return absl::OkStatus();
}

int Run(int argc, char** argv) {
  Options options;
  CLI::App app("job_api_bench: the job API against the job library, side by side");
  app.add_option("--cli", options.cli, "Path of the gatehouse CLI")->required();
  app.add_option("--runs", options.runs, "Starts per path and client count")
      ->check(CLI::Range(8, 100000));
  app.add_option("--rounds", options.rounds, "Streaming rounds")->check(CLI::Range(1, 100));
  app.add_option("--readers", options.readers, "Concurrent clients")->check(CLI::Range(2, 256));
  app.add_option("--bytes", options.bytes, "Output bytes of the big job");
  CLI11_PARSE(app, argc, argv);
  std::signal(SIGPIPE, SIG_IGN);  // required by JobApi (see job_api.h)
  return ExitCode("job_api_bench", RunAll(options));
}

}  // namespace
}  // namespace gatehouse::bench

int main(int argc, char** argv) {
  return gatehouse::bench::RunCatchingExceptions(
      "job_api_bench", [argc, argv] { return gatehouse::bench::Run(argc, argv); });
}
