#include "jobs/job_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <functional>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "jobs/block_device.h"
#include "jobs/job_id.h"
#include "jobs/job_init_image.h"
#include "jobs/spawn.h"

namespace gatehouse::jobs {
namespace {

using std::chrono::steady_clock;

enum WatchKind : int { kExecStatus, kOutputPipe, kInitExit };

constexpr size_t kPumpChunkBytes = size_t{1} << 20;
// A bigger pipe means fewer wake-ups of the pump for a chatty job.
constexpr int kOutputPipeBytes = 1 << 20;
constexpr int kMaxEvents = 64;
constexpr size_t kHostnameLength = 8;  // the short job id
constexpr auto kKillRetryInterval = std::chrono::milliseconds(100);

absl::Status MakeDirectory(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::ErrnoToStatus(errno, absl::StrCat("mkdir ", path));
  }
  return absl::OkStatus();
}

void SetNonBlocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

absl::Status ValidateSpec(const JobSpec& spec) {
  if (spec.executable.empty()) return absl::InvalidArgumentError("job executable is empty");
  const Limits& limits = spec.limits;
  if (limits.cpus.has_value() && !(*limits.cpus > 0)) {
    return absl::InvalidArgumentError(absl::StrCat("cpu limit ", *limits.cpus, " is not > 0"));
  }
  // More than the host has means nothing, and a huge value would overflow the quota (on cgroup
  // v1 into -1, "unlimited").
  const long host_cpus = ::sysconf(_SC_NPROCESSORS_ONLN);  // NOLINT(google-runtime-int)
  if (limits.cpus.has_value() && host_cpus > 0 && *limits.cpus > static_cast<double>(host_cpus)) {
    return absl::InvalidArgumentError(
        absl::StrCat("cpu limit ", *limits.cpus, " is more than the host's ", host_cpus, " CPUs"));
  }
  if (limits.memory_bytes.has_value() && *limits.memory_bytes == 0) {
    return absl::InvalidArgumentError("memory limit 0 leaves the job no memory");
  }
  if (limits.pids.has_value() && *limits.pids == 0) {
    return absl::InvalidArgumentError("pids limit 0 leaves the job no process");
  }
  if (spec.uid.has_value() != spec.gid.has_value()) {
    // A uid alone would keep gid 0, root's group.
    return absl::InvalidArgumentError("a job's uid and gid go together: give both or neither");
  }
  // The spec travels to the init as NUL-terminated strings (init_protocol.h).
  const auto has_nul = [](const std::string& text) { return text.find('\0') != std::string::npos; };
  if (has_nul(spec.executable) || has_nul(spec.working_dir) ||
      std::any_of(spec.args.begin(), spec.args.end(), has_nul) ||
      std::any_of(spec.env.begin(), spec.env.end(), has_nul)) {
    return absl::InvalidArgumentError(
        "a job's command, arguments, environment or working "
        "directory contains a NUL byte");
  }
  if (spec.working_dir.empty() || spec.working_dir[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("working directory \"", spec.working_dir, "\" is not absolute"));
  }
  return absl::OkStatus();
}

// Reads what the pipe (borrowed, non-blocking) holds and drops it: the output of a job past its
// cap. Returns the bytes dropped; 0 when the pipe is empty or at end-of-file, as PumpFrom.
absl::StatusOr<size_t> DropFrom(int pipe_fd) {
  static thread_local std::array<char, 65536> sink;
  size_t dropped = 0;
  while (dropped < kPumpChunkBytes) {
    const ssize_t n = ::read(pipe_fd, sink.data(), sink.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    if (n < 0) return absl::ErrnoToStatus(errno, "read a job's output to drop it");
    if (n == 0) break;
    dropped += static_cast<size_t>(n);
  }
  return dropped;
}

// SIGKILL through `pidfd` (borrowed), then reaps the process: a killed process exits at once,
// but the wait is bounded all the same.
void KillAndReap(int pidfd) {
  (void)SignalPidfd(pidfd, SIGKILL);
  pollfd exited{pidfd, POLLIN, 0};
  ::poll(&exited, 1, 5000);
  siginfo_t info{};
  ::waitid(P_PIDFD, static_cast<id_t>(pidfd), &info, WEXITED | WNOHANG);
}

}  // namespace

struct JobRunner::Watch {
  Job* job;
  int kind;
};

// A job's record. `status`, `pidfd`, `stop_requested` and `kill_at` are guarded by the
// runner's mu_; the rest belongs to the reaper thread once the job is registered.
struct JobRunner::Job {
  JobStatus status;
  std::shared_ptr<Output> output;
  std::optional<Cgroup> cgroup;
  base::UniqueFd pidfd;
  base::UniqueFd exec_status;
  base::UniqueFd exit_status;
  base::UniqueFd output_pipe;
  uint64_t oom_kills_before = 0;
  bool stop_requested = false;
  std::optional<steady_clock::time_point> kill_at;

