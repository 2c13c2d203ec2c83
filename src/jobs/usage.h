// ResourceUsage: what a job consumed, read from its cgroup when it ends (or live).
#ifndef GATEHOUSE_JOBS_USAGE_H_
#define GATEHOUSE_JOBS_USAGE_H_

#include <chrono>
#include <cstdint>

namespace gatehouse::jobs {

struct ResourceUsage {
  std::chrono::nanoseconds cpu_user{0};
  std::chrono::nanoseconds cpu_system{0};
  uint64_t memory_peak_bytes = 0;
  uint64_t io_read_bytes = 0;
  uint64_t io_write_bytes = 0;
};

}  // namespace gatehouse::jobs

#endif  // GATEHOUSE_JOBS_USAGE_H_
