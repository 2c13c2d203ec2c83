// JobRunner: starts, stops, queries and streams the output of jobs, each in its own cgroup and
// namespaces (see spawn.h, cgroup.h, output.h).
//
// One reaper thread owns every job's live fds: it epolls the pidfd of each job's init, the
// exec-status pipe and the output pipe, pumps output into the job's file, sends the kill when a
// stop's grace period runs out, and finishes a job once its init has exited and its output has
// reached end-of-file: usage and the OOM counter are read, the cgroup is removed, readers see
// the end. It also removes ended jobs past their retention. Calls from other threads only take
// the job table's mutex, never across I/O.
//
// Thread-safe.
#ifndef GATEHOUSE_JOBS_JOB_RUNNER_H_
#define GATEHOUSE_JOBS_JOB_RUNNER_H_

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/mutex.h"
#include "base/unique_fd.h"
#include "jobs/cgroup.h"
#include "jobs/cgroup_remover.h"
#include "jobs/job.h"
#include "jobs/output.h"
#include "jobs/spawn.h"

namespace gatehouse::jobs {

struct JobRunnerOptions {
  std::string state_dir;                    // outputs go to <state_dir>/jobs/<id>/output
  std::string cgroup_parent = "gatehouse";  // relative to each hierarchy's root
  // Remove the cgroups a previous worker left under the parent (it crashed). False when that
  // worker is still running, as across a binary upgrade: its jobs are its own to stop.
  bool remove_stale_cgroups = true;
  std::chrono::milliseconds stop_grace = std::chrono::seconds(10);
  std::optional<CgroupLayout> layout;  // default: CgroupLayout::Detect()
  // Who a job runs as when its spec names nobody: never root by default. 65534 is "nobody" and
  // "nogroup" on Debian.
  uid_t default_uid = 65534;
  gid_t default_gid = 65534;
  // Jobs starting or running at once; Start answers ResourceExhausted past it. Ended jobs do
  // not count (their retention is below). 0: no cap.
  size_t max_jobs = 256;
  // Output kept per job. Past it the job runs on and its further output is read and dropped
  // (truncated, not stopped: a chatty job is not a failed one); its status says so. 0: no cap.
  uint64_t max_output_bytes = uint64_t{2} << 30;
  // Readers of one job's output open at once (OpenOutput answers ResourceExhausted past it).
  size_t max_readers_per_job = 64;
  // An ended job, its status and its output file are kept this long, and only the newest
  // `max_ended_jobs` of them; then the entry and the file are removed.
  std::chrono::nanoseconds ended_job_retention = std::chrono::hours(24);
  size_t max_ended_jobs = 1000;
};

class JobRunner {
 public:
  // Detects the cgroup layout, removes stale cgroups under the parent (a previous worker's,
  // unless options.remove_stale_cgroups is false),
  // creates the state directory (0700) and starts the reaper. Needs root (or a delegated
  // cgroup parent and the capabilities for namespaces).
  static absl::StatusOr<std::unique_ptr<JobRunner>> Create(JobRunnerOptions options);

  JobRunner(const JobRunner&) = delete;
  JobRunner& operator=(const JobRunner&) = delete;
  JobRunner(JobRunner&&) = delete;
  JobRunner& operator=(JobRunner&&) = delete;
  // Kills every job still running, reaps it, removes its cgroup and joins the reaper.
  ~JobRunner();

