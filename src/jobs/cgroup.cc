#include "jobs/cgroup.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <filesystem>
#include <set>
#include <system_error>
#include <thread>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "base/status_macros.h"
#include "jobs/cgroup_files.h"
#include "jobs/cgroup_v2.h"

namespace gatehouse::jobs {
namespace {

using cgroup_files::CpuQuotaMicros;
using cgroup_files::FileExists;
using cgroup_files::FindKeyedValue;
using cgroup_files::JoinPath;
using cgroup_files::kCpuPeriodMicros;
using cgroup_files::ReadFile;
using cgroup_files::ReadFromStart;
using cgroup_files::ReadKeyedValue;
using cgroup_files::ReadSingleValue;
using cgroup_files::SumBlkioValues;
using cgroup_files::WriteFile;
using cgroup_layout::ValidateLayout;

using Clock = std::chrono::steady_clock;

constexpr uint64_t kNanosPerSecond = 1000000000;
// Freezing waits for every task to reach a safe point; one stuck in the kernel must not stall a
// kill for long.
constexpr auto kFreezeTimeout = std::chrono::seconds(1);
constexpr auto kFreezePollInterval = std::chrono::milliseconds(1);
// A job that keeps forking while it is being killed is outrun after this many passes.
constexpr int kMaxKillPasses = 10;
// v1 has no notification when cgroup.procs empties, so it is polled at this interval.
constexpr auto kProcsPollInterval = std::chrono::milliseconds(2);
// cgroup.events raises POLLPRI when `populated` changes; re-reading it this often as well means a
// missed notification only delays the wait instead of running it into its deadline.
constexpr auto kEventsRecheckInterval = std::chrono::milliseconds(100);
constexpr auto kStaleRemoveTimeout = std::chrono::seconds(5);

// The mount points of the v1 hierarchies in use, each once (cpu and cpuacct often share one).
std::vector<std::string> V1Roots(const CgroupLayout& layout) {
  if (layout.mode == CgroupMode::kV2) return {};
  std::set<std::string> roots;
  for (const auto& [controller, mount_point] : layout.v1_controllers) roots.insert(mount_point);
  return {roots.begin(), roots.end()};
}

// Every hierarchy root the mode uses, the cgroup2 one first.
std::vector<std::string> HierarchyRoots(const CgroupLayout& layout) {
  std::vector<std::string> roots;
  if (layout.mode != CgroupMode::kV1) roots.push_back(layout.unified_root);
  for (std::string& root : V1Roots(layout)) roots.push_back(std::move(root));
  return roots;
}

std::string V1Directory(const CgroupLayout& layout, absl::string_view controller,
                        const std::string& relative_path) {
  return JoinPath(layout.v1_controllers.at(static_cast<std::string>(controller)), relative_path);
}

// "a//b/" -> "a/b". Rejects "." and "..", which would leave the hierarchy.
absl::StatusOr<std::string> CleanParent(const std::string& parent) {
  const std::vector<absl::string_view> components = absl::StrSplit(parent, '/', absl::SkipEmpty());
  const bool escapes = std::any_of(components.begin(), components.end(),
                                   [](absl::string_view c) { return c == "." || c == ".."; });
  if (components.empty() || escapes) {
    return absl::InvalidArgumentError(absl::StrCat("bad cgroup parent \"", parent, "\""));
  }
  return absl::StrJoin(components, "/");
}

absl::Status CheckName(const std::string& name) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("bad cgroup name \"", name, "\""));
  }
  return absl::OkStatus();
}

// Creates <root>/<parent> as needed. On v2 each level, from the root down, passes the controllers
// on: a child can only enable what its parent's subtree_control grants it.
absl::Status MakeParent(const std::string& root, const std::string& parent, bool enable_v2) {
  std::string directory = root;
  if (enable_v2) GH_RETURN_IF_ERROR(cgroup_v2::EnableControllers(directory));
  for (const absl::string_view component : absl::StrSplit(parent, '/')) {
    absl::StrAppend(&directory, "/", component);
    if (::mkdir(directory.c_str(), 0755) != 0 && errno != EEXIST) {
      return absl::ErrnoToStatus(errno, "create cgroup " + directory);
    }
    if (enable_v2) GH_RETURN_IF_ERROR(cgroup_v2::EnableControllers(directory));
  }
  return absl::OkStatus();
}

