// WaitFor: polls a condition until it holds or a deadline passes. Tests use it instead of
// sleeping: the wait ends as soon as the condition is true, and a broken condition fails the
// test after the deadline instead of hanging it.
#ifndef GATEHOUSE_TESTS_TESTING_WAIT_FOR_H_
#define GATEHOUSE_TESTS_TESTING_WAIT_FOR_H_

#include <chrono>
#include <thread>

namespace gatehouse::testing {

template <typename Condition>
bool WaitFor(Condition condition, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    // Polling interval, not synchronization: the condition is re-checked until the deadline.
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

}  // namespace gatehouse::testing

#endif  // GATEHOUSE_TESTS_TESTING_WAIT_FOR_H_
