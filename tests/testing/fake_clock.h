// FakeClock: a base::Clock that moves only when a test calls Advance, so time-dependent code is
// tested deterministically and without sleeping. Thread-safe: one thread may advance it while
// others read it.
#ifndef GATEHOUSE_TESTS_TESTING_FAKE_CLOCK_H_
#define GATEHOUSE_TESTS_TESTING_FAKE_CLOCK_H_

#include <atomic>
#include <chrono>

#include "base/clock.h"

namespace gatehouse::testing {

class FakeClock : public base::Clock {
 public:
  // Starts at an arbitrary point well after the clock's epoch (one day), so code that subtracts
  // durations from Now() stays clear of the epoch.
  FakeClock() : FakeClock(std::chrono::steady_clock::time_point(std::chrono::hours(24))) {}
  explicit FakeClock(std::chrono::steady_clock::time_point start)
      : now_ticks_(start.time_since_epoch().count()) {}

  std::chrono::steady_clock::time_point Now() const override {
    return std::chrono::steady_clock::time_point(
        std::chrono::steady_clock::duration(now_ticks_.load()));
  }

  // Moves time forward by `duration` (negative durations are ignored: a steady clock never goes
  // back). Sequentially consistent, like the default atomics: tests are not hot paths, and a
  // reader that synchronizes with the advancing thread sees the new time.
  void Advance(std::chrono::steady_clock::duration duration) {
    if (duration.count() > 0) now_ticks_.fetch_add(duration.count());
  }

 private:
  std::atomic<std::chrono::steady_clock::rep> now_ticks_;  // since the steady_clock epoch
};

}  // namespace gatehouse::testing

#endif  // GATEHOUSE_TESTS_TESTING_FAKE_CLOCK_H_
