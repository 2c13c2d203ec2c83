#include "jobs/job.h"

namespace gatehouse::jobs {

const char* JobStateName(JobState state) {
  switch (state) {
    case JobState::kStarting:
      return "starting";
    case JobState::kRunning:
      return "running";
    case JobState::kExited:
      return "exited";
    case JobState::kStopped:
      return "stopped";
    case JobState::kOomKilled:
      return "oom_killed";
    case JobState::kFailedToStart:
      return "failed_to_start";
  }
  return "unknown";
}

}  // namespace gatehouse::jobs
