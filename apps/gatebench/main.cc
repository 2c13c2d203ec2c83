// gatebench: a load generator for TCP and TLS/mTLS endpoints (see src/loadgen).
//
//   gatebench MODE --target HOST:PORT[-LAST] [options]      MODE: rr | tput | connrate
//
// Exit status: 0 when the run completed (errors are in the report), 1 when it could not run
// (bad target, unreadable TLS file, unwritable report), 2 for a bad command line.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "common/command_line.h"
#include "config/value_parsers.h"
#include "loadgen/html_report.h"
#include "loadgen/report.h"
#include "loadgen/runner.h"

namespace {

using gatehouse::loadgen::RunOptions;

struct CommandLine {
  std::string mode;
  std::string target;
  std::string duration = "10s";
  std::string timeout = "5s";
  std::string interval = "1s";
  std::string size;
  std::string payload_file;
  std::string rate;
  std::string shape;
  std::string json_file;
  std::string html_file;
  bool quiet = false;
};

bool ParsePort(absl::string_view text, uint32_t* port) {
  return absl::SimpleAtoi(text, port) && *port > 0 && *port <= 65535;
}

// HOST:PORT, or HOST:FIRST-LAST for a port range.
absl::Status ApplyTarget(const std::string& target, RunOptions* options) {
  const size_t colon = target.rfind(':');
  const auto bad = [&target] {
    return absl::InvalidArgumentError(
        absl::StrCat("--target \"", target, "\" is not HOST:PORT or HOST:FIRST-LAST"));
  };
  if (colon == std::string::npos) return bad();
  const std::vector<absl::string_view> ports =
      absl::StrSplit(absl::string_view(target).substr(colon + 1), absl::MaxSplits('-', 1));
  uint32_t port = 0;
  uint32_t last_port = 0;
  if (!ParsePort(ports[0], &port) || (ports.size() == 2 && !ParsePort(ports[1], &last_port))) {
    return bad();
  }
  std::string host = target.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  options->target_host = host;
  options->target_port = static_cast<uint16_t>(port);
  options->target_last_port = static_cast<uint16_t>(last_port);
  return absl::OkStatus();
}

absl::Status ApplyPayload(const CommandLine& line, RunOptions* options) {
  if (!line.payload_file.empty()) {
    std::ifstream file(line.payload_file, std::ios::binary);
    if (!file) return absl::InvalidArgumentError("cannot read --payload " + line.payload_file);
    options->payload.assign(std::istreambuf_iterator<char>(file), {});
    return absl::OkStatus();
  }
  uint64_t bytes = options->mode == gatehouse::loadgen::Mode::kThroughput ? 128 * 1024 : 64;
  if (!line.size.empty()) {
    auto parsed = gatehouse::config::ParseByteSize(line.size);
    if (!parsed.ok()) return parsed.status();
    bytes = *parsed;
  }
  if (bytes > (uint64_t{1} << 30)) return absl::InvalidArgumentError("--size is above 1GiB");
  options->payload.assign(bytes, 'g');
  return absl::OkStatus();
}

absl::StatusOr<RunOptions> BuildOptions(const CommandLine& line, RunOptions options) {
  auto mode = gatehouse::loadgen::ParseMode(line.mode);
  if (!mode.ok()) return mode.status();
  options.mode = *mode;
  if (absl::Status status = ApplyTarget(line.target, &options); !status.ok()) return status;
  if (absl::Status status = ApplyPayload(line, &options); !status.ok()) return status;
  for (const auto& [text, field] :
       {std::pair{&line.duration, &options.duration}, std::pair{&line.timeout, &options.timeout},
        std::pair{&line.interval, &options.interval}}) {
    auto parsed = gatehouse::config::ParseDuration(*text);
    if (!parsed.ok()) return parsed.status();
    *field = *parsed;
  }
  if (!line.rate.empty() && !line.shape.empty()) {
    return absl::InvalidArgumentError("give --rate or --shape, not both");
  }
  if (!line.rate.empty()) {
    double rate = 0;
    if (!absl::SimpleAtod(absl::StripSuffix(line.rate, "/s"), &rate) || !(rate > 0)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--rate \"", line.rate, "\" is not a positive number per second"));
    }
    options.shape =
        gatehouse::loadgen::LoadShape::Constant(gatehouse::loadgen::ShapedQuantity::kRate, rate);
  }
  if (!line.shape.empty()) {
    auto shape = gatehouse::loadgen::LoadShape::Parse(line.shape);
    if (!shape.ok()) return shape.status();
    options.shape = *shape;
  }
  if (absl::Status status = gatehouse::loadgen::ValidateRunOptions(options); !status.ok()) {
    return status;
  }
  return options;
}

