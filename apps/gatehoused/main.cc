// gatehoused: the Gatehouse daemon. Flag parsing, config loading and signal handling only; the
// daemon itself is node::Node.
//
//   gatehoused [--config FILE] [--check]
// Without --config it runs the embedded default (loopback only, dev PKI under ./.gatehouse/).
// With `config_source.etcd` in the file, the config is the document in etcd, watched: every new
// revision applies like a reload, and SIGHUP re-reads it. SIGHUP reloads the config; SIGTERM and
// SIGINT shut down; SIGUSR2 upgrades the binary: the executable at the path this process started
// from is started with the same arguments, takes over every listening socket, and this process
// drains and exits (RFD 0003 section 5). Exit codes: 0 clean shutdown (also after an upgrade) or a
// config that checks out, 1 a config or start-up error (nothing was started), 2 usage error.
#include <sys/types.h>
#include <sys/wait.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <ctime>
#include <exception>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/cleanup/cleanup.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "base/logging.h"
#include "base/status_macros.h"
#include "common/command_line.h"
#include "config/config_loader.h"
#include "config/default_config.h"
#include "node/etcd_config_source.h"
#include "node/node.h"
#include "spdlog/spdlog.h"
#include "upgrade/descriptor_channel.h"
#include "upgrade/handoff.h"
#include "upgrade/successor.h"

