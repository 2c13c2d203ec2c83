#include "lb/forwarder.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <tuple>
#include <variant>

#include "asio/experimental/as_tuple.hpp"
#include "asio/experimental/awaitable_operators.hpp"
#include "asio/post.hpp"
#include "asio/steady_timer.hpp"
#include "asio/this_coro.hpp"
#include "asio/use_awaitable.hpp"
#include "base/unique_fd.h"
#include "net/byte_stream.h"

namespace gatehouse::lb {
namespace {

using asio::ip::tcp;
using std::chrono::steady_clock;

constexpr auto kAsTuple = asio::experimental::as_tuple(asio::use_awaitable);

// State shared by the two directions and the idle watchdog of one connection. All three run
// as coroutines on the same worker thread, so none of this needs a lock.
struct Session {
  Session(tcp::socket& client_socket, tcp::socket& upstream_socket)
      : client(client_socket), upstream(upstream_socket) {}

  tcp::socket& client;
  tcp::socket& upstream;
  uint64_t client_to_upstream_bytes = 0;
  uint64_t upstream_to_client_bytes = 0;
  steady_clock::time_point last_activity = steady_clock::now();
  bool is_closed = false;
  bool idle_expired = false;
  std::error_code first_error;

  void Touch() { last_activity = steady_clock::now(); }

  void CloseBoth() {
    if (is_closed) return;
    is_closed = true;
    std::error_code ignored;  // closing is best effort: the connection is over either way
    client.close(ignored);
    upstream.close(ignored);
  }

