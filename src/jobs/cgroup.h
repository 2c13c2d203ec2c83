// Cgroup: one job's control group on a CgroupLayout (cgroup v2, v1 or hybrid: see
// cgroup_layout.h). A job's cgroup is <hierarchy>/<parent>/<name> in every hierarchy its mode
// uses. The parent must be writable by the worker (systemd: Delegate=yes), and the worker itself
// lives outside it.
//
// Thread-compatible.
#ifndef GATEHOUSE_JOBS_CGROUP_H_
#define GATEHOUSE_JOBS_CGROUP_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/unique_fd.h"
#include "jobs/cgroup_layout.h"
#include "jobs/limits.h"
#include "jobs/usage.h"

namespace gatehouse::jobs {

class Cgroup {
 public:
  // Creates <parent>/<name> in every hierarchy of `layout` (and `parent` itself when missing;
  // on v2 enables the controllers in the parent's subtree_control) and writes `limits`.
  // `io_devices` are "major:minor" of whole disks for the IO limits. On any failure, what was
  // created is removed again and the error names the file and value.
  static absl::StatusOr<Cgroup> Create(const CgroupLayout& layout, const std::string& parent,
                                       const std::string& name, const Limits& limits,
                                       const std::vector<std::string>& io_devices);

  Cgroup(Cgroup&& other) noexcept;
  Cgroup& operator=(Cgroup&& other) noexcept;
  Cgroup(const Cgroup&) = delete;
  Cgroup& operator=(const Cgroup&) = delete;
  // Kills what is left, waits (bounded) for it to empty and removes it; errors are dropped.
  ~Cgroup();

  // cgroup.procs of every directory, opened for writing (O_CLOEXEC): a process joins the
  // cgroup by writing its pid, or "0" for itself, into each. Spawning hands them to the child.
  absl::StatusOr<std::vector<base::UniqueFd>> OpenProcessFiles() const;

  // Whether any process is left in the cgroup (false once it has been removed).
  absl::StatusOr<bool> Populated() const;
  // SIGKILL to every process in the cgroup: cgroup.kill in the v2 and hybrid modes (Create
  // refuses a kernel without it), freeze, kill every task, thaw in the v1 mode (v1 freezer).
  absl::Status Kill() const;
  // Usage so far (CPU, peak memory, IO bytes).
  absl::StatusOr<ResourceUsage> Usage() const;
  // How many times the kernel's OOM killer has killed a process of this cgroup.
  absl::StatusOr<uint64_t> OomKills() const;

  // Kill(), wait until empty (up to `timeout`), then remove every directory. Idempotent.
  absl::Status Remove(std::chrono::milliseconds timeout = std::chrono::seconds(5));

  // Removes (killing what runs in them) every cgroup under `parent` in every hierarchy: the
  // leftovers of a worker that did not exit cleanly. Returns how many it removed.
  static absl::StatusOr<int> RemoveStale(const CgroupLayout& layout, const std::string& parent);
  // RemoveStale, then `parent` itself in every hierarchy: nothing of the worker's is left (a
  // parent that is already gone is fine). For a worker that is uninstalled, and for tests.
  static absl::Status RemoveParent(const CgroupLayout& layout, const std::string& parent);

  CgroupMode mode() const { return layout_.mode; }
  // The job's directory in each hierarchy it uses (unified first when there is one).
  const std::vector<std::string>& directories() const { return directories_; }

 private:
  Cgroup(CgroupLayout layout, std::string relative_path);

  CgroupLayout layout_;
  std::string relative_path_;  // <parent>/<name>, the same below every hierarchy root
  std::vector<std::string> directories_;
  bool removed_ = false;
};

}  // namespace gatehouse::jobs

#endif  // GATEHOUSE_JOBS_CGROUP_H_
