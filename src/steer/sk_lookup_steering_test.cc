// SkLookupSteering against real sockets in a network namespace each test makes (needs root and
// BPF; skipped with the reason otherwise).
#include "steer/sk_lookup_steering.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/loopback.h"
#include "testing/network_namespace.h"
#include "testing/status_matchers.h"

namespace gatehouse::steer {
namespace {

using ::gatehouse::testing::IsOk;
using ::gatehouse::testing::RunInNewNetworkNamespace;
using ::gatehouse::testing::TryConnect;
using ::testing::HasSubstr;

const asio::ip::address kLoopback = asio::ip::make_address("127.0.0.1");

// A blocking listener on 127.0.0.1 with a kernel-chosen port, with receive timeouts so that an
// accept that should have a connection fails instead of hanging.
base::UniqueFd Listen() {
  base::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address = testing::LoopbackAddress(0);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::listen(fd.get(), 4096) != 0) {
    return {};
  }
  testing::SetSocketTimeouts(fd.get(), std::chrono::seconds(5));
  return fd;
}

// The local port of the next connection `listener` accepts; 0 when none comes.
uint16_t AcceptedPort(int listener) {
  const base::UniqueFd accepted(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
  if (!accepted.is_valid()) return 0;
  sockaddr_in local{};
  socklen_t length = sizeof(local);
  if (::getsockname(accepted.get(), reinterpret_cast<sockaddr*>(&local), &length) != 0) return 0;
  return ntohs(local.sin_port);
}

bool Refused(const std::string& host, uint16_t port) {
  return !TryConnect(host, port, std::chrono::seconds(5)).is_valid();
}

// Runs `body` with steering attached in a fresh network namespace.
void WithSteering(const std::function<void(SkLookupSteering&)>& body) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to make a network namespace and load BPF";
  bool skipped = false;
  const absl::Status made = RunInNewNetworkNamespace([&] {
    absl::StatusOr<std::unique_ptr<SkLookupSteering>> steering = SkLookupSteering::Attach();
    if (absl::IsUnimplemented(steering.status())) {
      skipped = true;
      std::printf("SKIPPED: %s\n", steering.status().ToString().c_str());
      return;
    }
    ASSERT_THAT(steering, IsOk());
    body(**steering);
  });
  ASSERT_THAT(made, IsOk());
  if (skipped) GTEST_SKIP() << "this kernel has no BPF sk_lookup";
}

TEST(SkLookupSteeringTest, AThousandPortsAllReachOneSocket) {
  WithSteering([](SkLookupSteering& steering) {
    const base::UniqueFd listener = Listen();
    ASSERT_TRUE(listener.is_valid());
    ASSERT_THAT(steering.SetSocket(0, listener.get()), IsOk());
    constexpr uint16_t kFirst = 20000;
    constexpr uint16_t kCount = 1000;
    for (uint16_t port = kFirst; port < kFirst + kCount; ++port) {
      ASSERT_THAT(steering.SteerPort(kLoopback, port, 0, 1), IsOk());
    }
    for (uint16_t port = kFirst; port < kFirst + kCount; ++port) {
      const base::UniqueFd client = TryConnect("127.0.0.1", port);
      ASSERT_TRUE(client.is_valid()) << "port " << port << " refused";
      // The connection keeps the port the client dialed, not the listener's own.
      ASSERT_EQ(AcceptedPort(listener.get()), port);
    }
    EXPECT_TRUE(Refused("127.0.0.1", kFirst + kCount)) << "a port nobody steers is refused";
    EXPECT_TRUE(Refused("127.0.0.2", kFirst)) << "another address of the same port is not steered";
  });
}

TEST(SkLookupSteeringTest, UnsteeredPortsRefuseAndNewOnesAccept) {
  WithSteering([](SkLookupSteering& steering) {
    const base::UniqueFd listener = Listen();
    ASSERT_THAT(steering.SetSocket(7, listener.get()), IsOk());
    ASSERT_THAT(steering.SteerPort(kLoopback, 20000, 7, 1), IsOk());
    ASSERT_FALSE(Refused("127.0.0.1", 20000));
    EXPECT_EQ(AcceptedPort(listener.get()), 20000);

    ASSERT_THAT(steering.UnsteerPort(kLoopback, 20000), IsOk());
    EXPECT_TRUE(Refused("127.0.0.1", 20000));
    EXPECT_THAT(steering.UnsteerPort(kLoopback, 20000).ToString(), HasSubstr("not steered"));

    ASSERT_THAT(steering.SteerPort(kLoopback, 20001, 7, 1), IsOk());
    ASSERT_FALSE(Refused("127.0.0.1", 20001));
    EXPECT_EQ(AcceptedPort(listener.get()), 20001);
  });
}

TEST(SkLookupSteeringTest, AWildcardAddressMatchesEveryLocalAddress) {
  WithSteering([](SkLookupSteering& steering) {
    const base::UniqueFd listener = Listen();
    ASSERT_THAT(steering.SetSocket(0, listener.get()), IsOk());
    ASSERT_THAT(steering.SteerPort(asio::ip::make_address("0.0.0.0"), 443, 0, 1), IsOk());
    for (const char* host : {"127.0.0.1", "127.0.0.2", "127.1.2.3"}) {
      ASSERT_FALSE(Refused(host, 443)) << host;
      EXPECT_EQ(AcceptedPort(listener.get()), 443) << host;
    }
  });
}

TEST(SkLookupSteeringTest, ConnectionsSpreadOverTheSlotsOfAPort) {
  WithSteering([](SkLookupSteering& steering) {
    const base::UniqueFd first = Listen();
    const base::UniqueFd second = Listen();
    ASSERT_THAT(steering.SetSocket(10, first.get()), IsOk());
    ASSERT_THAT(steering.SetSocket(11, second.get()), IsOk());
    ASSERT_THAT(steering.SteerPort(kLoopback, 8443, 10, 2), IsOk());
    std::vector<base::UniqueFd> clients;
    for (int i = 0; i < 64; ++i) {
      clients.push_back(TryConnect("127.0.0.1", 8443));
      ASSERT_TRUE(clients.back().is_valid());
    }
    // Each socket's accept queue holds what was steered to it: count both without blocking.
    int accepted[2] = {0, 0};
    for (int i = 0; i < 2; ++i) {
      const int fd = i == 0 ? first.get() : second.get();
      ASSERT_EQ(::fcntl(fd, F_SETFL, O_NONBLOCK), 0);
      while (true) {
        const base::UniqueFd got(::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC));
        if (!got.is_valid()) break;
        ++accepted[i];
      }
    }
    EXPECT_EQ(accepted[0] + accepted[1], 64);
    EXPECT_GT(accepted[0], 0);
    EXPECT_GT(accepted[1], 0);
  });
}

