#include "loadgen/runner.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "asio/co_spawn.hpp"
#include "asio/detached.hpp"
#include "asio/executor_work_guard.hpp"
#include "asio/experimental/as_tuple.hpp"
#include "asio/io_context.hpp"
#include "asio/steady_timer.hpp"
#include "asio/this_coro.hpp"
#include "asio/use_awaitable.hpp"
#include "base/mutex.h"
#include "loadgen/client_connection.h"
#include "security/tls_context.h"

namespace gatehouse::loadgen {
namespace {

using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using std::chrono::nanoseconds;

constexpr auto kAsTuple = asio::experimental::as_tuple(asio::use_awaitable);
// How often an idle slot (shaped out, or a zero rate) looks at the shape again, and how long a
// closed-loop slot waits after a failed connect before the next one (no hot loop on refusal).
constexpr nanoseconds kIdlePoll = std::chrono::milliseconds(10);
constexpr int kMaxSlots = 100000;

double Seconds(nanoseconds duration) { return std::chrono::duration<double>(duration).count(); }

asio::awaitable<void> SleepUntil(asio::steady_timer& timer, Clock::time_point when) {
  timer.expires_at(when);
  co_await timer.async_wait(kAsTuple);
}

class LoadRun {
 public:
  LoadRun(const RunOptions& options, ConnectTarget target, int slots)
      : options_(options),
        target_(std::move(target)),
        slots_(slots),
        remaining_requests_(options.requests > 0 ? static_cast<int64_t>(options.requests) : 0),
        sinks_(static_cast<size_t>(options.threads)) {
    for (int i = 0; i < options.threads; ++i) {
      workers_.push_back(std::make_unique<asio::io_context>(1));
      guards_.push_back(asio::make_work_guard(*workers_.back()));
    }
  }
  LoadRun(const LoadRun&) = delete;
  LoadRun& operator=(const LoadRun&) = delete;
  LoadRun(LoadRun&&) = delete;
  LoadRun& operator=(LoadRun&&) = delete;
  ~LoadRun() { Stop(); }

  void Start(Clock::time_point start) {
    start_ = start;
    live_ = slots_;
    for (int slot = 0; slot < slots_; ++slot) {
      const auto thread = static_cast<size_t>(slot % options_.threads);
      asio::co_spawn(*workers_[thread], Slot(slot, sinks_[thread]), asio::detached);
    }
    for (auto& worker : workers_) threads_.emplace_back([io = worker.get()] { io->run(); });
  }

  // Waits until every slot has finished (true) or `deadline` passes (false).
  bool WaitUntilDoneOr(Clock::time_point deadline) {
    base::MutexLock lock(&mu_);
    return finished_.WaitUntil(
        &mu_, deadline, [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return live_.load() == 0; });
  }

  // Drains every thread's measurements into one interval.
  IntervalReport Collect(double from_seconds, Clock::time_point now, LatencyHistogram* scratch) {
    IntervalReport interval;
    interval.start_seconds = from_seconds;
    interval.end_seconds = Seconds(now - start_);
    scratch->Reset();
    for (StatsSink& sink : sinks_) sink.DrainInto(&interval.counters, scratch);
    interval.latency = LatencySummary::Of(*scratch);
    interval.open_connections = open_connections_.load();
    interval.offered = options_.shape ? options_.shape->ValueAt(now - start_)
                                      : static_cast<double>(options_.connections);
    return interval;
  }

  void Stop() {
    stopping_ = true;
    for (auto& worker : workers_) worker->stop();
    for (auto& thread : threads_) thread.join();
    threads_.clear();
  }

 private:
  bool Stopping() const { return stopping_.load(std::memory_order_relaxed); }

  // False once --requests requests have been taken (never false without --requests).
  bool TakeRequest() { return options_.requests == 0 || remaining_requests_.fetch_sub(1) > 0; }

  bool ShapedOut(int slot, Clock::time_point now) const {
    return options_.shape && options_.shape->quantity() == ShapedQuantity::kConnections &&
           slot >= std::lround(options_.shape->ValueAt(now - start_));
  }

