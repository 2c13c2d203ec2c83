#include "jobs/cgroup_layout.h"

#include <algorithm>
#include <array>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/types/span.h"
#include "base/status_macros.h"
#include "jobs/cgroup_files.h"

namespace gatehouse::jobs {
namespace {

using cgroup_files::JoinPath;
using cgroup_files::ReadFile;

constexpr std::array<absl::string_view, 4> kV2Controllers = {"cpu", "memory", "io", "pids"};
constexpr std::array<absl::string_view, 5> kHybridControllers = {"cpu", "cpuacct", "memory",
                                                                 "blkio", "pids"};
// Without cgroup.kill, the freezer is what makes a kill reach every task of the job.
constexpr std::array<absl::string_view, 6> kV1Controllers = {"cpu",   "cpuacct", "memory",
                                                             "blkio", "pids",    "freezer"};

std::set<std::string> Words(absl::string_view text) {
  return absl::StrSplit(text, absl::ByAnyChar(" \t\n"), absl::SkipEmpty());
}

template <typename Available>
std::vector<std::string> MissingControllers(absl::Span<const absl::string_view> required,
                                            const Available& available) {
  std::vector<std::string> missing;
  for (const absl::string_view controller : required) {
    if (!available.contains(static_cast<std::string>(controller))) missing.emplace_back(controller);
  }
  return missing;
}

std::map<std::string, std::string> SelectControllers(
    const std::map<std::string, std::string>& mounts, absl::Span<const absl::string_view> wanted) {
  std::map<std::string, std::string> selected;
  for (const absl::string_view controller : wanted) {
    const std::string name(controller);
    selected[name] = mounts.at(name);
  }
  return selected;
}

// Mount points in mountinfo escape space, tab, newline and backslash as \ooo (octal).
std::string UnescapeMountPoint(absl::string_view field) {
  const auto is_octal = [](char c) { return c >= '0' && c <= '7'; };
  std::string path;
  size_t i = 0;
  while (i < field.size()) {
    const absl::string_view rest = field.substr(i);
    if (rest.size() >= 4 && rest[0] == '\\' && is_octal(rest[1]) && is_octal(rest[2]) &&
        is_octal(rest[3])) {
      path += static_cast<char>(((rest[1] - '0') << 6) | ((rest[2] - '0') << 3) | (rest[3] - '0'));
      i += 4;
    } else {
      path += rest[0];
      ++i;
    }
  }
  return path;
}

struct CgroupMounts {
  std::string unified_root;
  std::map<std::string, std::string> v1_controllers;
};

// One mountinfo line: "id parent M:m root mount-point options [optional...] - fstype source
// super-options". A v1 hierarchy's controllers are among its super options ("rw,cpu,cpuacct").
void AddCgroupMount(absl::string_view line, CgroupMounts& mounts) {
  const std::vector<absl::string_view> fields = absl::StrSplit(line, ' ');
  constexpr size_t kFirstOptionalField = 6;
  if (fields.size() <= kFirstOptionalField) return;
  const auto separator =
      std::find(fields.begin() + kFirstOptionalField, fields.end(), absl::string_view("-"));
  if (fields.end() - separator < 4) return;
  const absl::string_view filesystem_type = separator[1];
  const std::string mount_point = UnescapeMountPoint(fields[4]);
  if (filesystem_type == "cgroup2") {
    if (mounts.unified_root.empty()) mounts.unified_root = mount_point;
    return;
  }
  if (filesystem_type != "cgroup") return;
  for (const absl::string_view option : absl::StrSplit(separator[3], ',')) {
    const std::string controller(option);
    const bool used =
        std::find(kV1Controllers.begin(), kV1Controllers.end(), controller) != kV1Controllers.end();
    if (used) mounts.v1_controllers.emplace(controller, mount_point);
  }
}

absl::StatusOr<CgroupLayout> ChooseV1Layout(const CgroupMounts& mounts) {
  const std::vector<std::string> missing =
      MissingControllers(kV1Controllers, mounts.v1_controllers);
  if (!missing.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no cgroup2 mount, and cgroup v1 lacks the controllers ", absl::StrJoin(missing, ", ")));
  }
  return CgroupLayout{CgroupMode::kV1, "",
                      SelectControllers(mounts.v1_controllers, kV1Controllers)};
}

absl::StatusOr<CgroupLayout> ChooseLayout(const CgroupMounts& mounts,
                                          const CgroupLayout::ControllersReader& read_controllers) {
  if (mounts.unified_root.empty()) return ChooseV1Layout(mounts);
  GH_ASSIGN_OR_RETURN(const std::string available, read_controllers(mounts.unified_root));
  const std::vector<std::string> missing_v2 = MissingControllers(kV2Controllers, Words(available));
  if (missing_v2.empty()) return CgroupLayout{CgroupMode::kV2, mounts.unified_root, {}};
  const std::vector<std::string> missing_v1 =
      MissingControllers(kHybridControllers, mounts.v1_controllers);
  if (missing_v1.empty()) {
    return CgroupLayout{CgroupMode::kHybrid, mounts.unified_root,
                        SelectControllers(mounts.v1_controllers, kHybridControllers)};
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "cgroup2 at ", mounts.unified_root, " lacks the controllers ",
      absl::StrJoin(missing_v2, ", "), ", and cgroup v1 lacks ", absl::StrJoin(missing_v1, ", ")));
}

absl::Span<const absl::string_view> RequiredV1Controllers(CgroupMode mode) {
  switch (mode) {
    case CgroupMode::kV2:
      return {};
    case CgroupMode::kHybrid:
      return kHybridControllers;
    case CgroupMode::kV1:
      return kV1Controllers;
  }
  return kV1Controllers;
}

}  // namespace

const char* CgroupModeName(CgroupMode mode) {
  switch (mode) {
    case CgroupMode::kV2:
      return "v2";
    case CgroupMode::kHybrid:
      return "hybrid";
    case CgroupMode::kV1:
      return "v1";
  }
  return "unknown";
}

absl::StatusOr<CgroupLayout> CgroupLayout::FromMountInfo(
    const std::string& mountinfo, const ControllersReader& read_controllers) {
  CgroupMounts mounts;
  for (const absl::string_view line : absl::StrSplit(mountinfo, '\n', absl::SkipEmpty())) {
    AddCgroupMount(line, mounts);
  }
  return ChooseLayout(mounts, read_controllers);
}

absl::StatusOr<CgroupLayout> CgroupLayout::Detect() {
  GH_ASSIGN_OR_RETURN(const std::string mountinfo, ReadFile("/proc/self/mountinfo"));
  return FromMountInfo(mountinfo, [](const std::string& mount_point) {
    return ReadFile(JoinPath(mount_point, "cgroup.controllers"));
  });
}

namespace cgroup_layout {

absl::Status ValidateLayout(const CgroupLayout& layout) {
  if (layout.mode != CgroupMode::kV1 && layout.unified_root.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cgroup mode ", CgroupModeName(layout.mode), " needs a cgroup2 mount"));
  }
  const std::vector<std::string> missing =
      MissingControllers(RequiredV1Controllers(layout.mode), layout.v1_controllers);
  if (!missing.empty()) {
    return absl::FailedPreconditionError(absl::StrCat("cgroup mode ", CgroupModeName(layout.mode),
                                                      " lacks the v1 controllers ",
                                                      absl::StrJoin(missing, ", ")));
  }
  return absl::OkStatus();
}

std::vector<std::string> MissingV2Controllers(absl::string_view controllers) {
  return MissingControllers(kV2Controllers, Words(controllers));
}

}  // namespace cgroup_layout
}  // namespace gatehouse::jobs
