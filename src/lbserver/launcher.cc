#include "lbserver/launcher.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "asio/experimental/as_tuple.hpp"
#include "asio/post.hpp"
#include "asio/this_coro.hpp"
#include "asio/use_awaitable.hpp"
#include "lb/dialer.h"
#include "net/namespaced_socket.h"
#include "spdlog/spdlog.h"

namespace gatehouse::lbserver {
namespace {

using std::chrono::steady_clock;

constexpr auto kAsTuple = asio::experimental::as_tuple(asio::use_awaitable);
// How often a ready server is checked for having exited (a failed dial checks at once).
constexpr auto kCheckInterval = std::chrono::milliseconds(250);
// How often a stopping server is checked for having ended.
constexpr auto kStopPollInterval = std::chrono::milliseconds(10);
// A waiting connection gets ready_timeout plus this (and any backoff left) before it gives up:
// the control thread fails it itself at ready_timeout, so this margin is never the usual end.
constexpr auto kWaitMargin = std::chrono::seconds(2);
// The control thread's wait when nothing is due: it is woken for anything that matters.
constexpr auto kIdleWait = std::chrono::hours(1);
// A probe connect on the job's loopback that neither succeeds nor fails at once.
constexpr int kProbeTimeoutMs = 100;

const char* const kFailureNames[kLaunchFailureCount] = {"start_error", "exited_before_ready",
                                                        "not_ready", "exited"};

int64_t Milliseconds(std::chrono::nanoseconds duration) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(duration).count();
}

// How a job ended, for log lines: "exited with code 3", "killed by signal 9".
std::string DescribeEnd(const jobs::JobStatus& status) {
  if (status.state == jobs::JobState::kFailedToStart) return status.error;
  if (status.state == jobs::JobState::kOomKilled) return "killed by the OOM killer";
  if (status.signal.has_value()) return absl::StrCat("killed by signal ", *status.signal);
  if (status.exit_code.has_value()) return absl::StrCat("exited with code ", *status.exit_code);
  return jobs::JobStateName(status.state);
}

// Whether something accepts on 127.0.0.1:port of the network namespace `namespace_fd`. The
// server sees one connection that closes without a byte.
bool Accepts(int namespace_fd, uint16_t port) {
  absl::StatusOr<base::UniqueFd> socket = net::SocketInNetworkNamespace(namespace_fd, AF_INET);
  if (!socket.ok()) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(socket->get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0) {
    return true;
  }
  if (errno != EINPROGRESS) return false;
  pollfd connecting{socket->get(), POLLOUT, 0};
  if (::poll(&connecting, 1, kProbeTimeoutMs) != 1) return false;
  int error = 0;
  socklen_t length = sizeof(error);
  return ::getsockopt(socket->get(), SOL_SOCKET, SO_ERROR, &error, &length) == 0 && error == 0;
}

}  // namespace

struct Launcher::Instance {
  jobs::JobId job;
  base::UniqueFd network_namespace;
  uint16_t port = 0;
  steady_clock::time_point ready_at;
  // Leases are taken under the launcher's mutex (so the idle stop cannot race a new one) and
  // given back without it; the last one out records when, for the idle timeout.
  std::atomic<uint32_t> leases{0};
  std::atomic<int64_t> last_release{0};  // steady_clock ticks
};

LaunchMetrics RegisterLaunchMetrics(base::MetricsRegistry& registry, const std::string& app) {
  const base::MetricLabels labels = {{"app", app}};
  LaunchMetrics metrics;
  metrics.cold_starts = registry.GetCounter(
      "gatehouse_lb_launch_cold_starts_total",
      "On-demand servers started that became ready (accepted on their port).", labels);
  metrics.cold_start_seconds = registry.GetHistogram(
      "gatehouse_lb_launch_cold_start_seconds",
      "From the first connection waiting for an on-demand server to the server accepting.",
      {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}, labels);
  for (size_t i = 0; i < kLaunchFailureCount; ++i) {
    metrics.failures[i] = registry.GetCounter(
        "gatehouse_lb_launch_failures_total",
        "On-demand server starts that failed, and ready servers that exited, by reason.",
        {{"app", app}, {"reason", kFailureNames[i]}});
  }
  metrics.instances = registry.GetGauge(
      "gatehouse_lb_launch_instances",
      "On-demand server jobs of the app that exist now (starting, ready or stopping).", labels);
  metrics.idle_stops = registry.GetCounter(
      "gatehouse_lb_launch_idle_stops_total",
      "On-demand servers stopped after idle_timeout without a connection.", labels);
  metrics.waiting =
      registry.GetGauge("gatehouse_lb_launch_waiting_connections",
                        "Client connections waiting for an on-demand server now.", labels);
  metrics.refused = registry.GetCounter(
      "gatehouse_lb_launch_refused_connections_total",
      "Client connections closed because no on-demand server was ready for them.", labels);
  return metrics;
}

