// The embedded init program: a static ELF in a memfd that nobody can change or keep across exec.
#include "jobs/job_init_image.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"

namespace gatehouse::jobs {
namespace {

constexpr unsigned int kMfdExec = 0x0010U;  // not in Debian 12's headers
constexpr int kSealExec = 0x0020;

TEST(JobInitImageTest, IsASealedStaticProgram) {
  absl::StatusOr<base::UniqueFd> init = LoadJobInit();
  ASSERT_THAT(init, testing::IsOk());
  const int fd = init->get();
  EXPECT_EQ(::fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  const int seals = ::fcntl(fd, F_GET_SEALS);
  for (const int seal : {F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_WRITE}) {
    EXPECT_EQ(seals & seal, seal) << "seal " << seal << " missing from " << seals;
  }
  // MFD_EXEC and F_SEAL_EXEC came with Linux 6.3: where the kernel has them, the mode is sealed.
  const base::UniqueFd probe(::memfd_create("probe", MFD_CLOEXEC | kMfdExec));
  if (probe.is_valid()) {
    EXPECT_EQ(seals & kSealExec, kSealExec);
    EXPECT_NE(::fchmod(fd, 0600), 0);
  }
  EXPECT_EQ(::pwrite(fd, "x", 1, 0), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_NE(::ftruncate(fd, 0), 0);

  Elf64_Ehdr header{};
  ASSERT_EQ(::pread(fd, &header, sizeof(header), 0), static_cast<ssize_t>(sizeof(header)));
  EXPECT_EQ(std::memcmp(header.e_ident, ELFMAG, SELFMAG), 0);
  // A static program: no interpreter to load, so starting it maps nothing else.
  bool has_interpreter = false;
  for (int i = 0; i < header.e_phnum; ++i) {
    Elf64_Phdr program{};
    const off_t offset =
        static_cast<off_t>(header.e_phoff) + static_cast<off_t>(i) * header.e_phentsize;
    ASSERT_EQ(::pread(fd, &program, sizeof(program), offset),
              static_cast<ssize_t>(sizeof(program)));
    has_interpreter = has_interpreter || program.p_type == PT_INTERP;
  }
  EXPECT_FALSE(has_interpreter);
}

}  // namespace
}  // namespace gatehouse::jobs
