// SocketInNetworkNamespace against a network namespace the test makes itself (needs root).
#include "net/namespaced_socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/loopback.h"
#include "testing/status_matchers.h"

namespace gatehouse::net {
namespace {

using ::gatehouse::testing::IsOk;

// A fresh network namespace (only a down lo), made on a thread of its own so that the test's
// thread stays in the host's.
base::UniqueFd NewNetworkNamespace() {
  base::UniqueFd made;
  std::thread([&made] {
    if (::unshare(CLONE_NEWNET) != 0) return;
    made.Reset(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  }).join();
  return made;
}

// A listener on 127.0.0.1 with a kernel-chosen port; returns the port.
uint16_t ListenOnLoopback(int fd) {
  sockaddr_in address = testing::LoopbackAddress(0);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) return 0;
  if (::listen(fd, 8) != 0) return 0;
  socklen_t length = sizeof(address);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return 0;
  return ntohs(address.sin_port);
}

// Connects the non-blocking `fd` to 127.0.0.1:port; 0 once connected, else the errno.
int ConnectToLoopback(int fd, uint16_t port) {
  const sockaddr_in address = testing::LoopbackAddress(port);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0) return 0;
  if (errno != EINPROGRESS) return errno;
  pollfd waiting{fd, POLLOUT, 0};
  if (::poll(&waiting, 1, 10000) != 1) return ETIMEDOUT;
  int error = 0;
  socklen_t length = sizeof(error);
  ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
  return error;
}

class NamespacedSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to make a network namespace";
    namespace_ = NewNetworkNamespace();
    ASSERT_TRUE(namespace_.is_valid()) << "unshare(CLONE_NEWNET) failed";
  }

  base::UniqueFd namespace_;
};

TEST_F(NamespacedSocketTest, SocketLivesInTheNamespaceAndTheThreadStaysInItsOwn) {
  // The host listens on its loopback; a socket of the namespace cannot reach it.
  base::UniqueFd host_listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const uint16_t host_port = ListenOnLoopback(host_listener.get());
  ASSERT_NE(host_port, 0);
  absl::StatusOr<base::UniqueFd> outsider = SocketInNetworkNamespace(namespace_.get(), AF_INET);
  ASSERT_THAT(outsider, IsOk());
  EXPECT_NE(ConnectToLoopback(outsider->get(), host_port), 0);

  // Bring the namespace's lo up (through a socket of that namespace), listen there, and connect
  // from another socket made there: the namespace's own loopback works.
  absl::StatusOr<base::UniqueFd> control = SocketInNetworkNamespace(namespace_.get(), AF_INET);
  ASSERT_THAT(control, IsOk());
  ifreq request{};
  std::strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
  request.ifr_flags = IFF_UP;
  ASSERT_EQ(::ioctl(control->get(), SIOCSIFFLAGS, &request), 0)
      << std::error_code(errno, std::system_category()).message();
  absl::StatusOr<base::UniqueFd> inner_listener =
      SocketInNetworkNamespace(namespace_.get(), AF_INET);
  ASSERT_THAT(inner_listener, IsOk());
  const uint16_t inner_port = ListenOnLoopback(inner_listener->get());
  ASSERT_NE(inner_port, 0);
  absl::StatusOr<base::UniqueFd> inner = SocketInNetworkNamespace(namespace_.get(), AF_INET);
  ASSERT_THAT(inner, IsOk());
  EXPECT_EQ(ConnectToLoopback(inner->get(), inner_port), 0);

  // This thread is back home: its plain sockets reach the host's listener again, and the same
  // port in the host namespace is not the namespace's listener.
  base::UniqueFd home(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  EXPECT_EQ(ConnectToLoopback(home.get(), host_port), 0);
  char own[64] = {};
  char now[64] = {};
  ASSERT_GT(::readlink("/proc/self/ns/net", own, sizeof(own) - 1), 0);
  ASSERT_GT(::readlink("/proc/thread-self/ns/net", now, sizeof(now) - 1), 0);
  EXPECT_STREQ(own, now);
}

TEST_F(NamespacedSocketTest, ADescriptorThatIsNoNamespaceIsAnError) {
  base::UniqueFd not_a_namespace(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  const absl::StatusOr<base::UniqueFd> socket =
      SocketInNetworkNamespace(not_a_namespace.get(), AF_INET);
  EXPECT_THAT(socket.status(), ::gatehouse::testing::StatusIs(absl::StatusCode::kInvalidArgument,
                                                              ::testing::HasSubstr("setns")));
}

}  // namespace
}  // namespace gatehouse::net