// --- Lease ---

Launcher::Lease::Lease(std::shared_ptr<Instance> instance) : instance_(std::move(instance)) {}

Launcher::Lease& Launcher::Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    Release();
    instance_ = std::move(other.instance_);
  }
  return *this;
}

Launcher::Lease::~Lease() { Release(); }

void Launcher::Lease::Release() {
  if (instance_ == nullptr) return;
  // The time first, then the count (release): whoever sees the count reach 0 sees the time.
  instance_->last_release.store(steady_clock::now().time_since_epoch().count(),
                                std::memory_order_relaxed);
  instance_->leases.fetch_sub(1, std::memory_order_release);
  instance_.reset();
}

int Launcher::Lease::network_namespace() const { return instance_->network_namespace.get(); }
uint16_t Launcher::Lease::port() const { return instance_->port; }
const jobs::JobId& Launcher::Lease::job() const { return instance_->job; }

// --- Launcher ---

Launcher::Launcher(LaunchOptions options, jobs::JobRunner* runner, LaunchMetrics metrics)
    : options_(std::move(options)), runner_(runner), metrics_(metrics) {
  {
    base::MutexLock lock(&mu_);
    backoff_ = options_.first_backoff;
  }
  control_ = std::thread([this] { Run(); });
}

Launcher::~Launcher() {
  {
    base::MutexLock lock(&mu_);
    stopping_ = true;
  }
  changed_.NotifyAll();
  control_.join();
}

std::chrono::nanoseconds Launcher::WaitBudget(steady_clock::time_point now) const {
  std::chrono::nanoseconds budget = options_.ready_timeout + kWaitMargin;
  if (phase_ == Phase::kIdle && next_start_ > now) budget += next_start_ - now;
  return budget;
}

asio::awaitable<absl::StatusOr<Launcher::Lease>> Launcher::Acquire() {
  const asio::any_io_executor executor = co_await asio::this_coro::executor;
  asio::steady_timer timer(executor);
  auto waiter = std::make_shared<Waiter>();
  waiter->executor = executor;
  std::optional<absl::StatusOr<Lease>> immediate;
  {
    base::MutexLock lock(&mu_);
    const auto now = steady_clock::now();
    if (phase_ == Phase::kReady && instance_ != nullptr) {
      instance_->leases.fetch_add(1, std::memory_order_relaxed);
      immediate.emplace(Lease(instance_));
    } else if (stopping_) {
      immediate.emplace(absl::UnavailableError(
          absl::StrCat("lb app ", options_.app, " is being reconfigured or shut down")));
    } else if (waiters_.size() >= options_.max_waiting) {
      immediate.emplace(absl::ResourceExhaustedError(
          absl::StrCat("lb app ", options_.app, ": ", waiters_.size(),
                       " connections wait for its server already (launch.max_waiting)")));
    } else if (phase_ == Phase::kIdle && next_start_ > now + options_.ready_timeout) {
      immediate.emplace(absl::UnavailableError(
          absl::StrCat("lb app ", options_.app, ": its server failed; the next start is in ",
                       Milliseconds(next_start_ - now), " ms")));
    } else {
      waiter->timer = &timer;
      timer.expires_after(WaitBudget(now));
      waiters_.push_back(waiter);
      metrics_.waiting->Set(static_cast<int64_t>(waiters_.size()));
      check_requested_ = true;
      changed_.NotifyAll();
    }
    if (immediate.has_value() && !immediate->ok()) metrics_.refused->Increment();
  }
  if (immediate.has_value()) co_return std::move(*immediate);

  // However this coroutine ends (even destroyed while it waits, on shutdown), the control
  // thread must not reach the timer or the executor through this waiter any more.
  const absl::Cleanup forget = [this, &waiter] {
    base::MutexLock lock(&mu_);
    waiter->timer = nullptr;
    const auto it = std::find(waiters_.begin(), waiters_.end(), waiter);
    if (it != waiters_.end()) {
      waiters_.erase(it);
      metrics_.waiting->Set(static_cast<int64_t>(waiters_.size()));
    }
  };
  co_await timer.async_wait(kAsTuple);
  base::MutexLock lock(&mu_);
  if (waiter->result.has_value()) co_return std::move(*waiter->result);
  metrics_.refused->Increment();
  co_return absl::DeadlineExceededError(
      absl::StrCat("lb app ", options_.app, ": no server was ready within ",
                   Milliseconds(options_.ready_timeout + kWaitMargin), " ms of waiting"));
}

void Launcher::ReportDialFailure(const Lease& lease) {
  base::MutexLock lock(&mu_);
  if (instance_ != lease.instance_) return;  // already replaced: nothing to check
  check_requested_ = true;
  changed_.NotifyAll();
}

