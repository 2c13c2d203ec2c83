// NewJobId: a random UUID v4 (RFC 9562) from OpenSSL's CSPRNG, so ids cannot be guessed.
#ifndef GATEHOUSE_JOBS_JOB_ID_H_
#define GATEHOUSE_JOBS_JOB_ID_H_

#include "absl/status/statusor.h"
#include "jobs/job.h"

namespace gatehouse::jobs {

// Internal when the CSPRNG fails (it then has no entropy to give).
absl::StatusOr<JobId> NewJobId();

// Whether `text` has the form NewJobId makes (lowercase, hyphenated, version 4).
bool IsJobId(absl::string_view text);

}  // namespace gatehouse::jobs

#endif  // GATEHOUSE_JOBS_JOB_ID_H_