  std::optional<SetupFailure> failure;
  std::optional<int> wait_status;
  bool exec_done = false;
  bool output_done = false;
  bool init_exited = false;
  bool killed = false;
  bool finished = false;
  // When it ended, for retention (steady: a wall-clock jump must not expire jobs).
  steady_clock::time_point ended_steady;
  uint64_t dropped_output_bytes = 0;  // past max_output_bytes
  std::string output_error;
  // For failure messages: as the spec gave them, and the PATH a bare name was looked up in.
  std::string executable;
  std::string working_dir;
  std::string search_path;
  Watch exec_watch{this, kExecStatus};
  Watch output_watch{this, kOutputPipe};
  Watch init_watch{this, kInitExit};
};

absl::StatusOr<std::unique_ptr<JobRunner>> JobRunner::Create(JobRunnerOptions options) {
  CgroupLayout layout;
  if (options.layout.has_value()) {
    layout = *options.layout;
  } else {
    auto detected = CgroupLayout::Detect();
    if (!detected.ok()) return detected.status();
    layout = *std::move(detected);
  }
  if (options.state_dir.empty()) return absl::InvalidArgumentError("job state_dir is empty");
  if (absl::Status status = MakeDirectory(options.state_dir); !status.ok()) return status;
  if (absl::Status status = MakeDirectory(options.state_dir + "/jobs"); !status.ok()) {
    return status;
  }
  if (options.remove_stale_cgroups) {
    if (auto stale = Cgroup::RemoveStale(layout, options.cgroup_parent); !stale.ok()) {
      return stale.status();
    }
  }
  auto init = LoadJobInit();
  if (!init.ok()) return init.status();
  base::UniqueFd epoll(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll.is_valid()) return absl::ErrnoToStatus(errno, "epoll_create1 for the job reaper");
  base::UniqueFd wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake.is_valid()) return absl::ErrnoToStatus(errno, "eventfd for the job reaper");
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.ptr = nullptr;
  if (::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, wake.get(), &event) != 0) {
    return absl::ErrnoToStatus(errno, "epoll_ctl for the job reaper");
  }
  std::unique_ptr<JobRunner> runner(new JobRunner(
      std::move(options), std::move(layout), *std::move(init), std::move(epoll), std::move(wake)));
  runner->reaper_ = std::thread([raw = runner.get()] { raw->ReapLoop(); });
  return runner;
}

JobRunner::JobRunner(JobRunnerOptions options, CgroupLayout layout, base::UniqueFd init,
                     base::UniqueFd epoll, base::UniqueFd wake)
    : options_(std::move(options)),
      layout_(std::move(layout)),
      init_(std::move(init)),
      epoll_(std::move(epoll)),
      wake_(std::move(wake)) {}

JobRunner::~JobRunner() {
  ReleaseStartWaits();
  absl::flat_hash_map<JobId, std::unique_ptr<Job>> jobs;
  {
    base::MutexLock lock(&mu_);
    shutting_down_ = true;
  }
  Wake();
  if (reaper_.joinable()) reaper_.join();
  {
    base::MutexLock lock(&mu_);
    jobs.swap(jobs_);
  }
  // The reaper is gone: what is left unfinished is killed, reaped and removed here.
  for (auto& [id, job] : jobs) {
    if (job->finished) continue;
    if (job->cgroup.has_value()) (void)job->cgroup->Kill();
    if (job->pidfd.is_valid()) KillAndReap(job->pidfd.get());
    if (job->cgroup.has_value()) (void)job->cgroup->Remove();
    job->output->Close();
  }
}

