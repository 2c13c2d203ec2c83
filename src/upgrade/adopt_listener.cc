#include "upgrade/adopt_listener.h"

#include <sys/socket.h>

#include <cerrno>

#include "absl/strings/str_cat.h"

namespace gatehouse::upgrade {

absl::Status CheckAdoptable(int fd, const asio::ip::tcp::endpoint& wanted) {
  int listening = 0;
  socklen_t length = sizeof(listening);
  if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) != 0 || listening == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("handed-over descriptor ", fd, " is not a listening socket"));
  }
  asio::ip::tcp::endpoint bound;
  auto size = static_cast<socklen_t>(bound.capacity());
  if (::getsockname(fd, bound.data(), &size) != 0) {
    return absl::ErrnoToStatus(errno, "getsockname of a handed-over socket");
  }
  bound.resize(size);
  if (bound.address() != wanted.address() ||
      (wanted.port() != 0 && bound.port() != wanted.port())) {
    return absl::FailedPreconditionError(
        absl::StrCat("handed-over socket listens on ", bound.address().to_string(), ":",
                     bound.port(), ", not on ", wanted.address().to_string(), ":", wanted.port()));
  }
  return absl::OkStatus();
}

}  // namespace gatehouse::upgrade
