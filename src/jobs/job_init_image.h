// LoadJobInit: the job's init program (init/main.cc) in a sealed memfd, ready for execveat.
//
// The program is built as a static executable and its bytes are linked into this library, so a
// worker needs no file of its own at run time and cannot be pointed at a different one. Once
// sealed, nobody (the worker included) can change the memfd's contents: the reason runc runs
// its init from a sealed copy too (CVE-2019-5736).
#ifndef GATEHOUSE_JOBS_JOB_INIT_IMAGE_H_
#define GATEHOUSE_JOBS_JOB_INIT_IMAGE_H_

#include "absl/status/statusor.h"
#include "base/unique_fd.h"

namespace gatehouse::jobs {

// A close-on-exec memfd holding the init program, sealed against writes, resizing and (Linux 6.3
// on) mode changes. Errors: the memfd could not be
// created, written or sealed (errno text).
absl::StatusOr<base::UniqueFd> LoadJobInit();

}  // namespace gatehouse::jobs

#endif  // GATEHOUSE_JOBS_JOB_INIT_IMAGE_H_
