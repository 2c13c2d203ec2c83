#include "jobs/cgroup_remover.h"

#include <optional>
#include <utility>

namespace gatehouse::jobs {

CgroupRemover::CgroupRemover(std::chrono::milliseconds retry_interval)
    : retry_interval_(retry_interval), thread_([this] { Loop(); }) {}

CgroupRemover::~CgroupRemover() {
  {
    base::MutexLock lock(&mu_);
    stopping_ = true;
    changed_.NotifyAll();
  }
  thread_.join();
  // Whatever is still queued gets one last attempt each; a Cgroup that still fails is dropped by
  // its destructor, which waits (bounded) and drops errors.
  std::deque<Cgroup> left;
  {
    base::MutexLock lock(&mu_);
    left.swap(queue_);
  }
  for (Cgroup& cgroup : left) (void)cgroup.Remove();
}

void CgroupRemover::Remove(Cgroup cgroup) {
  base::MutexLock lock(&mu_);
  queue_.push_back(std::move(cgroup));
  changed_.NotifyAll();
}

size_t CgroupRemover::pending() const {
  base::MutexLock lock(&mu_);
  return queue_.size() + in_progress_;
}

void CgroupRemover::Loop() {
  while (true) {
    std::optional<Cgroup> next;
    {
      base::MutexLock lock(&mu_);
      // Idle for long stretches; the bound only keeps every wait finite.
      const bool woken = changed_.WaitUntil(
          &mu_, std::chrono::steady_clock::now() + std::chrono::minutes(1),
          [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      if (!woken) continue;
      next.emplace(std::move(queue_.front()));
      queue_.pop_front();
      ++in_progress_;
    }
    const bool removed = next->Remove().ok();
    base::MutexLock lock(&mu_);
    --in_progress_;
    if (removed) continue;
    queue_.push_back(*std::move(next));
    // Not a busy loop over a cgroup that cannot go yet; a stop ends the pause at once.
    changed_.WaitUntil(&mu_, std::chrono::steady_clock::now() + retry_interval_,
                       [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return stopping_; });
  }
}

}  // namespace gatehouse::jobs
