// The job commands of the gatehouse CLI: run, status, logs, stop and ls (RFD 0001, section 6).
//
// Each takes its parsed flags, finds and connects to the job service (see
// gatehouse/job_client.h), prints its result on stdout, or one line on stderr saying what
// failed, and returns the exit code: 0; kExitFailure (1) when the job service refused or failed
// the request; kExitUsage (2) for flag values that do not parse; kExitConnection (3) when the
// service cannot be reached or will not accept us; kExitInterrupted (130) after Ctrl-C;
// `run --follow` also the job's own exit code.
//
// Call one command per process: `run --follow` and `logs` block SIGINT before gRPC starts its
// threads (see gatehouse/interrupt_watcher.h).
#ifndef GATEHOUSE_APPS_GATEHOUSE_JOB_COMMANDS_H_
#define GATEHOUSE_APPS_GATEHOUSE_JOB_COMMANDS_H_

#include <string>
#include <vector>

#include "gatehouse/job_client.h"
#include "gatehouse/job_format.h"

namespace gatehouse::cli {

struct RunFlags {
  LimitFlags limits;
  std::vector<std::string> env;  // KEY=VALUE each
  std::string working_dir;       // empty: the server's default
  bool follow = false;
  std::vector<std::string> command;  // the argv: the executable, then its arguments
};

enum class OutputFormat { kText, kJson };

// Starts the job and prints its id on stderr, or, when it failed to start, "gatehouse: job ID
// failed to start: MESSAGE" (kExitFailure). Without `follow` that is all (0). With it, copies the
// job's output to stdout as it comes until the job has ended, and exits as the job did: see
// ExitCodeOf (gatehouse/job_format.h). Ctrl-C stops following, not the job.
int RunJob(const ConnectionFlags& connection, const RunFlags& flags);

// Prints the job's status as FormatStatusText or FormatStatusJson.
int ShowStatus(const ConnectionFlags& connection, const std::string& job_id, OutputFormat format);

// Copies the job's output, from its first byte, to stdout. The job service always follows a job
// to its end, so on a running job this waits for it to end, as `logs -f` would; Ctrl-C stops
// following.
int ShowLogs(const ConnectionFlags& connection, const std::string& job_id);

// Asks the job service to stop the job (SIGTERM, then SIGKILL after its grace period) and returns
// at once. Prints nothing on success.
int StopJob(const ConnectionFlags& connection, const std::string& job_id);

// Prints the caller's jobs (every job, for the admin role) as FormatJobTable or
// FormatJobListJson.
int ListJobs(const ConnectionFlags& connection, OutputFormat format);

}  // namespace gatehouse::cli

#endif  // GATEHOUSE_APPS_GATEHOUSE_JOB_COMMANDS_H_
