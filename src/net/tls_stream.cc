#include "net/tls_stream.h"

#include <openssl/err.h>

#include <cerrno>
#include <tuple>
#include <utility>
#include <variant>

#include "asio/experimental/as_tuple.hpp"
#include "asio/experimental/awaitable_operators.hpp"
#include "asio/ssl/error.hpp"
#include "asio/steady_timer.hpp"
#include "asio/this_coro.hpp"
#include "asio/use_awaitable.hpp"

namespace gatehouse::net {
namespace {

using asio::ip::tcp;

constexpr auto kAsTuple = asio::experimental::as_tuple(asio::use_awaitable);

// The error behind an OpenSSL call that failed with `ssl_error` (not a request to wait).
std::error_code FailureOf(int ssl_error) {
  if (ssl_error == SSL_ERROR_ZERO_RETURN) return asio::error::eof;
  const unsigned long queued = ERR_get_error();  // NOLINT(google-runtime-int): OpenSSL's type
  if (ssl_error == SSL_ERROR_SYSCALL && queued == 0) {
    // errno set: the socket failed (reset, broken pipe). errno 0: the peer closed TCP without
    // close_notify.
    if (errno != 0) return {errno, asio::error::get_system_category()};
    return asio::ssl::error::stream_truncated;
  }
  if (ERR_GET_REASON(queued) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
    return asio::ssl::error::stream_truncated;
  }
  if (queued == 0) return asio::ssl::error::unspecified_system_error;
  return {static_cast<int>(queued), asio::error::get_ssl_category()};
}

}  // namespace

std::error_code TlsStream::PeerAlertOr(std::error_code socket_error) {
  if (socket_error != asio::error::connection_reset && socket_error != asio::error::broken_pipe) {
    return socket_error;
  }
  // A TLS 1.3 server checks the client's certificate after the client's handshake is done, so
  // its refusal (an alert, then a close) can meet the client's first write. The alert is
  // already in the receive buffer; peeking makes OpenSSL read it, and the alert says why.
  ERR_clear_error();
  char byte = 0;
  size_t n = 0;
  const int result = SSL_peek_ex(ssl_.get(), &byte, 1, &n);
  if (result == 1) return socket_error;
  const int ssl_error = SSL_get_error(ssl_.get(), result);
  if (ssl_error != SSL_ERROR_SSL) return socket_error;
  return FailureOf(ssl_error);
}

TlsStream::TlsStream(tcp::socket socket, SSL_CTX* context, TlsSide side)
    : socket_(std::move(socket)), ssl_(SSL_new(context)) {
  std::error_code ignored;  // a closed socket fails the handshake, which reports it
  socket_.native_non_blocking(true, ignored);
  if (ssl_ == nullptr) return;
  SSL_set_mode(ssl_.get(), SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                               SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (SSL_set_fd(ssl_.get(), socket_.native_handle()) != 1) {
    ssl_.reset();
    return;
  }
  if (side == TlsSide::kServer) {
    SSL_set_accept_state(ssl_.get());
  } else {
    SSL_set_connect_state(ssl_.get());
  }
}

asio::awaitable<std::error_code> TlsStream::WaitFor(int ssl_error) {
  if (ssl_error == SSL_ERROR_WANT_READ || ssl_error == SSL_ERROR_WANT_WRITE) {
    auto [error] = co_await socket_.async_wait(
        ssl_error == SSL_ERROR_WANT_READ ? tcp::socket::wait_read : tcp::socket::wait_write,
        kAsTuple);
    co_return error;
  }
  co_return FailureOf(ssl_error);
}

asio::awaitable<std::error_code> TlsStream::Handshake(std::chrono::nanoseconds timeout) {
  using asio::experimental::awaitable_operators::operator||;
  if (ssl_ == nullptr) co_return asio::error::no_memory;
  auto handshake = [this]() -> asio::awaitable<std::error_code> {
    while (socket_.is_open()) {
      ERR_clear_error();
      const int result = SSL_do_handshake(ssl_.get());
      if (result == 1) co_return std::error_code();
      if (std::error_code error = co_await WaitFor(SSL_get_error(ssl_.get(), result))) {
        co_return error;
      }
    }
    co_return asio::error::bad_descriptor;
  };
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_after(timeout);
  auto outcome = co_await (handshake() || timer.async_wait(kAsTuple));
  if (outcome.index() == 1) co_return asio::error::timed_out;
  co_return std::get<0>(outcome);
}

asio::awaitable<StreamRead> TlsStream::ReadSome(char* data, size_t size) {
  while (true) {
    const StreamRead read = TryReadSome(data, size);
    if (!read.would_block) co_return read;
    if (std::error_code error = co_await WaitReadable()) {
      StreamRead failed;
      failed.error = error;
      co_return failed;
    }
  }
}

asio::awaitable<std::error_code> TlsStream::WaitReadable() {
  if (ssl_ == nullptr || !socket_.is_open()) co_return asio::error::bad_descriptor;
  const ReadWait wait = std::exchange(read_wait_, ReadWait::kUnknown);
  if (wait == ReadWait::kNothing) co_return std::error_code();
  // SSL_has_pending() is also true for part of a record, which cannot be read until the rest
  // arrives; after a read that ended in WANT_READ it is not asked, or the caller would spin.
  if (wait == ReadWait::kUnknown && SSL_has_pending(ssl_.get()) == 1) co_return std::error_code();
  auto [error] = co_await socket_.async_wait(
      wait == ReadWait::kSocketWritable ? tcp::socket::wait_write : tcp::socket::wait_read,
      kAsTuple);
  co_return error;
}

StreamRead TlsStream::TryReadSome(char* data, size_t size) {
  StreamRead read;
  read_wait_ = ReadWait::kUnknown;
  while (read.bytes < size) {
    if (!socket_.is_open()) {
      read.error = asio::error::bad_descriptor;
      break;
    }
    ERR_clear_error();
    size_t n = 0;
    const int result = SSL_read_ex(ssl_.get(), data + read.bytes, size - read.bytes, &n);
    if (result == 1) {
      read.bytes += n;
      continue;
    }
    const int ssl_error = SSL_get_error(ssl_.get(), result);
    if (ssl_error == SSL_ERROR_WANT_READ || ssl_error == SSL_ERROR_WANT_WRITE) {
      read_wait_ =
          ssl_error == SSL_ERROR_WANT_READ ? ReadWait::kSocketReadable : ReadWait::kSocketWritable;
      read.would_block = read.bytes == 0;
      break;
    }
    // Bytes in hand are delivered first; end-of-stream or an error shows again on the next
    // call, because OpenSSL keeps the connection's shutdown or failed state.
    read_wait_ = ReadWait::kNothing;
    if (read.bytes > 0) break;
    if (ssl_error == SSL_ERROR_ZERO_RETURN) {
      read.end_of_stream = true;
    } else {
      read.error = FailureOf(ssl_error);
    }
    break;
  }
  return read;
}

asio::awaitable<std::error_code> TlsStream::WriteAll(const char* data, size_t size) {
  size_t written = 0;
  while (written < size) {
    if (!socket_.is_open()) co_return asio::error::bad_descriptor;
    ERR_clear_error();
    size_t n = 0;
    const int result = SSL_write_ex(ssl_.get(), data + written, size - written, &n);
    if (result == 1) {
      written += n;
      continue;
    }
    if (std::error_code error = co_await WaitFor(SSL_get_error(ssl_.get(), result))) {
      co_return PeerAlertOr(error);
    }
  }
  co_return std::error_code();
}

asio::awaitable<std::error_code> TlsStream::ShutdownSend() {
  while (socket_.is_open()) {
    ERR_clear_error();
    // 0: close_notify sent, the peer's not yet seen; 1: both seen. Either way this side is done.
    const int result = SSL_shutdown(ssl_.get());
    if (result >= 0) co_return std::error_code();
    if (std::error_code error = co_await WaitFor(SSL_get_error(ssl_.get(), result))) {
      co_return error;
    }
  }
  co_return asio::error::bad_descriptor;
}

}  // namespace gatehouse::net
