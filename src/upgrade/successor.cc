#include "upgrade/successor.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

extern char** environ;  // NOLINT(readability-redundant-declaration): POSIX declares it nowhere

namespace gatehouse::upgrade {

absl::StatusOr<std::string> OwnExecutablePath() {
  std::error_code error;
  const std::filesystem::path path = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) return absl::InternalError(absl::StrCat("read /proc/self/exe: ", error.message()));
  return path.string();
}

absl::StatusOr<pid_t> StartSuccessor(const std::string& executable,
                                     const std::vector<std::string>& argv,
                                     DescriptorChannel channel) {
  if (argv.empty()) return absl::InvalidArgumentError("start the successor: no argv");
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  const std::string variable = absl::StrCat(kUpgradeFdVariable, "=");
  std::vector<std::string> environment = {absl::StrCat(variable, kSuccessorChannelFd)};
  for (char** entry = environ; *entry != nullptr; ++entry) {
    if (!absl::StartsWith(*entry, variable)) environment.emplace_back(*entry);
  }
  std::vector<char*> env;
  env.reserve(environment.size() + 1);
  for (std::string& entry : environment) env.push_back(entry.data());
  env.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  if (const int error = ::posix_spawn_file_actions_init(&actions); error != 0) {
    return absl::ErrnoToStatus(error, "posix_spawn_file_actions_init");
  }
  posix_spawnattr_t attributes;
  if (const int error = ::posix_spawnattr_init(&attributes); error != 0) {
    ::posix_spawn_file_actions_destroy(&actions);
    return absl::ErrnoToStatus(error, "posix_spawnattr_init");
  }
  // dup2 clears close-on-exec on the copy, so the channel (and only it) survives the exec.
  int error = ::posix_spawn_file_actions_adddup2(&actions, channel.fd(), kSuccessorChannelFd);
  // The caller's thread blocks the signals the daemon waits for; the successor starts as any
  // process does, with none blocked, and blocks its own.
  sigset_t none;
  sigemptyset(&none);
  if (error == 0) error = ::posix_spawnattr_setsigmask(&attributes, &none);
  if (error == 0) error = ::posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK);
  pid_t pid = -1;
  if (error == 0) {
    error = ::posix_spawn(&pid, executable.c_str(), &actions, &attributes, args.data(), env.data());
  }
  ::posix_spawnattr_destroy(&attributes);
  ::posix_spawn_file_actions_destroy(&actions);
  if (error != 0) return absl::ErrnoToStatus(error, absl::StrCat("start ", executable));
  return pid;
}

absl::StatusOr<std::optional<DescriptorChannel>> ChannelFromEnvironment() {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): called before any thread starts (see the header).
  const char* variable = std::getenv(kUpgradeFdVariable);
  if (variable == nullptr) return std::optional<DescriptorChannel>();
  const std::string value = variable;  // unsetenv may free it
  int fd = -1;
  const bool parsed = absl::SimpleAtoi(value, &fd) && fd > STDERR_FILENO;
  // NOLINTNEXTLINE(concurrency-mt-unsafe): as above.
  ::unsetenv(kUpgradeFdVariable);
  int type = 0;
  socklen_t length = sizeof(type);
  if (!parsed || ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) != 0 ||
      type != SOCK_SEQPACKET) {
    return absl::InvalidArgumentError(absl::StrCat(
        kUpgradeFdVariable, "=", value, " does not name the upgrade channel (a unix socket)"));
  }
  // Not to be inherited again: by jobs, or by a successor of this process.
  if (::fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
    return absl::ErrnoToStatus(errno, "set close-on-exec on the upgrade channel");
  }
  return std::optional<DescriptorChannel>(DescriptorChannel(base::UniqueFd(fd)));
}

}  // namespace gatehouse::upgrade