void Launcher::Wake(const std::shared_ptr<Waiter>& waiter) {
  asio::post(waiter->executor, [waiter] {
    if (waiter->timer != nullptr) waiter->timer->cancel();
  });
}

template <typename MakeResult>
void Launcher::CompleteWaiters(MakeResult make_result) {
  for (const std::shared_ptr<Waiter>& waiter : waiters_) {
    waiter->result.emplace(make_result());
    Wake(waiter);
  }
  waiters_.clear();
  metrics_.waiting->Set(0);
}

void Launcher::Backoff(steady_clock::time_point now) {
  next_start_ = now + backoff_;
  backoff_ = std::min(backoff_ * 2, options_.max_backoff);
}

void Launcher::Fail(LaunchFailure failure, const std::string& reason) {
  const auto now = steady_clock::now();
  Backoff(now);
  const size_t failed = waiters_.size();
  spdlog::warn("lb app {}: {}; {} waiting connection(s) closed, next start in {} ms", options_.app,
               reason, failed, Milliseconds(next_start_ - now));
  metrics_.failures[static_cast<size_t>(failure)]->Increment();
  metrics_.refused->Increment(failed);
  CompleteWaiters([&] {
    return absl::StatusOr<Lease>(
        absl::UnavailableError(absl::StrCat("lb app ", options_.app, ": ", reason)));
  });
  phase_ = Phase::kIdle;
  job_.reset();
  metrics_.instances->Set(0);
}

void Launcher::HandOut(std::shared_ptr<Instance> instance) {
  instance_ = std::move(instance);
  phase_ = Phase::kReady;
  CompleteWaiters([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    instance_->leases.fetch_add(1, std::memory_order_relaxed);
    return absl::StatusOr<Lease>(Lease(instance_));
  });
}

void Launcher::StartInstance() {
  const auto started = steady_clock::now();
  const auto deadline = started + options_.ready_timeout;
  const absl::StatusOr<jobs::JobId> id = runner_->Start(options_.spec);
  if (!id.ok()) {
    base::MutexLock lock(&mu_);
    Fail(LaunchFailure::kStartError,
         absl::StrCat("the job worker did not start its server: ", id.status().message()));
    return;
  }
  {
    base::MutexLock lock(&mu_);
    job_ = *id;
    metrics_.instances->Set(1);
  }
  spdlog::info("lb app {}: starting its server as job {}", options_.app, *id);
  std::optional<base::UniqueFd> network_namespace;
  while (true) {
    const absl::StatusOr<jobs::JobStatus> status = runner_->Status(*id);
    if (!status.ok() || status->state == jobs::JobState::kFailedToStart) {
      base::MutexLock lock(&mu_);
      Fail(LaunchFailure::kStartError,
           absl::StrCat("its server (job ", *id, ") failed to start: ",
                        status.ok() ? status->error : status.status().message()));
      return;
    }
    if (jobs::IsFinal(status->state)) {
      base::MutexLock lock(&mu_);
      Fail(LaunchFailure::kExitedBeforeReady,
           absl::StrCat("its server (job ", *id, ") ", DescribeEnd(*status),
                        " before it accepted on port ", options_.port));
      return;
    }
    if (status->state == jobs::JobState::kRunning && !network_namespace.has_value()) {
      absl::StatusOr<base::UniqueFd> opened = runner_->NetworkNamespaceOf(*id);
      if (opened.ok()) network_namespace = std::move(*opened);  // else: it ended; seen above next
    }
    if (network_namespace.has_value() && Accepts(network_namespace->get(), options_.port)) {
      auto instance = std::make_shared<Instance>();
      instance->job = *id;
      instance->network_namespace = std::move(*network_namespace);
      instance->port = options_.port;
      instance->ready_at = steady_clock::now();
      const std::chrono::duration<double> took = instance->ready_at - started;
      metrics_.cold_starts->Increment();
      metrics_.cold_start_seconds->Observe(took.count());
      spdlog::info("lb app {}: server ready in {} ms (job {})", options_.app,
                   Milliseconds(instance->ready_at - started), *id);
      base::MutexLock lock(&mu_);
      HandOut(std::move(instance));
      return;
    }
    if (steady_clock::now() >= deadline) {
      (void)runner_->Stop(*id);  // only NotFound, and it exists
      AwaitJobEnd(*id, steady_clock::now() + options_.stop_wait);
      base::MutexLock lock(&mu_);
      Fail(LaunchFailure::kNotReady,
           absl::StrCat("its server (job ", *id, ") did not accept on port ", options_.port,
                        " within ", Milliseconds(options_.ready_timeout), " ms; stopped it"));
      return;
    }
    base::MutexLock lock(&mu_);
    changed_.WaitUntil(&mu_, std::min(steady_clock::now() + options_.probe_interval, deadline),
                       [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; });
    if (stopping_) return;  // Run stops job_
  }
}

