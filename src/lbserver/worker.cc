#include "lbserver/worker.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <exception>
#include <system_error>

#include "asio/co_spawn.hpp"
#include "asio/executor_work_guard.hpp"
#include "asio/experimental/as_tuple.hpp"
#include "asio/post.hpp"
#include "asio/steady_timer.hpp"
#include "asio/use_awaitable.hpp"
#include "base/logging.h"
#include "lbserver/connection.h"
#include "spdlog/spdlog.h"

namespace gatehouse::lbserver {
namespace {

using asio::ip::tcp;
using std::chrono::milliseconds;

constexpr auto kAsTuple = asio::experimental::as_tuple(asio::use_awaitable);

// Accepts per readiness event before the loop lets the worker's connections run: a flood of
// new clients must not starve the established ones.
constexpr int kAcceptBatch = 64;
// Out of descriptors or memory: pause this acceptor, 10 ms doubling to 1 s (RFD section 8). The
// pending connection stays queued, so waiting for readiness again would return at once and spin.
constexpr milliseconds kFirstBackoff{10};
constexpr milliseconds kMaxBackoff{1000};

bool IsResourceError(int error) {
  return error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM;
}

// accept4 errors that concern one client that gave up, not the listener.
bool IsClientError(int error) {
  return error == EINTR || error == ECONNABORTED || error == EPROTO || error == EPERM ||
         error == ENETDOWN || error == ENOPROTOOPT || error == EHOSTDOWN || error == ENONET ||
         error == EHOSTUNREACH || error == EOPNOTSUPP || error == ENETUNREACH;
}

void LogUnexpected(const std::exception_ptr& error) {
  if (error == nullptr) return;
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    spdlog::error("lb connection ended by an exception: {}", e.what());
  }
}

}  // namespace

Worker::Worker(ConnectionCount* count, AcceptMetrics metrics) : count_(count), metrics_(metrics) {}

Worker::~Worker() { Stop(); }

void Worker::Start() {
  thread_ = std::thread([this] {
    auto guard = asio::make_work_guard(io_);
    // Our code throws nothing, but Asio does when the kernel refuses it a resource (its reactor's
    // eventfd, say, at EMFILE). The worker logs it and goes on serving rather than ending the
    // process; what threw has failed and said so.
    while (!io_.stopped()) {
      try {
        io_.run();
      } catch (const std::exception& error) {
        spdlog::error("lb worker: {}", error.what());
      }
    }
  });
}

std::future<void> Worker::Apply(std::shared_ptr<const LbSnapshot> snapshot,
                                std::vector<ListenerSocket> added,
                                std::vector<std::string> removed) {
  std::promise<void> applied;
  std::future<void> done = applied.get_future();
  asio::post(io_, [this, snapshot = std::move(snapshot), added = std::move(added),
                   removed = std::move(removed), applied = std::move(applied)]() mutable {
    snapshot_ = std::move(snapshot);
    for (const std::string& address : removed) {
      const auto it = listeners_.find(address);
      if (it == listeners_.end()) continue;
      std::error_code ignored;  // closing is best effort; the accept loop ends either way
      it->second->acceptor.close(ignored);
      listeners_.erase(it);
    }
    for (ListenerSocket& socket : added) AddListener(std::move(socket));
    applied.set_value();
  });
  return done;
}

std::future<void> Worker::StopAccepting() {
  std::promise<void> stopped;
  std::future<void> done = stopped.get_future();
  asio::post(io_, [this, stopped = std::move(stopped)]() mutable {
    for (auto& [address, listener] : listeners_) {
      std::error_code ignored;
      listener->acceptor.close(ignored);
    }
    listeners_.clear();
    stopped.set_value();
  });
  return done;
}

void Worker::Stop() {
  if (!thread_.joinable()) return;
  io_.stop();
  thread_.join();
}

void Worker::AddListener(ListenerSocket socket) {
  auto listener = std::make_shared<Listener>(io_, socket.address);
  std::error_code error;
  // The protocol only tells Asio the family; the socket is already bound.
  int family = AF_INET;
  socklen_t length = sizeof(family);
  ::getsockopt(socket.fd.get(), SOL_SOCKET, SO_DOMAIN, &family, &length);
  listener->acceptor.assign(family == AF_INET6 ? tcp::v6() : tcp::v4(), socket.fd.get(), error);
  if (error) {
    spdlog::error("lb listener {}: cannot start accepting: {}", socket.address, error.message());
    return;
  }
  static_cast<void>(socket.fd.Release());  // the acceptor owns it now
  listeners_[socket.address] = listener;
  asio::co_spawn(io_, AcceptLoop(std::move(listener)), LogUnexpected);
}

asio::awaitable<void> Worker::AcceptLoop(std::shared_ptr<Listener> listener) {
  asio::steady_timer backoff_timer(io_);
  milliseconds backoff{0};
  while (listener->acceptor.is_open()) {
    auto [wait_error] = co_await listener->acceptor.async_wait(tcp::acceptor::wait_read, kAsTuple);
    if (wait_error || !listener->acceptor.is_open()) co_return;  // closed by a reload or a stop
    for (int i = 0; i < kAcceptBatch; ++i) {
      const int fd = ::accept4(listener->acceptor.native_handle(), nullptr, nullptr,
                               SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd >= 0) {
        backoff = milliseconds(0);
        Adopt(fd, *listener);
        continue;
      }
      const int error = errno;
      if (error == EAGAIN || error == EWOULDBLOCK) break;
      if (IsClientError(error)) continue;
      const bool is_resource = IsResourceError(error);
      (is_resource ? metrics_.resource_errors : metrics_.other_errors)->Increment();
      backoff = std::clamp(backoff * 2, kFirstBackoff, kMaxBackoff);
      spdlog::warn("lb listener {}: accept: {}; pausing it for {} ms", listener->address,
                   std::error_code(error, std::system_category()).message(), backoff.count());
      backoff_timer.expires_after(backoff);
      co_await backoff_timer.async_wait(kAsTuple);
      break;
    }
  }
}

void Worker::Adopt(int fd, const Listener& listener) {
  tcp::socket socket(io_);
  std::error_code error;
  socket.assign(listener.acceptor.local_endpoint(error).protocol(), fd, error);
  if (error) {
    ::close(fd);
    return;
  }
  std::shared_ptr<const App> app;
  if (snapshot_ != nullptr) {
    const auto it = snapshot_->app_by_listener.find(listener.address);
    if (it != snapshot_->app_by_listener.end()) app = it->second;
  }
  if (app == nullptr) {
    socket.close(error);  // a listener without an app cannot happen; never serve one blind
    return;
  }
  asio::co_spawn(io_, ServeConnection(std::move(socket), snapshot_, std::move(app), count_),
                 LogUnexpected);
}

}  // namespace gatehouse::lbserver
