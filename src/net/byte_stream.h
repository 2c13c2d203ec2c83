// ByteStream: what a byte pump needs from one side of a connection (read some, write all,
// half-close), so one loop serves plain sockets and TLS: the forwarder's copy path and the
// load generator's requests both run over it.
//
// Two ways to read: ReadSome() waits with the caller's buffer, as a plain asynchronous read
// does; WaitReadable() then TryReadSome() waits without one, so that a pump with many idle
// connections can lend buffers only to connections that have bytes to move.
//
// Implementations are confined to the worker that owns their socket.
#ifndef GATEHOUSE_NET_BYTE_STREAM_H_
#define GATEHOUSE_NET_BYTE_STREAM_H_

#include <cstddef>
#include <system_error>

#include "asio/awaitable.hpp"
#include "asio/ip/tcp.hpp"

namespace gatehouse::net {

// What one read returned: bytes, or end-of-stream, or an error; or, from TryReadSome() only,
// that nothing could be read without waiting.
struct StreamRead {
  std::error_code error;
  size_t bytes = 0;
  bool end_of_stream = false;
  bool would_block = false;
};

class ByteStream {
 public:
  ByteStream() = default;
  ByteStream(const ByteStream&) = delete;
  ByteStream& operator=(const ByteStream&) = delete;
  ByteStream(ByteStream&&) = delete;
  ByteStream& operator=(ByteStream&&) = delete;
  virtual ~ByteStream() = default;

  // At least one byte unless the stream ends or fails.
  virtual asio::awaitable<StreamRead> ReadSome(char* data, size_t size) = 0;
  // Waits until TryReadSome() has something to report (bytes, end-of-stream or an error),
  // holding no buffer meanwhile. It may wake early (TryReadSome() then says `would_block`, and
  // the caller waits again), never late. An error here (the socket was closed) ends reading.
  virtual asio::awaitable<std::error_code> WaitReadable() = 0;
  // Reads what can be read now, up to `size` bytes, without waiting: bytes, end-of-stream, an
  // error, or `would_block`.
  virtual StreamRead TryReadSome(char* data, size_t size) = 0;
  // All `size` bytes, or an error.
  virtual asio::awaitable<std::error_code> WriteAll(const char* data, size_t size) = 0;
  // Ends this side's sending; reading goes on.
  virtual asio::awaitable<std::error_code> ShutdownSend() = 0;
};

// A plain TCP socket (borrowed; it must outlive the stream).
class SocketByteStream final : public ByteStream {
 public:
  explicit SocketByteStream(asio::ip::tcp::socket& socket) : socket_(socket) {}
  asio::awaitable<StreamRead> ReadSome(char* data, size_t size) override;
  asio::awaitable<std::error_code> WaitReadable() override;
  StreamRead TryReadSome(char* data, size_t size) override;
  asio::awaitable<std::error_code> WriteAll(const char* data, size_t size) override;
  asio::awaitable<std::error_code> ShutdownSend() override;

 private:
  asio::ip::tcp::socket& socket_;
};

}  // namespace gatehouse::net

#endif  // GATEHOUSE_NET_BYTE_STREAM_H_
