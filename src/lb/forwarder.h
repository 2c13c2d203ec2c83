// Forward: copies bytes both ways between an accepted client socket and an upstream socket
// until both directions are done, the connection goes idle, or an error occurs.
//
// Semantics, in the terms of Envoy's TCP proxy and HAProxy's `mode tcp`:
// - Half-close: end-of-stream from one side becomes shutdown(SHUT_WR) on the other, and the
//   other direction keeps flowing until it ends too.
// - Error: a failed read or write on either side (reset, EPIPE) closes both sockets.
// - Idle timeout: one timer for the whole connection, pushed back by bytes moving in either
//   direction, so a long quiet stretch in one direction is fine while the other is busy.
// - Bounded memory: each direction holds at most one pipe (splice path) or one buffer (copy
//   path). A slow reader is not read for: its sender's socket buffer fills and TCP flow control
//   pushes back on the fast writer.
// - Zero copy: between plain sockets with `use_splice`, bytes move socket -> pipe -> socket
//   with splice(2) and never enter user space. The copy path (read/write through a buffer) is
//   kept for measurement, and is the path of a TLS side.
// - Fairness: a direction that always has data yields to its worker's other work after a
//   bounded number of bytes.
//
// Both sockets must belong to the executor the coroutine runs on (one worker); the sockets
// are closed when it returns. Confined to its worker.
//
// The process must ignore SIGPIPE (gatehoused does, as HAProxy and Envoy do): splice(2) into a
// socket whose peer has gone raises SIGPIPE, and unlike send(2) it has no MSG_NOSIGNAL flag.
#ifndef GATEHOUSE_LB_FORWARDER_H_
#define GATEHOUSE_LB_FORWARDER_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <system_error>

#include "absl/strings/string_view.h"
#include "asio/awaitable.hpp"
#include "asio/ip/tcp.hpp"
#include "net/tls_stream.h"

namespace gatehouse::lb {

struct ForwarderOptions {
  std::chrono::nanoseconds idle_timeout = std::chrono::hours(1);
  bool use_splice = true;
  // Pipe capacity per direction on the splice path (F_SETPIPE_SZ; the kernel rounds it up to a
  // power of two pages and caps it at /proc/sys/fs/pipe-max-size for unprivileged users).
  uint32_t pipe_bytes = 256 * 1024;
  // Buffer per direction on the copy path.
  uint32_t buffer_bytes = 64 * 1024;
  // A direction yields to other work on its worker after moving this many bytes in a row.
  uint32_t yield_after_bytes = 1024 * 1024;
};

enum class ForwardEnd {
  kClosed,       // both directions reached end-of-stream
  kIdleTimeout,  // no byte moved for idle_timeout
  kError,        // a read or write failed; `error` says which
};

absl::string_view ForwardEndName(ForwardEnd end);

struct ForwardResult {
  uint64_t client_to_upstream_bytes = 0;
  uint64_t upstream_to_client_bytes = 0;
  ForwardEnd end = ForwardEnd::kClosed;
  std::error_code error;
};

asio::awaitable<ForwardResult> Forward(asio::ip::tcp::socket client, asio::ip::tcp::socket upstream,
                                       ForwarderOptions options);

// The same with a TLS client whose handshake is done (the server terminates TLS). Always the
// copy path, through `buffer_bytes` per direction: TLS records are decrypted straight into
// the buffer and encrypted from it, with no other copy. End-of-stream is close_notify each way
// (see tls_stream.h); a client that drops TCP without it ends the connection as an error.
asio::awaitable<ForwardResult> Forward(std::unique_ptr<net::TlsStream> client,
                                       asio::ip::tcp::socket upstream, ForwarderOptions options);

}  // namespace gatehouse::lb

#endif  // GATEHOUSE_LB_FORWARDER_H_
