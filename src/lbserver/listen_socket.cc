#include "lbserver/listen_socket.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "lb/upstream.h"

namespace gatehouse::lbserver {
namespace {

// The kernel caps it at net.core.somaxconn; asking for more costs nothing.
constexpr int kBacklog = 65535;

absl::Status Errno(const char* operation, const asio::ip::tcp::endpoint& endpoint) {
  const int error = errno;  // before anything that may allocate
  return absl::ErrnoToStatus(error, absl::StrCat(operation, " ", lb::EndpointName(endpoint)));
}

}  // namespace

absl::StatusOr<base::UniqueFd> OpenListenSocket(const asio::ip::tcp::endpoint& endpoint,
                                                PortSharing sharing) {
  const int family = endpoint.address().is_v6() ? AF_INET6 : AF_INET;
  base::UniqueFd fd(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.is_valid()) return Errno("socket", endpoint);
  const int on = 1;
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0) {
    return Errno("setsockopt SO_REUSEADDR", endpoint);
  }
  if (sharing == PortSharing::kShared &&
      ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0) {
    return Errno("setsockopt SO_REUSEPORT", endpoint);
  }
  if (family == AF_INET6 &&
      ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) != 0) {
    return Errno("setsockopt IPV6_V6ONLY", endpoint);
  }
  if (::bind(fd.get(), endpoint.data(), static_cast<socklen_t>(endpoint.size())) != 0) {
    return Errno("bind", endpoint);
  }
  if (::listen(fd.get(), kBacklog) != 0) return Errno("listen", endpoint);
  return fd;
}

absl::StatusOr<asio::ip::tcp::endpoint> BoundEndpoint(int fd) {
  asio::ip::tcp::endpoint endpoint;
  auto size = static_cast<socklen_t>(endpoint.capacity());
  if (::getsockname(fd, endpoint.data(), &size) != 0) {
    return absl::ErrnoToStatus(errno, "getsockname of a listening socket");
  }
  endpoint.resize(size);
  return endpoint;
}

}  // namespace gatehouse::lbserver
