// SocketInNetworkNamespace: a socket that belongs to another network namespace (a job's), made
// by a thread that enters that namespace for the one socket(2) call and then returns.
//
// A socket stays in the namespace it was created in for its whole life, whoever uses it later:
// the load balancer can connect to 127.0.0.1:<port> of a job's own loopback with a socket made
// here and then drive it from any thread and event loop, while the job itself has no interface
// that reaches the host. setns(2) with CLONE_NEWNET changes only the calling thread, so the
// caller's other threads never see the switch. Needs CAP_SYS_ADMIN. Thread-safe.
#ifndef GATEHOUSE_NET_NAMESPACED_SOCKET_H_
#define GATEHOUSE_NET_NAMESPACED_SOCKET_H_

#include "absl/status/statusor.h"
#include "base/unique_fd.h"

namespace gatehouse::net {

// A non-blocking, close-on-exec TCP socket of `family` (AF_INET or AF_INET6) in the network
// namespace `namespace_fd` refers to (a namespace file or a pidfd, see setns(2)). The calling
// thread is back in its own namespace when this returns, error or not; if it cannot get back,
// the process aborts rather than let that thread open sockets in a job's namespace.
absl::StatusOr<base::UniqueFd> SocketInNetworkNamespace(int namespace_fd, int family);

}  // namespace gatehouse::net

#endif  // GATEHOUSE_NET_NAMESPACED_SOCKET_H_
