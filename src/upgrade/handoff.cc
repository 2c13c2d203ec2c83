#include "upgrade/handoff.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace gatehouse::upgrade {
namespace {

constexpr absl::string_view kHello = "hello";
constexpr absl::string_view kListener = "listener ";
constexpr absl::string_view kEnd = "end";
constexpr absl::string_view kReady = "ready";

// Receives a message that must be `expected`.
absl::Status Expect(DescriptorChannel& channel, absl::string_view expected,
                    std::chrono::milliseconds timeout) {
  absl::StatusOr<Message> message = channel.Receive(timeout);
  if (!message.ok()) {
    return {message.status().code(),
            absl::StrCat("waiting for \"", expected, "\": ", message.status().message())};
  }
  if (message->text != expected || message->fd.is_valid()) {
    return absl::FailedPreconditionError(
        absl::StrCat("upgrade channel: expected \"", expected, "\", got \"", message->text, "\""));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status HandOverListeners(DescriptorChannel& channel, const BorrowedListeners& listeners,
                               std::chrono::milliseconds timeout) {
  if (absl::Status hello = Expect(channel, kHello, timeout); !hello.ok()) return hello;
  for (const auto& [name, fds] : listeners) {
    for (const int fd : fds) {
      if (absl::Status sent = channel.Send(absl::StrCat(kListener, name), fd, timeout);
          !sent.ok()) {
        return sent;
      }
    }
  }
  return channel.Send(kEnd, -1, timeout);
}

absl::Status AwaitTakeover(DescriptorChannel& channel, std::chrono::milliseconds timeout) {
  return Expect(channel, kReady, timeout);
}

absl::StatusOr<ListenerSockets> TakeListeners(DescriptorChannel& channel,
                                              std::chrono::milliseconds timeout) {
  if (absl::Status hello = channel.Send(kHello, -1, timeout); !hello.ok()) return hello;
  ListenerSockets sockets;
  size_t count = 0;
  while (true) {
    absl::StatusOr<Message> message = channel.Receive(timeout);
    if (!message.ok()) return message.status();
    if (message->text == kEnd && !message->fd.is_valid()) return sockets;
    absl::string_view name = message->text;
    if (!absl::ConsumePrefix(&name, kListener) || name.empty() || !message->fd.is_valid()) {
      return absl::FailedPreconditionError(
          absl::StrCat(R"(upgrade channel: expected a listener or "end", got ")", message->text,
                       "\"", message->fd.is_valid() ? " with a descriptor" : ""));
    }
    if (++count > kMaxHandedSockets) {
      return absl::ResourceExhaustedError(
          absl::StrCat("upgrade channel: more than ", kMaxHandedSockets, " sockets"));
    }
    sockets[static_cast<std::string>(name)].push_back(std::move(message->fd));
  }
}

absl::Status ConfirmTakeover(DescriptorChannel& channel) { return channel.Send(kReady); }

}  // namespace gatehouse::upgrade