void JobRunner::Wake() const {
  const uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof(one));
}

absl::StatusOr<std::vector<std::string>> JobRunner::IoDevices(const Limits& limits) const {
  if (!limits.io_read_bytes_per_second.has_value() &&
      !limits.io_write_bytes_per_second.has_value()) {
    return std::vector<std::string>();
  }
  if (!limits.io_devices.empty()) return limits.io_devices;
  std::vector<std::string> devices;
  for (const std::string& path : {options_.state_dir, std::string("/")}) {
    auto disk = DiskOfPath(path);
    if (disk.ok()) {
      if (std::find(devices.begin(), devices.end(), *disk) == devices.end()) {
        devices.push_back(*disk);
      }
    } else if (!absl::IsFailedPrecondition(disk.status())) {  // skipped: not on a disk
      return disk.status();
    }
  }
  if (devices.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("IO limits asked for, but neither ", options_.state_dir,
                     " nor / is on a block device: give the devices explicitly"));
  }
  return devices;
}

absl::StatusOr<JobId> JobRunner::Start(JobSpec spec) {
  if (absl::Status status = ValidateSpec(spec); !status.ok()) return status;
  {
    base::MutexLock lock(&mu_);
    if (options_.max_jobs > 0 && active_jobs_ >= options_.max_jobs) {
      return absl::ResourceExhaustedError(
          absl::StrCat(active_jobs_, " jobs are running, the most allowed (max_jobs)"));
    }
    ++active_jobs_;  // reserved now: concurrent starts cannot pass the cap
  }
  // Given back unless the job is registered below (FinishIfDone gives it back then).
  auto release_slot = absl::MakeCleanup([this] {
    base::MutexLock lock(&mu_);
    --active_jobs_;
  });
  auto id = NewJobId();
  if (!id.ok()) return id.status();
  auto job = std::make_unique<Job>();
  job->status.id = *id;
  job->status.owner = spec.owner;
  std::vector<std::string> command = {spec.executable};
  command.insert(command.end(), spec.args.begin(), spec.args.end());
  job->status.command = absl::StrJoin(command, " ");
  job->status.argv = std::move(command);
  job->status.started_at = std::chrono::system_clock::now();
  const std::string directory = absl::StrCat(options_.state_dir, "/jobs/", *id);
  if (absl::Status status = MakeDirectory(directory); !status.ok()) return status;
  auto output = Output::Create(directory + "/output");
  if (!output.ok()) return output.status();
  job->output = *std::move(output);
  // A job that the worker itself failed to start leaves nothing behind.
  auto remove_output = absl::MakeCleanup([&directory] {
    ::unlink((directory + "/output").c_str());
    ::rmdir(directory.c_str());
  });

  // A name without '/' is looked up in PATH by the job's init, as the job's user.
  job->executable = spec.executable;
  job->search_path = SearchPathOf(spec.env);
  job->working_dir = spec.working_dir;
  auto devices = IoDevices(spec.limits);
  if (!devices.ok()) return devices.status();
  auto cgroup = Cgroup::Create(layout_, options_.cgroup_parent, *id, spec.limits, *devices);
  if (!cgroup.ok()) return cgroup.status();
  job->cgroup.emplace(*std::move(cgroup));
  job->oom_kills_before = job->cgroup->OomKills().value_or(0);

  SpawnRequest request;
  request.executable = job->executable;
  request.args = spec.args;
  request.env = spec.env;
  request.working_dir = spec.working_dir;
  request.hostname = id->substr(0, kHostnameLength);
  request.uid = spec.uid.value_or(options_.default_uid);
  request.gid = spec.gid.value_or(options_.default_gid);
  request.init_fd = init_.get();
  if (absl::Status status = Launch(*job, request); !status.ok()) return status;
  std::move(remove_output).Cancel();
  std::move(release_slot).Cancel();

  base::MutexLock lock(&mu_);
  Job& registered = *jobs_.emplace(*id, std::move(job)).first->second;
  Register(registered, registered.exec_status.get(), kExecStatus);
  Register(registered, registered.output_pipe.get(), kOutputPipe);
  Register(registered, registered.pidfd.get(), kInitExit);
  return *id;
}