namespace {

using gatehouse::apps::kExitFailure;

absl::StatusOr<gatehouse::config::Config> LoadConfig(const std::string& path) {
  if (path.empty()) {
    return gatehouse::config::ParseConfig(gatehouse::config::EmbeddedDefaultConfig(),
                                          gatehouse::config::kEmbeddedDefaultConfigName);
  }
  return gatehouse::config::LoadConfigFile(path);
}

// What SIGUSR2 starts: this process's executable path (read at start, since the file at that
// path may be replaced by then) and arguments.
struct UpgradeTarget {
  absl::StatusOr<std::string> executable;
  std::vector<std::string> argv;
};

// Each message of the handover, and the successor's start until it serves.
constexpr std::chrono::seconds kHandoverTimeout{10};
constexpr std::chrono::seconds kTakeoverTimeout{60};

// Ends a successor that failed to take over: SIGTERM, up to 5 s to exit, then SIGKILL.
void EndSuccessor(pid_t pid) {
  ::kill(pid, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    if (::waitpid(pid, nullptr, WNOHANG) == pid) return;
    // A failed upgrade's slow path only, on the signal thread: polling costs nothing here.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

// Starts the successor and hands it every listening socket; once it serves, drains and returns
// true. On any failure the successor is ended and this process serves on (false).
bool Upgrade(const UpgradeTarget& target, gatehouse::node::Node& node,
             gatehouse::node::EtcdConfigSource* etcd_source) {
  namespace upgrade = gatehouse::upgrade;
  if (!target.executable.ok()) {
    spdlog::error("SIGUSR2: binary upgrade impossible: {}", target.executable.status().message());
    return false;
  }
  spdlog::info("SIGUSR2: binary upgrade: starting {}", *target.executable);
  auto channels = upgrade::DescriptorChannel::MakePair();
  if (!channels.ok()) {
    spdlog::error("binary upgrade failed, still serving: {}", channels.status().message());
    return false;
  }
  absl::StatusOr<pid_t> pid =
      upgrade::StartSuccessor(*target.executable, target.argv, std::move(channels->second));
  if (!pid.ok()) {
    spdlog::error("binary upgrade failed, still serving: {}", pid.status().message());
    return false;
  }
  // No update from etcd may close a socket between listing it and the successor taking it.
  if (etcd_source != nullptr) etcd_source->Pause();
  absl::Status status =
      upgrade::HandOverListeners(channels->first, node.ListenerDescriptors(), kHandoverTimeout);
  if (status.ok()) status = upgrade::AwaitTakeover(channels->first, kTakeoverTimeout);
  if (!status.ok()) {
    spdlog::error("binary upgrade failed, still serving: successor PID {}: {}", *pid,
                  status.message());
    EndSuccessor(*pid);
    if (etcd_source != nullptr) etcd_source->Resume();
    return false;
  }
  spdlog::info("binary upgrade: PID {} serves now; this process drains and exits", *pid);
  // The successor watches etcd itself; this process applies nothing more.
  if (etcd_source != nullptr) etcd_source->Stop();
  node.StopAfterHandover();
  return true;
}

void Reload(const std::string& config_path, gatehouse::node::Node& node,
            gatehouse::node::EtcdConfigSource* etcd_source) {
  if (etcd_source != nullptr) {
    spdlog::info("SIGHUP: re-reading the config document from etcd");
    if (absl::Status status = etcd_source->Resync(); !status.ok()) {
      spdlog::error("reload from etcd failed, keeping the running configuration: {}",
                    status.message());
    }
    return;
  }
  const std::string source =
      config_path.empty() ? static_cast<std::string>(gatehouse::config::kEmbeddedDefaultConfigName)
                          : config_path;
  spdlog::info("SIGHUP: reloading {}", source);
  absl::StatusOr<gatehouse::config::Config> config = LoadConfig(config_path);
  if (config.ok() && config->etcd_source.has_value()) {
    config = absl::FailedPreconditionError(
        "the file now has config_source: switching to etcd needs a restart");
  }
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

// A node whose config is the document in etcd: its source and the document to start from.
struct EtcdStart {
  std::unique_ptr<gatehouse::node::EtcdConfigSource> source;
  gatehouse::node::InitialDocument initial;
};

absl::StatusOr<EtcdStart> StartFromEtcd(const gatehouse::config::Config& file) {
  // The file's own `log` holds until the document's applies.
  GH_RETURN_IF_ERROR(gatehouse::base::ConfigureLogging(file.log.format, file.log.level));
  GH_ASSIGN_OR_RETURN(std::unique_ptr<gatehouse::node::EtcdConfigSource> source,
                      gatehouse::node::EtcdConfigSource::Create(*file.etcd_source));
  absl::StatusOr<gatehouse::node::InitialDocument> initial = source->Load();
  if (!initial.ok()) {
    return absl::Status(initial.status().code(),
                        absl::StrCat("config_source: ", initial.status().message()));
  }
  return EtcdStart{std::move(source), *std::move(initial)};
}

// Waits for signals on the main thread. All threads inherit the blocked mask, so the signals
// are only ever delivered here, synchronously.
int ServeUntilTerminated(const std::string& config_path, const UpgradeTarget& upgrade_target,
                         gatehouse::node::Node& node,
                         gatehouse::node::EtcdConfigSource* etcd_source, const sigset_t& signals) {
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
      Reload(config_path, node, etcd_source);
      continue;
    }
    if (signal_number == SIGUSR2) {
      if (!Upgrade(upgrade_target, node, etcd_source)) continue;
      spdlog::info("stopped after the binary upgrade");
      return 0;
    }
    spdlog::info("SIG{}: shutting down", ::sigabbrev_np(signal_number));
    if (etcd_source != nullptr) etcd_source->Stop();
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
  sigaddset(&signals, SIGUSR2);
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
  // Before any thread: it reads and clears the environment. Set only in an upgrade's successor.
  absl::StatusOr<std::optional<gatehouse::upgrade::DescriptorChannel>> predecessor =
      gatehouse::upgrade::ChannelFromEnvironment();
  if (!predecessor.ok()) {
    std::cerr << "gatehoused: " << predecessor.status().message() << "\n";
    return kExitFailure;
  }
  const UpgradeTarget upgrade_target{gatehouse::upgrade::OwnExecutablePath(),
                                     std::vector<std::string>(argv, argv + argc)};

  absl::StatusOr<gatehouse::config::Config> config = LoadConfig(config_path);
  if (!config.ok()) {
    std::cerr << "gatehoused: " << config.status().message() << "\n";
    return kExitFailure;
  }
  std::unique_ptr<gatehouse::node::EtcdConfigSource> etcd_source;
  std::optional<gatehouse::node::InitialDocument> initial;
  if (config->etcd_source.has_value()) {
    absl::StatusOr<EtcdStart> start = StartFromEtcd(*config);
    if (!start.ok()) {
      std::cerr << "gatehoused: " << start.status().message() << "\n";
      return kExitFailure;
    }
    etcd_source = std::move(start->source);
    config = start->initial.config;
    initial = std::move(start->initial);
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
  gatehouse::node::StartContext context;
  if (predecessor->has_value()) {
    spdlog::info("binary upgrade: taking over the predecessor's listening sockets");
    absl::StatusOr<gatehouse::upgrade::ListenerSockets> taken =
        gatehouse::upgrade::TakeListeners(**predecessor, kHandoverTimeout);
    if (!taken.ok()) {
      spdlog::critical("binary upgrade: {}", taken.status().message());
      return kExitFailure;
    }
    context.inherited = *std::move(taken);
    context.is_successor = true;
  }
  absl::StatusOr<std::unique_ptr<gatehouse::node::Node>> node =
      gatehouse::node::Node::Start(*config, std::move(context));
  if (!node.ok()) {
    spdlog::critical("start-up failed, nothing started: {}", node.status().message());
    return kExitFailure;
  }
  // Declared after the node, so it runs before the node is destroyed on every way out: no
  // update from etcd may reach a node that is gone.
  const absl::Cleanup stop_source = [&etcd_source] {
    if (etcd_source != nullptr) etcd_source->Stop();
  };
  if (etcd_source != nullptr) {
    if (absl::Status status = etcd_source->Watch(**node, *initial); !status.ok()) {
      spdlog::critical("config_source: {}", status.message());
      (*node)->Stop();
      return kExitFailure;
    }
  }
  if (predecessor->has_value()) {
    // The predecessor stops accepting once it reads this; if it is gone, this serves anyway.
    if (absl::Status told = gatehouse::upgrade::ConfirmTakeover(**predecessor); !told.ok()) {
      spdlog::warn("binary upgrade: {}", told.message());
    }
    predecessor->reset();
  }
  return ServeUntilTerminated(config_path, upgrade_target, **node, etcd_source.get(), signals);
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
