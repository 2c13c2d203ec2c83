// Runs test code inside a network namespace of its own, so that tests can bind any port and
// attach BPF programs without touching the host's network (needs root).
#ifndef GATEHOUSE_TESTS_TESTING_NETWORK_NAMESPACE_H_
#define GATEHOUSE_TESTS_TESTING_NETWORK_NAMESPACE_H_

#include <functional>

#include "absl/status/status.h"

namespace gatehouse::testing {

// Runs `body` on a new thread moved into a fresh network namespace whose `lo` is up, and waits
// for it. Threads `body` starts inherit the namespace; the caller's thread stays in its own.
// An error (and `body` not run) when the namespace cannot be made, e.g. without root.
absl::Status RunInNewNetworkNamespace(const std::function<void()>& body);

}  // namespace gatehouse::testing

#endif  // GATEHOUSE_TESTS_TESTING_NETWORK_NAMESPACE_H_