  // Starts the job and returns its id once its init runs inside its cgroup. A command that
  // cannot start still gets an id: its status says kFailedToStart and why. Errors are the
  // worker's own (bad spec, cgroup or clone failure).
  absl::StatusOr<JobId> Start(JobSpec spec);
  // SIGTERM to the job, then after the grace period SIGKILL to everything in its cgroup.
  // Returns at once; the status turns kStopped when the job has ended. NotFound for an unknown
  // id; a job that has already ended is left as it is.
  absl::Status Stop(const JobId& id);
  absl::StatusOr<JobStatus> Status(const JobId& id) const;
  std::vector<JobStatus> List() const;
  // Waits until the job has left kStarting (or `deadline`) and returns its status either way.
  absl::StatusOr<JobStatus> WaitUntilStarted(const JobId& id,
                                             std::chrono::steady_clock::time_point deadline) const;
  // Calls `callback` once with the job's status when it has left kStarting: at once on this
  // thread when it has already, else on the runner's thread (keep it short: it holds up every
  // job), or from ReleaseStartWaits. Never under the runner's lock. NotFound, without calling
  // it, for an unknown id. For servers that must not hold a thread while a job starts.
  using StartCallback = std::function<void(const JobStatus&)>;
  absl::Status NotifyWhenStarted(const JobId& id, StartCallback callback);
  // Calls every callback NotifyWhenStarted still holds, with the job's status as it is now (a
  // server shutting down must answer its calls). The destructor does too.
  void ReleaseStartWaits();
  // Waits until the job has ended (or `deadline`) and returns its status either way.
  absl::StatusOr<JobStatus> WaitForEnd(const JobId& id,
                                       std::chrono::steady_clock::time_point deadline) const;
  // A reader of the job's whole output, from the first byte.
  absl::StatusOr<std::unique_ptr<OutputReader>> OpenOutput(const JobId& id) const;
  // A descriptor of the running job's network namespace, for setns(fd, CLONE_NEWNET) (a pidfd
  // of the job's init: Linux 5.8+). It does not keep the namespace alive: once the job has
  // ended, setns fails (ESRCH), so a caller never reaches a later job's namespace through it.
  // NotFound for an unknown id, FailedPrecondition unless the job is running.
  absl::StatusOr<base::UniqueFd> NetworkNamespaceOf(const JobId& id) const;

  const CgroupLayout& layout() const { return layout_; }

 private:
  struct Job;
  struct Watch;

  JobRunner(JobRunnerOptions options, CgroupLayout layout, base::UniqueFd init,
            base::UniqueFd epoll, base::UniqueFd wake);

  absl::StatusOr<std::vector<std::string>> IoDevices(const Limits& limits) const;
  absl::StatusOr<JobStatus> WaitFor(const JobId& id, std::chrono::steady_clock::time_point deadline,
                                    bool (*reached)(JobState)) const;
  absl::Status Launch(Job& job, SpawnRequest& request);
  void Register(Job& job, int fd, int kind);
  void Wake() const;

  // Reaper thread.
  void ReapLoop();
  void Handle(Watch& watch, uint32_t events);
  void OnExecStatus(Job& job);
  void OnOutput(Job& job, uint32_t events);
  void OnInitExit(Job& job);
  void KillOverdue();
  void PruneEnded();
  void FinishIfDone(Job& job);
  // Takes the NotifyWhenStarted callbacks of `job` (which has left kStarting) with its status,
  // for the caller to run once it holds no lock.
  std::vector<StartCallback> TakeStartWaits(const Job& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static void RunStartWaits(const std::vector<StartCallback>& callbacks, const JobStatus& status);
  int NextTimeoutMs() const;

  const JobRunnerOptions options_;
  const CgroupLayout layout_;
  const base::UniqueFd init_;  // the job init program's sealed memfd (LoadJobInit)
  base::UniqueFd epoll_;
  base::UniqueFd wake_;  // eventfd: new deadlines, shutdown

  mutable base::Mutex mu_;
  mutable base::CondVar changed_;  // a job's state changed
  absl::flat_hash_map<JobId, std::unique_ptr<Job>> jobs_ ABSL_GUARDED_BY(mu_);
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  size_t active_jobs_ ABSL_GUARDED_BY(mu_) = 0;  // starting or running: against max_jobs
  absl::flat_hash_map<JobId, std::vector<StartCallback>> start_waits_ ABSL_GUARDED_BY(mu_);

  // Declared before the reaper: destroyed after it, so every cgroup it handed over is removed.
  CgroupRemover cgroup_remover_;
  std::thread reaper_;
};

}  // namespace gatehouse::jobs

#endif  // GATEHOUSE_JOBS_JOB_RUNNER_H_
