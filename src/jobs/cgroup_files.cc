#include "jobs/cgroup_files.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cmath>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"

namespace gatehouse::jobs::cgroup_files {

namespace {

// A decimal count from `path`; an error quoting the text and naming the file otherwise.
absl::StatusOr<uint64_t> ParseCount(absl::string_view text, const std::string& path) {
  uint64_t value = 0;
  if (!absl::SimpleAtoi(text, &value)) {
    return absl::InternalError(absl::StrCat("unexpected value \"", text, "\" in ", path));
  }
  return value;
}

}  // namespace

std::string JoinPath(const std::string& directory, absl::string_view name) {
  return absl::StrCat(directory, "/", name);
}

absl::StatusOr<std::string> ReadFromStart(int fd, const std::string& path) {
  if (::lseek(fd, 0, SEEK_SET) < 0) return absl::ErrnoToStatus(errno, "seek " + path);
  std::string contents;
  std::array<char, 4096> buffer{};
  while (true) {
    const ssize_t count = ::read(fd, buffer.data(), buffer.size());
    if (count == 0) return contents;
    if (count < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, "read " + path);
    }
    contents.append(buffer.data(), static_cast<size_t>(count));
  }
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  const base::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.is_valid()) return absl::ErrnoToStatus(errno, "open " + path);
  return ReadFromStart(fd.get(), path);
}

absl::Status WriteFile(const std::string& path, const std::string& value) {
  const std::string what = absl::StrCat("write \"", value, "\" to ", path);
  const base::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.is_valid()) return absl::ErrnoToStatus(errno, what);
  ssize_t written = -1;
  do {
    written = ::write(fd.get(), value.data(), value.size());
  } while (written < 0 && errno == EINTR);
  if (written < 0) return absl::ErrnoToStatus(errno, what);
  if (static_cast<size_t>(written) != value.size()) {
    return absl::InternalError(absl::StrCat(what, ": short write of ", written, " bytes"));
  }
  return absl::OkStatus();
}

bool FileExists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

absl::StatusOr<int64_t> CpuQuotaMicros(double cpus) {
  if (!std::isfinite(cpus) || cpus <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("bad CPU limit ", cpus));
  }
  return std::llround(cpus * static_cast<double>(kCpuPeriodMicros));
}

absl::StatusOr<uint64_t> FindKeyedValue(const std::string& contents, absl::string_view key,
                                        const std::string& path) {
  for (const absl::string_view line : absl::StrSplit(contents, '\n', absl::SkipEmpty())) {
    const std::pair<absl::string_view, absl::string_view> fields =
        absl::StrSplit(line, absl::MaxSplits(' ', 1));
    if (fields.first == key) return ParseCount(fields.second, path);
  }
  return absl::InternalError(absl::StrCat(path, " has no \"", key, "\" line"));
}

absl::StatusOr<uint64_t> ReadSingleValue(const std::string& path) {
  GH_ASSIGN_OR_RETURN(const std::string contents, ReadFile(path));
  return ParseCount(absl::StripAsciiWhitespace(contents), path);
}

absl::StatusOr<uint64_t> ReadKeyedValue(const std::string& path, absl::string_view key) {
  GH_ASSIGN_OR_RETURN(const std::string contents, ReadFile(path));
  return FindKeyedValue(contents, key, path);
}

absl::StatusOr<uint64_t> SumNestedKeyedValues(const std::string& contents, absl::string_view key,
                                              const std::string& path) {
  uint64_t sum = 0;
  for (const absl::string_view line : absl::StrSplit(contents, '\n', absl::SkipEmpty())) {
    for (const absl::string_view field : absl::StrSplit(line, ' ', absl::SkipEmpty())) {
      const std::pair<absl::string_view, absl::string_view> pair =
          absl::StrSplit(field, absl::MaxSplits('=', 1));
      if (pair.first != key) continue;
      GH_ASSIGN_OR_RETURN(const uint64_t value, ParseCount(pair.second, path));
      sum += value;
    }
  }
  return sum;
}

absl::StatusOr<uint64_t> SumBlkioValues(const std::string& contents, absl::string_view operation,
                                        const std::string& path) {
  uint64_t sum = 0;
  for (const absl::string_view line : absl::StrSplit(contents, '\n', absl::SkipEmpty())) {
    const std::vector<absl::string_view> fields = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (fields.size() != 3 || fields[1] != operation) continue;
    GH_ASSIGN_OR_RETURN(const uint64_t value, ParseCount(fields[2], path));
    sum += value;
  }
  return sum;
}

}  // namespace gatehouse::jobs::cgroup_files
