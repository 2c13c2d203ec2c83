// CgroupRemover: removes the cgroups of ended jobs on a thread of its own, so that the runner's
// reaper, which also pumps every job's output and wakes its readers, never waits for a cgroup
// to empty (Cgroup::Remove may take seconds: a v1 freeze, processes in uninterruptible sleep).
// A removal that fails (a process that will not die yet, EMFILE) is retried every
// `retry_interval` until it succeeds or the remover is destroyed; the destructor tries once
// more, with Cgroup::Remove's own timeout, for each cgroup still queued, so that nothing is
// left behind but what cannot be removed at all.
//
// Thread-safe.
#ifndef GATEHOUSE_JOBS_CGROUP_REMOVER_H_
#define GATEHOUSE_JOBS_CGROUP_REMOVER_H_

#include <chrono>
#include <cstddef>
#include <deque>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "base/mutex.h"
#include "jobs/cgroup.h"

namespace gatehouse::jobs {

class CgroupRemover {
 public:
  explicit CgroupRemover(std::chrono::milliseconds retry_interval = std::chrono::seconds(1));
  CgroupRemover(const CgroupRemover&) = delete;
  CgroupRemover& operator=(const CgroupRemover&) = delete;
  CgroupRemover(CgroupRemover&&) = delete;
  CgroupRemover& operator=(CgroupRemover&&) = delete;
  ~CgroupRemover();

  // Queues `cgroup` for removal and returns at once.
  void Remove(Cgroup cgroup);
  // Cgroups queued or being removed.
  size_t pending() const;

 private:
  void Loop();

  const std::chrono::milliseconds retry_interval_;
  mutable base::Mutex mu_;
  base::CondVar changed_;
  std::deque<Cgroup> queue_ ABSL_GUARDED_BY(mu_);
  size_t in_progress_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace gatehouse::jobs

#endif  // GATEHOUSE_JOBS_CGROUP_REMOVER_H_
