// CgroupLayout: where a host's control groups are and which cgroup mode the job worker uses on
// it, cgroup v2, v1, or a hybrid host (v1 controllers plus a cgroup2 tree without them, like
// systemd's "unified" mount).
//
// Mode, from /proc/self/mountinfo at start-up:
//   kV2      cgroup2 with the cpu, memory, io and pids controllers available: limits, usage, kill
//            and placement all in the cgroup2 tree.
//   kHybrid  v1 controllers for limits and usage; the cgroup2 tree for `populated`
//            (cgroup.events) and cgroup.kill. A job joins both trees.
//   kV1      v1 only: the freezer controller stops the job so a kill reaches every task.
//
// CgroupLayout is a plain value: thread-compatible. The functions here keep no state and are
// thread-safe (Detect and FromMountInfo as far as the ControllersReader they are given is).
#ifndef GATEHOUSE_JOBS_CGROUP_LAYOUT_H_
#define GATEHOUSE_JOBS_CGROUP_LAYOUT_H_

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gatehouse::jobs {

enum class CgroupMode { kV2, kHybrid, kV1 };

struct CgroupLayout {
  CgroupMode mode = CgroupMode::kV2;
  std::string unified_root;                           // cgroup2 mount; empty on kV1
  std::map<std::string, std::string> v1_controllers;  // "memory" -> its mount point (v1/hybrid)

  // Returns the text of cgroup.controllers at the cgroup2 mount point it is given.
  using ControllersReader =
      std::function<absl::StatusOr<std::string>(const std::string& unified_root)>;

  // Reads `mountinfo` (the text of /proc/self/mountinfo) and picks the mode, asking
  // `read_controllers` which controllers the cgroup2 mount offers when there is one.
  // FailedPrecondition when a controller the limits need (cpu, cpuacct, memory, blkio, pids, and
  // freezer without cgroup2; v2: cpu, memory, io, pids) is missing, naming it.
  static absl::StatusOr<CgroupLayout> FromMountInfo(const std::string& mountinfo,
                                                    const ControllersReader& read_controllers);
  // FromMountInfo on /proc/self/mountinfo and the real cgroup.controllers.
  static absl::StatusOr<CgroupLayout> Detect();
};

const char* CgroupModeName(CgroupMode mode);

// Internal to the jobs library: what Cgroup needs to know about the controllers of each mode.
namespace cgroup_layout {

// A layout built by hand must still name every hierarchy the mode uses (FailedPrecondition).
absl::Status ValidateLayout(const CgroupLayout& layout);

// The v2 controllers (cpu, memory, io, pids) missing from `controllers`, a list in the form of
// cgroup.controllers and cgroup.subtree_control ("cpu io memory").
std::vector<std::string> MissingV2Controllers(absl::string_view controllers);

}  // namespace cgroup_layout
}  // namespace gatehouse::jobs

#endif  // GATEHOUSE_JOBS_CGROUP_LAYOUT_H_
