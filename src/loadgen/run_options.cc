#include "loadgen/run_options.h"

#include "absl/strings/str_cat.h"

namespace gatehouse::loadgen {

absl::StatusOr<Mode> ParseMode(absl::string_view name) {
  if (name == "rr") return Mode::kRequestResponse;
  if (name == "tput") return Mode::kThroughput;
  if (name == "connrate") return Mode::kConnectRate;
  return absl::InvalidArgumentError(
      absl::StrCat("mode \"", name, "\" is not one of: rr, tput, connrate"));
}

absl::string_view ModeName(Mode mode) {
  switch (mode) {
    case Mode::kRequestResponse:
      return "rr";
    case Mode::kThroughput:
      return "tput";
    case Mode::kConnectRate:
      return "connrate";
  }
  return "unknown";
}

absl::Status ValidateRunOptions(const RunOptions& options) {
  if (options.target_host.empty() || options.target_port == 0) {
    return absl::InvalidArgumentError("--target must be HOST:PORT with a port above 0");
  }
  if (options.target_last_port != 0 && options.target_last_port < options.target_port) {
    return absl::InvalidArgumentError(absl::StrCat("--target port range ", options.target_port, "-",
                                                   options.target_last_port,
                                                   " ends before it starts"));
  }
  if (options.connections < 1) return absl::InvalidArgumentError("--connections must be >= 1");
  if (options.threads < 1) return absl::InvalidArgumentError("--threads must be >= 1");
  if (options.duration <= std::chrono::nanoseconds(0)) {
    return absl::InvalidArgumentError("--duration must be positive");
  }
  if (options.timeout <= std::chrono::nanoseconds(0)) {
    return absl::InvalidArgumentError("--timeout must be positive");
  }
  if (options.interval < std::chrono::milliseconds(10)) {
    return absl::InvalidArgumentError("--interval must be at least 10ms");
  }
  if (options.payload.empty() && options.mode != Mode::kConnectRate) {
    return absl::InvalidArgumentError(
        "the payload is empty: give --size above 0 or a non-empty "
        "--payload file");
  }
  if (options.mode == Mode::kThroughput) {
    if (options.requests > 0) {
      return absl::InvalidArgumentError("--requests does not apply to tput (use --duration)");
    }
    if (options.shape && options.shape->quantity() == ShapedQuantity::kRate) {
      return absl::InvalidArgumentError(
          "tput streams as fast as it can: a rate shape or --rate "
          "does not apply");
    }
  }
  if (options.tls.enabled && options.tls.ca_file.empty()) {
    return absl::InvalidArgumentError("--tls needs --ca (the CA that signed the server)");
  }
  if (options.tls.cert_file.empty() != options.tls.key_file.empty()) {
    return absl::InvalidArgumentError("--cert and --key go together");
  }
  if (!options.tls.enabled && !options.tls.cert_file.empty()) {
    return absl::InvalidArgumentError("--cert/--key need --tls");
  }
  return absl::OkStatus();
}

std::string TargetName(const RunOptions& options) {
  const bool ipv6 = options.target_host.find(':') != std::string::npos;
  std::string name = ipv6 ? absl::StrCat("[", options.target_host, "]:", options.target_port)
                          : absl::StrCat(options.target_host, ":", options.target_port);
  if (options.target_last_port != 0) absl::StrAppend(&name, "-", options.target_last_port);
  return name;
}

}  // namespace gatehouse::loadgen
