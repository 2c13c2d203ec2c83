#include "jobs/cgroup_v2.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "jobs/cgroup_files.h"
#include "jobs/cgroup_layout.h"

namespace gatehouse::jobs::cgroup_v2 {
namespace {

using cgroup_files::CpuQuotaMicros;
using cgroup_files::FileExists;
using cgroup_files::FindKeyedValue;
using cgroup_files::JoinPath;
using cgroup_files::kCpuPeriodMicros;
using cgroup_files::ReadFile;
using cgroup_files::ReadSingleValue;
using cgroup_files::SumNestedKeyedValues;
using cgroup_files::WriteFile;

// "M:m rbps=N wbps=N" for io.max; only the limits that are set.
std::string IoMaxLine(const std::string& device, const Limits& limits) {
  std::string line = device;
  if (limits.io_read_bytes_per_second) {
    absl::StrAppend(&line, " rbps=", *limits.io_read_bytes_per_second);
  }
  if (limits.io_write_bytes_per_second) {
    absl::StrAppend(&line, " wbps=", *limits.io_write_bytes_per_second);
  }
  return line;
}

absl::StatusOr<uint64_t> ReadPeakMemory(const std::string& directory) {
  // memory.peak is new in Linux 5.19; before it, the current usage is the best there is.
  absl::StatusOr<uint64_t> peak = ReadSingleValue(JoinPath(directory, "memory.peak"));
  if (!absl::IsNotFound(peak.status())) return peak;
  return ReadSingleValue(JoinPath(directory, "memory.current"));
}

}  // namespace

absl::Status EnableControllers(const std::string& directory) {
  const std::string path = JoinPath(directory, "cgroup.subtree_control");
  GH_ASSIGN_OR_RETURN(const std::string enabled, ReadFile(path));
  const std::vector<std::string> missing = cgroup_layout::MissingV2Controllers(enabled);
  if (missing.empty()) return absl::OkStatus();
  return WriteFile(path, absl::StrCat("+", absl::StrJoin(missing, " +")));
}

absl::Status WriteLimits(const std::string& directory, const Limits& limits,
                         const std::vector<std::string>& io_devices) {
  if (limits.cpus) {
    GH_ASSIGN_OR_RETURN(const int64_t quota, CpuQuotaMicros(*limits.cpus));
    GH_RETURN_IF_ERROR(
        WriteFile(JoinPath(directory, "cpu.max"), absl::StrCat(quota, " ", kCpuPeriodMicros)));
  }
  if (limits.memory_bytes) {
    GH_RETURN_IF_ERROR(
        WriteFile(JoinPath(directory, "memory.max"), absl::StrCat(*limits.memory_bytes)));
    // memory.swap.max exists only with swap accounting; without it there is no swap to forbid.
    const std::string swap_max = JoinPath(directory, "memory.swap.max");
    if (FileExists(swap_max)) GH_RETURN_IF_ERROR(WriteFile(swap_max, "0"));
  }
  if (limits.io_read_bytes_per_second || limits.io_write_bytes_per_second) {
    for (const std::string& device : io_devices) {
      GH_RETURN_IF_ERROR(WriteFile(JoinPath(directory, "io.max"), IoMaxLine(device, limits)));
    }
  }
  if (limits.pids) {
    GH_RETURN_IF_ERROR(WriteFile(JoinPath(directory, "pids.max"), absl::StrCat(*limits.pids)));
  }
  return absl::OkStatus();
}

absl::StatusOr<ResourceUsage> ReadUsage(const std::string& directory) {
  ResourceUsage usage;
  const std::string cpu_stat = JoinPath(directory, "cpu.stat");
  GH_ASSIGN_OR_RETURN(const std::string cpu, ReadFile(cpu_stat));
  GH_ASSIGN_OR_RETURN(const uint64_t user_usec, FindKeyedValue(cpu, "user_usec", cpu_stat));
  GH_ASSIGN_OR_RETURN(const uint64_t system_usec, FindKeyedValue(cpu, "system_usec", cpu_stat));
  usage.cpu_user = std::chrono::microseconds(user_usec);
  usage.cpu_system = std::chrono::microseconds(system_usec);
  GH_ASSIGN_OR_RETURN(usage.memory_peak_bytes, ReadPeakMemory(directory));
  const std::string io_stat = JoinPath(directory, "io.stat");
  GH_ASSIGN_OR_RETURN(const std::string io, ReadFile(io_stat));
  GH_ASSIGN_OR_RETURN(usage.io_read_bytes, SumNestedKeyedValues(io, "rbytes", io_stat));
  GH_ASSIGN_OR_RETURN(usage.io_write_bytes, SumNestedKeyedValues(io, "wbytes", io_stat));
  return usage;
}

absl::StatusOr<uint64_t> ReadOomKills(const std::string& directory) {
  return cgroup_files::ReadKeyedValue(JoinPath(directory, "memory.events"), "oom_kill");
}

}  // namespace gatehouse::jobs::cgroup_v2
