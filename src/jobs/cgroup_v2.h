// The cgroup v2 files of one job's cgroup directory: enabling controllers for children, writing
// limits, reading usage and the OOM-kill count. Cgroup uses these in kV2 mode (see
// cgroup_layout.h); they only read and write files, so tests run them on any directory.
//
// Thread-safe: no state; concurrent calls on one directory race as their writes would.
#ifndef GATEHOUSE_JOBS_CGROUP_V2_H_
#define GATEHOUSE_JOBS_CGROUP_V2_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "jobs/limits.h"
#include "jobs/usage.h"

namespace gatehouse::jobs::cgroup_v2 {

// Writes "+cpu +io ..." into cgroup.subtree_control for the controllers `directory` does not pass
// on to its children yet. Nothing is written when it passes them all, so an already delegated
// parent is left untouched.
absl::Status EnableControllers(const std::string& directory);

// Writes the limits that are set: cpu.max ("<quota> <period>"), memory.max and memory.swap.max 0
// (where swap is accounted), one io.max line per device ("M:m rbps=N wbps=N"), pids.max.
// Errors name the file and the value.
absl::Status WriteLimits(const std::string& directory, const Limits& limits,
                         const std::vector<std::string>& io_devices);

// CPU from cpu.stat, peak memory from memory.peak (memory.current before Linux 5.19), IO bytes
// summed over the devices of io.stat.
absl::StatusOr<ResourceUsage> ReadUsage(const std::string& directory);

// oom_kill from memory.events.
absl::StatusOr<uint64_t> ReadOomKills(const std::string& directory);

}  // namespace gatehouse::jobs::cgroup_v2

#endif  // GATEHOUSE_JOBS_CGROUP_V2_H_
