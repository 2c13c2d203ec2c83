#include "base/open_file_limit.h"

#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <fstream>

#include "absl/status/status.h"

namespace gatehouse::base {
namespace {

// The kernel's ceiling for any process's RLIMIT_NOFILE; 1 << 20 is its default.
uint64_t KernelOpenFileCeiling() {
  std::ifstream file("/proc/sys/fs/nr_open");
  uint64_t value = 0;
  if (file >> value && value > 0) return value;
  return uint64_t{1} << 20;
}

}  // namespace

absl::StatusOr<OpenFileLimit> RaiseOpenFileLimit(uint64_t wanted) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    return absl::ErrnoToStatus(errno, "getrlimit(RLIMIT_NOFILE)");
  }
  if (limit.rlim_cur < wanted) {
    rlimit raised = limit;
    raised.rlim_cur = wanted;
    if (raised.rlim_max < wanted) {
      raised.rlim_max = std::min<uint64_t>(wanted, KernelOpenFileCeiling());
      raised.rlim_cur = raised.rlim_max;
    }
    // Without CAP_SYS_RESOURCE a higher hard limit is refused; the soft limit can still go up to
    // the hard limit we have.
    if (::setrlimit(RLIMIT_NOFILE, &raised) != 0) {
      raised.rlim_max = limit.rlim_max;
      raised.rlim_cur = std::min<rlim_t>(wanted, limit.rlim_max);
      if (raised.rlim_cur > limit.rlim_cur) ::setrlimit(RLIMIT_NOFILE, &raised);
    }
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
      return absl::ErrnoToStatus(errno, "getrlimit(RLIMIT_NOFILE)");
    }
  }
  return OpenFileLimit{limit.rlim_cur, limit.rlim_max};
}

}  // namespace gatehouse::base
