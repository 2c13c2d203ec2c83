// Forward: copies bytes both ways between an accepted client socket and an upstream socket
// until both directions are done, the connection goes idle, or an error occurs.
//
// Semantics, in the terms of Envoy's TCP proxy and HAProxy's `mode tcp`:
// - Half-close: end-of-stream from one side becomes shutdown(SHUT_WR) on the other, and the
//   other direction keeps flowing until it ends too.
// - Error: a failed read or write on either side (reset, EPIPE) closes both sockets.
// - Idle timeout: one timer for the whole connection, pushed back by bytes moving in either
//   direction, so a long quiet stretch in one direction is fine while the other is busy.
// - Bounded memory: a direction with bytes in flight holds one pipe (splice path) or one buffer
//   (copy path); a slow reader is not read for, so its sender's socket buffer fills and TCP flow
//   control pushes back on the fast writer. A direction waiting for its source holds neither:
//   pipes and buffers come from small per-thread pools (lb/internal/pipe_pool.h,
//   buffer_pool.h) when the source is readable and go back before the next wait, so an idle
//   connection costs its two sockets, its coroutine frames and, for TLS, OpenSSL's state
//   (about 5 KiB, and 24 KiB more with TLS: bench/RESULTS.md).
// - Zero copy: between plain sockets, the splice path moves bytes socket -> pipe -> socket with
//   splice(2) and they never enter user space. It wins on bulk transfers (about half the CPU
//   per byte of the copy path) and loses on small messages (two splice calls and a pipe for a
//   few bytes cost more than recv and send), so by default (`SpliceMode::kAuto`) each direction
//   picks its path from what it sees, as HAProxy's `option splice-auto` does; see SpliceMode.
//   A TLS side always takes the copy path.
// - Fairness: a direction that always has data yields to its worker's other work after a
//   bounded number of bytes.
// - Bandwidth limits (optional, per direction): a token bucket (lb/internal/byte_bucket.h) caps
//   each read at what the bucket holds; an empty bucket parks the direction on a timer, holding
//   no buffer (the copy path) and reading nothing, so the source's socket buffer fills and TCP
//   flow control slows the sender. Both paths count through the same bucket.
//
// Both sockets must belong to the executor the coroutine runs on (one worker); the sockets
// are closed when it returns. Confined to its worker: every coroutine of a connection runs on
// the worker's one thread, which is also why the per-thread pools need no lock.
//
// The process must ignore SIGPIPE (gatehoused does, as HAProxy and Envoy do): splice(2) into a
// socket whose peer has gone raises SIGPIPE, and unlike send(2) it has no MSG_NOSIGNAL flag.
#ifndef GATEHOUSE_LB_FORWARDER_H_
#define GATEHOUSE_LB_FORWARDER_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <system_error>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "asio/awaitable.hpp"
#include "asio/ip/tcp.hpp"
#include "net/tls_stream.h"