void Launcher::CheckReadyInstance() {
  const absl::StatusOr<jobs::JobStatus> status = runner_->Status(instance_->job);
  if (status.ok() && !jobs::IsFinal(status->state)) return;
  const auto now = steady_clock::now();
  const std::string reason =
      absl::StrCat("its server (job ", instance_->job, ") ",
                   status.ok() ? DescribeEnd(*status) : "disappeared", " while serving");
  // A server that ran well for a long time and then exited is not a crash loop.
  if (now - instance_->ready_at >= options_.max_backoff) backoff_ = options_.first_backoff;
  instance_.reset();
  Fail(LaunchFailure::kExited, reason);
}

void Launcher::StopIdleInstance() {
  phase_ = Phase::kStopping;
  const jobs::JobId id = instance_->job;
  instance_.reset();
  metrics_.idle_stops->Increment();
  spdlog::info("lb app {}: no connection for {} ms; stopping its server (job {})", options_.app,
               Milliseconds(options_.idle_timeout), id);
  mu_.Unlock();
  (void)runner_->Stop(id);  // only NotFound, and it exists
  AwaitJobEnd(id, steady_clock::now() + options_.stop_wait);
  mu_.Lock();
  phase_ = Phase::kIdle;
  job_.reset();
  metrics_.instances->Set(0);
  backoff_ = options_.first_backoff;
  next_start_ = steady_clock::now();
}

void Launcher::AwaitJobEnd(const jobs::JobId& id, steady_clock::time_point deadline) {
  while (true) {
    const absl::StatusOr<jobs::JobStatus> status = runner_->Status(id);
    if (!status.ok() || jobs::IsFinal(status->state)) return;
    base::MutexLock lock(&mu_);
    const auto now = steady_clock::now();
    if (stopping_ || now >= deadline) return;
    changed_.WaitUntil(&mu_, std::min(now + kStopPollInterval, deadline),
                       [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; });
  }
}

void Launcher::Run() {
  base::MutexLock lock(&mu_);
  while (!stopping_) {
    const auto now = steady_clock::now();
    auto wake = now + kIdleWait;
    if (phase_ == Phase::kIdle && !waiters_.empty()) {
      if (now >= next_start_) {
        phase_ = Phase::kStarting;
        mu_.Unlock();
        StartInstance();
        mu_.Lock();
        continue;
      }
      wake = next_start_;
    } else if (phase_ == Phase::kReady) {
      CheckReadyInstance();
      if (phase_ != Phase::kReady) continue;
      wake = now + kCheckInterval;
      if (instance_->leases.load(std::memory_order_acquire) == 0) {
        const steady_clock::time_point released{
            steady_clock::duration(instance_->last_release.load(std::memory_order_relaxed))};
        const auto idle_at = std::max(released, instance_->ready_at) + options_.idle_timeout;
        if (now >= idle_at) {
          StopIdleInstance();
          continue;
        }
        wake = std::min(wake, idle_at);
      }
    }
    check_requested_ = false;
    changed_.WaitUntil(&mu_, wake, [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return stopping_ || check_requested_;
    });
  }
  CompleteWaiters([this] {
    return absl::StatusOr<Lease>(absl::UnavailableError(
        absl::StrCat("lb app ", options_.app, " is being reconfigured or shut down")));
  });
  instance_.reset();
  if (job_.has_value()) {
    spdlog::info("lb app {}: stopping its server (job {})", options_.app, *job_);
    (void)runner_->Stop(*job_);  // returns at once; the runner kills it after its grace
    job_.reset();
    metrics_.instances->Set(0);
  }
}

asio::awaitable<std::error_code> ConnectToInstance(asio::ip::tcp::socket& socket,
                                                   const Launcher::Lease& lease,
                                                   std::chrono::nanoseconds timeout) {
  absl::StatusOr<base::UniqueFd> fd =
      net::SocketInNetworkNamespace(lease.network_namespace(), AF_INET);
  if (!fd.ok()) {
    // setns fails with ESRCH once the job has ended: its server is gone.
    co_return std::error_code(static_cast<int>(std::errc::no_such_process), std::system_category());
  }
  std::error_code error;
  socket.assign(asio::ip::tcp::v4(), fd->get(), error);
  if (error) co_return error;
  fd->Release();  // the socket owns it now
  const std::error_code connect_error = co_await lb::ConnectWithin(
      socket, asio::ip::tcp::endpoint(asio::ip::address_v4::loopback(), lease.port()), timeout);
  if (connect_error) co_return connect_error;
  // As the static dialer does: without it Nagle holds small replies back (bench/RESULTS.md).
  std::error_code ignored;  // latency tweak only; the connection works without it
  socket.set_option(asio::ip::tcp::no_delay(true), ignored);
  co_return std::error_code();
}

}  // namespace gatehouse::lbserver
