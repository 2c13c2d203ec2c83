// DescriptorChannel: messages, each with at most one file descriptor attached, over a unix
// SOCK_SEQPACKET socket (one end of a socketpair that a process shares with the one it starts).
// Message boundaries are kept by the socket; descriptors travel as SCM_RIGHTS and arrive
// close-on-exec. Every receive has a deadline. Thread-compatible.
#ifndef GATEHOUSE_UPGRADE_DESCRIPTOR_CHANNEL_H_
#define GATEHOUSE_UPGRADE_DESCRIPTOR_CHANNEL_H_

#include <chrono>
#include <cstddef>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/unique_fd.h"

namespace gatehouse::upgrade {

// The longest message text: enough for a listener's name.
inline constexpr size_t kMaxMessageBytes = 1024;

struct Message {
  std::string text;
  base::UniqueFd fd;  // empty when none came with it
};

class DescriptorChannel {
 public:
  // A connected pair, both ends close-on-exec.
  static absl::StatusOr<std::pair<DescriptorChannel, DescriptorChannel>> MakePair();

  // Takes ownership of `socket`, a connected SOCK_SEQPACKET unix socket.
  explicit DescriptorChannel(base::UniqueFd socket) : socket_(std::move(socket)) {}

  // Sends `text` (at most kMaxMessageBytes) and, when `fd` >= 0, a duplicate of `fd` (the
  // caller keeps its own). Blocks until the peer's buffer takes it, for at most `timeout`;
  // Unavailable when the peer has closed its end.
  absl::Status Send(absl::string_view text, int fd = -1,
                    std::chrono::milliseconds timeout = std::chrono::seconds(5));

  // The next message. DeadlineExceeded after `timeout`; Unavailable when the peer has closed
  // its end; DataLoss for a message that did not fit (text or descriptors cut off).
  absl::StatusOr<Message> Receive(std::chrono::milliseconds timeout);

  int fd() const { return socket_.get(); }
  // Gives up the socket (to hand it to a process about to be started).
  base::UniqueFd ReleaseSocket() { return std::move(socket_); }

 private:
  base::UniqueFd socket_;
};

}  // namespace gatehouse::upgrade

#endif  // GATEHOUSE_UPGRADE_DESCRIPTOR_CHANNEL_H_
