#include "api/job_conversion.h"

#include <cmath>
#include <optional>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"

namespace gatehouse::api {
namespace {

bool HasNul(const std::string& text) { return text.find('\0') != std::string::npos; }

absl::Status CheckCommand(const v1::StartRequest& request) {
  if (request.command().empty()) return absl::InvalidArgumentError("command is empty");
  if (static_cast<size_t>(request.args_size()) > kMaxArgs) {
    return absl::InvalidArgumentError(
        absl::StrCat(request.args_size(), " arguments: at most ", kMaxArgs, " are allowed"));
  }
  size_t bytes = request.command().size();
  bool nul = HasNul(request.command());
  for (const std::string& arg : request.args()) {
    bytes += arg.size();
    nul = nul || HasNul(arg);
  }
  if (bytes > kMaxCommandBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("command and arguments take ", bytes, " bytes: at most ", kMaxCommandBytes));
  }
  if (nul) return absl::InvalidArgumentError("command or an argument contains a NUL byte");
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> EnvironmentOf(const v1::StartRequest& request) {
  if (static_cast<size_t>(request.env_size()) > kMaxEnvEntries) {
    return absl::InvalidArgumentError(
        absl::StrCat(request.env_size(), " env entries: at most ", kMaxEnvEntries, " are allowed"));
  }
  std::vector<std::string> env;
  size_t bytes = 0;
  for (const auto& [key, value] : request.env()) {
    if (key.empty() || key.find('=') != std::string::npos || HasNul(key) || HasNul(value)) {
      return absl::InvalidArgumentError(
          "env: a key must be non-empty without '=', and no key or value may hold a NUL byte");
    }
    bytes += key.size() + value.size();
    env.push_back(absl::StrCat(key, "=", value));
  }
  if (bytes > kMaxEnvBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("env takes ", bytes, " bytes: at most ", kMaxEnvBytes));
  }
  // Without a PATH of the caller's, the job gets the library's default one.
  if (request.env().find("PATH") == request.env().end()) {
    const std::vector<std::string> defaults = jobs::JobSpec().env;
    env.insert(env.begin(), defaults.begin(), defaults.end());
  }
  return env;
}

// `requested` (0: none) or the default; refused above the ceiling.
template <typename T>
absl::StatusOr<std::optional<T>> Pick(const char* name, T requested,
                                      const std::optional<T>& default_value,
                                      const std::optional<T>& ceiling) {
  std::optional<T> chosen = requested != T{0} ? std::optional<T>(requested) : default_value;
  if (chosen.has_value() && ceiling.has_value() && *chosen > *ceiling) {
    return absl::InvalidArgumentError(
        absl::StrCat("limits.", name, " ", *chosen, " is above the server's ceiling ", *ceiling));
  }
  return chosen;
}

absl::StatusOr<jobs::Limits> LimitsOf(const v1::Limits& requested, const LimitsPolicy& policy) {
  if (std::isnan(requested.cpu()) || requested.cpu() < 0) {
    return absl::InvalidArgumentError(absl::StrCat("limits.cpu ", requested.cpu(), " is not >= 0"));
  }
  jobs::Limits limits;
  const jobs::Limits& d = policy.defaults;
  const jobs::Limits& c = policy.ceiling;
  auto cpus = Pick<double>("cpu", requested.cpu(), d.cpus, c.cpus);
  if (!cpus.ok()) return cpus.status();
  limits.cpus = *cpus;
  auto memory =
      Pick<uint64_t>("memory_bytes", requested.memory_bytes(), d.memory_bytes, c.memory_bytes);
  if (!memory.ok()) return memory.status();
  limits.memory_bytes = *memory;
  auto read = Pick<uint64_t>("io_read_bps", requested.io_read_bps(), d.io_read_bytes_per_second,
                             c.io_read_bytes_per_second);
  if (!read.ok()) return read.status();
  limits.io_read_bytes_per_second = *read;
  auto write = Pick<uint64_t>("io_write_bps", requested.io_write_bps(), d.io_write_bytes_per_second,
                              c.io_write_bytes_per_second);
  if (!write.ok()) return write.status();
  limits.io_write_bytes_per_second = *write;
  auto pids = Pick<uint64_t>("pids", requested.pids(), d.pids, c.pids);
  if (!pids.ok()) return pids.status();
  limits.pids = *pids;
  limits.io_devices = d.io_devices;
  return limits;
}

google::protobuf::Timestamp ToTimestamp(std::chrono::system_clock::time_point time) {
  return google::protobuf::util::TimeUtil::NanosecondsToTimestamp(
      std::chrono::duration_cast<std::chrono::nanoseconds>(time.time_since_epoch()).count());
}

}  // namespace

absl::StatusOr<jobs::JobSpec> SpecFromRequest(const v1::StartRequest& request,
                                              const LimitsPolicy& policy,
                                              const std::string& owner) {
  if (absl::Status status = CheckCommand(request); !status.ok()) return status;
  jobs::JobSpec spec;
  spec.executable = request.command();
  spec.args.assign(request.args().begin(), request.args().end());
  auto env = EnvironmentOf(request);
  if (!env.ok()) return env.status();
  spec.env = *std::move(env);
  if (!request.working_dir().empty()) {
    if (request.working_dir().size() > kMaxWorkingDirBytes || HasNul(request.working_dir()) ||
        request.working_dir()[0] != '/') {
      return absl::InvalidArgumentError(
          "working_dir must be an absolute path of at most 4096 bytes without NUL bytes");
    }
    spec.working_dir = request.working_dir();
  }
  auto limits = LimitsOf(request.limits(), policy);
  if (!limits.ok()) return limits.status();
  spec.limits = *std::move(limits);
  spec.owner = owner;
  return spec;
}

v1::State ToProtoState(jobs::JobState state) {
  switch (state) {
    case jobs::JobState::kStarting:
      return v1::STARTING;
    case jobs::JobState::kRunning:
      return v1::RUNNING;
    case jobs::JobState::kExited:
      return v1::EXITED;
    case jobs::JobState::kStopped:
      return v1::STOPPED;
    case jobs::JobState::kOomKilled:
      return v1::OOM_KILLED;
    case jobs::JobState::kFailedToStart:
      return v1::FAILED_TO_START;
  }
  return v1::STATE_UNSPECIFIED;
}

v1::JobStatus ToProto(const jobs::JobStatus& status) {
  v1::JobStatus proto;
  proto.set_job_id(status.id);
  proto.set_owner(status.owner);
  for (const std::string& arg : status.argv) proto.add_command(arg);
  proto.set_state(ToProtoState(status.state));
  if (status.exit_code.has_value()) proto.set_exit_code(*status.exit_code);
  if (status.signal.has_value()) proto.set_signal(*status.signal);
  *proto.mutable_start_time() = ToTimestamp(status.started_at);
  if (status.ended_at.has_value()) *proto.mutable_end_time() = ToTimestamp(*status.ended_at);
  v1::Usage* usage = proto.mutable_usage();
  usage->set_cpu_user_usec(static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(status.usage.cpu_user).count()));
  usage->set_cpu_system_usec(static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(status.usage.cpu_system).count()));
  usage->set_memory_peak_bytes(status.usage.memory_peak_bytes);
  usage->set_io_read_bytes(status.usage.io_read_bytes);
  usage->set_io_write_bytes(status.usage.io_write_bytes);
  proto.set_message(status.error);
  return proto;
}

}  // namespace gatehouse::api
