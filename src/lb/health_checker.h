// TcpHealthChecker: active TCP-connect health checks. Each upstream is checked every
// `interval` (give or take `jitter`, so checks of many upstreams do not align), a check passes
// when a TCP connection is established within `timeout`. After `fall` consecutive failures a
// healthy upstream is marked unhealthy; after `rise` consecutive passes an unhealthy one is
// healthy again. A passing check also ends a passive ejection (see Upstream). Unhealthy
// upstreams get no new connections; existing connections are left alone.
//
// One checker at a time governs an upstream's health: Start() claims every upstream it is given,
// and a checker started later (a reload's new checker, or another app's over the same Upstream)
// takes it over. A checker that no longer governs an upstream stops probing it and its verdicts
// are ignored, so two checkers with different rise/fall never overwrite each other. Health lives
// in the Upstream objects and a claim keeps it: a new checker starts from the health the old one
// left (an unhealthy upstream stays out until `rise` passes of the new checker). Stop() releases
// the upstreams the checker governs, and a checker still running over one of them takes it back
// (counting rise/fall from zero) at its next check.
//
// The checker owns one thread with its own io_context: checks are few and must not wait behind
// busy data-path workers, nor slow them down.
// Thread-safe: Stop() and the destructor may be called from any thread but the checker's own.
#ifndef GATEHOUSE_LB_HEALTH_CHECKER_H_
#define GATEHOUSE_LB_HEALTH_CHECKER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "asio/awaitable.hpp"
#include "asio/io_context.hpp"
#include "lb/upstream.h"

namespace gatehouse::lb {

struct HealthCheckOptions {
  std::chrono::nanoseconds interval = std::chrono::seconds(2);
  std::chrono::nanoseconds timeout = std::chrono::seconds(1);
  uint32_t rise = 2;
  uint32_t fall = 3;
  // Each wait is interval * (1 +/- jitter), uniformly; the first check comes after a uniformly
  // random fraction of the interval.
  double jitter = 0.1;
  // Optional. Runs on the checker's thread after each check the checker makes, once the verdict
  // of that check is applied: `upstream.is_healthy()` read inside is the health this check left
  // (unless another writer raced it). For metrics and tests; must be quick, must not block and
  // must not call into the checker.
  std::function<void(const Upstream& upstream, bool passed)> on_check;
};

class TcpHealthChecker {
 public:
  // Claims `upstreams` (none null) before it returns, so a checker started later governs them.
  // InvalidArgument, claiming nothing, for a zero interval, timeout, rise or fall, a timeout not
  // below the interval, or jitter outside [0, 0.5].
  static absl::StatusOr<std::unique_ptr<TcpHealthChecker>> Start(
      std::vector<std::shared_ptr<Upstream>> upstreams, HealthCheckOptions options);

  TcpHealthChecker(const TcpHealthChecker&) = delete;
  TcpHealthChecker& operator=(const TcpHealthChecker&) = delete;
  TcpHealthChecker(TcpHealthChecker&&) = delete;
  TcpHealthChecker& operator=(TcpHealthChecker&&) = delete;
  ~TcpHealthChecker();

  // Stops checking, joins the thread and releases the upstreams this checker governs. Upstreams
  // keep their last health. Idempotent.
  void Stop();

 private:
  TcpHealthChecker(std::vector<std::shared_ptr<Upstream>> upstreams, HealthCheckOptions options);
  asio::awaitable<void> CheckLoop(std::shared_ptr<Upstream> upstream, uint64_t seed);

  const std::vector<std::shared_ptr<Upstream>> upstreams_;
  const HealthCheckOptions options_;
  // This checker's claim on its upstreams: unique, and higher for a checker started later.
  const uint64_t id_;
  asio::io_context io_context_{1};
  std::thread thread_;
};

}  // namespace gatehouse::lb

#endif  // GATEHOUSE_LB_HEALTH_CHECKER_H_