TEST(SkLookupSteeringTest, ASlotWithoutASocketAndTheDetachedProgramRefuse) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to make a network namespace and load BPF";
  const absl::Status made = RunInNewNetworkNamespace([] {
    auto steering = SkLookupSteering::Attach();
    if (!steering.ok()) return;  // WithSteering's tests say why
    const base::UniqueFd listener = Listen();
    ASSERT_THAT((*steering)->SteerPort(kLoopback, 20000, 3, 1), IsOk());
    EXPECT_TRUE(Refused("127.0.0.1", 20000)) << "slot 3 holds no socket";
    ASSERT_THAT((*steering)->SetSocket(3, listener.get()), IsOk());
    ASSERT_FALSE(Refused("127.0.0.1", 20000));
    ASSERT_THAT((*steering)->ClearSocket(3), IsOk());
    EXPECT_TRUE(Refused("127.0.0.1", 20000));
    ASSERT_THAT((*steering)->SetSocket(3, listener.get()), IsOk());
    steering->reset();  // detaches the program
    EXPECT_TRUE(Refused("127.0.0.1", 20000));
  });
  ASSERT_THAT(made, IsOk());
}

TEST(SkLookupSteeringTest, SlotsOutsideTheMapAreRefusedWithTheirNumbers) {
  WithSteering([](SkLookupSteering& steering) {
    EXPECT_THAT(steering.SteerPort(kLoopback, 1, SkLookupSteering::kMaxSockets - 1, 2).ToString(),
                HasSubstr("outside"));
    EXPECT_THAT(steering.SteerPort(kLoopback, 1, 0, 0).ToString(), HasSubstr("outside"));
    const base::UniqueFd listener = Listen();
    EXPECT_FALSE(steering.SetSocket(SkLookupSteering::kMaxSockets, listener.get()).ok());
  });
}

}  // namespace
}  // namespace gatehouse::steer
