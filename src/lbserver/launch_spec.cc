#include "lbserver/launch_spec.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace gatehouse::lbserver {

jobs::Limits ToJobLimits(const config::JobLimitsConfig& limits) {
  jobs::Limits converted;
  converted.cpus = limits.cpus;
  converted.memory_bytes = limits.memory_bytes;
  converted.io_read_bytes_per_second = limits.io_read_bytes_per_second;
  converted.io_write_bytes_per_second = limits.io_write_bytes_per_second;
  converted.pids = limits.pids;
  return converted;
}

jobs::JobSpec LaunchJobSpec(const std::string& app, const config::LaunchConfig& launch) {
  jobs::JobSpec spec;
  if (!launch.command.empty()) {
    spec.executable = launch.command.front();
    spec.args.assign(launch.command.begin() + 1, launch.command.end());
  }
  const bool sets_path = std::any_of(launch.env.begin(), launch.env.end(), [](const auto& entry) {
    return absl::StartsWith(entry, "PATH=");
  });
  if (sets_path) spec.env.clear();
  spec.env.insert(spec.env.end(), launch.env.begin(), launch.env.end());
  spec.working_dir = launch.working_dir;
  spec.limits = ToJobLimits(launch.limits);
  spec.owner = absl::StrCat("app:", app);
  return spec;
}

}  // namespace gatehouse::lbserver