// Kill() on the cgroup2 tree is cgroup.kill, which every non-root cgroup has from Linux 5.14 on.
// Checked on the parent before a job's cgroup exists, so an older kernel refuses the job rather
// than leaving one that cannot be killed.
absl::Status CheckKillFile(const std::string& unified_parent) {
  const std::string path = JoinPath(unified_parent, "cgroup.kill");
  if (FileExists(path)) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      path, " is missing: the cgroup v2 and hybrid modes need cgroup.kill (Linux 5.14 or later)"));
}

absl::Status WriteV1Throttle(const std::string& path, const std::vector<std::string>& io_devices,
                             uint64_t bytes_per_second) {
  for (const std::string& device : io_devices) {
    GH_RETURN_IF_ERROR(WriteFile(path, absl::StrCat(device, " ", bytes_per_second)));
  }
  return absl::OkStatus();
}

absl::Status WriteV1Memory(const std::string& directory, uint64_t bytes) {
  // memsw (memory + swap) may never be below the memory limit, so the memory limit goes first.
  GH_RETURN_IF_ERROR(WriteFile(JoinPath(directory, "memory.limit_in_bytes"), absl::StrCat(bytes)));
  const std::string memsw = JoinPath(directory, "memory.memsw.limit_in_bytes");
  if (FileExists(memsw)) GH_RETURN_IF_ERROR(WriteFile(memsw, absl::StrCat(bytes)));
  return absl::OkStatus();
}

absl::Status WriteV1Limits(const CgroupLayout& layout, const std::string& relative_path,
                           const Limits& limits, const std::vector<std::string>& io_devices) {
  if (limits.cpus) {
    GH_ASSIGN_OR_RETURN(const int64_t quota, CpuQuotaMicros(*limits.cpus));
    const std::string cpu = V1Directory(layout, "cpu", relative_path);
    GH_RETURN_IF_ERROR(
        WriteFile(JoinPath(cpu, "cpu.cfs_period_us"), absl::StrCat(kCpuPeriodMicros)));
    GH_RETURN_IF_ERROR(WriteFile(JoinPath(cpu, "cpu.cfs_quota_us"), absl::StrCat(quota)));
  }
  if (limits.memory_bytes) {
    GH_RETURN_IF_ERROR(
        WriteV1Memory(V1Directory(layout, "memory", relative_path), *limits.memory_bytes));
  }
  const std::string blkio = V1Directory(layout, "blkio", relative_path);
  if (limits.io_read_bytes_per_second) {
    GH_RETURN_IF_ERROR(WriteV1Throttle(JoinPath(blkio, "blkio.throttle.read_bps_device"),
                                       io_devices, *limits.io_read_bytes_per_second));
  }
  if (limits.io_write_bytes_per_second) {
    GH_RETURN_IF_ERROR(WriteV1Throttle(JoinPath(blkio, "blkio.throttle.write_bps_device"),
                                       io_devices, *limits.io_write_bytes_per_second));
  }
  if (limits.pids) {
    GH_RETURN_IF_ERROR(WriteFile(JoinPath(V1Directory(layout, "pids", relative_path), "pids.max"),
                                 absl::StrCat(*limits.pids)));
  }
  return absl::OkStatus();
}

// cpuacct.stat counts USER_HZ ticks (100 on Linux, which divides a second exactly).
std::chrono::nanoseconds TicksToDuration(uint64_t ticks) {
  static const auto kTicksPerSecond = static_cast<uint64_t>(::sysconf(_SC_CLK_TCK));
  return std::chrono::nanoseconds(ticks * (kNanosPerSecond / kTicksPerSecond));
}

