// The `jobs` section of the config file: the job worker service.
//
//   jobs:
//     listen: 127.0.0.1:7443          # the gRPC job API (mutual TLS 1.3)
//     state_dir: /var/lib/gatehouse   # job outputs: <state_dir>/jobs/<id>/output
//     cgroup_parent: gatehouse        # jobs' cgroups, in every hierarchy
//     stop_grace: 10s                 # SIGTERM, then SIGKILL after this
//     max_jobs: 256                   # starting or running at once
//     max_output: 2GiB                # kept per job; the rest is dropped
//     max_readers_per_job: 64         # concurrent output streams of one job
//     ended_job_retention: 24h        # then the job and its output are removed
//     max_ended_jobs: 1000            # the newest ended jobs kept
//     default_limits: {cpu: 1.0, memory: 512MiB, io_read_bps: 50MB, io_write_bps: 50MB, pids: 256}
//     max_limits: {cpu: 2, memory: 4GiB, pids: 4096}   # the most a request may ask for
//     run_as: {uid: 65534, gid: 65534}                 # never 0
//
// Checks within the section: a default limit above its ceiling, run_as 0. A cpu, memory or pids
// limit that `default_limits` leaves out defaults to 1 CPU, 512MiB and 256 (lowered to its
// ceiling); IO is unlimited unless set. Stateless and thread-safe.
#ifndef GATEHOUSE_CONFIG_INTERNAL_JOBS_SECTION_H_
#define GATEHOUSE_CONFIG_INTERNAL_JOBS_SECTION_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "config/config.h"
#include "config/internal/document_reader.h"

namespace gatehouse::config::internal {

absl::StatusOr<JobsConfig> ParseJobsSection(const DocumentReader& reader, const Field& field);

// A limits mapping {cpu, memory, io_read_bps, io_write_bps, pids}, as `default_limits`,
// `max_limits` and an lb app's `launch.limits` are written. A key left out stays unset.
absl::StatusOr<JobLimitsConfig> ParseJobLimits(const DocumentReader& reader, const Field& field);

// The key ("cpu", "memory", ...) of the first limit that `limits` sets above the one `ceiling`
// sets; empty when there is none.
absl::string_view LimitAboveCeiling(const JobLimitsConfig& limits, const JobLimitsConfig& ceiling);

}  // namespace gatehouse::config::internal

#endif  // GATEHOUSE_CONFIG_INTERNAL_JOBS_SECTION_H_
