// TcpHealthChecker: active TCP-connect health checks. Each upstream is checked every
// `interval` (give or take `jitter`, so checks of many upstreams do not align), a check passes
// when a TCP connection is established within `timeout`. After `fall` consecutive failures a
// healthy upstream is marked unhealthy; after `rise` consecutive passes an unhealthy one is
// healthy again. A passing check also ends a passive ejection (see Upstream). Unhealthy
// upstreams get no new connections; existing connections are left alone.
//
// The checker owns one thread with its own io_context: checks are few and must not wait behind
// busy data-path workers, nor slow them down. Health lives in the Upstream objects, so it is
// kept when a reconfiguration builds a new checker over the same Upstreams.
// Thread-safe: Stop() and the destructor may be called from any thread but the checker's own.
#ifndef GATEHOUSE_LB_HEALTH_CHECKER_H_
#define GATEHOUSE_LB_HEALTH_CHECKER_H_

#include <chrono>
#include <cstdint>
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
};

class TcpHealthChecker {
 public:
  // InvalidArgument for a zero interval, timeout, rise or fall, a timeout not below the
  // interval, or jitter outside [0, 0.5].
  static absl::StatusOr<std::unique_ptr<TcpHealthChecker>> Start(
      std::vector<std::shared_ptr<Upstream>> upstreams, HealthCheckOptions options);

  TcpHealthChecker(const TcpHealthChecker&) = delete;
  TcpHealthChecker& operator=(const TcpHealthChecker&) = delete;
  TcpHealthChecker(TcpHealthChecker&&) = delete;
  TcpHealthChecker& operator=(TcpHealthChecker&&) = delete;
  ~TcpHealthChecker();

  // Stops checking and joins the thread. Upstreams keep their last health. Idempotent.
  void Stop();

 private:
  TcpHealthChecker(std::vector<std::shared_ptr<Upstream>> upstreams, HealthCheckOptions options);
  asio::awaitable<void> CheckLoop(std::shared_ptr<Upstream> upstream, uint64_t seed);

  const std::vector<std::shared_ptr<Upstream>> upstreams_;
  const HealthCheckOptions options_;
  asio::io_context io_context_{1};
  std::thread thread_;
};

}  // namespace gatehouse::lb

#endif  // GATEHOUSE_LB_HEALTH_CHECKER_H_
