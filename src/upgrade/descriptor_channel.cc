#include "upgrade/descriptor_channel.h"

#include <poll.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace gatehouse::upgrade {
namespace {

// Waits until `fd` is ready for `events`, retrying on EINTR, for at most `timeout`.
absl::Status WaitFor(int fd, short events, std::chrono::milliseconds timeout,
                     absl::string_view what) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() < 0) {
      return absl::DeadlineExceededError(
          absl::StrCat(what, ": nothing within ", timeout.count(), " ms"));
    }
    pollfd entry{fd, events, 0};
    const int ready = ::poll(&entry, 1, static_cast<int>(left.count()));
    if (ready > 0) return absl::OkStatus();
    if (ready < 0 && errno != EINTR) {
      return absl::ErrnoToStatus(errno, absl::StrCat(what, ": poll"));
    }
  }
}

}  // namespace

absl::StatusOr<std::pair<DescriptorChannel, DescriptorChannel>> DescriptorChannel::MakePair() {
  std::array<int, 2> fds{};
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds.data()) != 0) {
    return absl::ErrnoToStatus(errno, "socketpair for the upgrade channel");
  }
  return std::make_pair(DescriptorChannel(base::UniqueFd(fds[0])),
                        DescriptorChannel(base::UniqueFd(fds[1])));
}

absl::Status DescriptorChannel::Send(absl::string_view text, int fd,
                                     std::chrono::milliseconds timeout) {
  if (text.size() > kMaxMessageBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("upgrade message of ", text.size(), " bytes; at most ", kMaxMessageBytes));
  }
  if (text.empty()) return absl::InvalidArgumentError("empty upgrade message");
  if (absl::Status ready = WaitFor(socket_.get(), POLLOUT, timeout, "send on the upgrade channel");
      !ready.ok()) {
    return ready;
  }
  iovec data{const_cast<char*>(text.data()), text.size()};  // sendmsg does not write it
  msghdr header{};
  header.msg_iov = &data;
  header.msg_iovlen = 1;
  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int))> control{};
  if (fd >= 0) {
    header.msg_control = control.data();
    header.msg_controllen = control.size();
    cmsghdr* rights = CMSG_FIRSTHDR(&header);
    rights->cmsg_level = SOL_SOCKET;
    rights->cmsg_type = SCM_RIGHTS;
    rights->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(rights), &fd, sizeof(int));
  }
  while (true) {
    const ssize_t sent = ::sendmsg(socket_.get(), &header, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent == static_cast<ssize_t>(text.size())) return absl::OkStatus();
    if (sent < 0 && errno == EINTR) continue;
    if (sent < 0 && (errno == EPIPE || errno == ECONNRESET)) {
      return absl::UnavailableError(
          absl::StrCat("send \"", text, "\": the upgrade channel's peer closed it"));
    }
    return absl::ErrnoToStatus(sent < 0 ? errno : EMSGSIZE,
                               absl::StrCat("send \"", text, "\" on the upgrade channel"));
  }
}

absl::StatusOr<Message> DescriptorChannel::Receive(std::chrono::milliseconds timeout) {
  if (absl::Status ready = WaitFor(socket_.get(), POLLIN, timeout, "upgrade channel");
      !ready.ok()) {
    return ready;
  }
  // One byte more than the longest message, so that a longer one shows as cut off.
  std::array<char, kMaxMessageBytes + 1> text{};
  iovec data{text.data(), text.size()};
  msghdr header{};
  header.msg_iov = &data;
  header.msg_iovlen = 1;
  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(int))> control{};
  header.msg_control = control.data();
  header.msg_controllen = control.size();
  ssize_t received = 0;
  do {
    received = ::recvmsg(socket_.get(), &header, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  } while (received < 0 && errno == EINTR);
  if (received < 0) return absl::ErrnoToStatus(errno, "receive on the upgrade channel");
  Message message;
  for (cmsghdr* part = CMSG_FIRSTHDR(&header); part != nullptr; part = CMSG_NXTHDR(&header, part)) {
    if (part->cmsg_level == SOL_SOCKET && part->cmsg_type == SCM_RIGHTS &&
        part->cmsg_len == CMSG_LEN(sizeof(int))) {
      int fd = -1;
      std::memcpy(&fd, CMSG_DATA(part), sizeof(int));
      message.fd.Reset(fd);
    }
  }
  if (received == 0) return absl::UnavailableError("the upgrade channel's peer closed it");
  if ((header.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 ||
      static_cast<size_t>(received) > kMaxMessageBytes) {
    return absl::DataLossError(
        absl::StrCat("a message on the upgrade channel was cut off (", received, " bytes)"));
  }
  message.text.assign(text.data(), static_cast<size_t>(received));
  return message;
}

}  // namespace gatehouse::upgrade