absl::Status JobRunner::Launch(Job& job, SpawnRequest& request) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return absl::ErrnoToStatus(errno, "output pipe");
  job.output_pipe.Reset(pipe_fds[0]);
  const base::UniqueFd output_write(pipe_fds[1]);  // the job's end: blocking, closed here after
  SetNonBlocking(job.output_pipe.get());
  ::fcntl(job.output_pipe.get(), F_SETPIPE_SZ, kOutputPipeBytes);  // a hint; the default works
  request.output_fd = output_write.get();
  auto procs = job.cgroup->OpenProcessFiles();
  if (!procs.ok()) return procs.status();
  for (const base::UniqueFd& file : *procs) request.cgroup_procs_fds.push_back(file.get());
  auto init = SpawnInit(request);
  if (!init.ok()) return init.status();
  job.pidfd = std::move(init->pidfd);
  job.exec_status = std::move(init->exec_status);
  job.exit_status = std::move(init->exit_status);
  SetNonBlocking(job.exec_status.get());
  SetNonBlocking(job.exit_status.get());
  return absl::OkStatus();
}

void JobRunner::Register(Job& job, int fd, int kind) {
  Watch* watch = kind == kExecStatus   ? &job.exec_watch
                 : kind == kOutputPipe ? &job.output_watch
                                       : &job.init_watch;
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.ptr = watch;
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &event);
}

absl::Status JobRunner::Stop(const JobId& id) {
  base::MutexLock lock(&mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("no job ", id));
  Job& job = *it->second;
  if (IsFinal(job.status.state) || job.stop_requested || !job.pidfd.is_valid()) {
    return absl::OkStatus();
  }
  job.stop_requested = true;
  job.kill_at = steady_clock::now() + options_.stop_grace;
  // To the init, which forwards it to the job's process.
  (void)SignalPidfd(job.pidfd.get(), SIGTERM);
  Wake();
  return absl::OkStatus();
}

absl::StatusOr<JobStatus> JobRunner::Status(const JobId& id) const {
  base::MutexLock lock(&mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("no job ", id));
  return it->second->status;
}

std::vector<JobStatus> JobRunner::List() const {
  base::MutexLock lock(&mu_);
  std::vector<JobStatus> all;
  all.reserve(jobs_.size());
  for (const auto& [id, job] : jobs_) all.push_back(job->status);
  std::sort(all.begin(), all.end(),
            [](const JobStatus& a, const JobStatus& b) { return a.started_at < b.started_at; });
  return all;
}

absl::StatusOr<JobStatus> JobRunner::WaitUntilStarted(const JobId& id,
                                                      steady_clock::time_point deadline) const {
  return WaitFor(id, deadline, [](JobState state) { return state != JobState::kStarting; });
}

absl::StatusOr<JobStatus> JobRunner::WaitForEnd(const JobId& id,
                                                steady_clock::time_point deadline) const {
  return WaitFor(id, deadline, IsFinal);
}

absl::StatusOr<JobStatus> JobRunner::WaitFor(const JobId& id, steady_clock::time_point deadline,
                                             bool (*reached)(JobState)) const {
  base::MutexLock lock(&mu_);
  if (!jobs_.contains(id)) return absl::NotFoundError(absl::StrCat("no job ", id));
  // Looked up on every wake: retention may remove the job meanwhile.
  changed_.WaitUntil(&mu_, deadline, [this, &id, reached]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    const auto it = jobs_.find(id);
    return it == jobs_.end() || reached(it->second->status.state);
  });
  const auto it = jobs_.find(id);
  if (it == jobs_.end()) {
    return absl::NotFoundError(absl::StrCat("job ", id, " ended and is no longer kept"));
  }
  return it->second->status;
}