  // Opens the connection when it is closed; false (error recorded) when that fails.
  asio::awaitable<bool> EnsureOpen(ClientConnection& connection, StatsSink& stats) {
    if (connection.is_open()) co_return true;
    if (std::optional<ErrorKind> error = co_await connection.Open(target_)) {
      stats.RecordError(*error);
      co_return false;
    }
    stats.RecordConnectionOpened();
    ++open_connections_;
    co_return true;
  }

  void Close(ClientConnection& connection) {
    if (!connection.is_open()) return;
    connection.Close();
    --open_connections_;
  }

  asio::awaitable<void> Request(ClientConnection& connection, StatsSink& stats,
                                Clock::time_point started) {
    if (options_.mode == Mode::kConnectRate) Close(connection);
    if (!co_await EnsureOpen(connection, stats)) co_return;
    ExchangeResult result;
    if (!options_.payload.empty()) {
      const bool is_echo = !options_.response_size.has_value();
      result = co_await connection.Exchange(
          options_.payload, options_.response_size.value_or(options_.payload.size()), is_echo,
          options_.timeout);
      // Exchange closes the connection on failure.
      if (!connection.is_open()) --open_connections_;
    }
    if (result.error) {
      stats.RecordError(*result.error);
    } else {
      const auto latency = std::chrono::duration_cast<nanoseconds>(Clock::now() - started);
      stats.RecordSuccess(static_cast<uint64_t>(latency.count()), result.bytes_sent,
                          result.bytes_received);
    }
    if (options_.mode == Mode::kConnectRate) Close(connection);
  }

  asio::awaitable<void> StreamSlot(int slot, ClientConnection& connection, StatsSink& stats,
                                   asio::steady_timer& timer) {
    while (!Stopping()) {
      if (ShapedOut(slot, Clock::now()) || !co_await EnsureOpen(connection, stats)) {
        co_await SleepUntil(timer, Clock::now() + kIdlePoll);
        continue;
      }
      const auto keep_going = [this, slot] {
        return !Stopping() && !ShapedOut(slot, Clock::now());
      };
      if (std::optional<ErrorKind> error =
              co_await connection.Stream(options_.payload, keep_going, stats)) {
        stats.RecordError(*error);
      }
      --open_connections_;  // Stream closes the connection when it ends
    }
  }

  asio::awaitable<void> RequestSlot(int slot, ClientConnection& connection, StatsSink& stats,
                                    asio::steady_timer& timer) {
    const bool open_loop = options_.shape && options_.shape->quantity() == ShapedQuantity::kRate;
    Clock::time_point due = start_;
    if (open_loop) {
      // Spread the slots' first requests evenly over one period of the starting rate.
      const double rate = options_.shape->ValueAt(nanoseconds(0));
      if (rate > 0) due += nanoseconds(static_cast<int64_t>(1e9 * slot / rate));
    }
    while (!Stopping()) {
      Clock::time_point started = Clock::now();
      if (ShapedOut(slot, started)) {
        Close(connection);
        co_await SleepUntil(timer, started + kIdlePoll);
        continue;
      }
      if (open_loop) {
        const double slot_rate = options_.shape->ValueAt(due - start_) / slots_;
        if (slot_rate <= 0) {
          due += kIdlePoll;
          co_await SleepUntil(timer, due);
          continue;
        }
        const Clock::time_point this_due = due;
        due += nanoseconds(static_cast<int64_t>(1e9 / slot_rate));
        co_await SleepUntil(timer, this_due);
        if (Stopping() || !TakeRequest()) break;
        if (Clock::now() - this_due > options_.timeout) {
          stats.RecordDropped();
          continue;
        }
        started = this_due;  // latency from the due time: a stall shows as latency
      } else if (!TakeRequest()) {
        break;
      }
      const bool was_open = connection.is_open();
      co_await Request(connection, stats, started);
      // A closed loop whose connect failed waits a little instead of spinning on the refusal.
      if (!open_loop && !was_open && !connection.is_open() && options_.mode != Mode::kConnectRate) {
        co_await SleepUntil(timer, Clock::now() + kIdlePoll);
      }
    }
  }

