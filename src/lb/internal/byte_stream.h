// ByteStream: what the forwarder's copy path needs from either side of a connection (read
// some, write all, half-close), so one copy loop serves plain sockets and TLS. The splice path
// does not use it: it needs both sides to be plain sockets.
#ifndef GATEHOUSE_LB_INTERNAL_BYTE_STREAM_H_
#define GATEHOUSE_LB_INTERNAL_BYTE_STREAM_H_

#include <cstddef>
#include <system_error>

#include "asio/awaitable.hpp"
#include "asio/ip/tcp.hpp"
#include "lb/tls_stream.h"

namespace gatehouse::lb::internal {

class ByteStream {
 public:
  ByteStream() = default;
  ByteStream(const ByteStream&) = delete;
  ByteStream& operator=(const ByteStream&) = delete;
  ByteStream(ByteStream&&) = delete;
  ByteStream& operator=(ByteStream&&) = delete;
  virtual ~ByteStream() = default;

  virtual asio::awaitable<StreamRead> ReadSome(char* data, size_t size) = 0;
  virtual asio::awaitable<std::error_code> WriteAll(const char* data, size_t size) = 0;
  // Ends this side's sending; reading goes on.
  virtual asio::awaitable<std::error_code> ShutdownSend() = 0;
};

// A plain TCP socket (borrowed; it must outlive the stream).
class SocketByteStream final : public ByteStream {
 public:
  explicit SocketByteStream(asio::ip::tcp::socket& socket) : socket_(socket) {}
  asio::awaitable<StreamRead> ReadSome(char* data, size_t size) override;
  asio::awaitable<std::error_code> WriteAll(const char* data, size_t size) override;
  asio::awaitable<std::error_code> ShutdownSend() override;

 private:
  asio::ip::tcp::socket& socket_;
};

// A TLS stream after its handshake (borrowed; it must outlive the byte stream).
class TlsByteStream final : public ByteStream {
 public:
  explicit TlsByteStream(TlsStream& stream) : stream_(stream) {}
  asio::awaitable<StreamRead> ReadSome(char* data, size_t size) override {
    return stream_.ReadSome(data, size);
  }
  asio::awaitable<std::error_code> WriteAll(const char* data, size_t size) override {
    return stream_.WriteAll(data, size);
  }
  asio::awaitable<std::error_code> ShutdownSend() override { return stream_.ShutdownSend(); }

 private:
  TlsStream& stream_;
};

}  // namespace gatehouse::lb::internal

#endif  // GATEHOUSE_LB_INTERNAL_BYTE_STREAM_H_
