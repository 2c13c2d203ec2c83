#include "loadgen/client_connection.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include "asio/experimental/as_tuple.hpp"
#include "asio/experimental/awaitable_operators.hpp"
#include "asio/steady_timer.hpp"
#include "asio/use_awaitable.hpp"
#include "security/tls_context.h"

namespace gatehouse::loadgen {
namespace {

using asio::ip::tcp;

constexpr auto kAsTuple = asio::experimental::as_tuple(asio::use_awaitable);
constexpr size_t kReadBufferBytes = size_t{64} * 1024;
// A request this small always fits in the socket's send buffer, so writing it before reading
// the reply cannot deadlock against a server that echoes while it reads.
constexpr size_t kSequentialWriteBytes = size_t{16} * 1024;

// The target's endpoint, or one of its port range, uniformly at random.
tcp::endpoint PickEndpoint(const ConnectTarget& target) {
  const uint16_t first = target.endpoint.port();
  if (target.last_port <= first) return target.endpoint;
  // One generator per load thread: connections of a thread share it, threads never do.
  thread_local std::minstd_rand generator{std::random_device{}()};
  std::uniform_int_distribution<uint32_t> port(first, target.last_port);
  return {target.endpoint.address(), static_cast<uint16_t>(port(generator))};
}

}  // namespace

asio::awaitable<std::optional<ErrorKind>> ClientConnection::Open(const ConnectTarget& target) {
  using asio::experimental::awaitable_operators::operator||;
  Close();
  auto socket = std::make_unique<tcp::socket>(executor_);
  asio::steady_timer timer(executor_);
  timer.expires_after(target.timeout);
  auto connected = co_await (socket->async_connect(PickEndpoint(target), kAsTuple) ||
                             timer.async_wait(kAsTuple));
  if (connected.index() == 1) co_return ErrorKind::kConnectTimeout;
  if (auto [error] = std::get<0>(connected); error) co_return ClassifyError(error, true);
  std::error_code ignored;  // Nagle would add up to 40 ms to small requests
  socket->set_option(tcp::no_delay(true), ignored);
  if (target.tls_context == nullptr) {
    stream_ = std::make_unique<net::SocketByteStream>(*socket);
    socket_ = std::move(socket);
    co_return std::nullopt;
  }
  auto tls = std::make_unique<net::TlsStream>(std::move(*socket), target.tls_context,
                                              net::TlsSide::kClient);
  if (tls->ssl() == nullptr || !security::ExpectServerName(tls->ssl(), target.server_name).ok()) {
    co_return ErrorKind::kTls;
  }
  if (target.resume_sessions && last_session_ != nullptr) {
    SSL_set_session(tls->ssl(), last_session_.get());
  }
  if (std::error_code error = co_await tls->Handshake(target.timeout)) {
    co_return error == asio::error::timed_out ? ErrorKind::kTls : ClassifyError(error, false);
  }
  if (target.resume_sessions) tls_ = tls.get();
  stream_ = std::move(tls);
  co_return std::nullopt;
}

void ClientConnection::Close() {
  // TLS 1.3 delivers the session ticket after the handshake, with the first reply, so the
  // session to resume is the one the connection holds at its end.
  if (tls_ != nullptr) {
    SSL_SESSION* session = SSL_get1_session(tls_->ssl());
    if (session != nullptr && SSL_SESSION_is_resumable(session) == 1) {
      last_session_.reset(session);
    } else {
      SSL_SESSION_free(session);
    }
    tls_ = nullptr;
  }
  stream_.reset();
  socket_.reset();  // after the stream that borrows it
}

asio::awaitable<void> ClientConnection::ReadReply(absl::string_view payload,
                                                  uint64_t expected_bytes, bool is_echo,
                                                  ExchangeResult& result) {
  const size_t buffer_bytes = static_cast<size_t>(
      std::min<uint64_t>(kReadBufferBytes, std::max<uint64_t>(1, expected_bytes)));
  if (read_buffer_.size() < buffer_bytes) read_buffer_.resize(buffer_bytes);
  while (result.bytes_received < expected_bytes) {
    const size_t want = static_cast<size_t>(
        std::min<uint64_t>(read_buffer_.size(), expected_bytes - result.bytes_received));
    const net::StreamRead chunk = co_await stream_->ReadSome(read_buffer_.data(), want);
    if (chunk.end_of_stream) {
      result.error = ErrorKind::kClosedEarly;
      co_return;
    }
    if (chunk.error) {
      // Cancelled: the write failed first, and its error stands.
      if (chunk.error != asio::error::operation_aborted) {
        result.error = ClassifyError(chunk.error, false);
      }
      co_return;
    }
    if (is_echo && std::memcmp(read_buffer_.data(), payload.data() + result.bytes_received,
                               chunk.bytes) != 0) {
      result.error = ErrorKind::kWrongData;
      co_return;
    }
    result.bytes_received += chunk.bytes;
  }
}

asio::awaitable<ExchangeResult> ClientConnection::ExchangeOnce(absl::string_view payload,
                                                               uint64_t expected_bytes,
                                                               bool is_echo) {
  using asio::experimental::awaitable_operators::operator||;
  ExchangeResult result;
  if (payload.size() <= kSequentialWriteBytes) {
    // Fits in the socket buffers whatever the server does: write, then read, without the cost
    // of running both at once.
    if (std::error_code error = co_await stream_->WriteAll(payload.data(), payload.size())) {
      result.error = ClassifyError(error, false);
      co_return result;
    }
    result.bytes_sent = payload.size();
    co_await ReadReply(payload, expected_bytes, is_echo, result);
    co_return result;
  }
  std::optional<ErrorKind> write_error;
  bool write_done = false;
  // Writes, then parks until the reply is complete (which cancels it); a failed write ends the
  // exchange at once.
  auto write = [&]() -> asio::awaitable<void> {
    if (std::error_code error = co_await stream_->WriteAll(payload.data(), payload.size())) {
      // Cancelled: the reply ended first, and its outcome stands.
      if (error != asio::error::operation_aborted) write_error = ClassifyError(error, false);
      co_return;
    }
    write_done = true;
    result.bytes_sent = payload.size();
    asio::steady_timer parked(executor_, asio::steady_timer::time_point::max());
    co_await parked.async_wait(kAsTuple);
  };
  // Both at once: a large payload echoed back would otherwise fill both socket buffers. A reply
  // that ends (or fails) before the write is done cancels the write.
  co_await (ReadReply(payload, expected_bytes, is_echo, result) || write());
  if (!result.error && write_error) result.error = write_error;
  // A write cut short leaves the stream mid-record: the connection cannot carry another request.
  if (!result.error && !write_done) Close();
  co_return result;
}

asio::awaitable<ExchangeResult> ClientConnection::Exchange(absl::string_view payload,
                                                           uint64_t expected_bytes, bool is_echo,
                                                           std::chrono::nanoseconds timeout) {
  using asio::experimental::awaitable_operators::operator||;
  asio::steady_timer timer(executor_);
  timer.expires_after(timeout);
  auto outcome =
      co_await (ExchangeOnce(payload, expected_bytes, is_echo) || timer.async_wait(kAsTuple));
  ExchangeResult result;
  if (outcome.index() == 1) {
    result.error = ErrorKind::kTimeout;
  } else {
    result = std::get<0>(outcome);
  }
  if (result.error) Close();
  co_return result;
}

asio::awaitable<std::optional<ErrorKind>> ClientConnection::Stream(
    absl::string_view payload, const std::function<bool()>& keep_going, StatsSink& stats) {
  using asio::experimental::awaitable_operators::operator||;
  std::optional<ErrorKind> failure;
  auto write = [&]() -> asio::awaitable<void> {
    while (keep_going()) {
      if (std::error_code error = co_await stream_->WriteAll(payload.data(), payload.size())) {
        failure = ClassifyError(error, false);
        co_return;
      }
      stats.RecordBytes(payload.size(), 0);
    }
  };
  auto drain = [&]() -> asio::awaitable<void> {
    std::vector<char> buffer(kReadBufferBytes);
    while (true) {
      const net::StreamRead chunk = co_await stream_->ReadSome(buffer.data(), buffer.size());
      if (chunk.end_of_stream || chunk.error) {
        // Cancelled: the writer has finished and its outcome stands.
        if (chunk.error && chunk.error != asio::error::operation_aborted) {
          failure = ClassifyError(chunk.error, false);
        }
        co_return;
      }
      stats.RecordBytes(0, chunk.bytes);
    }
  };
  // The writer decides when the stream ends; the drain is cancelled then.
  co_await (write() || drain());
  Close();
  co_return failure;
}

}  // namespace gatehouse::loadgen