namespace gatehouse::lb {

// How a direction between two plain sockets moves its bytes.
enum class SpliceMode {
  kNever,   // always through a buffer (recv/send); for measurement
  kAlways,  // always through a pipe (splice(2)); for measurement
  // Each direction on its own, starting with the buffer:
  // - to splice after two reads in a row that each filled at least half the buffer (or 32 KiB,
  //   whichever is less): the source is streaming, and a pipe will move it for less CPU;
  // - back to the buffer after three reads in a row, each given an empty pipe, that moved less
  //   than 4 KiB (or a quarter of the bulk mark, whichever is less): messages are small again.
  // Reads between the two marks, and reads into a pipe that was not empty, change nothing, and
  // a switch needs a run of reads, not one: the gap and the runs are the hysteresis that keeps a
  // direction from flapping on mixed traffic. A switch happens with nothing in flight.
  kAuto,
};

absl::string_view SpliceModeName(SpliceMode mode);

struct ForwarderOptions {
  std::chrono::nanoseconds idle_timeout = std::chrono::hours(1);
  SpliceMode splice = SpliceMode::kAuto;
  // Pipe capacity on the splice path (F_SETPIPE_SZ; the kernel rounds it up to a power of two
  // pages and caps it at /proc/sys/fs/pipe-max-size for unprivileged users).
  uint32_t pipe_bytes = 256 * 1024;
  // Buffer on the copy path; also the unit by which kAuto tells bulk from small reads.
  uint32_t buffer_bytes = 64 * 1024;
  // A direction yields to other work on its worker after moving this many bytes in a row.
  uint32_t yield_after_bytes = 1024 * 1024;
  // Bandwidth limits, bytes per second read from each side; 0 = none.
  uint64_t client_to_upstream_bytes_per_second = 0;
  uint64_t upstream_to_client_bytes_per_second = 0;
};

// The bounds ValidateForwarderOptions() enforces.
inline constexpr uint32_t kMinForwarderBufferBytes = 1024;
inline constexpr uint32_t kMaxForwarderBufferBytes = 16 << 20;
inline constexpr uint32_t kMinForwarderPipeBytes = 4096;
inline constexpr uint32_t kMaxForwarderPipeBytes = 16 << 20;
inline constexpr uint32_t kMinForwarderYieldAfterBytes = 1024;
inline constexpr uint32_t kMaxForwarderYieldAfterBytes = 1 << 30;
// A bandwidth limit is 0 (none) or within these: below 1 KiB/s a TCP connection would time out
// in its peers' eyes; above 1 TiB/s it limits nothing.
inline constexpr uint64_t kMinBytesPerSecond = 1024;
inline constexpr uint64_t kMaxBytesPerSecond = uint64_t{1} << 40;
// Longer would overflow steady_clock arithmetic long before it meant anything.
inline constexpr std::chrono::hours kMaxForwarderIdleTimeout{24 * 366};

// OK, or InvalidArgument naming the first field out of bounds and its value: `buffer_bytes`,
// `pipe_bytes` or `yield_after_bytes` outside [kMin..., kMax...], `idle_timeout` not above zero
// or above kMaxForwarderIdleTimeout, `splice` not a SpliceMode, a bandwidth limit neither 0 nor
// in [kMinBytesPerSecond, kMaxBytesPerSecond]. Thread-safe.
absl::Status ValidateForwarderOptions(const ForwarderOptions& options);

enum class ForwardEnd {
  kClosed,       // both directions reached end-of-stream
  kIdleTimeout,  // no byte moved for idle_timeout
  kError,        // a read or write failed; `error` says which
};

absl::string_view ForwardEndName(ForwardEnd end);

// How one direction moved its bytes: for metrics, and for tests to see the path kAuto chose.
struct DirectionStats {
  uint64_t spliced_bytes = 0;    // socket -> pipe -> socket
  uint64_t copied_bytes = 0;     // through a buffer
  uint32_t splice_switches = 0;  // kAuto: switches from the copy path to the splice path
  uint32_t copy_switches = 0;    // kAuto: switches back
};

struct ForwardResult {
  uint64_t client_to_upstream_bytes = 0;
  uint64_t upstream_to_client_bytes = 0;
  DirectionStats client_to_upstream;
  DirectionStats upstream_to_client;
  ForwardEnd end = ForwardEnd::kClosed;
  std::error_code error;
};

// Options that fail ValidateForwarderOptions() end the connection at once (both sockets closed,
// nothing read) with kError and asio::error::invalid_argument, and the reason in the log.
asio::awaitable<ForwardResult> Forward(asio::ip::tcp::socket client, asio::ip::tcp::socket upstream,
                                       ForwarderOptions options);

// The same with a TLS client whose handshake is done (the server terminates TLS). Always the
// copy path, whatever `splice` says, through a buffer of `buffer_bytes` per direction in
// flight: TLS records are decrypted straight into the buffer and encrypted from it, with no
// other copy. End-of-stream is close_notify each way (see tls_stream.h); a client that drops TCP
// without it ends the connection as an error.
asio::awaitable<ForwardResult> Forward(std::unique_ptr<net::TlsStream> client,
                                       asio::ip::tcp::socket upstream, ForwarderOptions options);

}  // namespace gatehouse::lb

#endif  // GATEHOUSE_LB_FORWARDER_H_
