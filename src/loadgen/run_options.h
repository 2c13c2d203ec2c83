// RunOptions: one load-generation run, as gatebench's command line describes it.
#ifndef GATEHOUSE_LOADGEN_RUN_OPTIONS_H_
#define GATEHOUSE_LOADGEN_RUN_OPTIONS_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "loadgen/load_shape.h"

namespace gatehouse::loadgen {

enum class Mode {
  kRequestResponse,  // rr: send the payload, wait for the reply, repeat on the connection
  kThroughput,       // tput: stream the payload over and over, one way, as fast as possible
  kConnectRate,      // connrate: a new connection (full TLS handshake) per request
};

absl::StatusOr<Mode> ParseMode(absl::string_view name);
absl::string_view ModeName(Mode mode);

struct TlsClientOptions {
  bool enabled = false;
  std::string ca_file;
  std::string cert_file;  // empty with key_file: no client certificate
  std::string key_file;
  std::string server_name;  // checked against the server certificate; default: the target host
  bool resume_sessions =
      false;  // connrate: resume the previous session instead of a full handshake
};

struct RunOptions {
  Mode mode = Mode::kRequestResponse;
  std::string target_host;
  uint16_t target_port = 0;
  // Above target_port: each connection dials a random port of target_port..target_last_port (a
  // port range that the load balancer steers, for example); 0: target_port only.
  uint16_t target_last_port = 0;
  int connections = 1;  // closed loop: connections; open loop: the connection pool
  int threads = 1;
  std::chrono::nanoseconds duration = std::chrono::seconds(10);  // always a limit
  uint64_t requests = 0;  // stop after this many requests (0: run for `duration`)
  std::string payload = std::string(64, 'x');
  // Bytes expected back per request; unset: an echo of the payload, checked byte for byte.
  std::optional<uint64_t> response_size;
  // Load over time. Unset: `connections` constant connections, closed loop. A rate shape makes
  // the run open loop: requests are due at times fixed in advance, and latency counts from the
  // due time, so a stalled server shows as latency, not as fewer requests.
  std::optional<LoadShape> shape;
  std::chrono::nanoseconds timeout = std::chrono::seconds(5);   // connect, handshake, reply
  std::chrono::nanoseconds interval = std::chrono::seconds(1);  // report granularity
  TlsClientOptions tls;
};

// Checks the combination: positive counts, a shape that suits the mode, no --requests in
// throughput mode. InvalidArgument saying which option is wrong.
absl::Status ValidateRunOptions(const RunOptions& options);

// "HOST:PORT" or "HOST:FIRST-LAST", IPv6 hosts in brackets, as --target takes it.
std::string TargetName(const RunOptions& options);

}  // namespace gatehouse::loadgen

#endif  // GATEHOUSE_LOADGEN_RUN_OPTIONS_H_