absl::StatusOr<ResourceUsage> ReadV1Usage(const CgroupLayout& layout,
                                          const std::string& relative_path) {
  ResourceUsage usage;
  const std::string cpuacct_stat =
      JoinPath(V1Directory(layout, "cpuacct", relative_path), "cpuacct.stat");
  GH_ASSIGN_OR_RETURN(const std::string cpu, ReadFile(cpuacct_stat));
  GH_ASSIGN_OR_RETURN(const uint64_t user_ticks, FindKeyedValue(cpu, "user", cpuacct_stat));
  GH_ASSIGN_OR_RETURN(const uint64_t system_ticks, FindKeyedValue(cpu, "system", cpuacct_stat));
  usage.cpu_user = TicksToDuration(user_ticks);
  usage.cpu_system = TicksToDuration(system_ticks);
  GH_ASSIGN_OR_RETURN(usage.memory_peak_bytes,
                      ReadSingleValue(JoinPath(V1Directory(layout, "memory", relative_path),
                                               "memory.max_usage_in_bytes")));
  const std::string io_service_bytes =
      JoinPath(V1Directory(layout, "blkio", relative_path), "blkio.throttle.io_service_bytes");
  GH_ASSIGN_OR_RETURN(const std::string io, ReadFile(io_service_bytes));
  GH_ASSIGN_OR_RETURN(usage.io_read_bytes, SumBlkioValues(io, "Read", io_service_bytes));
  GH_ASSIGN_OR_RETURN(usage.io_write_bytes, SumBlkioValues(io, "Write", io_service_bytes));
  return usage;
}

absl::StatusOr<bool> ParsePopulated(const std::string& contents, const std::string& path) {
  GH_ASSIGN_OR_RETURN(const uint64_t populated, FindKeyedValue(contents, "populated", path));
  return populated != 0;
}

absl::StatusOr<std::vector<pid_t>> ReadProcesses(const std::string& directory) {
  const std::string path = JoinPath(directory, "cgroup.procs");
  GH_ASSIGN_OR_RETURN(const std::string contents, ReadFile(path));
  std::vector<pid_t> pids;
  for (const absl::string_view line : absl::StrSplit(contents, '\n', absl::SkipEmpty())) {
    pid_t pid = 0;
    if (!absl::SimpleAtoi(line, &pid)) {
      return absl::InternalError(absl::StrCat("unexpected pid \"", line, "\" in ", path));
    }
    pids.push_back(pid);
  }
  return pids;
}

// A cgroup directory that is gone holds no process.
absl::StatusOr<bool> HasProcesses(const std::string& directory) {
  absl::StatusOr<std::vector<pid_t>> pids = ReadProcesses(directory);
  if (absl::IsNotFound(pids.status())) return false;
  if (!pids.ok()) return pids.status();
  return !pids->empty();
}

// Signals every process listed in `directory`, re-reading the list until it shows none that was
// not signalled yet: a task that forked just before the freeze completed is caught next pass.
absl::Status KillEveryProcess(const std::string& directory) {
  std::set<pid_t> signalled;
  for (int pass = 0; pass < kMaxKillPasses; ++pass) {
    GH_ASSIGN_OR_RETURN(const std::vector<pid_t> pids, ReadProcesses(directory));
    bool found_new = false;
    for (const pid_t pid : pids) {
      if (!signalled.insert(pid).second) continue;
      found_new = true;
      if (::kill(pid, SIGKILL) != 0 && errno != ESRCH) {
        return absl::ErrnoToStatus(errno, absl::StrCat("kill process ", pid, " of ", directory));
      }
    }
    if (!found_new) return absl::OkStatus();
  }
  return absl::UnavailableError(absl::StrCat("new processes kept appearing in ", directory,
                                             " after ", kMaxKillPasses, " kill passes"));
}

