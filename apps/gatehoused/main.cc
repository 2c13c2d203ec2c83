// gatehoused: the Gatehouse daemon. Flag parsing, config loading and signal handling only; the
// daemon itself is node::Node.
//
//   gatehoused [--config FILE] [--check]
// Without --config it runs the embedded default (loopback only, dev PKI under ./.gatehouse/).
// SIGHUP reloads the config; SIGTERM and SIGINT shut down. Exit codes: 0 clean shutdown or a
// config that checks out, 1 a config or start-up error (nothing was started), 2 usage error.
#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <exception>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "base/logging.h"
#include "common/command_line.h"
#include "config/config_loader.h"
#include "config/default_config.h"
#include "node/node.h"
#include "spdlog/spdlog.h"

namespace {

using gatehouse::apps::kExitFailure;

absl::StatusOr<gatehouse::config::Config> LoadConfig(const std::string& path) {
  if (path.empty()) {
    return gatehouse::config::ParseConfig(gatehouse::config::EmbeddedDefaultConfig(),
                                          gatehouse::config::kEmbeddedDefaultConfigName);
  }
  return gatehouse::config::LoadConfigFile(path);
}

void Reload(const std::string& config_path, gatehouse::node::Node& node) {
  const std::string source =
      config_path.empty() ? static_cast<std::string>(gatehouse::config::kEmbeddedDefaultConfigName)
                          : config_path;
  spdlog::info("SIGHUP: reloading {}", source);
  absl::StatusOr<gatehouse::config::Config> config = LoadConfig(config_path);
  if (absl::Status status = node.Reload(config); !status.ok()) {
    spdlog::error("reload rejected, keeping the running configuration: {}", status.message());
    return;
  }
  if (absl::Status logging =
          gatehouse::base::ConfigureLogging(config->log.format, config->log.level);
      !logging.ok()) {
    spdlog::error("reload: {}", logging.message());
  }
  spdlog::info("reload applied");
}

// Waits for signals on the main thread. All threads inherit the blocked mask, so the signals
// are only ever delivered here, synchronously.
int ServeUntilTerminated(const std::string& config_path, gatehouse::node::Node& node,
                         const sigset_t& signals) {
  while (true) {
    // The timeout only bounds each wait; nothing needs doing when it expires.
    const timespec timeout{1, 0};
    const int signal_number = ::sigtimedwait(&signals, nullptr, &timeout);
    if (signal_number < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      spdlog::critical("{}", absl::ErrnoToStatus(errno, "sigtimedwait"));
      return kExitFailure;
    }
    if (signal_number == SIGHUP) {
      Reload(config_path, node);
      continue;
    }
    spdlog::info("SIG{}: shutting down", ::sigabbrev_np(signal_number));
    node.Stop();
    spdlog::info("stopped");
    return 0;
  }
}

int Main(int argc, char** argv) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  // Before any thread exists, so every thread inherits the mask.
  ::pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // A peer closing a socket mid-write must be an error code, not the end of the daemon.
  ::signal(SIGPIPE, SIG_IGN);

  CLI::App app{"gatehoused: the Gatehouse secure infrastructure node"};
  std::string config_path;
  bool check_only = false;
  app.add_option("--config", config_path,
                 "YAML config file (default: the embedded loopback-only config)");
  app.add_flag("--check", check_only, "Check the config, print the result and exit");
  if (std::optional<int> exit_code = gatehouse::apps::ParseCommandLine(app, argc, argv)) {
    return *exit_code;
  }

  absl::StatusOr<gatehouse::config::Config> config = LoadConfig(config_path);
  if (!config.ok()) {
    std::cerr << "gatehoused: " << config.status().message() << "\n";
    return kExitFailure;
  }
  if (check_only) {
    if (absl::Status status = gatehouse::node::Validate(*config); !status.ok()) {
      std::cerr << "gatehoused: " << status.message() << "\n";
      return kExitFailure;
    }
    std::cout << "configuration OK\n";
    return 0;
  }
  if (absl::Status status =
          gatehouse::base::ConfigureLogging(config->log.format, config->log.level);
      !status.ok()) {
    std::cerr << "gatehoused: " << status.message() << "\n";
    return kExitFailure;
  }
  absl::StatusOr<std::unique_ptr<gatehouse::node::Node>> node =
      gatehouse::node::Node::Start(*config);
  if (!node.ok()) {
    spdlog::critical("start-up failed, nothing started: {}", node.status().message());
    return kExitFailure;
  }
  return ServeUntilTerminated(config_path, **node, signals);
}

}  // namespace

int main(int argc, char** argv) {
  // Our code throws nothing; this catches what a dependency might (CLI11, std::bad_alloc).
  try {
    return Main(argc, argv);
  } catch (const std::exception& error) {
    std::cerr << "gatehoused: fatal: " << error.what() << "\n";
  }
  return kExitFailure;
}
