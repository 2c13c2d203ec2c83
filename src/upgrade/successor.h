// Starting the successor of a binary upgrade, and finding the channel in it.
//
// The predecessor runs the same executable path with the same arguments (the file at that path
// may have been replaced: that is the upgrade); the successor inherits its end of the channel
// as descriptor kSuccessorChannelFd, named by the GATEHOUSE_UPGRADE_FD environment variable,
// and the predecessor's standard output and error (so both log to the same place).
#ifndef GATEHOUSE_UPGRADE_SUCCESSOR_H_
#define GATEHOUSE_UPGRADE_SUCCESSOR_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "upgrade/descriptor_channel.h"

namespace gatehouse::upgrade {

inline constexpr int kSuccessorChannelFd = 3;
inline constexpr char kUpgradeFdVariable[] = "GATEHOUSE_UPGRADE_FD";

// The path this process was started from, for StartSuccessor: /proc/self/exe names the
// running file, which an upgrade replaces, so call this at start.
absl::StatusOr<std::string> OwnExecutablePath();

// Starts `argv` (argv[0] is shown as the name) from `executable` with `channel` as its upgrade
// channel and this process's environment. Returns its PID; the caller reaps it.
absl::StatusOr<pid_t> StartSuccessor(const std::string& executable,
                                     const std::vector<std::string>& argv,
                                     DescriptorChannel channel);

// In the successor: the channel GATEHOUSE_UPGRADE_FD names, or nullopt when it is not set (an
// ordinary start). Unsets the variable. Call before any thread starts: it changes the
// environment. An error when it is set but does not name a unix socket.
absl::StatusOr<std::optional<DescriptorChannel>> ChannelFromEnvironment();

}  // namespace gatehouse::upgrade

#endif  // GATEHOUSE_UPGRADE_SUCCESSOR_H_
