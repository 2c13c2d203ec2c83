// Blocking loopback sockets for tests. Every socket carries send and receive timeouts, so a
// test whose peer misbehaves fails at the deadline instead of hanging.
#ifndef GATEHOUSE_TESTS_TESTING_LOOPBACK_H_
#define GATEHOUSE_TESTS_TESTING_LOOPBACK_H_

#include <netinet/in.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "base/unique_fd.h"

namespace gatehouse::testing {

// 127.0.0.1:`port`.
sockaddr_in LoopbackAddress(uint16_t port);

// Sets SO_RCVTIMEO and SO_SNDTIMEO on a borrowed socket.
void SetSocketTimeouts(int fd, std::chrono::seconds timeout);

// A connected TCP socket to 127.0.0.1:`port` with `timeout` on every send and receive; fails
// the current test (and returns an empty fd) when the connection is refused.
base::UniqueFd ConnectLoopback(uint16_t port,
                               std::chrono::seconds timeout = std::chrono::seconds(10));

// A connected TCP socket to `host` (an IPv4 literal, e.g. "127.0.0.2") and `port`, with
// `timeout` on every send and receive; an empty fd when the connection fails, which is an answer
// here, not a test failure (a listener that must refuse).
base::UniqueFd TryConnect(const std::string& host, uint16_t port,
                          std::chrono::seconds timeout = std::chrono::seconds(10));

}  // namespace gatehouse::testing

#endif  // GATEHOUSE_TESTS_TESTING_LOOPBACK_H_