absl::StatusOr<std::unique_ptr<OutputReader>> JobRunner::OpenOutput(const JobId& id) const {
  std::shared_ptr<Output> output;
  {
    base::MutexLock lock(&mu_);
    auto it = jobs_.find(id);
    if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("no job ", id));
    output = it->second->output;
  }
  return output->OpenReader(options_.max_readers_per_job);
}

absl::StatusOr<base::UniqueFd> JobRunner::NetworkNamespaceOf(const JobId& id) const {
  base::MutexLock lock(&mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("no job ", id));
  const Job& job = *it->second;
  if (job.status.state != JobState::kRunning || job.init_exited || !job.pidfd.is_valid()) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", id, " is ", JobStateName(job.status.state), ", not running"));
  }
  base::UniqueFd copy(::fcntl(job.pidfd.get(), F_DUPFD_CLOEXEC, 0));
  if (!copy.is_valid()) {
    return absl::ErrnoToStatus(errno, absl::StrCat("dup of the pidfd of job ", id));
  }
  return copy;
}

// --- Reaper thread. ---

void JobRunner::ReapLoop() {
  epoll_event events[kMaxEvents];
  while (true) {
    const int ready = ::epoll_wait(epoll_.get(), events, kMaxEvents, NextTimeoutMs());
    {
      // Also orders this thread after Start's registration of the jobs it is about to handle.
      base::MutexLock lock(&mu_);
      if (shutting_down_) return;
    }
    for (int i = 0; i < ready; ++i) {
      if (events[i].data.ptr == nullptr) {
        uint64_t count = 0;
        (void)!::read(wake_.get(), &count, sizeof(count));
        continue;
      }
      Handle(*static_cast<Watch*>(events[i].data.ptr), events[i].events);
    }
    KillOverdue();
    PruneEnded();
  }
}

int JobRunner::NextTimeoutMs() const {
  base::MutexLock lock(&mu_);
  std::optional<steady_clock::time_point> next;
  for (const auto& [id, job] : jobs_) {
    if (job->kill_at.has_value() && !job->killed && (!next || *job->kill_at < *next)) {
      next = job->kill_at;
    }
  }
  // The oldest ended job's retention deadline (the newest are kept longest).
  for (const auto& [id, job] : jobs_) {
    if (!job->finished) continue;
    const steady_clock::time_point expiry = job->ended_steady + options_.ended_job_retention;
    if (!next || expiry < *next) next = expiry;
  }
  if (!next.has_value()) return -1;
  const auto wait = std::chrono::ceil<std::chrono::milliseconds>(*next - steady_clock::now());
  return static_cast<int>(std::max<int64_t>(0, wait.count()));
}

void JobRunner::KillOverdue() {
  std::vector<Job*> overdue;
  {
    base::MutexLock lock(&mu_);
    const auto now = steady_clock::now();
    for (auto& [id, job] : jobs_) {
      if (job->kill_at.has_value() && *job->kill_at <= now && !job->killed) {
        overdue.push_back(job.get());
      }
    }
  }
  for (Job* job : overdue) {
    // A kill that failed (out of descriptors, a freeze that did not complete) is tried again
    // shortly: a job that ignores SIGTERM must not live on because of it.
    const bool killed = job->finished || !job->cgroup.has_value() || job->cgroup->Kill().ok();
    base::MutexLock lock(&mu_);
    job->killed = killed;
    if (!killed) job->kill_at = steady_clock::now() + kKillRetryInterval;
  }
}

