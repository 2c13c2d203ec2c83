// DiskOfPath: the block device behind a path, for the IO limits of a job's cgroup (io.max and
// blkio.throttle.* take whole disks).
//
// Thread-safe: it keeps no state and only reads stat(2) and sysfs.
#ifndef GATEHOUSE_JOBS_BLOCK_DEVICE_H_
#define GATEHOUSE_JOBS_BLOCK_DEVICE_H_

#include <string>

#include "absl/status/statusor.h"

namespace gatehouse::jobs {

// The whole-disk "major:minor" behind the filesystem holding `path` (a partition resolves to its
// disk through /sys/dev/block/M:m/..; a device-mapper or md device stays as it is).
// FailedPrecondition for filesystems without a block device (tmpfs, overlay on tmpfs); a path that
// cannot be stat'ed is the errno's error (NotFound for a missing one), so the two never mix.
absl::StatusOr<std::string> DiskOfPath(const std::string& path);

}  // namespace gatehouse::jobs

#endif  // GATEHOUSE_JOBS_BLOCK_DEVICE_H_