bool WriteFile(const std::string& path, const std::string& text) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file << text;
  file.close();
  if (!file) std::cerr << "gatebench: cannot write " << path << "\n";
  return static_cast<bool>(file);
}

int Main(int argc, char** argv) {
  CLI::App app{"gatebench: load generator for TCP and TLS endpoints"};
  CommandLine line;
  RunOptions options;
  uint64_t response_size = 0;
  app.add_option("mode", line.mode, "rr | tput | connrate")->required();
  app.add_option("--target", line.target,
                 "HOST:PORT, or HOST:FIRST-LAST: a random port per connection")
      ->required();
  app.add_option("--connections", options.connections, "connections (open loop: the pool)");
  app.add_option("--threads", options.threads, "load threads");
  app.add_option("--duration", line.duration, "run length, e.g. 10s (always a limit)");
  app.add_option("--requests", options.requests, "stop after this many requests");
  app.add_option("--size", line.size, "payload bytes, e.g. 64 or 1MiB (rr: 64, tput: 128KiB)");
  app.add_option("--payload", line.payload_file, "payload file, sent as is");
  app.add_option("--response-size", response_size,
                 "bytes expected back per request (default: an echo, checked byte for byte)");
  app.add_option("--rate", line.rate, "open-loop requests per second, e.g. 5000/s");
  app.add_option("--shape", line.shape,
                 "load over time: connections=KIND:... or rate=KIND:... (constant, step, sine, "
                 "sawtooth)");
  app.add_option("--timeout", line.timeout, "connect, handshake and reply timeout");
  app.add_option("--interval", line.interval, "report interval");
  app.add_flag("--tls", options.tls.enabled, "TLS 1.3");
  app.add_option("--ca", options.tls.ca_file, "CA that signed the server");
  app.add_option("--cert", options.tls.cert_file, "client certificate (mTLS)");
  app.add_option("--key", options.tls.key_file, "client key (mTLS)");
  app.add_option("--server-name", options.tls.server_name, "expected server name");
  app.add_flag("--tls-resume", options.tls.resume_sessions, "resume TLS sessions (connrate)");
  app.add_option("--json", line.json_file, "write the JSON report here");
  app.add_option("--html", line.html_file, "write the HTML report here");
  app.add_flag("--quiet", line.quiet, "no live progress line");
  if (std::optional<int> exit_code = gatehouse::apps::ParseCommandLine(app, argc, argv)) {
    return *exit_code;
  }
  if (response_size > 0) options.response_size = response_size;

  auto built = BuildOptions(line, options);
  if (!built.ok()) {
    std::cerr << "gatebench: " << built.status().message() << "\n";
    return gatehouse::apps::kExitUsage;
  }
  const bool live = !line.quiet && ::isatty(STDERR_FILENO) == 1;
  auto report = gatehouse::loadgen::Run(*built, [live](const auto& interval) {
    if (live) std::cerr << "\r" << gatehouse::loadgen::FormatProgress(interval) << std::flush;
  });
  if (live) std::cerr << "\n";
  if (!report.ok()) {
    std::cerr << "gatebench: " << report.status().message() << "\n";
    return gatehouse::apps::kExitFailure;
  }
  std::cout << gatehouse::loadgen::FormatSummary(*report);
  bool written = true;
  if (!line.json_file.empty()) {
    written &= WriteFile(line.json_file, gatehouse::loadgen::ReportToJson(*report).dump(2) + "\n");
  }
  if (!line.html_file.empty()) {
    written &= WriteFile(line.html_file, gatehouse::loadgen::RenderHtmlReport(*report));
  }
  return written ? 0 : gatehouse::apps::kExitFailure;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Main(argc, argv);
  } catch (const std::exception& error) {  // allocation failure or a stream error
    std::cerr << "gatebench: " << error.what() << "\n";
    return gatehouse::apps::kExitFailure;
  }
}
