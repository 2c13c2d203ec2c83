#include "net/namespaced_socket.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace gatehouse::net {
namespace {

// This thread's own network namespace, opened once per thread: a thread that never enters
// another namespace never opens it.
int OwnNetworkNamespace() {
  thread_local const base::UniqueFd kOwn(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  return kOwn.get();
}

}  // namespace

absl::StatusOr<base::UniqueFd> SocketInNetworkNamespace(int namespace_fd, int family) {
  const int own = OwnNetworkNamespace();
  if (own < 0) return absl::ErrnoToStatus(errno, "open /proc/thread-self/ns/net");
  if (::setns(namespace_fd, CLONE_NEWNET) != 0) {
    return absl::ErrnoToStatus(errno, "setns into the job's network namespace");
  }
  base::UniqueFd socket(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  const int socket_errno = errno;
  if (::setns(own, CLONE_NEWNET) != 0) {
    // Going on would leave this thread (an event loop) making its later sockets inside the job.
    std::abort();
  }
  if (!socket.is_valid()) {
    return absl::ErrnoToStatus(socket_errno, "socket in the job's network namespace");
  }
  return socket;
}

}  // namespace gatehouse::net
