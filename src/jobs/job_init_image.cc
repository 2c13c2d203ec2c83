#include "jobs/job_init_image.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

// The init program's bytes, put in .rodata by the assembler from the file that CMake builds and
// names in GATEHOUSE_JOB_INIT_PATH (src/jobs/CMakeLists.txt makes this file depend on it).
asm(".pushsection .rodata\n"
    ".balign 16\n"
    ".globl kJobInitImageBegin\n"
    ".hidden kJobInitImageBegin\n"
    "kJobInitImageBegin:\n"
    ".incbin \"" GATEHOUSE_JOB_INIT_PATH
    "\"\n"
    ".globl kJobInitImageEnd\n"
    ".hidden kJobInitImageEnd\n"
    "kJobInitImageEnd:\n"
    ".popsection\n");

extern "C" {
extern const char kJobInitImageBegin[];
extern const char kJobInitImageEnd[];
}

namespace gatehouse::jobs {
namespace {

// memfd_create's MFD_EXEC (Linux 6.3; not in Debian 12's headers): asks for an executable memfd
// explicitly, which kernels with vm.memfd_noexec set require. Older kernels refuse the flag.
constexpr unsigned int kMfdExec = 0x0010U;
constexpr int kSeals = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;
// F_SEAL_EXEC (Linux 6.3, with MFD_EXEC; not in Debian 12's headers): the mode, and so the
// execute permission, can no longer change.
constexpr int kSealExec = 0x0020;

absl::string_view Image() {
  return {kJobInitImageBegin, static_cast<size_t>(kJobInitImageEnd - kJobInitImageBegin)};
}

}  // namespace

absl::StatusOr<base::UniqueFd> LoadJobInit() {
  const absl::string_view image = Image();
  if (image.size() < 4 || image.substr(0, 4) !=
                              "\x7f"
                              "ELF") {
    return absl::InternalError("the embedded job init is not an ELF program");
  }
  constexpr unsigned int kFlags = MFD_CLOEXEC | MFD_ALLOW_SEALING;
  base::UniqueFd fd(::memfd_create("gatehouse-init", kFlags | kMfdExec));
  int seals = kSeals | kSealExec;
  if (!fd.is_valid() && errno == EINVAL) {
    fd.Reset(::memfd_create("gatehouse-init", kFlags));
    seals = kSeals;
  }
  if (!fd.is_valid()) return absl::ErrnoToStatus(errno, "memfd_create for the job init");
  size_t written = 0;
  while (written < image.size()) {
    const ssize_t n = ::write(fd.get(), image.data() + written, image.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return absl::ErrnoToStatus(n < 0 ? errno : EIO,
                                 absl::StrCat("write the job init (", image.size(), " bytes)"));
    }
    written += static_cast<size_t>(n);
  }
  if (::fcntl(fd.get(), F_ADD_SEALS, seals) != 0) {
    return absl::ErrnoToStatus(errno, "seal the job init's memfd");
  }
  return fd;
}

}  // namespace gatehouse::jobs