void JobRunner::PruneEnded() {
  std::vector<std::unique_ptr<Job>> removed;
  {
    base::MutexLock lock(&mu_);
    std::vector<std::pair<steady_clock::time_point, JobId>> ended;
    for (const auto& [id, job] : jobs_) {
      if (job->finished) ended.emplace_back(job->ended_steady, id);
    }
    std::sort(ended.begin(), ended.end(), std::greater<>());  // newest first
    const steady_clock::time_point expired_before =
        steady_clock::now() - options_.ended_job_retention;
    for (size_t i = 0; i < ended.size(); ++i) {
      if (i < options_.max_ended_jobs && ended[i].first > expired_before) continue;
      auto node = jobs_.extract(ended[i].second);
      removed.push_back(std::move(node.mapped()));
    }
  }
  // Outside the lock: readers still open keep reading the unlinked file to its end.
  for (const auto& job : removed) {
    const std::string directory = absl::StrCat(options_.state_dir, "/jobs/", job->status.id);
    ::unlink((directory + "/output").c_str());
    ::rmdir(directory.c_str());
  }
}

void JobRunner::Handle(Watch& watch, uint32_t events) {
  Job& job = *watch.job;
  switch (watch.kind) {
    case kExecStatus:
      OnExecStatus(job);
      break;
    case kOutputPipe:
      OnOutput(job, events);
      break;
    default:
      OnInitExit(job);
      break;
  }
  FinishIfDone(job);
}

void JobRunner::OnExecStatus(Job& job) {
  SetupFailure failure;
  const ssize_t n = ::read(job.exec_status.get(), &failure, sizeof(failure));
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n == static_cast<ssize_t>(sizeof(failure))) job.failure = failure;
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, job.exec_status.get(), nullptr);
  job.exec_status.Reset();
  job.exec_done = true;
  std::vector<StartCallback> waits;
  JobStatus status;
  {
    base::MutexLock lock(&mu_);
    if (job.failure.has_value() || job.status.state != JobState::kStarting) return;
    job.status.state = JobState::kRunning;
    changed_.NotifyAll();
    waits = TakeStartWaits(job);
    if (!waits.empty()) status = job.status;
  }
  RunStartWaits(waits, status);
}

std::vector<JobRunner::StartCallback> JobRunner::TakeStartWaits(const Job& job) {
  const auto found = start_waits_.find(job.status.id);
  if (found == start_waits_.end()) return {};
  std::vector<StartCallback> waits = std::move(found->second);
  start_waits_.erase(found);
  return waits;
}

void JobRunner::RunStartWaits(const std::vector<StartCallback>& callbacks,
                              const JobStatus& status) {
  for (const StartCallback& callback : callbacks) callback(status);
}

absl::Status JobRunner::NotifyWhenStarted(const JobId& id, StartCallback callback) {
  JobStatus status;
  {
    base::MutexLock lock(&mu_);
    const auto found = jobs_.find(id);
    if (found == jobs_.end()) return absl::NotFoundError(absl::StrCat("job ", id, " not found"));
    if (found->second->status.state == JobState::kStarting) {
      start_waits_[id].push_back(std::move(callback));
      return absl::OkStatus();
    }
    status = found->second->status;
  }
  callback(status);
  return absl::OkStatus();
}

void JobRunner::ReleaseStartWaits() {
  std::vector<std::pair<std::vector<StartCallback>, JobStatus>> released;
  {
    base::MutexLock lock(&mu_);
    for (auto& [id, callbacks] : start_waits_) {
      const auto job = jobs_.find(id);
      JobStatus status;
      if (job != jobs_.end()) status = job->second->status;
      status.id = id;
      released.emplace_back(std::move(callbacks), std::move(status));
    }
    start_waits_.clear();
  }
  for (const auto& [callbacks, status] : released) RunStartWaits(callbacks, status);
}

void JobRunner::OnOutput(Job& job, uint32_t events) {
  const uint64_t kept = job.output->size();
  const bool full = options_.max_output_bytes > 0 && kept >= options_.max_output_bytes;
  absl::StatusOr<size_t> moved =
      full ? DropFrom(job.output_pipe.get())
           : job.output->PumpFrom(job.output_pipe.get(),
                                  options_.max_output_bytes > 0
                                      ? static_cast<size_t>(std::min<uint64_t>(
                                            kPumpChunkBytes, options_.max_output_bytes - kept))
                                      : kPumpChunkBytes);
  if (full && moved.ok()) job.dropped_output_bytes += *moved;
  const bool hung_up = (events & (EPOLLHUP | EPOLLERR)) != 0;
  if (moved.ok() && (*moved > 0 || !hung_up)) return;
  if (!moved.ok()) job.output_error = static_cast<std::string>(moved.status().message());
  // End of output (every writer gone), or the file cannot take more: the job's later writes
  // then fail with EPIPE rather than block it.
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, job.output_pipe.get(), nullptr);
  job.output_pipe.Reset();
  job.output_done = true;
}

