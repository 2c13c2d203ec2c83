#include "testing/loopback_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace gatehouse::testing {

bool WriteAll(int fd, const void* data, size_t size) {
  const char* bytes = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::send(fd, bytes, size, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    bytes += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

LoopbackServer::Handler LoopbackServer::Echo() {
  return [](int fd) {
    std::vector<char> buffer(size_t{256} * 1024);
    while (true) {
      const ssize_t n = ::read(fd, buffer.data(), buffer.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      if (!WriteAll(fd, buffer.data(), static_cast<size_t>(n))) return;
    }
    ::shutdown(fd, SHUT_WR);
  };
}

LoopbackServer::Handler LoopbackServer::SayLine(std::string line) {
  return [text = std::move(line) + "\n"](int fd) { WriteAll(fd, text.data(), text.size()); };
}

LoopbackServer::LoopbackServer(Handler handler, uint16_t port) : handler_(std::move(handler)) {
  listener_.Reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const int on = 1;
  ::setsockopt(listener_.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (::bind(listener_.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::listen(listener_.get(), 128) != 0 ||
      ::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ADD_FAILURE() << absl::ErrnoToStatus(errno, "listen on 127.0.0.1");
    return;
  }
  port_ = ntohs(address.sin_port);
  accept_thread_ = std::thread([this] { AcceptLoop(); });
}

LoopbackServer::~LoopbackServer() {
  ::shutdown(listener_.get(), SHUT_RDWR);  // wakes accept()
  if (accept_thread_.joinable()) accept_thread_.join();
  std::vector<std::thread> threads;
  {
    base::MutexLock lock(&mu_);
    is_stopping_ = true;
    for (const int fd : connection_fds_) ::shutdown(fd, SHUT_RDWR);  // wakes blocked handlers
    threads.swap(connection_threads_);
  }
  for (std::thread& thread : threads) thread.join();
}

void LoopbackServer::AcceptLoop() {
  while (true) {
    const int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;
    }
    const timeval timeout{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    ++accepted_;
    ++open_;
    base::MutexLock lock(&mu_);
    if (is_stopping_) {
      ::close(fd);
      --open_;
      return;
    }
    connection_fds_.push_back(fd);
    connection_threads_.emplace_back([this, fd] {
      handler_(fd);
      {
        base::MutexLock inner(&mu_);
        connection_fds_.erase(std::find(connection_fds_.begin(), connection_fds_.end(), fd));
      }
      ::close(fd);
      --open_;
    });
  }
}

}  // namespace gatehouse::testing