// Waits (bounded) for the freeze to complete; false if it did not (a task stuck in the kernel).
bool WaitUntilFrozen(const std::string& state_path) {
  const Clock::time_point deadline = Clock::now() + kFreezeTimeout;
  while (Clock::now() < deadline) {
    const absl::StatusOr<std::string> state = ReadFile(state_path);
    if (state.ok() && absl::StripAsciiWhitespace(*state) == "FROZEN") return true;
    std::this_thread::sleep_for(kFreezePollInterval);
  }
  return false;
}

// Only a frozen job's pids are safe to signal: it cannot fork, and none of its pids can be
// reused by another process before the thaw. Without a complete freeze nothing is signalled;
// the caller tries again later (JobRunner does, every 100 ms).
absl::Status FreezeKillThaw(const std::string& directory) {
  const std::string state = JoinPath(directory, "freezer.state");
  GH_RETURN_IF_ERROR(WriteFile(state, "FROZEN"));
  absl::Status status =
      WaitUntilFrozen(state)
          ? KillEveryProcess(directory)
          : absl::UnavailableError(absl::StrCat(
                directory, " did not freeze within ",
                absl::FormatDuration(absl::FromChrono(kFreezeTimeout)), "; nothing was signalled"));
  // Frozen tasks act on their SIGKILL only once thawed.
  status.Update(WriteFile(state, "THAWED"));
  return status;
}

absl::Status StillPopulatedError(const std::string& directory) {
  return absl::DeadlineExceededError(
      absl::StrCat("processes are still left in ", directory, " at the deadline"));
}

// Waits for "populated 0" in the cgroup2 directory's cgroup.events, woken by its POLLPRI.
absl::Status WaitUntilUnpopulated(const std::string& directory, Clock::time_point deadline) {
  const std::string path = JoinPath(directory, "cgroup.events");
  const base::UniqueFd events(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!events.is_valid()) {
    if (errno == ENOENT) return absl::OkStatus();  // removed already, so empty
    return absl::ErrnoToStatus(errno, "open " + path);
  }
  while (true) {
    // Reading through this descriptor also re-arms its change notification.
    GH_ASSIGN_OR_RETURN(const std::string contents, ReadFromStart(events.get(), path));
    GH_ASSIGN_OR_RETURN(const bool populated, ParsePopulated(contents, path));
    if (!populated) return absl::OkStatus();
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return StillPopulatedError(directory);
    pollfd poll_events{events.get(), POLLPRI, 0};
    const auto wait = std::min<std::chrono::milliseconds>(left, kEventsRecheckInterval);
    if (::poll(&poll_events, 1, static_cast<int>(wait.count())) < 0 && errno != EINTR) {
      return absl::ErrnoToStatus(errno, "poll " + path);
    }
  }
}

absl::Status WaitUntilNoProcesses(const Cgroup& cgroup, Clock::time_point deadline) {
  while (true) {
    GH_ASSIGN_OR_RETURN(const bool populated, cgroup.Populated());
    if (!populated) return absl::OkStatus();
    const Clock::time_point now = Clock::now();
    if (now >= deadline) return StillPopulatedError(cgroup.directories().front());
    std::this_thread::sleep_for(std::min<Clock::duration>(deadline - now, kProcsPollInterval));
  }
}

absl::Status KillAndWait(const Cgroup& cgroup, Clock::time_point deadline) {
  GH_ASSIGN_OR_RETURN(const bool populated, cgroup.Populated());
  if (!populated) return absl::OkStatus();
  GH_RETURN_IF_ERROR(cgroup.Kill());
  if (cgroup.mode() == CgroupMode::kV1) return WaitUntilNoProcesses(cgroup, deadline);
  return WaitUntilUnpopulated(cgroup.directories().front(), deadline);
}

