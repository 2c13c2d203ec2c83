// Conversions between the job API's messages (proto/gatehouse/v1/jobs.proto) and the jobs
// library's types, with the validation RFD 0001 section 4 asks of a StartRequest. Pure
// functions.
#ifndef GATEHOUSE_API_JOB_CONVERSION_H_
#define GATEHOUSE_API_JOB_CONVERSION_H_

#include <string>

#include "absl/status/statusor.h"
#include "gatehouse/v1/jobs.pb.h"
#include "jobs/job.h"
#include "jobs/limits.h"

namespace gatehouse::api {

// Bounds of a StartRequest (RFD 0001 section 4).
inline constexpr size_t kMaxCommandBytes = size_t{64} * 1024;  // command and args together
inline constexpr size_t kMaxArgs = 1024;
inline constexpr size_t kMaxEnvBytes = size_t{64} * 1024;  // keys and values together
inline constexpr size_t kMaxEnvEntries = 1024;
inline constexpr size_t kMaxWorkingDirBytes = 4096;

// What a request may ask for: a limit it leaves at 0 takes `defaults`' value (unset there: no
// limit); a limit above `ceiling`'s (when set) is refused.
struct LimitsPolicy {
  jobs::Limits defaults;
  jobs::Limits ceiling;
};

// The spec of a job that `owner` asks to start. InvalidArgument naming the field for: an empty
// command, sizes over the bounds above, NUL bytes, an env key that is empty or holds '=', a
// relative working directory, a negative or NaN limit, or one above the ceiling.
absl::StatusOr<jobs::JobSpec> SpecFromRequest(const v1::StartRequest& request,
                                              const LimitsPolicy& policy, const std::string& owner);

v1::State ToProtoState(jobs::JobState state);
v1::JobStatus ToProto(const jobs::JobStatus& status);

}  // namespace gatehouse::api

#endif  // GATEHOUSE_API_JOB_CONVERSION_H_
