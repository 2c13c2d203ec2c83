// TlsStream: a TLS connection on an Asio TCP socket, server side (the forwarder) or client side
// (the load generator).
//
// OpenSSL reads and writes the socket itself (SSL_set_fd); the stream only waits for
// readiness with async_wait when OpenSSL asks for it. Unlike asio::ssl::stream, which moves
// every byte through a memory BIO pair, no byte is copied beyond what decryption and
// encryption must do: records are decrypted straight into the caller's buffer.
//
// Half-close follows TLS 1.3 (RFC 8446 section 6.1): ShutdownSend() sends close_notify and
// reading goes on; a received close_notify is end-of-stream and writing goes on. A TCP
// end-of-stream without close_notify is an error (asio::ssl::error::stream_truncated): a
// truncation attack must not look like a clean end.
//
// Memory: SSL_MODE_RELEASE_BUFFERS returns OpenSSL's record buffers while the connection is
// idle, so an idle TLS connection costs a few KiB, not 2 x 16 KiB.
//
// Confined to the worker that owns its socket: the two directions of a forwarded connection
// may use one stream from two coroutines of that worker, never from two threads.
#ifndef GATEHOUSE_NET_TLS_STREAM_H_
#define GATEHOUSE_NET_TLS_STREAM_H_

#include <openssl/ssl.h>

#include <chrono>
#include <cstddef>
#include <system_error>

#include "asio/awaitable.hpp"
#include "asio/ip/tcp.hpp"
#include "net/byte_stream.h"
#include "security/openssl_ptr.h"

namespace gatehouse::net {

enum class TlsSide { kServer, kClient };

class TlsStream final : public ByteStream {
 public:
  // Takes the connected socket; `context` is a server or client context
  // (security::BuildTlsContext) matching `side`. A client sets the expected server name with
  // security::ExpectServerName(ssl(), host) before Handshake(). An SSL object that cannot be
  // created is reported by Handshake().
  TlsStream(asio::ip::tcp::socket socket, SSL_CTX* context, TlsSide side = TlsSide::kServer);
  TlsStream(TlsStream&&) = delete;
  TlsStream& operator=(TlsStream&&) = delete;
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;
  ~TlsStream() override = default;

  // Runs the handshake, giving up after `timeout` (a client that connects and says
  // nothing must not hold a connection slot). The error says why: OpenSSL's reason for a
  // refused certificate, asio::error::timed_out, or the socket error.
  asio::awaitable<std::error_code> Handshake(std::chrono::nanoseconds timeout);

  // Reads at least one byte unless the stream ends or fails, then keeps reading records that
  // are already available without waiting, up to `size` bytes: a 64 KiB buffer gets four
  // 16 KiB records per call rather than one.
  asio::awaitable<StreamRead> ReadSome(char* data, size_t size) override;

  // Waits until TryReadSome() has something to report. Bytes OpenSSL has already taken from the
  // socket (a record, or part of one) raise no socket readiness, so this returns at once while
  // SSL_has_pending() says OpenSSL holds some, unless the last TryReadSome() found they were
  // not enough for a whole record; then, and otherwise, it waits for what OpenSSL asked for
  // (readable, or writable while it must send a handshake message such as a KeyUpdate reply).
  asio::awaitable<std::error_code> WaitReadable() override;

  // As ReadSome(), without waiting: `would_block` when OpenSSL needs more from the socket.
  StreamRead TryReadSome(char* data, size_t size) override;

  // Writes all `size` bytes (waits while the socket is full) or fails.
  asio::awaitable<std::error_code> WriteAll(const char* data, size_t size) override;

  // Sends close_notify; the peer sees end-of-stream, and this side can still read.
  asio::awaitable<std::error_code> ShutdownSend() override;

  // The connection after the handshake: peer certificate, version, cipher.
  SSL* ssl() const { return ssl_.get(); }
  asio::ip::tcp::socket& socket() { return socket_; }

 private:
  // Waits for what OpenSSL asked for after a call returned `ssl_error`. Returns an error when
  // `ssl_error` was a failure rather than a request to wait.
  asio::awaitable<std::error_code> WaitFor(int ssl_error);
  // `socket_error` from a failed write, or the reason in an alert the peer sent before it closed.
  std::error_code PeerAlertOr(std::error_code socket_error);

  // What the read side must wait for, from the last TryReadSome().
  enum class ReadWait {
    kUnknown,         // no read yet, or it filled the buffer: OpenSSL may hold more
    kSocketReadable,  // OpenSSL needs bytes from the socket (SSL_ERROR_WANT_READ)
    kSocketWritable,  // OpenSSL must write first (SSL_ERROR_WANT_WRITE)
    kNothing,         // an end-of-stream or error is waiting to be reported
  };

  asio::ip::tcp::socket socket_;
  security::SslPtr ssl_;
  ReadWait read_wait_ = ReadWait::kUnknown;
};

}  // namespace gatehouse::net

#endif  // GATEHOUSE_NET_TLS_STREAM_H_
