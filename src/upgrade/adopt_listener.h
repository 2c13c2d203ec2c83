// AdoptListener: whether a listening socket handed over by a binary upgrade's predecessor can
// serve an address of the successor's configuration.
#ifndef GATEHOUSE_UPGRADE_ADOPT_LISTENER_H_
#define GATEHOUSE_UPGRADE_ADOPT_LISTENER_H_

#include "absl/status/status.h"
#include "asio/ip/tcp.hpp"

namespace gatehouse::upgrade {

// OK when `fd` is a listening TCP socket bound to `wanted` (port 0 in `wanted`: any port of its
// address); otherwise FailedPrecondition saying what it is instead (the configuration changed
// across the upgrade), and the caller opens a socket of its own. Borrows `fd`.
absl::Status CheckAdoptable(int fd, const asio::ip::tcp::endpoint& wanted);

}  // namespace gatehouse::upgrade

#endif  // GATEHOUSE_UPGRADE_ADOPT_LISTENER_H_
