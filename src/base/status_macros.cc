#include "base/status_macros.h"

#include <cstdio>
#include <cstdlib>

namespace gatehouse::base::internal {

void CheckFailed(const char* condition, const char* file, int line) {
  // stderr and abort rather than the logger: the logger itself may be what is broken.
  std::fprintf(stderr, "GH_CHECK failed: %s at %s:%d\n", condition, file, line);
  std::abort();
}

}  // namespace gatehouse::base::internal
