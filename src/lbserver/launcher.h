// Launcher: the on-demand server of one lb app with `launch` (scale to zero, RFD 0002). The
// server runs as a job of the job worker, in its own namespaces and cgroup; the lb reaches it on
// the job's own loopback through sockets made inside the job's network namespace
// (net/namespaced_socket.h), so the job needs no route to the host.
//
//   no instance --first connection--> starting --accepts on `port`--> ready
//        ^                              |  exits, FAILED_TO_START,            | no lease for
//        |                              |  no accept within ready_timeout     | idle_timeout
//        +--- backoff (1 s doubling, ---+                                     v
//        |    at most 1 min)                                               stopping (SIGTERM,
//        +--------------------------- job ended --------------------------  grace, SIGKILL)
//
// Connections that arrive with no ready instance wait (at most `max_waiting` of them, each at
// most ready_timeout plus a margin) and share one start; once the server accepts, they get
// their leases in arrival order. A start that fails fails every waiting connection, is logged
// with its reason and counted, and the next start waits out a backoff; connections that arrive
// while the backoff outlasts their wait are refused at once (a crash loop does not spin). A
// lease keeps its instance from the idle stop; a connection arriving while an instance stops
// waits for a fresh one and never reaches the dying server. A server that exits while ready is
// noticed within a quarter second (or at once when a dial to it fails) and also backs off.
//
// One control thread per launcher starts, probes and stops the job; connections never wait on
// it while an instance is ready (a lease is a lock, a copy and an increment). Destruction stops
// the job (SIGTERM, then the runner's grace) and fails the waiting connections.
//
// Thread-safe. Leases must not outlive their launcher (a connection holds its App, which holds
// the launcher).
#ifndef GATEHOUSE_LBSERVER_LAUNCHER_H_
#define GATEHOUSE_LBSERVER_LAUNCHER_H_

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "asio/any_io_executor.hpp"
#include "asio/awaitable.hpp"
#include "asio/ip/tcp.hpp"
#include "asio/steady_timer.hpp"
#include "base/metrics.h"
#include "base/mutex.h"
#include "base/unique_fd.h"
#include "jobs/job.h"
#include "jobs/job_runner.h"

namespace gatehouse::lbserver {

// Why a start failed or a ready server went away: the `reason` label of
// gatehouse_lb_launch_failures_total.
enum class LaunchFailure {
  kStartError,         // the worker refused the job (max_jobs, cgroups) or it failed to start
  kExitedBeforeReady,  // the server exited before it accepted on its port
  kNotReady,           // the server did not accept within ready_timeout
  kExited,             // the server exited while ready
};
inline constexpr size_t kLaunchFailureCount = 4;

struct LaunchMetrics {
  base::Counter* cold_starts = nullptr;           // instances that became ready
  base::Histogram* cold_start_seconds = nullptr;  // first waiting connection -> server accepts
  std::array<base::Counter*, kLaunchFailureCount> failures{};
  base::Gauge* instances = nullptr;     // 1 while a server runs (starting, ready, stopping)
  base::Counter* idle_stops = nullptr;  // instances stopped after idle_timeout
  base::Gauge* waiting = nullptr;       // connections waiting for a start now
  base::Counter* refused = nullptr;     // connections that got no instance
};

// Registered once per app name (a reload gets the same series).
LaunchMetrics RegisterLaunchMetrics(base::MetricsRegistry& registry, const std::string& app);

struct LaunchOptions {
  std::string app;
  jobs::JobSpec spec;  // what runs, as whom, with which limits; owner "app:<name>"
  uint16_t port = 0;   // where the server accepts, on the job's loopback
  std::chrono::nanoseconds ready_timeout = std::chrono::seconds(5);
  std::chrono::nanoseconds idle_timeout = std::chrono::minutes(2);
  uint32_t max_waiting = 256;
  std::chrono::nanoseconds first_backoff = std::chrono::seconds(1);
  std::chrono::nanoseconds max_backoff = std::chrono::minutes(1);
  // How often a starting server is probed with a connect to its port.
  std::chrono::nanoseconds probe_interval = std::chrono::milliseconds(1);
  // How long a stopping server may take to end before the launcher gives up on waiting (the
  // runner still kills it after its stop grace).
  std::chrono::nanoseconds stop_wait = std::chrono::seconds(30);
};

class Launcher {
 private:
  struct Instance;

