// InterruptWatcher: turns Ctrl-C (SIGINT) into a call on a thread of its own, so that a command
// can cancel what it waits for (a gRPC stream) and exit in an orderly way; nothing runs in a
// signal handler.
//
// SIGINT must be blocked in every thread for the watcher to see it (through a signalfd), so
// BlockInterrupts() has to run before any other thread starts, gRPC's included: they inherit the
// mask. From then on until the process ends, a Ctrl-C does nothing unless a watcher is running;
// one that comes earlier stays pending and reaches the next watcher at once.
//
// Linux only (signalfd, eventfd). Thread-safe.
#ifndef GATEHOUSE_APPS_GATEHOUSE_INTERRUPT_WATCHER_H_
#define GATEHOUSE_APPS_GATEHOUSE_INTERRUPT_WATCHER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/unique_fd.h"

namespace gatehouse::cli {

class InterruptWatcher {
 public:
  // Blocks SIGINT in the calling thread and so in every thread it starts afterwards. An error
  // (errno's) only when the kernel refuses.
  static absl::Status BlockInterrupts();

  // Starts watching: on the first SIGINT, `on_interrupt` runs once on the watcher's thread, and
  // interrupted() turns true before it does. Needs BlockInterrupts() first. An error (errno's)
  // when the signalfd or eventfd cannot be made.
  static absl::StatusOr<std::unique_ptr<InterruptWatcher>> Start(
      std::function<void()> on_interrupt);

  InterruptWatcher(const InterruptWatcher&) = delete;
  InterruptWatcher& operator=(const InterruptWatcher&) = delete;
  InterruptWatcher(InterruptWatcher&&) = delete;
  InterruptWatcher& operator=(InterruptWatcher&&) = delete;
  // Stops watching and joins the thread; `on_interrupt` is not running and will not run.
  ~InterruptWatcher();

  bool interrupted() const { return interrupted_.load(std::memory_order_acquire); }

 private:
  InterruptWatcher(base::UniqueFd signal_fd, base::UniqueFd stop_fd,
                   std::function<void()> on_interrupt);
  void Watch();

  const base::UniqueFd signal_fd_;  // reads SIGINT
  const base::UniqueFd stop_fd_;    // an eventfd the destructor writes to
  const std::function<void()> on_interrupt_;
  // Set (release) before on_interrupt runs, so that whoever sees its effects (a cancelled
  // stream) and then reads it (acquire) sees true.
  std::atomic<bool> interrupted_{false};
  std::thread thread_;  // last, so that it starts once everything it uses is initialized
};

}  // namespace gatehouse::cli

#endif  // GATEHOUSE_APPS_GATEHOUSE_INTERRUPT_WATCHER_H_