// Adds the names of the subdirectories of `directory` (none when it does not exist) to `names`.
absl::Status AddSubdirectoryNames(const std::string& directory, std::set<std::string>& names) {
  std::error_code error;
  std::filesystem::directory_iterator entries(directory, error);
  if (error == std::errc::no_such_file_or_directory) return absl::OkStatus();
  for (; !error && entries != std::filesystem::directory_iterator(); entries.increment(error)) {
    if (entries->is_directory(error)) names.insert(entries->path().filename().string());
  }
  if (error) {
    return absl::InternalError(absl::StrCat("list cgroup ", directory, ": ", error.message()));
  }
  return absl::OkStatus();
}

absl::Status MakeDirectories(const std::vector<std::string>& directories,
                             std::vector<std::string>& created) {
  for (const std::string& directory : directories) {
    if (::mkdir(directory.c_str(), 0755) != 0) {
      return absl::ErrnoToStatus(errno, "create cgroup " + directory);
    }
    created.push_back(directory);
  }
  return absl::OkStatus();
}

std::vector<std::string> JobDirectories(const CgroupLayout& layout,
                                        const std::string& relative_path) {
  std::vector<std::string> directories;
  for (const std::string& root : HierarchyRoots(layout)) {
    directories.push_back(JoinPath(root, relative_path));
  }
  return directories;
}

}  // namespace

Cgroup::Cgroup(CgroupLayout layout, std::string relative_path)
    : layout_(std::move(layout)),
      relative_path_(std::move(relative_path)),
      directories_(JobDirectories(layout_, relative_path_)) {}

Cgroup::Cgroup(Cgroup&& other) noexcept
    : layout_(std::move(other.layout_)),
      relative_path_(std::move(other.relative_path_)),
      directories_(std::move(other.directories_)),
      removed_(std::exchange(other.removed_, true)) {}

Cgroup& Cgroup::operator=(Cgroup&& other) noexcept {
  if (this != &other) {
    if (!removed_) Remove().IgnoreError();
    layout_ = std::move(other.layout_);
    relative_path_ = std::move(other.relative_path_);
    directories_ = std::move(other.directories_);
    removed_ = std::exchange(other.removed_, true);
  }
  return *this;
}

Cgroup::~Cgroup() {
  if (!removed_) Remove().IgnoreError();
}

absl::StatusOr<Cgroup> Cgroup::Create(const CgroupLayout& layout, const std::string& parent,
                                      const std::string& name, const Limits& limits,
                                      const std::vector<std::string>& io_devices) {
  GH_RETURN_IF_ERROR(ValidateLayout(layout));
  GH_ASSIGN_OR_RETURN(const std::string clean_parent, CleanParent(parent));
  GH_RETURN_IF_ERROR(CheckName(name));
  for (const std::string& root : HierarchyRoots(layout)) {
    const bool enable_v2 = layout.mode == CgroupMode::kV2 && root == layout.unified_root;
    GH_RETURN_IF_ERROR(MakeParent(root, clean_parent, enable_v2));
  }
  if (layout.mode != CgroupMode::kV1) {
    GH_RETURN_IF_ERROR(CheckKillFile(JoinPath(layout.unified_root, clean_parent)));
  }
  const std::string relative_path = JoinPath(clean_parent, name);
  std::vector<std::string> created;
  // Nothing runs in the new directories yet, so a failure can remove them right away. The
  // parents stay: other jobs share them.
  absl::Cleanup remove_created = [&created] {
    for (const std::string& directory : created) ::rmdir(directory.c_str());
  };
  GH_RETURN_IF_ERROR(MakeDirectories(JobDirectories(layout, relative_path), created));
  GH_RETURN_IF_ERROR(layout.mode == CgroupMode::kV2
                         ? cgroup_v2::WriteLimits(created.front(), limits, io_devices)
                         : WriteV1Limits(layout, relative_path, limits, io_devices));
  std::move(remove_created).Cancel();
  return Cgroup(layout, relative_path);
}

absl::StatusOr<std::vector<base::UniqueFd>> Cgroup::OpenProcessFiles() const {
  std::vector<base::UniqueFd> files;
  for (const std::string& directory : directories_) {
    const std::string path = JoinPath(directory, "cgroup.procs");
    base::UniqueFd file(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!file.is_valid()) return absl::ErrnoToStatus(errno, "open " + path);
    files.push_back(std::move(file));
  }
  return files;
}

