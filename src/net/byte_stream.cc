#include "net/byte_stream.h"

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

asio::awaitable<std::error_code> SocketByteStream::WriteAll(const char* data, size_t size) {
  auto [error, written] = co_await asio::async_write(socket_, asio::buffer(data, size), kAsTuple);
  co_return error;
}

asio::awaitable<std::error_code> SocketByteStream::ShutdownSend() {
  std::error_code error;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_send, error);
  co_return error;
}

}  // namespace gatehouse::net
