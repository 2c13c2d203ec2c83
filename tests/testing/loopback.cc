#include "testing/loopback.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cerrno>

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace gatehouse::testing {

sockaddr_in LoopbackAddress(uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

void SetSocketTimeouts(int fd, std::chrono::seconds timeout) {
  const timeval value{static_cast<time_t>(timeout.count()), 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &value, sizeof(value));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &value, sizeof(value));
}

base::UniqueFd ConnectLoopback(uint16_t port, std::chrono::seconds timeout) {
  base::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  SetSocketTimeouts(fd.get(), timeout);
  const sockaddr_in address = LoopbackAddress(port);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    ADD_FAILURE() << absl::ErrnoToStatus(errno, "connect to 127.0.0.1:" + std::to_string(port));
    return {};
  }
  return fd;
}

base::UniqueFd TryConnect(const std::string& host, uint16_t port, std::chrono::seconds timeout) {
  base::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  SetSocketTimeouts(fd.get(), timeout);
  sockaddr_in address = LoopbackAddress(port);
  if (::inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1 ||
      ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    return {};
  }
  return fd;
}

}  // namespace gatehouse::testing
