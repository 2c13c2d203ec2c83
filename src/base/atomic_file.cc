#include "base/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <system_error>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "base/unique_fd.h"

namespace gatehouse::base {
namespace {

absl::Status WriteAll(int fd, absl::string_view contents, const std::string& path) {
  while (!contents.empty()) {
    const ssize_t written = ::write(fd, contents.data(), contents.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, absl::StrCat("write ", path));
    }
    contents.remove_prefix(static_cast<size_t>(written));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents, mode_t mode,
                                 ExistingFile existing) {
  std::string temp = path + ".tmp-XXXXXX";
  UniqueFd fd(::mkostemp(temp.data(), O_CLOEXEC));
  if (!fd.is_valid()) return absl::ErrnoToStatus(errno, absl::StrCat("create ", temp));
  bool keep_temp = false;
  absl::Cleanup remove_temp = [&temp, &keep_temp] {
    if (!keep_temp) ::unlink(temp.c_str());
  };
  // mkostemp creates 0600; set the exact mode before any byte is written.
  if (::fchmod(fd.get(), mode) != 0) return absl::ErrnoToStatus(errno, "chmod " + temp);
  if (absl::Status status = WriteAll(fd.get(), contents, temp); !status.ok()) return status;
  if (::fsync(fd.get()) != 0) return absl::ErrnoToStatus(errno, "fsync " + temp);
  fd.Reset();
  if (existing == ExistingFile::kReplace) {
    if (::rename(temp.c_str(), path.c_str()) != 0) {
      return absl::ErrnoToStatus(errno, absl::StrCat("rename ", temp, " to ", path));
    }
    keep_temp = true;  // it is `path` now
    return absl::OkStatus();
  }
  if (::link(temp.c_str(), path.c_str()) != 0) {
    if (errno == EEXIST) {
      return absl::AlreadyExistsError(absl::StrCat(path, " already exists"));
    }
    return absl::ErrnoToStatus(errno, absl::StrCat("link ", temp, " to ", path));
  }
  return absl::OkStatus();
}

absl::Status MakeDirectories(const std::string& path, mode_t mode) {
  std::error_code error;
  const std::filesystem::path dir(path);
  if (dir.has_parent_path() && !dir.parent_path().empty()) {
    std::filesystem::create_directories(dir.parent_path(), error);
    if (error) {
      return absl::InvalidArgumentError(
          absl::StrCat("create directory ", dir.parent_path().string(), ": ", error.message()));
    }
  }
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) {
    return absl::ErrnoToStatus(errno, absl::StrCat("create directory ", path));
  }
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return absl::ErrnoToStatus(errno, "stat " + path);
  if (!S_ISDIR(info.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(path, " exists and is not a directory"));
  }
  return absl::OkStatus();
}

}  // namespace gatehouse::base
