// RefusingPort: a loopback port where connections are refused, for tests of dial failures and
// failed health checks. The socket is bound but never listens, so a connect gets a reset at once,
// and the port stays taken for the object's lifetime: no two RefusingPorts share a port, and no
// other server can start on it meanwhile. Thread-compatible.
#ifndef GATEHOUSE_LB_TESTING_REFUSING_PORT_H_
#define GATEHOUSE_LB_TESTING_REFUSING_PORT_H_

#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>

#include "absl/status/status.h"
#include "base/unique_fd.h"
#include "gtest/gtest.h"

namespace gatehouse::lb::testing {

class RefusingPort {
 public:
  // Binds 127.0.0.1:`port` (0 = any free port). A given port is bound with SO_REUSEADDR, so a
  // test can take over the port of a LoopbackServer it has just stopped (whose closed
  // connections may linger in TIME_WAIT), as a LoopbackServer can take over this one once it is
  // destroyed; a server setting SO_REUSEADDR could then share it, which tests do not do. Fails
  // the current test when the port cannot be bound.
  explicit RefusingPort(uint16_t port = 0) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    if (port != 0) {
      const int on = 1;
      ::setsockopt(fd_.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    }
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (::bind(fd_.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
        ::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      ADD_FAILURE() << absl::ErrnoToStatus(errno, "bind 127.0.0.1");
      return;
    }
    port_ = ntohs(address.sin_port);
  }

  uint16_t port() const { return port_; }

 private:
  base::UniqueFd fd_;
  uint16_t port_ = 0;
};

}  // namespace gatehouse::lb::testing

#endif  // GATEHOUSE_LB_TESTING_REFUSING_PORT_H_
