// Limits: the resources one job may use, enforced through its cgroup. Unset means unlimited.
#ifndef GATEHOUSE_JOBS_LIMITS_H_
#define GATEHOUSE_JOBS_LIMITS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace gatehouse::jobs {

struct Limits {
  std::optional<double> cpus;            // fraction of one core's time, e.g. 0.5 or 2
  std::optional<uint64_t> memory_bytes;  // RAM, no swap on top
  std::optional<uint64_t> io_read_bytes_per_second;
  std::optional<uint64_t> io_write_bytes_per_second;
  // Block devices the IO limits apply to, as "major:minor" of whole disks. Empty: the disks
  // backing the state directory and the root filesystem.
  std::vector<std::string> io_devices;
  std::optional<uint64_t> pids;  // processes and threads, all together
};

}  // namespace gatehouse::jobs

#endif  // GATEHOUSE_JOBS_LIMITS_H_
