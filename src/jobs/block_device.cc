#include "jobs/block_device.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cerrno>
#include <filesystem>
#include <system_error>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "jobs/cgroup_files.h"

namespace gatehouse::jobs {
namespace {

using cgroup_files::FileExists;
using cgroup_files::JoinPath;
using cgroup_files::ReadFile;

}  // namespace

absl::StatusOr<std::string> DiskOfPath(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return absl::ErrnoToStatus(errno, "stat " + path);
  const std::string device = absl::StrCat(major(info.st_dev), ":", minor(info.st_dev));
  const std::string block = "/sys/dev/block/" + device;
  if (!FileExists(block)) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " is on device ", device,
                     ", which is not a block device (tmpfs, overlay or "
                     "another virtual filesystem)"));
  }
  if (!FileExists(JoinPath(block, "partition"))) return device;
  // A partition's sysfs directory sits inside its disk's.
  std::error_code error;
  const std::filesystem::path partition = std::filesystem::canonical(block, error);
  if (error) {
    return absl::InternalError(
        absl::StrCat("resolve ", block, " (the device of ", path, "): ", error.message()));
  }
  const std::string disk_dev = (partition.parent_path() / "dev").string();
  GH_ASSIGN_OR_RETURN(const std::string disk, ReadFile(disk_dev));
  return static_cast<std::string>(absl::StripAsciiWhitespace(disk));
}

}  // namespace gatehouse::jobs