 public:
  // A ready instance, kept from the idle stop while held. Move-only.
  class Lease {
   public:
    Lease() = default;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&& other) noexcept;
    ~Lease();

    // The job's network namespace (a descriptor for setns), its loopback port, the job's id.
    int network_namespace() const;
    uint16_t port() const;
    const jobs::JobId& job() const;

   private:
    friend class Launcher;
    explicit Lease(std::shared_ptr<Instance> instance);
    void Release();
    std::shared_ptr<Instance> instance_;
  };

  // Starts the control thread; no job runs until the first Acquire. `runner` is borrowed and
  // must outlive the launcher.
  Launcher(LaunchOptions options, jobs::JobRunner* runner, LaunchMetrics metrics);
  Launcher(const Launcher&) = delete;
  Launcher& operator=(const Launcher&) = delete;
  Launcher(Launcher&&) = delete;
  Launcher& operator=(Launcher&&) = delete;
  ~Launcher();

  // A lease on the ready instance, starting one if needed and waiting for it on the calling
  // coroutine's executor (no thread is held). Errors say why the connection gets no server:
  // ResourceExhausted (max_waiting), Unavailable (the start failed or backs off, or the
  // launcher stops), DeadlineExceeded (no instance in time).
  asio::awaitable<absl::StatusOr<Lease>> Acquire();

  // A connect to the lease's server failed: check at once whether the server is still there.
  void ReportDialFailure(const Lease& lease);

 private:
  // One connection waiting for an instance. `timer` and `executor` belong to the waiting
  // coroutine's executor: `timer` is only touched on it (by the coroutine and by the handler
  // the control thread posts there to wake it).
  struct Waiter {
    asio::any_io_executor executor;
    asio::steady_timer* timer = nullptr;
    std::optional<absl::StatusOr<Lease>> result;  // guarded by the launcher's mu_
  };
  enum class Phase { kIdle, kStarting, kReady, kStopping };

  void Run();
  // One start, from runner->Start to the first accepted probe or a failure. Called without mu_.
  void StartInstance();
  void CheckReadyInstance() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StopIdleInstance() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Waits (without mu_) for the job to end, or the launcher to stop, or `deadline`.
  void AwaitJobEnd(const jobs::JobId& id, std::chrono::steady_clock::time_point deadline);
  void Fail(LaunchFailure failure, const std::string& reason) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void HandOut(std::shared_ptr<Instance> instance) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Completes every waiting connection with `result()` and wakes it.
  template <typename MakeResult>
  void CompleteWaiters(MakeResult make_result) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Wake(const std::shared_ptr<Waiter>& waiter) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Backoff(std::chrono::steady_clock::time_point now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::chrono::nanoseconds WaitBudget(std::chrono::steady_clock::time_point now) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const LaunchOptions options_;
  jobs::JobRunner* const runner_;
  const LaunchMetrics metrics_;

  mutable base::Mutex mu_;
  base::CondVar changed_;  // wakes the control thread
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool check_requested_ ABSL_GUARDED_BY(mu_) = false;
  Phase phase_ ABSL_GUARDED_BY(mu_) = Phase::kIdle;
  std::shared_ptr<Instance> instance_ ABSL_GUARDED_BY(mu_);  // while ready
  std::deque<std::shared_ptr<Waiter>> waiters_ ABSL_GUARDED_BY(mu_);
  std::chrono::steady_clock::time_point next_start_ ABSL_GUARDED_BY(mu_);
  std::chrono::nanoseconds backoff_ ABSL_GUARDED_BY(mu_){0};  // set from options_ at once
  std::optional<jobs::JobId> job_ ABSL_GUARDED_BY(mu_);       // the job of the current instance
  std::thread control_;
};

// Opens `socket` inside the lease's job network namespace and connects it to 127.0.0.1:<port>
// there, within `timeout`.
asio::awaitable<std::error_code> ConnectToInstance(asio::ip::tcp::socket& socket,
                                                   const Launcher::Lease& lease,
                                                   std::chrono::nanoseconds timeout);

}  // namespace gatehouse::lbserver

#endif  // GATEHOUSE_LBSERVER_LAUNCHER_H_
