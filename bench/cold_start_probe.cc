// cold_start_probe: one cold-start sample for bench/launch_benchmark.sh, in microseconds.
//
//   cold_start_probe --target 127.0.0.1:7100 --request 'GET / HTTP/1.0\r\n\r\n'
//       connect, send the request, wait for the first reply byte: the time from the start of the
//       connect to that byte (through gatehoused, whose app starts its server on demand).
//   cold_start_probe --target 127.0.0.1:9200 --request x -- /usr/bin/python3 -m ...
//       the baseline: start the command here, connect every millisecond until it accepts, then
//       the same exchange: the time from the spawn to the first reply byte (the server's own
//       start-up time plus the polling). The server is stopped (SIGTERM, then SIGKILL) after.
//
// Prints the microseconds on stdout; exits 1 (with the reason on stderr) when there was no
// reply within --timeout.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

std::string Unescape(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 1 < text.size()) {
      const char next = text[++i];
      out.push_back(next == 'r' ? '\r' : next == 'n' ? '\n' : next);
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

std::optional<sockaddr_in> ParseTarget(const std::string& target) {
  const size_t colon = target.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  if (::inet_pton(AF_INET, target.substr(0, colon).c_str(), &address.sin_addr) != 1) {
    return std::nullopt;
  }
  address.sin_port = htons(static_cast<uint16_t>(std::stoi(target.substr(colon + 1))));
  return address;
}

// A connected blocking socket, or -1.
int Connect(const sockaddr_in& address) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    ::close(fd);
    return -1;
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

// Sends `request` on `fd` and waits for the first reply byte; false on failure or timeout.
bool FirstByte(int fd, const std::string& request, Clock::time_point deadline) {
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    return false;
  }
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  pollfd readable{fd, POLLIN, 0};
  if (::poll(&readable, 1, static_cast<int>(std::max<int64_t>(left.count(), 0))) != 1) return false;
  char byte = 0;
  return ::recv(fd, &byte, 1, 0) == 1;
}

void StopChild(pid_t child) {
  ::kill(child, SIGTERM);
  for (int i = 0; i < 500; ++i) {
    if (::waitpid(child, nullptr, WNOHANG) == child) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
}

int Run(int argc, char** argv) {
  CLI::App app{"One cold-start sample: connect to first reply byte, in microseconds."};
  std::string target;
  std::string request = "x";
  double timeout_seconds = 30;
  std::vector<std::string> spawn;
  app.add_option("--target", target, "HOST:PORT (IPv4)")->required();
  app.add_option("--request", request, "bytes to send (\\r and \\n are unescaped)");
  app.add_option("--timeout", timeout_seconds, "seconds until a reply must have come");
  // Positional, after `--`, so that the command's own options are not taken for ours.
  app.add_option("command", spawn, "after --: start this command and poll until it accepts");
  CLI11_PARSE(app, argc, argv);
  const std::optional<sockaddr_in> address = ParseTarget(target);
  if (!address.has_value()) {
    std::cerr << "cold_start_probe: bad --target " << target << "\n";
    return 2;
  }
  request = Unescape(request);

  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline = start + std::chrono::duration_cast<Clock::duration>(
                                                 std::chrono::duration<double>(timeout_seconds));
  pid_t child = -1;
  int fd = -1;
  if (!spawn.empty()) {
    std::vector<char*> args;
    args.reserve(spawn.size() + 1);
    for (std::string& arg : spawn) args.push_back(arg.data());
    args.push_back(nullptr);
    // The server's own output (python's banner, say) must not mix with the sample on stdout.
    posix_spawn_file_actions_t quiet;
    ::posix_spawn_file_actions_init(&quiet);
    ::posix_spawn_file_actions_addopen(&quiet, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    ::posix_spawn_file_actions_addopen(&quiet, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    const int spawned = ::posix_spawn(&child, args[0], &quiet, nullptr, args.data(), environ);
    ::posix_spawn_file_actions_destroy(&quiet);
    if (spawned != 0) {
      std::cerr << "cold_start_probe: cannot start " << spawn[0] << "\n";
      return 1;
    }
    while ((fd = Connect(*address)) < 0 && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  } else {
    fd = Connect(*address);
  }
  const bool replied = fd >= 0 && FirstByte(fd, request, deadline);
  const auto took =
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count();
  if (fd >= 0) ::close(fd);
  if (child > 0) StopChild(child);
  if (!replied) {
    std::cerr << "cold_start_probe: no reply from " << target << "\n";
    return 1;
  }
  std::cout << took << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const std::exception& error) {
    std::cerr << "cold_start_probe: " << error.what() << "\n";
    return 1;
  }
}
