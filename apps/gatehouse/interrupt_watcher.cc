#include "gatehouse/interrupt_watcher.h"

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <utility>

namespace gatehouse::cli {
namespace {

sigset_t InterruptSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  return signals;
}

}  // namespace

absl::Status InterruptWatcher::BlockInterrupts() {
  const sigset_t signals = InterruptSignals();
  if (const int error = ::pthread_sigmask(SIG_BLOCK, &signals, nullptr); error != 0) {
    return absl::ErrnoToStatus(error, "cannot block SIGINT");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<InterruptWatcher>> InterruptWatcher::Start(
    std::function<void()> on_interrupt) {
  const sigset_t signals = InterruptSignals();
  base::UniqueFd signal_fd(::signalfd(-1, &signals, SFD_CLOEXEC));
  if (!signal_fd.is_valid()) return absl::ErrnoToStatus(errno, "cannot watch for Ctrl-C: signalfd");
  base::UniqueFd stop_fd(::eventfd(0, EFD_CLOEXEC));
  if (!stop_fd.is_valid()) return absl::ErrnoToStatus(errno, "cannot watch for Ctrl-C: eventfd");
  // Not make_unique: the constructor is private.
  return std::unique_ptr<InterruptWatcher>(
      new InterruptWatcher(std::move(signal_fd), std::move(stop_fd), std::move(on_interrupt)));
}

InterruptWatcher::InterruptWatcher(base::UniqueFd signal_fd, base::UniqueFd stop_fd,
                                   std::function<void()> on_interrupt)
    : signal_fd_(std::move(signal_fd)),
      stop_fd_(std::move(stop_fd)),
      on_interrupt_(std::move(on_interrupt)),
      thread_([this] { Watch(); }) {}

InterruptWatcher::~InterruptWatcher() {
  // Cannot fail: one write to a fresh eventfd is far from overflowing its counter.
  eventfd_write(stop_fd_.get(), 1);
  thread_.join();
}

void InterruptWatcher::Watch() {
  std::array<pollfd, 2> fds = {{{.fd = signal_fd_.get(), .events = POLLIN, .revents = 0},
                                {.fd = stop_fd_.get(), .events = POLLIN, .revents = 0}}};
  while (true) {
    // No timeout: the destructor's write to stop_fd_ always ends the wait.
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      return;  // cannot happen with valid fds; Ctrl-C would then do nothing
    }
    if (fds[1].revents != 0) return;
    signalfd_siginfo info{};
    if (fds[0].revents != 0 && ::read(signal_fd_.get(), &info, sizeof(info)) == sizeof(info)) {
      interrupted_.store(true, std::memory_order_release);
      on_interrupt_();
      return;
    }
  }
}

}  // namespace gatehouse::cli
