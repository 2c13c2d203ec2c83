// OpenListenSocket: a listening TCP socket for one worker of the load balancer.
//
// Each worker gets its own socket on the same address (SO_REUSEPORT), so the kernel spreads new
// connections over the workers with no shared accept queue or lock, as HAProxy and nginx
// (`reuseport`) do. Sockets are non-blocking and close-on-exec (never inherited by a job the
// daemon starts); IPv6 sockets are IPv6-only, so "[::]:443" and "0.0.0.0:443" are two listeners.
#ifndef GATEHOUSE_LBSERVER_LISTEN_SOCKET_H_
#define GATEHOUSE_LBSERVER_LISTEN_SOCKET_H_

#include "absl/status/statusor.h"
#include "asio/ip/tcp.hpp"
#include "base/unique_fd.h"

namespace gatehouse::lbserver {

enum class PortSharing {
  kShared,     // SO_REUSEPORT: the workers' sockets share the address
  kExclusive,  // no other socket can bind the address while this one listens
};

// Binds and listens on `endpoint` (port 0: a free port, which local_endpoint tells). Errors name
// the address and carry the errno's code, e.g. `bind 127.0.0.1:443: Permission denied`.
absl::StatusOr<base::UniqueFd> OpenListenSocket(const asio::ip::tcp::endpoint& endpoint,
                                                PortSharing sharing = PortSharing::kShared);

// The address a socket is bound to. Borrows `fd`.
absl::StatusOr<asio::ip::tcp::endpoint> BoundEndpoint(int fd);

}  // namespace gatehouse::lbserver

#endif  // GATEHOUSE_LBSERVER_LISTEN_SOCKET_H_
