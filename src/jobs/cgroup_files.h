// Small helpers for the files of cgroupfs, sysfs and procfs: read, write and parse them so that
// every error names the file and, where there is one, the value. Internal to the jobs library
// (CgroupLayout, Cgroup and DiskOfPath share them); not part of its interface.
//
// Thread-safe: the functions keep no state; concurrent calls on one fd share its offset.
#ifndef GATEHOUSE_JOBS_CGROUP_FILES_H_
#define GATEHOUSE_JOBS_CGROUP_FILES_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gatehouse::jobs::cgroup_files {

std::string JoinPath(const std::string& directory, absl::string_view name);

// The whole file behind `fd` from offset 0 (`path` names it in errors).
absl::StatusOr<std::string> ReadFromStart(int fd, const std::string& path);
absl::StatusOr<std::string> ReadFile(const std::string& path);
// A cgroup file takes one value per write(2), so `value` goes out in a single call.
absl::Status WriteFile(const std::string& path, const std::string& value);
bool FileExists(const std::string& path);

// The CFS period the CPU limits use on v1 and v2 (100 ms, the kernel's default).
constexpr int64_t kCpuPeriodMicros = 100000;
// The quota per kCpuPeriodMicros for `cpus` cores. InvalidArgument unless positive and finite.
absl::StatusOr<int64_t> CpuQuotaMicros(double cpus);

// The value of `key` in a flat keyed file ("key value" lines: cpu.stat, memory.events, ...).
absl::StatusOr<uint64_t> FindKeyedValue(const std::string& contents, absl::string_view key,
                                        const std::string& path);
// A file holding one number (memory.peak, memory.max_usage_in_bytes, ...).
absl::StatusOr<uint64_t> ReadSingleValue(const std::string& path);
absl::StatusOr<uint64_t> ReadKeyedValue(const std::string& path, absl::string_view key);
// The sum over devices of `key` in io.stat ("M:m rbytes=N wbytes=N ..." lines).
absl::StatusOr<uint64_t> SumNestedKeyedValues(const std::string& contents, absl::string_view key,
                                              const std::string& path);
// The sum over devices of the `operation` lines ("M:m Read N") of blkio.throttle.*.
absl::StatusOr<uint64_t> SumBlkioValues(const std::string& contents, absl::string_view operation,
                                        const std::string& path);

}  // namespace gatehouse::jobs::cgroup_files

#endif  // GATEHOUSE_JOBS_CGROUP_FILES_H_
