// Clock: the source of "now" for components that measure time (rate limiting, timeouts that are
// not Asio timers), so tests can inject a fake clock instead of sleeping. Time is monotonic
// (std::chrono::steady_clock): never wall-clock time, which jumps.
#ifndef GATEHOUSE_BASE_CLOCK_H_
#define GATEHOUSE_BASE_CLOCK_H_

#include <chrono>

namespace gatehouse::base {

// An interface; implementations must be thread-safe and never go backwards.
class Clock {
 public:
  Clock() = default;
  Clock(const Clock&) = delete;
  Clock& operator=(const Clock&) = delete;
  Clock(Clock&&) = delete;
  Clock& operator=(Clock&&) = delete;
  virtual ~Clock() = default;

  virtual std::chrono::steady_clock::time_point Now() const = 0;
};

// Reads std::chrono::steady_clock. Stateless, so thread-safe.
class SteadyClock final : public Clock {
 public:
  std::chrono::steady_clock::time_point Now() const override {
    return std::chrono::steady_clock::now();
  }
};

// The process-wide steady clock. Never destroyed, so it stays valid for threads still running
// during exit. Thread-safe (the function-local static is initialized once).
inline const Clock& SystemClock() {
  static const Clock* const kClock = new SteadyClock();
  return *kClock;
}

}  // namespace gatehouse::base

#endif  // GATEHOUSE_BASE_CLOCK_H_
