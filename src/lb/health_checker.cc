#include "lb/health_checker.h"

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <random>
#include <variant>

#include "absl/strings/str_cat.h"
#include "asio/co_spawn.hpp"
#include "asio/detached.hpp"
#include "asio/experimental/as_tuple.hpp"
#include "asio/experimental/awaitable_operators.hpp"
#include "asio/steady_timer.hpp"
#include "asio/this_coro.hpp"
#include "asio/use_awaitable.hpp"
#include "spdlog/spdlog.h"

namespace gatehouse::lb {
namespace {

using asio::ip::tcp;

constexpr auto kAsTuple = asio::experimental::as_tuple(asio::use_awaitable);

// One TCP connect with a deadline; true when it was established.
asio::awaitable<bool> ProbeOnce(const tcp::endpoint& endpoint, std::chrono::nanoseconds timeout) {
  using asio::experimental::awaitable_operators::operator||;
  const auto executor = co_await asio::this_coro::executor;
  const int fd =
      ::socket(endpoint.protocol().family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) co_return false;
  tcp::socket socket(executor);
  std::error_code error;
  socket.assign(endpoint.protocol(), fd, error);
  if (error) {
    ::close(fd);
    co_return false;
  }
  asio::steady_timer timer(executor, timeout);
  auto outcome = co_await (socket.async_connect(endpoint, kAsTuple) || timer.async_wait(kAsTuple));
  if (outcome.index() == 1) co_return false;
  auto [connect_error] = std::get<0>(outcome);
  co_return !connect_error;
}

// Checker ids in start order (Upstream::ClaimActiveHealth lets the highest govern). Relaxed: only
// the uniqueness and order of the values matter, and nothing is published with them.
std::atomic<uint64_t> next_checker_id{1};

std::chrono::nanoseconds Jittered(std::chrono::nanoseconds interval, double jitter,
                                  std::mt19937_64& random) {
  std::uniform_real_distribution<double> factor(1.0 - jitter, 1.0 + jitter);
  return std::chrono::nanoseconds(
      static_cast<int64_t>(static_cast<double>(interval.count()) * factor(random)));
}

// Consecutive results of one upstream's checks.
struct Streak {
  uint32_t passes = 0;
  uint32_t failures = 0;
};

// Counts one check of `upstream` into `streak` and applies the rise/fall rule as `checker`.
// SetHealthyByChecker refuses the verdict if a newer checker took over during the probe.
void ApplyCheck(uint64_t checker, const HealthCheckOptions& options, Upstream& upstream,
                bool passed, Streak& streak) {
  if (passed) {
    ++streak.passes;
    streak.failures = 0;
    if (!upstream.is_healthy() && streak.passes >= options.rise) {
      if (upstream.SetHealthyByChecker(checker, true)) {
        spdlog::info("upstream {} is healthy after {} passing checks", upstream.name(),
                     streak.passes);
      }
    } else if (upstream.is_healthy() && upstream.is_ejected()) {
      if (upstream.SetHealthyByChecker(checker, true)) {
        spdlog::info("upstream {} passed a check and is no longer ejected", upstream.name());
      }
    }
    return;
  }
  ++streak.failures;
  streak.passes = 0;
  if (upstream.is_healthy() && streak.failures >= options.fall &&
      upstream.SetHealthyByChecker(checker, false)) {
    spdlog::warn("upstream {} is unhealthy after {} failed checks", upstream.name(),
                 streak.failures);
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<TcpHealthChecker>> TcpHealthChecker::Start(
    std::vector<std::shared_ptr<Upstream>> upstreams, HealthCheckOptions options) {
  if (options.interval <= std::chrono::nanoseconds::zero() ||
      options.timeout <= std::chrono::nanoseconds::zero() || options.rise == 0 ||
      options.fall == 0) {
    return absl::InvalidArgumentError("health check interval, timeout, rise and fall must be > 0");
  }
  if (options.timeout >= options.interval) {
    return absl::InvalidArgumentError("health check timeout must be shorter than the interval");
  }
  if (!(options.jitter >= 0.0 && options.jitter <= 0.5)) {
    return absl::InvalidArgumentError(
        absl::StrCat("health check jitter ", options.jitter, " is outside [0, 0.5]"));
  }
  std::unique_ptr<TcpHealthChecker> checker(
      new TcpHealthChecker(std::move(upstreams), std::move(options)));
  // Before any check runs, and before Start returns: from here on this checker's verdicts hold
  // and those of the checker it replaces are ignored.
  for (const auto& upstream : checker->upstreams_) upstream->ClaimActiveHealth(checker->id_);
  std::random_device seeds;
  for (const auto& upstream : checker->upstreams_) {
    const uint64_t seed = (static_cast<uint64_t>(seeds()) << 32) | seeds();
    asio::co_spawn(checker->io_context_, checker->CheckLoop(upstream, seed), asio::detached);
  }
  checker->thread_ = std::thread([io_context = &checker->io_context_] { io_context->run(); });
  return checker;
}

TcpHealthChecker::TcpHealthChecker(std::vector<std::shared_ptr<Upstream>> upstreams,
                                   HealthCheckOptions options)
    : upstreams_(std::move(upstreams)),
      options_(std::move(options)),
      id_(next_checker_id.fetch_add(1, std::memory_order_relaxed)) {}

TcpHealthChecker::~TcpHealthChecker() { Stop(); }

void TcpHealthChecker::Stop() {
  // stop() makes run() return; the coroutine frames still suspended are destroyed with the
  // io_context, on this thread, after the join.
  io_context_.stop();
  if (thread_.joinable()) thread_.join();
  // After the join, so that no check of this checker takes an upstream back.
  for (const auto& upstream : upstreams_) upstream->ReleaseActiveHealth(id_);
}

asio::awaitable<void> TcpHealthChecker::CheckLoop(std::shared_ptr<Upstream> upstream,
                                                  uint64_t seed) {
  std::mt19937_64 random(seed);
  asio::steady_timer timer(co_await asio::this_coro::executor);
  // The first check lands anywhere in the first interval, so checks of many upstreams spread.
  std::uniform_real_distribution<double> first(0.0, 1.0);
  timer.expires_after(std::chrono::nanoseconds(
      static_cast<int64_t>(static_cast<double>(options_.interval.count()) * first(random))));
  Streak streak;
  while (true) {
    auto [error] = co_await timer.async_wait(kAsTuple);
    if (error) co_return;
    timer.expires_after(Jittered(options_.interval, options_.jitter, random));
    if (!upstream->TryGovernActiveHealth(id_)) {
      // A newer checker governs the upstream: its checks are the ones that count, so this one
      // does not probe. Should the upstream come back to this checker, it counts afresh.
      streak = Streak();
      continue;
    }
    const bool passed = co_await ProbeOnce(upstream->endpoint(), options_.timeout);
    ApplyCheck(id_, options_, *upstream, passed, streak);
    if (options_.on_check) options_.on_check(*upstream, passed);
  }
}

}  // namespace gatehouse::lb