void JobRunner::OnInitExit(Job& job) {
  siginfo_t info{};
  if (::waitid(P_PIDFD, static_cast<id_t>(job.pidfd.get()), &info, WEXITED | WNOHANG) != 0 ||
      info.si_pid == 0) {
    return;
  }
  int wait_status = 0;
  if (::read(job.exit_status.get(), &wait_status, sizeof(wait_status)) ==
      static_cast<ssize_t>(sizeof(wait_status))) {
    job.wait_status = wait_status;
  }
  job.exit_status.Reset();
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, job.pidfd.get(), nullptr);
  job.init_exited = true;
  // The namespace's processes die with its init; the cgroup's kill also covers any that the
  // kernel has not got to yet, so the output pipe reaches end-of-file.
  if (job.cgroup.has_value()) (void)job.cgroup->Kill();
}

void JobRunner::FinishIfDone(Job& job) {
  if (job.finished || !job.exec_done || !job.output_done || !job.init_exited) return;
  job.finished = true;
  ResourceUsage usage;
  uint64_t oom_kills = job.oom_kills_before;
  if (job.cgroup.has_value()) {
    usage = job.cgroup->Usage().value_or(ResourceUsage{});
    oom_kills = job.cgroup->OomKills().value_or(job.oom_kills_before);
    cgroup_remover_.Remove(*std::move(job.cgroup));
    job.cgroup.reset();
  }
  job.ended_steady = steady_clock::now();
  std::vector<StartCallback> waits;
  JobStatus ended;
  {
    base::MutexLock lock(&mu_);
    --active_jobs_;
    JobStatus& status = job.status;
    status.usage = usage;
    status.ended_at = std::chrono::system_clock::now();
    if (job.wait_status.has_value() && WIFEXITED(*job.wait_status)) {
      status.exit_code = WEXITSTATUS(*job.wait_status);
    } else if (job.wait_status.has_value() && WIFSIGNALED(*job.wait_status)) {
      status.signal = WTERMSIG(*job.wait_status);
    } else {
      status.signal = SIGKILL;  // the init itself was killed: everything in the cgroup was
    }
    if (job.failure.has_value()) {
      SpawnRequest described;
      described.executable = job.executable;
      described.working_dir = job.working_dir;
      described.env = {absl::StrCat("PATH=", job.search_path)};
      status.state = JobState::kFailedToStart;
      status.error = DescribeSetupFailure(*job.failure, described);
      status.exit_code.reset();
      status.signal.reset();
    } else if (job.stop_requested) {
      // Asked for: whatever else happened while it stopped, the job ended because it was told to.
      status.state = JobState::kStopped;
    } else if (oom_kills > job.oom_kills_before && status.signal == SIGKILL) {
      // The OOM killer may take a child the job survives; only the main process's death by it
      // ends the job as OOM-killed (RFD 0001, section 8).
      status.state = JobState::kOomKilled;
    } else {
      status.state = JobState::kExited;
    }
    if (!job.output_error.empty()) status.error = "output: " + job.output_error;
    if (job.dropped_output_bytes > 0) {
      status.error = absl::StrCat("output truncated at ", options_.max_output_bytes, " bytes (",
                                  job.dropped_output_bytes, " more dropped)");
    }
    job.pidfd.Reset();
    changed_.NotifyAll();
    waits = TakeStartWaits(job);
    if (!waits.empty()) ended = status;
  }
  // Only now, so that a reader who sees the end of the output finds the job ended too (a
  // follower asks for the exit code the moment its stream ends). Outside the lock: it wakes
  // readers, whose callbacks may call back into the runner.
  job.output->Close();
  RunStartWaits(waits, ended);
}

}  // namespace gatehouse::jobs
