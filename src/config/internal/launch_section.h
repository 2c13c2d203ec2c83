// The `launch` mapping of an lb app: the app's server, which the load balancer starts as a job
// of the job worker on the app's first connection and stops when it is idle (scale to zero).
//
//   launch:
//     command: [/usr/bin/python3, -m, http.server, --bind, 127.0.0.1, "8080"]  # required
//     port: 8080                     # required; where the server listens on its job's loopback
//     limits: {cpu: 0.5, memory: 256MiB, pids: 64}   # as jobs.default_limits; unset: from it
//     ready_timeout: 5s              # at most 5m
//     idle_timeout: 2m               # at least 1s
//     max_waiting: 256               # connections waiting for a start at once
//     env: [LANG=C.UTF-8]            # NAME=value; PATH=/usr/local/bin:/usr/bin:/bin unless given
//     working_dir: /                 # absolute
//
// ParseLaunchSection checks the mapping on its own; ApplyJobsToLaunch, which the loader calls
// once the whole document is parsed, checks it against the `jobs` section. Stateless and
// thread-safe.
#ifndef GATEHOUSE_CONFIG_INTERNAL_LAUNCH_SECTION_H_
#define GATEHOUSE_CONFIG_INTERNAL_LAUNCH_SECTION_H_

#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "config/config.h"
#include "config/internal/document_reader.h"

namespace gatehouse::config::internal {

absl::StatusOr<LaunchConfig> ParseLaunchSection(const DocumentReader& reader, const Field& field);

// What the `jobs` section means for the launch of app `app_name`, parsed from `field`: there
// must be one (the job worker runs the server), no limit may be above jobs.max_limits, and the
// limits the launch leaves out take jobs.default_limits.
absl::Status ApplyJobsToLaunch(const DocumentReader& reader, const Field& field,
                               absl::string_view app_name, const std::optional<JobsConfig>& jobs,
                               LaunchConfig& launch);

}  // namespace gatehouse::config::internal

#endif  // GATEHOUSE_CONFIG_INTERNAL_LAUNCH_SECTION_H_
