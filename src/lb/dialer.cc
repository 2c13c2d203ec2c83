#include "lb/dialer.h"

#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "asio/experimental/as_tuple.hpp"
#include "asio/experimental/awaitable_operators.hpp"
#include "asio/steady_timer.hpp"
#include "asio/this_coro.hpp"
#include "asio/use_awaitable.hpp"
#include "spdlog/spdlog.h"

namespace gatehouse::lb {
namespace {

using asio::ip::tcp;

constexpr auto kAsTuple = asio::experimental::as_tuple(asio::use_awaitable);

std::error_code OpenCloexecSocket(tcp::socket& socket, const tcp::endpoint& endpoint) {
  const int fd =
      ::socket(endpoint.protocol().family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return {errno, asio::error::get_system_category()};
  std::error_code error;
  socket.assign(endpoint.protocol(), fd, error);
  if (error) ::close(fd);
  return error;
}

// Connects `socket` to `endpoint`, giving up after `timeout`.
asio::awaitable<std::error_code> ConnectWithTimeout(tcp::socket& socket,
                                                    const tcp::endpoint& endpoint,
                                                    std::chrono::nanoseconds timeout) {
  if (std::error_code error = OpenCloexecSocket(socket, endpoint)) co_return error;
  co_return co_await ConnectWithin(socket, endpoint, timeout);
}

}  // namespace

asio::awaitable<std::error_code> ConnectWithin(tcp::socket& socket, const tcp::endpoint& endpoint,
                                               std::chrono::nanoseconds timeout) {
  using asio::experimental::awaitable_operators::operator||;
  asio::steady_timer timer(co_await asio::this_coro::executor, timeout);
  auto outcome = co_await (socket.async_connect(endpoint, kAsTuple) || timer.async_wait(kAsTuple));
  if (outcome.index() == 1) co_return asio::error::timed_out;
  auto [error] = std::get<0>(outcome);
  co_return error;
}

asio::awaitable<absl::StatusOr<DialedUpstream>> Dial(Balancer& balancer, DialOptions options,
                                                     std::optional<uint64_t> key) {
  std::vector<const Upstream*> tried;
  std::string failures;
  const auto executor = co_await asio::this_coro::executor;
  uint32_t attempts = 0;
  // Ends: each pass either counts an attempt or adds a new upstream to `tried`, and a balancer
  // picks nothing once every upstream is tried.
  while (attempts < options.max_attempts) {
    std::optional<UpstreamLease> lease =
        key.has_value() ? balancer.PickForKey(*key, tried) : balancer.Pick(tried);
    if (!lease.has_value()) break;
    Upstream& upstream = lease->upstream();
    tried.push_back(&upstream);
    const DialTicket ticket = upstream.AdmitDial(options.connect_timeout);
    if (!ticket.admitted) continue;  // ejected, or its trial taken, since the pick
    ++attempts;
    tcp::socket socket(executor);
    const std::error_code error =
        co_await ConnectWithTimeout(socket, upstream.endpoint(), options.connect_timeout);
    if (!error) {
      if (upstream.RecordDialSuccess(ticket)) {
        spdlog::info("upstream {} passed its trial dial and is no longer ejected", upstream.name());
      }
      std::error_code ignored;  // latency tweak only; the connection works without it
      socket.set_option(tcp::no_delay(true), ignored);
      co_return DialedUpstream{std::move(socket), *std::move(lease), attempts};
    }
    if (options.failed_attempts != nullptr) options.failed_attempts->Increment();
    absl::StrAppend(&failures, failures.empty() ? "" : ", ", upstream.name(), ": ",
                    error.message());
    if (upstream.RecordDialFailure(options.eject_after_failures, options.ejection_backoff,
                                   ticket)) {
      if (ticket.is_trial()) {
        spdlog::warn("upstream {} failed its trial dial ({}) and is ejected again", upstream.name(),
                     error.message());
      } else {
        spdlog::warn("upstream {} ejected after {} consecutive dial failures (last: {})",
                     upstream.name(), options.eject_after_failures, error.message());
      }
    }
  }
  if (failures.empty()) co_return absl::UnavailableError("no healthy upstream");
  co_return absl::UnavailableError(
      absl::StrCat("no upstream accepted the connection (", failures, ")"));
}

}  // namespace gatehouse::lb
