// The binary upgrade's protocol over a DescriptorChannel (RFD 0003 section 5). The running
// process (the predecessor) starts its successor with one end of the channel; then:
//
//   successor -> "hello"
//   predecessor -> "listener NAME" with a listening socket, once per socket (a name repeats
//                  once per worker), then "end"
//   successor starts serving on them (and on what it opens itself) -> "ready"
//
// after which the predecessor stops accepting, drains and exits. If the successor closes the
// channel (it exited) or is silent past a deadline, the predecessor keeps serving.
#ifndef GATEHOUSE_UPGRADE_HANDOFF_H_
#define GATEHOUSE_UPGRADE_HANDOFF_H_

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/unique_fd.h"
#include "upgrade/descriptor_channel.h"

namespace gatehouse::upgrade {

// Listening sockets by name, in worker order.
using ListenerSockets = std::map<std::string, std::vector<base::UniqueFd>>;
// The same, borrowed: the predecessor keeps serving on them until the successor is ready.
using BorrowedListeners = std::map<std::string, std::vector<int>>;

// The most sockets a successor takes: a bound on what a confused peer can make it hold.
inline constexpr size_t kMaxHandedSockets = 65536;

// Predecessor: waits up to `timeout` for "hello", then sends every socket of `listeners`.
absl::Status HandOverListeners(DescriptorChannel& channel, const BorrowedListeners& listeners,
                               std::chrono::milliseconds timeout);
// Predecessor: waits up to `timeout` for "ready". Unavailable when the successor closed the
// channel first (it exited); DeadlineExceeded when it said nothing in time.
absl::Status AwaitTakeover(DescriptorChannel& channel, std::chrono::milliseconds timeout);

// Successor: says "hello" and takes the sockets, each message within `timeout`.
absl::StatusOr<ListenerSockets> TakeListeners(DescriptorChannel& channel,
                                              std::chrono::milliseconds timeout);
// Successor: tells the predecessor it serves now.
absl::Status ConfirmTakeover(DescriptorChannel& channel);

}  // namespace gatehouse::upgrade

#endif  // GATEHOUSE_UPGRADE_HANDOFF_H_
