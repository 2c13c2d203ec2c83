#include "testing/redis_server.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/unique_fd.h"
#include "gtest/gtest.h"

namespace gatehouse::testing {
namespace {

constexpr int kStartAttempts = 5;

// A port that was free a moment ago: bind port 0, read it, close. Another process may take it
// before redis-server binds it, so callers retry with a new one.
uint16_t PickFreePort() {
  const base::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.is_valid()) return 0;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the sockets API takes sockaddr*
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) return 0;
  socklen_t length = sizeof(address);
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): as above
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0) return 0;
  return ntohs(address.sin_port);
}

std::string RandomPassword() {
  std::random_device device;
  std::string password;
  for (int i = 0; i < 4; ++i) absl::StrAppendFormat(&password, "%08x", device());
  return password;
}

}  // namespace

bool RedisServer::IsInstalled() { return ::access(kBinary, X_OK) == 0; }

RedisServer::RedisServer() : password_(RandomPassword()) {
  std::string output;
  for (int attempt = 0; attempt < kStartAttempts; ++attempt) {
    port_ = PickFreePort();
    if (port_ != 0 && StartOnPort(&output)) return;
  }
  ADD_FAILURE() << "redis-server did not start after " << kStartAttempts
                << " attempts; last output:\n"
                << output;
  port_ = 0;
}

RedisServer::~RedisServer() { Kill(); }

bool RedisServer::StartOnPort(std::string* output) {
  const std::vector<std::string> argv = {kBinary,
                                         "--port",
                                         absl::StrCat(port_),
                                         "--bind",
                                         "127.0.0.1",
                                         "--save",
                                         "",
                                         "--appendonly",
                                         "no",
                                         "--dir",
                                         dir_.path().string(),
                                         "--requirepass",
                                         password_,
                                         "--protected-mode",
                                         "yes",
                                         "--daemonize",
                                         "no"};
  process_ = std::make_unique<ChildProcess>(argv);
  if (process_->WaitForOutput("Ready to accept connections", std::chrono::seconds(10))) {
    return true;
  }
  *output = process_->output();
  Kill();
  return false;
}

void RedisServer::Kill() {
  if (process_ == nullptr) return;
  process_->Signal(SIGKILL);
  process_->WaitForExit(std::chrono::seconds(10));
  process_.reset();
}

bool RedisServer::Restart() {
  Kill();
  if (port_ == 0) return false;
  std::string output;
  // The port was ours a moment ago; a few tries cover a slow release.
  for (int attempt = 0; attempt < kStartAttempts; ++attempt) {
    if (StartOnPort(&output)) return true;
  }
  ADD_FAILURE() << "redis-server did not restart on port " << port_ << "; last output:\n" << output;
  return false;
}

}  // namespace gatehouse::testing
