// RaiseOpenFileLimit: makes room for a process that holds many sockets, as HAProxy and nginx
// do at start (`maxconn` / `worker_rlimit_nofile`): each proxied connection needs two
// descriptors, and the usual soft limit of 1024 (or a 20,000 hard limit) is far below what
// 10,000 connections need.
#ifndef GATEHOUSE_BASE_OPEN_FILE_LIMIT_H_
#define GATEHOUSE_BASE_OPEN_FILE_LIMIT_H_

#include <cstdint>

#include "absl/status/statusor.h"

namespace gatehouse::base {

struct OpenFileLimit {
  uint64_t soft = 0;
  uint64_t hard = 0;
};

// Raises RLIMIT_NOFILE's soft limit to `wanted`, raising the hard limit too when the process
// may (CAP_SYS_RESOURCE) and the kernel allows it (/proc/sys/fs/nr_open). Never lowers either
// limit. Returns the limits now in force, which may be below `wanted` when the hard limit could
// not be raised; the caller decides whether that is enough. Errors only when getrlimit fails.
absl::StatusOr<OpenFileLimit> RaiseOpenFileLimit(uint64_t wanted);

}  // namespace gatehouse::base

#endif  // GATEHOUSE_BASE_OPEN_FILE_LIMIT_H_
