// The upgrade channel and protocol between two ends of a real socketpair, with real listening
// sockets on loopback handed over and accepting on the other side; a real successor process.
#include "upgrade/handoff.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <future>
#include <optional>
#include <string>
#include <utility>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "upgrade/adopt_listener.h"
#include "upgrade/descriptor_channel.h"
#include "upgrade/successor.h"

namespace gatehouse::upgrade {
namespace {

using std::chrono::milliseconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::SizeIs;

constexpr milliseconds kTimeout{5000};

// A listening TCP socket on 127.0.0.1, any free port.
base::UniqueFd Listener() {
  base::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  EXPECT_EQ(::listen(fd.get(), 16), 0);
  return fd;
}

uint16_t PortOf(int fd) {
  sockaddr_in address{};
  socklen_t length = sizeof(address);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  return ntohs(address.sin_port);
}

// Connects to 127.0.0.1:`port` and accepts the connection on `listener`: true if it arrived.
bool AcceptsOn(int listener, uint16_t port) {
  base::UniqueFd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  if (::connect(client.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    return false;
  }
  const base::UniqueFd accepted(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
  return accepted.is_valid();
}

std::pair<DescriptorChannel, DescriptorChannel> ChannelPair() {
  auto pair = DescriptorChannel::MakePair();
  EXPECT_TRUE(pair.ok()) << pair.status();
  return *std::move(pair);
}

TEST(HandoffTest, ListenersHandedOverAcceptInTheSuccessorAndItsReadyIsHeard) {
  auto channels = ChannelPair();
  DescriptorChannel& predecessor = channels.first;
  DescriptorChannel& successor = channels.second;
  const base::UniqueFd first = Listener();
  const base::UniqueFd second = Listener();
  const base::UniqueFd admin = Listener();
  const BorrowedListeners listeners = {{"lb:127.0.0.1:0", {first.get(), second.get()}},
                                       {"admin", {admin.get()}}};
  std::future<absl::Status> handed = std::async(std::launch::async, [&] {
    if (absl::Status status = HandOverListeners(predecessor, listeners, kTimeout); !status.ok()) {
      return status;
    }
    return AwaitTakeover(predecessor, kTimeout);
  });
  absl::StatusOr<ListenerSockets> taken = TakeListeners(successor, kTimeout);
  ASSERT_TRUE(taken.ok()) << taken.status();
  EXPECT_THAT(*taken, ElementsAre(Pair("admin", SizeIs(1)), Pair("lb:127.0.0.1:0", SizeIs(2))));
  // Each received descriptor is the same socket, in order: a connection to its port is there.
  EXPECT_TRUE(AcceptsOn((*taken)["lb:127.0.0.1:0"][0].get(), PortOf(first.get())));
  EXPECT_TRUE(AcceptsOn((*taken)["lb:127.0.0.1:0"][1].get(), PortOf(second.get())));
  EXPECT_TRUE(AcceptsOn((*taken)["admin"][0].get(), PortOf(admin.get())));
  EXPECT_NE(::fcntl((*taken)["admin"][0].get(), F_GETFD) & FD_CLOEXEC, 0)
      << "received descriptors must not leak into processes started later";
  ASSERT_TRUE(ConfirmTakeover(successor).ok());
  EXPECT_TRUE(handed.get().ok());
}

TEST(HandoffTest, ASuccessorThatExitsBeforeItIsReadyIsUnavailable) {
  auto channels = ChannelPair();
  DescriptorChannel& predecessor = channels.first;
  DescriptorChannel& successor = channels.second;
  std::future<absl::Status> handed = std::async(std::launch::async, [&] {
    if (absl::Status status = HandOverListeners(predecessor, {}, kTimeout); !status.ok()) {
      return status;
    }
    return AwaitTakeover(predecessor, kTimeout);
  });
  ASSERT_TRUE(TakeListeners(successor, kTimeout).ok());
  successor.ReleaseSocket();  // closes it, as the successor's exit would
  const absl::Status status = handed.get();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
}

TEST(HandoffTest, ASilentSuccessorRunsOutOfTime) {
  auto [predecessor, successor] = ChannelPair();
  const absl::Status status = HandOverListeners(predecessor, {}, milliseconds(100));
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded) << status;
  EXPECT_THAT(status.message(), HasSubstr("hello"));
}

TEST(HandoffTest, UnexpectedMessagesAreErrors) {
  {
    auto [predecessor, successor] = ChannelPair();
    ASSERT_TRUE(successor.Send("howdy").ok());
    const absl::Status status = HandOverListeners(predecessor, {}, kTimeout);
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  }
  {
    auto [predecessor, successor] = ChannelPair();
    ASSERT_TRUE(predecessor.Send("listener lb:x").ok());  // a listener without its socket
    const absl::StatusOr<ListenerSockets> taken = TakeListeners(successor, kTimeout);
    EXPECT_EQ(taken.status().code(), absl::StatusCode::kFailedPrecondition) << taken.status();
    EXPECT_THAT(taken.status().message(), HasSubstr("listener lb:x"));
  }
  {
    auto [predecessor, successor] = ChannelPair();
    predecessor.ReleaseSocket();
    EXPECT_EQ(TakeListeners(successor, kTimeout).status().code(), absl::StatusCode::kUnavailable);
  }
}

TEST(AdoptListenerTest, ASocketIsAdoptedOnlyWhereTheConfigurationListens) {
  const base::UniqueFd listener = Listener();
  const uint16_t port = PortOf(listener.get());
  const asio::ip::address loopback = asio::ip::make_address("127.0.0.1");
  EXPECT_TRUE(CheckAdoptable(listener.get(), {loopback, port}).ok());
  EXPECT_TRUE(CheckAdoptable(listener.get(), {loopback, 0}).ok()) << "port 0: any port";
  const uint16_t other_port = port == 65535 ? port - 1 : port + 1;
  EXPECT_EQ(CheckAdoptable(listener.get(), {loopback, other_port}).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(CheckAdoptable(listener.get(), {asio::ip::make_address("::1"), port}).code(),
            absl::StatusCode::kFailedPrecondition);
  const base::UniqueFd unconnected(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const absl::Status not_listening = CheckAdoptable(unconnected.get(), {loopback, 0});
  EXPECT_EQ(not_listening.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(not_listening.message(), HasSubstr("not a listening socket"));
}

TEST(DescriptorChannelTest, OversizedMessagesAreRefusedOnBothSides) {
  auto [sender, receiver] = ChannelPair();
  EXPECT_EQ(sender.Send(std::string(kMaxMessageBytes + 1, 'x')).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(sender.Send("").code(), absl::StatusCode::kInvalidArgument);
  // A peer that is not this code sends more than a message holds: cut off, and said so.
  const std::string big(kMaxMessageBytes + 100, 'y');
  ASSERT_EQ(::send(sender.fd(), big.data(), big.size(), 0), static_cast<ssize_t>(big.size()));
  EXPECT_EQ(receiver.Receive(kTimeout).status().code(), absl::StatusCode::kDataLoss);
  // The channel goes on after it.
  ASSERT_TRUE(sender.Send("end").ok());
  absl::StatusOr<Message> next = receiver.Receive(kTimeout);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->text, "end");
}

TEST(SuccessorTest, TheSuccessorGetsTheChannelAsItsDescriptorThreeAndTheVariable) {
  auto [mine, theirs] = ChannelPair();
  // The child checks the variable, then writes one message to the channel with the shell.
  absl::StatusOr<pid_t> pid = StartSuccessor(
      "/bin/sh",
      {"sh", "-c",
       "test \"$GATEHOUSE_UPGRADE_FD\" = 3 && test -S /proc/self/fd/3 && printf hello >&3"},
      std::move(theirs));
  ASSERT_TRUE(pid.ok()) << pid.status();
  absl::StatusOr<Message> hello = mine.Receive(kTimeout);
  int status = 0;
  ASSERT_EQ(::waitpid(*pid, &status, 0), *pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  ASSERT_TRUE(hello.ok()) << hello.status();
  EXPECT_EQ(hello->text, "hello");
}

TEST(SuccessorTest, AMissingExecutableIsAnError) {
  auto [mine, theirs] = ChannelPair();
  absl::StatusOr<pid_t> pid =
      StartSuccessor("/nonexistent/gatehoused", {"gatehoused"}, std::move(theirs));
  EXPECT_FALSE(pid.ok());
  EXPECT_THAT(pid.status().message(), HasSubstr("/nonexistent/gatehoused"));
}

TEST(SuccessorTest, TheEnvironmentNamesTheChannelOrNothing) {
  // NOLINTBEGIN(concurrency-mt-unsafe): this test changes the environment, single-threaded.
  ::unsetenv(kUpgradeFdVariable);
  absl::StatusOr<std::optional<DescriptorChannel>> none = ChannelFromEnvironment();
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->has_value());

  auto [mine, theirs] = ChannelPair();
  const int fd = theirs.fd();
  ::setenv(kUpgradeFdVariable, std::to_string(fd).c_str(), 1);
  absl::StatusOr<std::optional<DescriptorChannel>> found = ChannelFromEnvironment();
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->fd(), fd);
  EXPECT_EQ(std::getenv(kUpgradeFdVariable), nullptr) << "the variable is consumed";
  static_cast<void>(theirs.ReleaseSocket().Release());  // `found` owns it now

  const base::UniqueFd not_a_socket(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  for (const std::string& value :
       {std::string("1"), std::string("x"), std::to_string(not_a_socket.get())}) {
    ::setenv(kUpgradeFdVariable, value.c_str(), 1);
    absl::StatusOr<std::optional<DescriptorChannel>> bad = ChannelFromEnvironment();
    EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument) << value;
  }
  // NOLINTEND(concurrency-mt-unsafe)
}

}  // namespace
}  // namespace gatehouse::upgrade