  asio::awaitable<void> Slot(int slot, StatsSink& stats) {
    const auto executor = co_await asio::this_coro::executor;
    ClientConnection connection(executor);
    asio::steady_timer timer(executor);
    if (options_.mode == Mode::kThroughput) {
      co_await StreamSlot(slot, connection, stats, timer);
    } else {
      co_await RequestSlot(slot, connection, stats, timer);
    }
    Close(connection);
    base::MutexLock lock(&mu_);
    if (--live_ == 0) finished_.NotifyAll();
  }

  const RunOptions& options_;
  const ConnectTarget target_;
  const int slots_;
  Clock::time_point start_;
  std::atomic<bool> stopping_{false};
  std::atomic<int64_t> remaining_requests_;
  std::atomic<int64_t> open_connections_{0};
  std::atomic<int> live_{0};
  base::Mutex mu_;
  base::CondVar finished_;
  std::vector<StatsSink> sinks_;
  std::vector<std::unique_ptr<asio::io_context>> workers_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
  std::vector<std::thread> threads_;
};

absl::StatusOr<tcp::endpoint> Resolve(const std::string& host, uint16_t port) {
  asio::io_context io;
  tcp::resolver resolver(io);
  std::error_code error;
  const auto results = resolver.resolve(host, std::to_string(port), error);
  if (error || results.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot resolve target ", host, ":", port, ": ", error.message()));
  }
  return results.begin()->endpoint();
}

int SlotCount(const RunOptions& options) {
  if (options.shape && options.shape->quantity() == ShapedQuantity::kConnections) {
    return static_cast<int>(
        std::clamp<double>(std::ceil(options.shape->PeakWithin(options.duration)), 1, kMaxSlots));
  }
  return options.connections;
}

}  // namespace

absl::StatusOr<RunReport> Run(const RunOptions& options,
                              const std::function<void(const IntervalReport&)>& on_interval) {
  if (absl::Status status = ValidateRunOptions(options); !status.ok()) return status;
  auto endpoint = Resolve(options.target_host, options.target_port);
  if (!endpoint.ok()) return endpoint.status();
  security::SslCtxPtr tls_context;
  if (options.tls.enabled) {
    security::TlsFiles files;
    files.ca_file = options.tls.ca_file;
    files.cert_file = options.tls.cert_file;
    files.key_file = options.tls.key_file;
    auto built = security::BuildTlsContext(security::TlsRole::kClient, files);
    if (!built.ok()) return built.status();
    tls_context = std::move(*built);
  }
  ConnectTarget target;
  target.endpoint = *endpoint;
  target.last_port = options.target_last_port;
  target.tls_context = tls_context.get();
  target.server_name =
      options.tls.server_name.empty() ? options.target_host : options.tls.server_name;
  target.resume_sessions = options.tls.resume_sessions;
  target.timeout = options.timeout;

  RunReport report;
  report.options = options;
  LatencyHistogram interval_latency;
  LoadRun run(options, target, SlotCount(options));
  const Clock::time_point start = Clock::now();
  const Clock::time_point end = start + options.duration;
  run.Start(start);
  double interval_start = 0;
  for (Clock::time_point tick = start + options.interval;; tick += options.interval) {
    const bool all_done = run.WaitUntilDoneOr(std::min(tick, end));
    const Clock::time_point now = Clock::now();
    IntervalReport interval = run.Collect(interval_start, now, &interval_latency);
    interval_start = interval.end_seconds;
    report.total.Add(interval.counters);
    report.latency.Merge(interval_latency);
    if (on_interval) on_interval(interval);
    report.intervals.push_back(interval);
    if (all_done || now >= end) {
      report.elapsed_seconds = Seconds(now - start);
      break;
    }
  }
  run.Stop();
  return report;
}

}  // namespace gatehouse::loadgen
