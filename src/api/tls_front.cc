#include "api/tls_front.h"

#include <sys/socket.h>

#include <cerrno>
#include <exception>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "asio/co_spawn.hpp"
#include "asio/detached.hpp"
#include "asio/experimental/as_tuple.hpp"
#include "asio/post.hpp"
#include "asio/steady_timer.hpp"
#include "asio/use_awaitable.hpp"
#include "base/logging.h"
#include "base/unique_fd.h"
#include "grpcpp/server_posix.h"
#include "lb/forwarder.h"
#include "lb/upstream.h"
#include "net/tls_stream.h"
#include "security/identity.h"
#include "spdlog/spdlog.h"
#include "upgrade/adopt_listener.h"

namespace gatehouse::api {
namespace {

using asio::ip::tcp;

constexpr auto kAsTuple = asio::experimental::as_tuple(asio::use_awaitable);

// Counts a connection for as long as it lives.
class OpenConnection {
 public:
  explicit OpenConnection(std::atomic<uint32_t>* open) : open_(open) {
    open_->fetch_add(1, std::memory_order_relaxed);
  }
  OpenConnection(const OpenConnection&) = delete;
  OpenConnection& operator=(const OpenConnection&) = delete;
  OpenConnection(OpenConnection&&) = delete;
  OpenConnection& operator=(OpenConnection&&) = delete;
  ~OpenConnection() { open_->fetch_sub(1, std::memory_order_relaxed); }

 private:
  std::atomic<uint32_t>* open_;
};

void LogUnexpected(const std::exception_ptr& error) {
  if (error == nullptr) return;
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    spdlog::error("job API connection ended by an exception: {}", e.what());
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<TlsFront>> TlsFront::Start(TlsFrontOptions options,
                                                          grpc::Server* server,
                                                          PeerIdentities* identities) {
  base::UniqueFd inherited(options.inherited_socket);  // closed unless it is adopted
  std::unique_ptr<TlsFront> front(new TlsFront(std::move(options), server, identities));
  if (absl::Status listening = front->Listen(std::move(inherited)); !listening.ok()) {
    return listening;
  }
  asio::co_spawn(front->io_, front->AcceptLoop(), LogUnexpected);
  front->thread_ = std::thread([raw = front.get()] {
    // Asio throws only when the kernel refuses it a resource; the front logs it and goes on.
    while (!raw->io_.stopped()) {
      try {
        raw->io_.run();
      } catch (const std::exception& thrown) {
        spdlog::error("job API: {}", thrown.what());
      }
    }
  });
  return front;
}

absl::Status TlsFront::Listen(base::UniqueFd inherited) {
  std::error_code error;
  const tcp::endpoint listen = options_.listen;
  if (inherited.is_valid()) {
    if (const absl::Status adoptable = upgrade::CheckAdoptable(inherited.get(), listen);
        adoptable.ok()) {
      acceptor_.assign(listen.protocol(), inherited.get(), error);
      if (!error) listening_fd_ = inherited.Release();
    } else {
      spdlog::warn("job API: {}; binding {} instead", adoptable.message(),
                   lb::EndpointName(listen));
    }
  }
  if (listening_fd_ < 0) {
    // Our own socket() rather than acceptor_.open(): Asio does not set close-on-exec, and the
    // socket must not leak into a job or a binary upgrade's successor.
    base::UniqueFd fd(::socket(listen.protocol().family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd.is_valid()) error = std::error_code(errno, std::system_category());
    if (!error) acceptor_.assign(listen.protocol(), fd.get(), error);
    if (!error) listening_fd_ = fd.Release();
    if (!error) acceptor_.set_option(tcp::acceptor::reuse_address(true), error);
    if (!error) acceptor_.bind(listen, error);
    if (!error) acceptor_.listen(asio::socket_base::max_listen_connections, error);
  }
  if (!error) endpoint_ = acceptor_.local_endpoint(error);
  if (error) {
    return absl::UnavailableError(absl::StrCat("job API listener ", listen.address().to_string(),
                                               ":", listen.port(), ": ", error.message()));
  }
  return absl::OkStatus();
}

TlsFront::TlsFront(TlsFrontOptions options, grpc::Server* server, PeerIdentities* identities)
    : options_(std::move(options)), server_(server), identities_(identities) {}

TlsFront::~TlsFront() { Stop(); }

void TlsFront::StopAccepting() {
  asio::post(io_, [this] {
    std::error_code ignored;  // the accept loop ends either way
    acceptor_.close(ignored);
  });
}

void TlsFront::Stop() {
  if (!thread_.joinable()) return;
  io_.stop();
  thread_.join();
}

asio::awaitable<void> TlsFront::AcceptLoop() {
  while (true) {
    auto [error, socket] = co_await acceptor_.async_accept(kAsTuple);
    if (error == asio::error::operation_aborted) co_return;
    if (error) {
      // Out of descriptors and the like: pause rather than spin.
      spdlog::warn("job API accept: {}", error.message());
      asio::steady_timer pause(io_, std::chrono::milliseconds(100));
      co_await pause.async_wait(kAsTuple);
      continue;
    }
    if (open_.load(std::memory_order_relaxed) >= options_.max_connections) {
      std::error_code ignored;
      socket.close(ignored);
      continue;
    }
    asio::co_spawn(io_, Serve(std::move(socket)), LogUnexpected);
  }
}

asio::awaitable<void> TlsFront::Serve(tcp::socket socket) {
  const OpenConnection counted(&open_);
  std::error_code error;
  const tcp::endpoint peer = socket.remote_endpoint(error);
  // gRPC writes a reply as several small records (headers, data, trailers): Nagle would hold
  // back all but the first until the client's delayed ACK.
  socket.set_option(tcp::no_delay(true), error);
  const std::shared_ptr<SSL_CTX> context = options_.tls_context();
  auto stream = std::make_unique<net::TlsStream>(std::move(socket), context.get());
  if (const std::error_code failed = co_await stream->Handshake(options_.handshake_timeout)) {
    spdlog::info("job API: handshake with {} failed: {}", peer.address().to_string(),
                 failed.message());
    co_return;
  }
  absl::StatusOr<security::Identity> identity =
      security::IdentityFromCertificate(SSL_get0_peer_certificate(stream->ssl()));
  if (!identity.ok()) {
    const std::string reason(identity.status().message());
    spdlog::info("job API: {} refused: {}", peer.address().to_string(), reason);
    co_return;
  }
  int pair[2];
  // Non-blocking both: gRPC's poller reads its end until EAGAIN and would block on a blocking one.
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, pair) != 0) {
    spdlog::warn("job API: socketpair: {}",
                 std::error_code(errno, std::system_category()).message());
    co_return;
  }
  base::UniqueFd ours(pair[0]);
  // Registered before gRPC can read a byte from it: no call on it ever finds no identity.
  identities_->Register(PeerIdentities::PeerNameOfFd(pair[1]), *std::move(identity));
  grpc::AddInsecureChannelFromFd(server_, pair[1]);  // gRPC owns pair[1] from here
  tcp::socket local(io_);
  local.assign(tcp::v4(), ours.get(), error);
  if (error) co_return;               // `ours` closes it; gRPC sees its end close
  static_cast<void>(ours.Release());  // the socket owns it now
  lb::ForwarderOptions forward;
  forward.splice = lb::SpliceMode::kNever;  // TLS on one side: the copy path either way
  co_await lb::Forward(std::move(stream), std::move(local), forward);
}

}  // namespace gatehouse::api
