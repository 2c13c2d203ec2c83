#include "config/internal/jobs_section.h"

#include <array>
#include <string>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "config/internal/field_readers.h"
#include "config/value_parsers.h"

namespace gatehouse::config::internal {
namespace {

constexpr std::array<absl::string_view, 12> kJobsKeys = {
    "listen",         "state_dir",      "cgroup_parent",       "stop_grace",
    "max_jobs",       "max_output",     "max_readers_per_job", "ended_job_retention",
    "max_ended_jobs", "default_limits", "max_limits",          "run_as"};
constexpr std::array<absl::string_view, 5> kLimitKeys = {"cpu", "memory", "io_read_bps",
                                                         "io_write_bps", "pids"};
constexpr std::array<absl::string_view, 2> kRunAsKeys = {"uid", "gid"};

// Bounds that keep a typo from becoming an outage or an overflow, not tuning advice.
constexpr uint32_t kMaxJobs = 100'000;
constexpr uint32_t kMaxReaders = 10'000;
constexpr uint32_t kMaxEndedJobs = 1'000'000;
constexpr uint32_t kMaxPids = 4'194'304;  // the kernel's pid_max ceiling
constexpr uint32_t kMaxId = 0xfffffffe;   // (uid_t)-1 means "unchanged" to setuid

// What a job gets for a limit neither its request nor `default_limits` sets: nothing runs
// unbounded unless the operator says so. IO is not limited by default (which disks to limit is
// host-specific).
constexpr double kDefaultCpus = 1.0;
constexpr uint64_t kDefaultMemoryBytes = uint64_t{512} << 20;
constexpr uint64_t kDefaultPids = 256;

// Fills `value` with `fallback`, lowered to `ceiling` when there is one.
template <typename T>
void DefaultUnderCeiling(std::optional<T>& value, T fallback, const std::optional<T>& ceiling) {
  if (value.has_value()) return;
  value = ceiling.has_value() && *ceiling < fallback ? *ceiling : fallback;
}

template <typename T>
bool Above(const std::optional<T>& value, const std::optional<T>& ceiling) {
  return value.has_value() && ceiling.has_value() && *value > *ceiling;
}

absl::Status CheckDefaultsUnderCeiling(const DocumentReader& reader, const Field& field,
                                       const JobsConfig& jobs) {
  if (!LimitAboveCeiling(jobs.default_limits, jobs.max_limits).empty()) {
    return reader.FieldError(field, "a default_limits value is above its max_limits ceiling");
  }
  return absl::OkStatus();
}

absl::Status ParseRunAs(const DocumentReader& reader, const Field& field, JobsConfig& jobs) {
  GH_ASSIGN_OR_RETURN(const std::vector<Field> entries, reader.ReadEntries(field, kRunAsKeys));
  if (entries.size() != kRunAsKeys.size()) {
    return reader.FieldError(field, "run_as needs both uid and gid");
  }
  for (const Field& entry : entries) {
    // Jobs come from remote callers: never root's uid or group.
    GH_ASSIGN_OR_RETURN(const uint32_t id, ReadCount(reader, entry, 1, kMaxId));
    (entry.key == "uid" ? jobs.run_as_uid : jobs.run_as_gid) = id;
  }
  return absl::OkStatus();
}

absl::Status ParseJobsEntry(const DocumentReader& reader, const Field& entry, JobsConfig& jobs) {
  if (entry.key == "listen") {
    GH_ASSIGN_OR_RETURN(jobs.listen, ReadAddress(reader, entry));
  } else if (entry.key == "state_dir") {
    GH_ASSIGN_OR_RETURN(jobs.state_dir, reader.ReadString(entry));
  } else if (entry.key == "cgroup_parent") {
    GH_ASSIGN_OR_RETURN(jobs.cgroup_parent, reader.ReadString(entry));
    if (jobs.cgroup_parent.empty() || jobs.cgroup_parent[0] == '/' ||
        jobs.cgroup_parent.find("..") != std::string::npos) {
      return reader.FieldError(entry, "must be a relative path without \"..\"");
    }
  } else if (entry.key == "stop_grace") {
    GH_ASSIGN_OR_RETURN(jobs.stop_grace, ReadPositiveDuration(reader, entry));
  } else if (entry.key == "max_jobs") {
    GH_ASSIGN_OR_RETURN(jobs.max_jobs, ReadCount(reader, entry, 1, kMaxJobs));
  } else if (entry.key == "max_output") {
    GH_ASSIGN_OR_RETURN(jobs.max_output_bytes, ReadByteSize(reader, entry));
  } else if (entry.key == "max_readers_per_job") {
    GH_ASSIGN_OR_RETURN(jobs.max_readers_per_job, ReadCount(reader, entry, 1, kMaxReaders));
  } else if (entry.key == "ended_job_retention") {
    GH_ASSIGN_OR_RETURN(jobs.ended_job_retention, ReadPositiveDuration(reader, entry));
  } else if (entry.key == "max_ended_jobs") {
    GH_ASSIGN_OR_RETURN(jobs.max_ended_jobs, ReadCount(reader, entry, 0, kMaxEndedJobs));
  } else if (entry.key == "default_limits") {
    GH_ASSIGN_OR_RETURN(jobs.default_limits, ParseJobLimits(reader, entry));
  } else if (entry.key == "max_limits") {
    GH_ASSIGN_OR_RETURN(jobs.max_limits, ParseJobLimits(reader, entry));
  } else {
    GH_RETURN_IF_ERROR(ParseRunAs(reader, entry, jobs));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<JobLimitsConfig> ParseJobLimits(const DocumentReader& reader, const Field& field) {
  GH_ASSIGN_OR_RETURN(const std::vector<Field> entries, reader.ReadEntries(field, kLimitKeys));
  JobLimitsConfig limits;
  for (const Field& entry : entries) {
    if (entry.key == "cpu") {
      GH_ASSIGN_OR_RETURN(const double cpus, ReadDecimal(reader, entry));
      if (!(cpus > 0)) return reader.FieldError(entry, "cpu must be above 0");
      limits.cpus = cpus;
    } else if (entry.key == "memory") {
      GH_ASSIGN_OR_RETURN(limits.memory_bytes, ReadByteSize(reader, entry));
    } else if (entry.key == "io_read_bps") {
      GH_ASSIGN_OR_RETURN(limits.io_read_bytes_per_second, ReadByteSize(reader, entry));
    } else if (entry.key == "io_write_bps") {
      GH_ASSIGN_OR_RETURN(limits.io_write_bytes_per_second, ReadByteSize(reader, entry));
    } else {
      GH_ASSIGN_OR_RETURN(limits.pids, ReadCount(reader, entry, 1, kMaxPids));
    }
  }
  return limits;
}

absl::string_view LimitAboveCeiling(const JobLimitsConfig& limits, const JobLimitsConfig& ceiling) {
  if (Above(limits.cpus, ceiling.cpus)) return "cpu";
  if (Above(limits.memory_bytes, ceiling.memory_bytes)) return "memory";
  if (Above(limits.io_read_bytes_per_second, ceiling.io_read_bytes_per_second)) {
    return "io_read_bps";
  }
  if (Above(limits.io_write_bytes_per_second, ceiling.io_write_bytes_per_second)) {
    return "io_write_bps";
  }
  if (Above(limits.pids, ceiling.pids)) return "pids";
  return {};
}

absl::StatusOr<JobsConfig> ParseJobsSection(const DocumentReader& reader, const Field& field) {
  GH_ASSIGN_OR_RETURN(const std::vector<Field> entries, reader.ReadEntries(field, kJobsKeys));
  JobsConfig jobs;
  for (const Field& entry : entries) GH_RETURN_IF_ERROR(ParseJobsEntry(reader, entry, jobs));
  if (jobs.state_dir.empty()) return reader.FieldError(field, "state_dir must not be empty");
  GH_RETURN_IF_ERROR(CheckDefaultsUnderCeiling(reader, field, jobs));
  DefaultUnderCeiling(jobs.default_limits.cpus, kDefaultCpus, jobs.max_limits.cpus);
  DefaultUnderCeiling(jobs.default_limits.memory_bytes, kDefaultMemoryBytes,
                      jobs.max_limits.memory_bytes);
  DefaultUnderCeiling(jobs.default_limits.pids, kDefaultPids, jobs.max_limits.pids);
  return jobs;
}

}  // namespace gatehouse::config::internal