  void Fail(std::error_code error) {
    if (is_closed) return;  // an error caused by our own close is not the cause
    if (!first_error) first_error = error;
    CloseBoth();
  }
};

// In Asio's category, so that errors compare equal to asio::error values whichever path failed.
std::error_code LastError() { return {errno, asio::error::get_system_category()}; }

// ENOTCONN from a half-close: the peer already reset; the other direction will report it.
void FailUnlessNotConnected(Session& session, std::error_code error) {
  if (error && error != asio::error::not_connected) session.Fail(error);
}

void ShutdownSend(Session& session, tcp::socket& socket) {
  std::error_code error;
  socket.shutdown(tcp::socket::shutdown_send, error);
  FailUnlessNotConnected(session, error);
}

// Yields to the worker's other coroutines once `budget` bytes have moved without a wait.
asio::awaitable<void> MaybeYield(uint64_t* since_yield, uint32_t budget) {
  if (*since_yield < budget) co_return;
  *since_yield = 0;
  co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
}

struct Pipe {
  base::UniqueFd read_end;
  base::UniqueFd write_end;
};

std::error_code MakePipe(uint32_t capacity, Pipe* pipe) {
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return LastError();
  pipe->read_end.Reset(fds[0]);
  pipe->write_end.Reset(fds[1]);
  // A larger pipe means fewer splice calls per byte. Failure (EPERM above pipe-max-size for
  // unprivileged users) leaves the default 64 KiB, which still works.
  ::fcntl(fds[1], F_SETPIPE_SZ, static_cast<int>(capacity));
  return {};
}

// The outcome of one non-blocking splice(2) call.
enum class Step { kMoved, kWouldBlock, kEndOfStream, kFailed };

Step SpliceOnce(int from_fd, int to_fd, size_t max_bytes, size_t* moved) {
  const ssize_t n =
      ::splice(from_fd, nullptr, to_fd, nullptr, max_bytes, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
  if (n > 0) {
    *moved = static_cast<size_t>(n);
    return Step::kMoved;
  }
  if (n == 0) return Step::kEndOfStream;
  return errno == EAGAIN || errno == EINTR ? Step::kWouldBlock : Step::kFailed;
}

struct SpliceState {
  Pipe pipe;
  size_t chunk = 0;
  size_t in_pipe = 0;
  bool source_done = false;
  uint64_t since_yield = 0;
};

enum class NextWait { kNone, kSourceReadable, kDestinationWritable, kDone };

// One round of one direction, zero copy: source -> pipe -> destination, without waiting.
// Says what the direction must wait for before the next round.
//
// splice(socket -> pipe) returning EAGAIN is ambiguous: the socket is empty, or the pipe is
// full (a pipe holds a fixed number of buffer slots, and one slot can carry a partial page, so
// "full" can come long before `pipe_bytes`). A round never waits on the source while the pipe
// holds data: it drains the pipe first, and waits for the source only when the pipe is empty,
// when EAGAIN can only mean the socket is.
NextWait SpliceRound(Session& session, tcp::socket& from, tcp::socket& to, SpliceState& state,
                     uint64_t* bytes) {
  size_t moved = 0;
  if (!state.source_done) {
    const Step in =
        SpliceOnce(from.native_handle(), state.pipe.write_end.get(), state.chunk, &moved);
    if (in == Step::kFailed) {
      session.Fail(LastError());
      return NextWait::kDone;
    }
    state.source_done = in == Step::kEndOfStream;
    state.in_pipe += moved;
    if (moved > 0) session.Touch();
  }
  size_t sent = 0;
  if (state.in_pipe > 0) {
    const Step out =
        SpliceOnce(state.pipe.read_end.get(), to.native_handle(), state.in_pipe, &sent);
    if (out == Step::kFailed) {
      session.Fail(LastError());
      return NextWait::kDone;
    }
    // The destination is full: wait for it, and read nothing more meanwhile (backpressure).
    if (out == Step::kWouldBlock) return NextWait::kDestinationWritable;
    state.in_pipe -= sent;
    *bytes += sent;
    state.since_yield += sent;
    session.Touch();
  }
  if (state.source_done && state.in_pipe == 0) {
    ShutdownSend(session, to);
    return NextWait::kDone;
  }
  // Nothing moved, so the pipe is empty and the source's EAGAIN meant the socket is empty.
  if (moved == 0 && sent == 0) return NextWait::kSourceReadable;
  return NextWait::kNone;
}

asio::awaitable<void> SpliceDirection(Session& session, tcp::socket& from, tcp::socket& to,
                                      uint64_t* bytes, const ForwarderOptions& options) {
  SpliceState state;
  if (std::error_code error = MakePipe(options.pipe_bytes, &state.pipe)) {
    session.Fail(error);
    co_return;
  }
  const int pipe_capacity = ::fcntl(state.pipe.write_end.get(), F_GETPIPE_SZ);
  state.chunk = pipe_capacity > 0 ? static_cast<size_t>(pipe_capacity) : 65536;
  while (!session.is_closed) {
    std::error_code error;
    switch (SpliceRound(session, from, to, state, bytes)) {
      case NextWait::kDone:
        co_return;
      case NextWait::kSourceReadable:
        std::tie(error) = co_await from.async_wait(tcp::socket::wait_read, kAsTuple);
        break;
      case NextWait::kDestinationWritable:
        std::tie(error) = co_await to.async_wait(tcp::socket::wait_write, kAsTuple);
        break;
      case NextWait::kNone:
        co_await MaybeYield(&state.since_yield, options.yield_after_bytes);
        break;
    }
    if (error) session.Fail(error);
  }
}

// One direction through a user-space buffer: plain sockets, or TLS on either side.
asio::awaitable<void> CopyDirection(Session& session, net::ByteStream& from, net::ByteStream& to,
                                    uint64_t* bytes, const ForwarderOptions& options) {
  auto buffer = std::make_unique<char[]>(options.buffer_bytes);
  uint64_t since_yield = 0;
  while (!session.is_closed) {
    const net::StreamRead read = co_await from.ReadSome(buffer.get(), options.buffer_bytes);
    if (read.end_of_stream) {
      FailUnlessNotConnected(session, co_await to.ShutdownSend());
      co_return;
    }
    if (read.error) {
      session.Fail(read.error);
      co_return;
    }
    session.Touch();
    if (std::error_code error = co_await to.WriteAll(buffer.get(), read.bytes)) {
      session.Fail(error);
      co_return;
    }
    *bytes += read.bytes;
    since_yield += read.bytes;
    session.Touch();
    co_await MaybeYield(&since_yield, options.yield_after_bytes);
  }
}

asio::awaitable<void> IdleWatchdog(Session& session, std::chrono::nanoseconds idle_timeout) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (!session.is_closed) {
    timer.expires_at(session.last_activity + idle_timeout);
    auto [error] = co_await timer.async_wait(kAsTuple);
    if (error || session.is_closed) co_return;  // cancelled: the connection ended first
    if (steady_clock::now() - session.last_activity >= idle_timeout) {
      session.idle_expired = true;
      session.CloseBoth();
      co_return;
    }
  }
}

// Runs both directions to their end under the idle watchdog and says how the connection ended.
asio::awaitable<ForwardResult> Run(Session& session, asio::awaitable<void> client_to_upstream,
                                   asio::awaitable<void> upstream_to_client,
                                   std::chrono::nanoseconds idle_timeout) {
  using asio::experimental::awaitable_operators::operator&&;
  using asio::experimental::awaitable_operators::operator||;
  // Both directions run to their end; the watchdog is cancelled by `||` once they have.
  co_await ((std::move(client_to_upstream) && std::move(upstream_to_client)) ||
            IdleWatchdog(session, idle_timeout));
  ForwardResult result;
  result.client_to_upstream_bytes = session.client_to_upstream_bytes;
  result.upstream_to_client_bytes = session.upstream_to_client_bytes;
  if (session.idle_expired) {
    result.end = ForwardEnd::kIdleTimeout;
  } else if (session.first_error) {
    result.end = ForwardEnd::kError;
    result.error = session.first_error;
  }
  session.CloseBoth();
  co_return result;
}

// Both directions through the copy loop, over streams on the sockets behind `session`.
asio::awaitable<ForwardResult> RunCopy(Session& session, net::ByteStream& client,
                                       net::ByteStream& upstream, const ForwarderOptions& options) {
  co_return co_await Run(
      session, CopyDirection(session, client, upstream, &session.client_to_upstream_bytes, options),
      CopyDirection(session, upstream, client, &session.upstream_to_client_bytes, options),
      options.idle_timeout);
}

}  // namespace

absl::string_view ForwardEndName(ForwardEnd end) {
  switch (end) {
    case ForwardEnd::kClosed:
      return "closed";
    case ForwardEnd::kIdleTimeout:
      return "idle_timeout";
    case ForwardEnd::kError:
      return "error";
  }
  return "unknown";
}

asio::awaitable<ForwardResult> Forward(tcp::socket client, tcp::socket upstream,
                                       ForwarderOptions options) {
  std::error_code ignored;
  client.native_non_blocking(true, ignored);
  upstream.native_non_blocking(true, ignored);
  Session session(client, upstream);
  if (options.use_splice) {
    co_return co_await Run(
        session,
        SpliceDirection(session, client, upstream, &session.client_to_upstream_bytes, options),
        SpliceDirection(session, upstream, client, &session.upstream_to_client_bytes, options),
        options.idle_timeout);
  }
  net::SocketByteStream client_stream(client);
  net::SocketByteStream upstream_stream(upstream);
  co_return co_await RunCopy(session, client_stream, upstream_stream, options);
}

asio::awaitable<ForwardResult> Forward(std::unique_ptr<net::TlsStream> client, tcp::socket upstream,
                                       ForwarderOptions options) {
  std::error_code ignored;
  upstream.native_non_blocking(true, ignored);
  Session session(client->socket(), upstream);
  net::SocketByteStream upstream_stream(upstream);
  co_return co_await RunCopy(session, *client, upstream_stream, options);
}

}  // namespace gatehouse::lb
