// JobSpec, JobState and JobStatus: what a job is asked to run, and what became of it.
#ifndef GATEHOUSE_JOBS_JOB_H_
#define GATEHOUSE_JOBS_JOB_H_

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "jobs/limits.h"
#include "jobs/usage.h"

namespace gatehouse::jobs {

using JobId = std::string;  // a UUID v4, e.g. "3f0c9a9e-...", from a CSPRNG

struct JobSpec {
  std::string executable;  // a path, or a name looked up in the PATH of `env`
  std::vector<std::string> args;
  // Explicit and minimal: nothing of the worker's environment is passed on.
  std::vector<std::string> env = {"PATH=/usr/local/bin:/usr/bin:/bin"};
  std::string working_dir = "/";
  Limits limits;
  std::string owner;  // recorded for the API's authorization; the library does not check it
  // Both or neither: unset, the runner's default_uid/default_gid. Whoever the job runs as, it
  // has no capability (an explicit 0 is root without any).
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
};

enum class JobState { kStarting, kRunning, kExited, kStopped, kOomKilled, kFailedToStart };

const char* JobStateName(JobState state);
inline bool IsFinal(JobState state) {
  return state != JobState::kStarting && state != JobState::kRunning;
}

struct JobStatus {
  JobId id;
  std::string owner;
  std::string command;            // executable and args joined by spaces, for listings
  std::vector<std::string> argv;  // executable and args as given
  JobState state = JobState::kStarting;
  std::optional<int> exit_code;  // when the job's process exited
  std::optional<int> signal;     // when a signal ended it
  std::string error;             // kFailedToStart: why, e.g. "exec /x: No such file or directory"
  std::chrono::system_clock::time_point started_at;
  std::optional<std::chrono::system_clock::time_point> ended_at;
  ResourceUsage usage;  // read from the cgroup when the job ended
};

}  // namespace gatehouse::jobs

#endif  // GATEHOUSE_JOBS_JOB_H_
