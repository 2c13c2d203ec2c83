// The text forms of the job API in the gatehouse CLI, both ways (RFD 0001, section 6): the flags
// of `gatehouse run` parsed into a StartRequest's limits and environment, and job statuses, job
// lists and failed requests rendered as the lines and JSON the CLI prints.
//
// Pure functions: they print nothing, talk to no server and are thread-safe. Text that a job's
// owner or the server chose (owners, commands, messages) leaves the text forms with its control
// characters escaped, so a job cannot move the cursor or forge lines in the terminal of an admin
// who lists it; the JSON forms escape them as JSON does.
#ifndef GATEHOUSE_APPS_GATEHOUSE_JOB_FORMAT_H_
#define GATEHOUSE_APPS_GATEHOUSE_JOB_FORMAT_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "gatehouse/v1/jobs.pb.h"

namespace gatehouse::cli {

// The limit flags of `run` as typed; an empty string is a flag not given (no limit requested, so
// the server's default applies).
struct LimitFlags {
  std::string cpu;           // cores, a decimal such as "0.5"
  std::string memory;        // a byte size as the config accepts it: "256MiB", "1GB", "1048576"
  std::string io_read_bps;   // a byte size per second
  std::string io_write_bps;  // a byte size per second
  std::string pids;          // a whole number
};

// The limits `flags` ask for, parsed with the config file's value parsers
// (config/value_parsers.h) so that the CLI and the config accept the same forms. InvalidArgument
// naming the flag and quoting the value otherwise, e.g. `--memory: byte size "1XB" has unknown
// unit "XB"`.
absl::StatusOr<v1::Limits> ParseLimits(const LimitFlags& flags);

// The environment that `--env KEY=VALUE` entries give: split at the first '=', so a value may
// hold '=' too; a later entry for the same key replaces an earlier one, as with env(1).
// InvalidArgument naming the entry for one without '=' or with an empty key.
absl::StatusOr<std::map<std::string, std::string>> ParseEnv(
    const std::vector<std::string>& entries);

// `text` with every C0 control character and DEL written `\xNN`, and every C1 control (U+0080 to
// U+009F, two bytes in UTF-8) written `\xc2\xNN`; other bytes, UTF-8 included, pass unchanged.
// The result cannot start a line or a terminal escape sequence.
std::string EscapeControlCharacters(absl::string_view text);

// `arg` as a POSIX shell would need it typed, for display: unchanged when it consists only of
// letters, digits and `@%_+=:,./-`; otherwise in single quotes (a quote inside written `'\''`),
// or, when it holds a control character, in bash's `$'...'` form with `\xNN` escapes, so that it
// still shows on one line. The empty argument is `''`.
std::string ShellQuote(absl::string_view arg);

// An argv for display: each argument shell-quoted, joined by spaces (`/bin/sh -c 'echo hi'`).
std::string FormatCommand(const google::protobuf::RepeatedPtrField<std::string>& argv);

// CPU time for people: under a millisecond in µs ("350us"), under a second in whole milliseconds
// ("12ms"), otherwise in seconds with one decimal ("3.5s").
std::string FormatCpuTime(std::chrono::microseconds cpu_time);

// A byte count for people: under 1024 in bytes ("512B"), otherwise in binary units with one
// decimal ("1.2MiB"), up to TiB.
std::string FormatBytes(uint64_t bytes);

// Whether the job has ended: EXITED, STOPPED, OOM_KILLED or FAILED_TO_START.
bool HasEnded(const v1::JobStatus& status);

// The exit code `run --follow` ends with for an ended job: 128 + signal for a job a signal ended
// (STOPPED ones usually are; OOM_KILLED is 128 + SIGKILL), otherwise the job's own exit code,
// which is also what a STOPPED job that caught SIGTERM and exited gets; kExitFailure (1) for
// FAILED_TO_START. Meaningless before HasEnded(status).
int ExitCodeOf(const v1::JobStatus& status);

// The EXIT column of `ls`: the exit code ("0"), "sig N" for a job a signal ended, or "-" for a
// job that has not ended or never started.
std::string FormatExitColumn(const v1::JobStatus& status);

// `status` as RFD 0001 shows it, each line ending in '\n':
//   state EXITED  exit 0  owner alice  started 2026-11-23 10:02:11  ended 2026-11-23 10:02:11
//   cpu 1ms user 2ms system  memory peak 1.2MiB  io 0B read 0B written
// "exit N" becomes "signal N" for a job a signal ended. A job that has not ended, or never
// started, has neither, and no usage line (the server reads usage when a job ends); one still
// running has no "ended" either. A non-empty message adds a line "message <text>". Times are UTC.
std::string FormatStatusText(const v1::JobStatus& status);

// `ls`: a header and one row per job, columns ID, OWNER, STATE, EXIT, STARTED (UTC,
// "YYYY-MM-DD HH:MM:SS") and COMMAND (see FormatCommand), each padded to its widest cell plus two
// spaces, the last not padded. Each line ends in '\n'.
std::string FormatJobTable(const google::protobuf::RepeatedPtrField<v1::JobStatus>& jobs);

// `status --json`: one object with job_id, owner, command (an array), state (the enum's name,
// e.g. "EXITED"), exit_code, signal (both as the server reports them; 0 unless the job ended
// that way), started_at and ended_at (RFC 3339 in UTC, "2026-11-23T10:02:11.5Z"; null while
// unknown or, for ended_at, while the job runs), usage {cpu_user_usec, cpu_system_usec,
// memory_peak_bytes, io_read_bytes, io_write_bytes} and message. Bytes that are not UTF-8 become
// U+FFFD. Ends in '\n'.
std::string FormatStatusJson(const v1::JobStatus& status);

// `ls --json`: an array of the objects FormatStatusJson writes. Ends in '\n'.
std::string FormatJobListJson(const google::protobuf::RepeatedPtrField<v1::JobStatus>& jobs);

// What a failed request was about, for the line that reports it.
struct RequestScope {
  absl::string_view server;  // HOST:PORT of the job service
  absl::string_view job_id;  // empty for requests about no one job (run, ls)
  std::chrono::seconds deadline;
};

// What the CLI prints (one line, without the newline) and exits with when a request failed.
struct FailureReport {
  std::string line;
  int exit_code;
};

// The report for a request the job service failed with `status` (a gRPC status carried in an
// absl::Status; the codes are the same). Every line starts "gatehouse: " and names no gRPC
// status code:
//   UNAVAILABLE        "cannot reach the job service at HOST:PORT: <message> (is the daemon
//                      running, and do --ca/--cert/--key belong to it?)", kExitConnection; TLS
//                      handshake failures come as UNAVAILABLE too
//   DEADLINE_EXCEEDED  "no answer from the job service at HOST:PORT within N s", kExitConnection
//   UNAUTHENTICATED    "the job service at HOST:PORT did not accept the client certificate:
//                      <message>", kExitConnection
//   NOT_FOUND          "job ID not found", kExitFailure
//   PERMISSION_DENIED  "permission denied: <message>", kExitFailure
//   anything else      "<message>", kExitFailure
FailureReport DescribeFailure(const absl::Status& status, const RequestScope& scope);

// The report for an output stream that ended with `status`, not OK. Once output has arrived, a
// stream that the connection dropped or the server cancelled (UNAVAILABLE, CANCELLED: the daemon
// stopped or restarted) "broke": "gatehouse: the output stream of job ID broke: <message>",
// kExitConnection. Otherwise as DescribeFailure.
FailureReport DescribeStreamFailure(const absl::Status& status, const RequestScope& scope,
                                    bool received_output);

}  // namespace gatehouse::cli

#endif  // GATEHOUSE_APPS_GATEHOUSE_JOB_FORMAT_H_
