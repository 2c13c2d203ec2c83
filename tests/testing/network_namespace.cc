#include "testing/network_namespace.h"

#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "base/unique_fd.h"

namespace gatehouse::testing {
namespace {

absl::Status BringLoopbackUp() {
  const base::UniqueFd control(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!control.is_valid()) return absl::ErrnoToStatus(errno, "socket for SIOCSIFFLAGS");
  ifreq request{};
  std::strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
  if (::ioctl(control.get(), SIOCGIFFLAGS, &request) != 0) {
    return absl::ErrnoToStatus(errno, "SIOCGIFFLAGS lo");
  }
  request.ifr_flags = static_cast<int16_t>(request.ifr_flags | IFF_UP);
  if (::ioctl(control.get(), SIOCSIFFLAGS, &request) != 0) {
    return absl::ErrnoToStatus(errno, "SIOCSIFFLAGS lo up");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RunInNewNetworkNamespace(const std::function<void()>& body) {
  absl::Status made;
  std::thread([&made, &body] {
    if (::unshare(CLONE_NEWNET) != 0) {
      made = absl::ErrnoToStatus(errno, "unshare(CLONE_NEWNET)");
      return;
    }
    made = BringLoopbackUp();
    if (made.ok()) body();
  }).join();
  return made;
}

}  // namespace gatehouse::testing
