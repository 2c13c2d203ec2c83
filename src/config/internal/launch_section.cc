#include "config/internal/launch_section.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "config/internal/field_readers.h"
#include "config/internal/jobs_section.h"

namespace gatehouse::config::internal {
namespace {

constexpr std::array<absl::string_view, 8> kLaunchKeys = {
    "command",      "port",        "limits", "ready_timeout",
    "idle_timeout", "max_waiting", "env",    "working_dir"};
constexpr std::array<absl::string_view, 2> kLaunchRequiredKeys = {"command", "port"};

constexpr uint32_t kMaxPort = std::numeric_limits<uint16_t>::max();
// A server that needs longer to start would leave its first clients hanging past any patience;
// the ceiling catches a unit typo ("5h" for "5s").
constexpr std::chrono::minutes kMaxReadyTimeout{5};
// Below this, a server would be stopped and started again between a client's connections.
constexpr std::chrono::seconds kMinIdleTimeout{1};
// As many as lb.max_connections allows: waiting connections are open client connections.
constexpr uint32_t kMaxWaiting = 10'000'000;
// The job worker hands these to the server as C strings, which a NUL byte would cut short.
absl::StatusOr<std::string> ReadCString(const DocumentReader& reader, const Field& field) {
  GH_ASSIGN_OR_RETURN(std::string text, reader.ReadString(field));
  if (text.find('\0') != std::string::npos) {
    return reader.FieldError(field, "must not contain a NUL byte");
  }
  return text;
}

absl::StatusOr<std::vector<std::string>> ReadCommand(const DocumentReader& reader,
                                                     const Field& field) {
  GH_ASSIGN_OR_RETURN(const std::vector<Field> items, reader.ReadSequence(field));
  if (items.empty()) return reader.FieldError(field, "needs at least the program to run");
  std::vector<std::string> command;
  for (const Field& item : items) {
    GH_ASSIGN_OR_RETURN(std::string arg, ReadCString(reader, item));
    command.push_back(std::move(arg));
  }
  return command;
}

// The portable environment variable names of POSIX: letters, digits and '_', not starting with a
// digit. Others are legal to execve but many shells and programs drop or mangle them.
bool IsEnvName(absl::string_view name) {
  const auto is_name_char = [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_';
  };
  return !name.empty() && !absl::ascii_isdigit(static_cast<unsigned char>(name[0])) &&
         std::all_of(name.begin(), name.end(), is_name_char);
}

// Two entries for one name would leave the server's value to whichever its libc reads first.
absl::StatusOr<std::vector<std::string>> ReadEnv(const DocumentReader& reader, const Field& field) {
  GH_ASSIGN_OR_RETURN(const std::vector<Field> items, reader.ReadSequence(field));
  std::vector<std::string> env;
  for (const Field& item : items) {
    GH_ASSIGN_OR_RETURN(std::string entry, ReadCString(reader, item));
    const size_t equals = entry.find('=');
    if (equals == std::string::npos || !IsEnvName(entry.substr(0, equals))) {
      return reader.FieldError(
          item, absl::StrCat("expected NAME=value with a NAME of letters, digits and '_' that "
                             "does not start with a digit, got ",
                             Quote(entry)));
    }
    // "NAME=", which every entry for NAME starts with.
    const std::string prefix = entry.substr(0, equals + 1);
    const auto is_same_name = [&prefix](const std::string& seen) {
      return absl::StartsWith(seen, prefix);
    };
    if (std::any_of(env.begin(), env.end(), is_same_name)) {
      return reader.FieldError(item,
                               absl::StrCat("duplicate variable ", Quote(entry.substr(0, equals))));
    }
    env.push_back(std::move(entry));
  }
  return env;
}

absl::Status ParseLaunchEntry(const DocumentReader& reader, const Field& entry,
                              LaunchConfig& launch) {
  if (entry.key == "command") {
    GH_ASSIGN_OR_RETURN(launch.command, ReadCommand(reader, entry));
  } else if (entry.key == "port") {
    GH_ASSIGN_OR_RETURN(const uint32_t port, ReadCount(reader, entry, 1, kMaxPort));
    launch.port = static_cast<uint16_t>(port);
  } else if (entry.key == "limits") {
    GH_ASSIGN_OR_RETURN(launch.limits, ParseJobLimits(reader, entry));
  } else if (entry.key == "ready_timeout") {
    GH_ASSIGN_OR_RETURN(launch.ready_timeout, ReadPositiveDuration(reader, entry));
    if (launch.ready_timeout > kMaxReadyTimeout) {
      return reader.FieldError(entry, "must be at most 5m");
    }
  } else if (entry.key == "idle_timeout") {
    GH_ASSIGN_OR_RETURN(launch.idle_timeout, ReadPositiveDuration(reader, entry));
    if (launch.idle_timeout < kMinIdleTimeout) {
      return reader.FieldError(entry, "must be at least 1s");
    }
  } else if (entry.key == "max_waiting") {
    GH_ASSIGN_OR_RETURN(launch.max_waiting, ReadCount(reader, entry, 1, kMaxWaiting));
  } else if (entry.key == "env") {
    GH_ASSIGN_OR_RETURN(launch.env, ReadEnv(reader, entry));
  } else {
    GH_ASSIGN_OR_RETURN(launch.working_dir, ReadCString(reader, entry));
    // The job's init changes into it before the server runs, with no directory to be relative
    // to.
    if (launch.working_dir[0] != '/') return reader.FieldError(entry, "must be an absolute path");
  }
  return absl::OkStatus();
}

template <typename T>
void FillUnset(std::optional<T>& value, const std::optional<T>& fallback) {
  if (!value.has_value()) value = fallback;
}

}  // namespace

absl::StatusOr<LaunchConfig> ParseLaunchSection(const DocumentReader& reader, const Field& field) {
  GH_ASSIGN_OR_RETURN(const std::vector<Field> entries, reader.ReadEntries(field, kLaunchKeys));
  GH_RETURN_IF_ERROR(reader.RequireKeys(field, entries, kLaunchRequiredKeys));
  LaunchConfig launch;
  for (const Field& entry : entries) GH_RETURN_IF_ERROR(ParseLaunchEntry(reader, entry, launch));
  return launch;
}

absl::Status ApplyJobsToLaunch(const DocumentReader& reader, const Field& field,
                               absl::string_view app_name, const std::optional<JobsConfig>& jobs,
                               LaunchConfig& launch) {
  if (!jobs.has_value()) {
    return reader.FieldError(field, absl::StrCat("lb app ", app_name,
                                                 ": launch needs the jobs section (the job "
                                                 "worker runs the app's server)"));
  }
  // Checked before the defaults fill in: jobs.default_limits is under the ceilings already, so
  // a limit above one is a key of the launch's own `limits`.
  const absl::string_view key = LimitAboveCeiling(launch.limits, jobs->max_limits);
  if (!key.empty()) {
    GH_ASSIGN_OR_RETURN(const std::vector<Field> entries, reader.ReadEntries(field));
    GH_ASSIGN_OR_RETURN(const std::vector<Field> limits,
                        reader.ReadEntries(*FindEntry(entries, "limits")));
    return reader.FieldError(
        *FindEntry(limits, key),
        absl::StrCat("lb app ", app_name, ": ", key, " is above jobs.max_limits.", key));
  }
  const JobLimitsConfig& defaults = jobs->default_limits;
  FillUnset(launch.limits.cpus, defaults.cpus);
  FillUnset(launch.limits.memory_bytes, defaults.memory_bytes);
  FillUnset(launch.limits.io_read_bytes_per_second, defaults.io_read_bytes_per_second);
  FillUnset(launch.limits.io_write_bytes_per_second, defaults.io_write_bytes_per_second);
  FillUnset(launch.limits.pids, defaults.pids);
  return absl::OkStatus();
}

}  // namespace gatehouse::config::internal
