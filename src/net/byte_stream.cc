#include "net/byte_stream.h"

#include <sys/socket.h>
#include <sys/types.h>

#include <cerrno>
#include <tuple>

#include "asio/experimental/as_tuple.hpp"
#include "asio/use_awaitable.hpp"
#include "asio/write.hpp"

namespace gatehouse::net {
namespace {

constexpr auto kAsTuple = asio::experimental::as_tuple(asio::use_awaitable);

}  // namespace

asio::awaitable<StreamRead> SocketByteStream::ReadSome(char* data, size_t size) {
  auto [error, n] = co_await socket_.async_read_some(asio::buffer(data, size), kAsTuple);
  StreamRead read;
  read.bytes = n;
  if (error == asio::error::eof) {
    read.end_of_stream = true;
  } else {
    read.error = error;
  }
  co_return read;
}

asio::awaitable<std::error_code> SocketByteStream::WaitReadable() {
  // For a wait, Asio re-arms the descriptor in epoll (EPOLL_CTL_MOD), and the kernel then reports
  // readiness that is already there (bytes queued, end-of-stream, a reset) as well as new: the
  // wait may wake early, but cannot sleep through bytes that arrived before it began.
  auto [error] = co_await socket_.async_wait(asio::ip::tcp::socket::wait_read, kAsTuple);
  co_return error;
}

StreamRead SocketByteStream::TryReadSome(char* data, size_t size) {
  StreamRead read;
  ssize_t n = 0;
  do {
    // MSG_DONTWAIT: never block, whatever mode the socket is in.
    n = ::recv(socket_.native_handle(), data, size, MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n > 0) {
    read.bytes = static_cast<size_t>(n);
  } else if (n == 0) {
    read.end_of_stream = true;
  } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
    read.would_block = true;
  } else {
    // Asio's category, so the error compares equal to asio::error values.
    read.error = {errno, asio::error::get_system_category()};
  }
  return read;
}

asio::awaitable<std::error_code> SocketByteStream::WriteAll(const char* data, size_t size) {
  // Most writes fit in the socket's send buffer at once. One send(2) here then finishes without
  // suspending; Asio's async_write also tries at once, but resumes the caller through the
  // scheduler's queue even when it succeeded, which costs a request/response proxy a queue
  // round trip per message.
  ssize_t n = 0;
  do {
    n = ::send(socket_.native_handle(), data, size, MSG_DONTWAIT | MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
    co_return std::error_code(errno, asio::error::get_system_category());
  }
  const size_t sent = n > 0 ? static_cast<size_t>(n) : 0;
  if (sent == size) co_return std::error_code();
  auto [error, written] =
      co_await asio::async_write(socket_, asio::buffer(data + sent, size - sent), kAsTuple);
  co_return error;
}

asio::awaitable<std::error_code> SocketByteStream::ShutdownSend() {
  std::error_code error;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_send, error);
  co_return error;
}

}  // namespace gatehouse::net