absl::StatusOr<bool> Cgroup::Populated() const {
  if (layout_.mode != CgroupMode::kV1) {
    const std::string path = JoinPath(directories_.front(), "cgroup.events");
    absl::StatusOr<std::string> events = ReadFile(path);
    if (absl::IsNotFound(events.status())) return false;  // removed, so empty
    if (!events.ok()) return events.status();
    return ParsePopulated(*events, path);
  }
  for (const std::string& directory : directories_) {
    GH_ASSIGN_OR_RETURN(const bool has_processes, HasProcesses(directory));
    if (has_processes) return true;
  }
  return false;
}

absl::Status Cgroup::Kill() const {
  if (layout_.mode != CgroupMode::kV1) {
    return WriteFile(JoinPath(directories_.front(), "cgroup.kill"), "1");
  }
  return FreezeKillThaw(V1Directory(layout_, "freezer", relative_path_));
}

absl::StatusOr<ResourceUsage> Cgroup::Usage() const {
  if (layout_.mode == CgroupMode::kV2) return cgroup_v2::ReadUsage(directories_.front());
  return ReadV1Usage(layout_, relative_path_);
}

absl::StatusOr<uint64_t> Cgroup::OomKills() const {
  if (layout_.mode == CgroupMode::kV2) {
    return cgroup_v2::ReadOomKills(directories_.front());
  }
  return ReadKeyedValue(
      JoinPath(V1Directory(layout_, "memory", relative_path_), "memory.oom_control"), "oom_kill");
}

absl::Status Cgroup::Remove(std::chrono::milliseconds timeout) {
  if (removed_) return absl::OkStatus();
  GH_RETURN_IF_ERROR(KillAndWait(*this, Clock::now() + timeout));
  absl::Status status;
  for (const std::string& directory : directories_) {
    if (::rmdir(directory.c_str()) != 0 && errno != ENOENT) {
      status.Update(absl::ErrnoToStatus(errno, "remove cgroup " + directory));
    }
  }
  if (!status.ok()) return status;
  removed_ = true;
  return absl::OkStatus();
}

absl::StatusOr<int> Cgroup::RemoveStale(const CgroupLayout& layout, const std::string& parent) {
  GH_RETURN_IF_ERROR(ValidateLayout(layout));
  GH_ASSIGN_OR_RETURN(const std::string clean_parent, CleanParent(parent));
  std::set<std::string> names;
  for (const std::string& root : HierarchyRoots(layout)) {
    GH_RETURN_IF_ERROR(AddSubdirectoryNames(JoinPath(root, clean_parent), names));
  }
  int removed = 0;
  absl::Status status;
  for (const std::string& name : names) {
    // Some of its directories may be missing (a crash halfway through Create or Remove); Remove
    // treats a missing directory as empty and already removed.
    Cgroup stale(layout, JoinPath(clean_parent, name));
    const absl::Status removal = stale.Remove(kStaleRemoveTimeout);
    if (removal.ok()) {
      ++removed;
    } else {
      status.Update(removal);
      stale.removed_ = true;  // the destructor would only wait for it all over again
    }
  }
  if (!status.ok()) return status;
  return removed;
}

absl::Status Cgroup::RemoveParent(const CgroupLayout& layout, const std::string& parent) {
  GH_RETURN_IF_ERROR(RemoveStale(layout, parent).status());
  GH_ASSIGN_OR_RETURN(const std::string clean_parent, CleanParent(parent));
  absl::Status status;
  for (const std::string& root : HierarchyRoots(layout)) {
    const std::string directory = JoinPath(root, clean_parent);
    if (::rmdir(directory.c_str()) != 0 && errno != ENOENT) {
      status.Update(absl::ErrnoToStatus(errno, "remove cgroup " + directory));
    }
  }
  return status;
}

}  // namespace gatehouse::jobs
