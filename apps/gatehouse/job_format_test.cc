#include "gatehouse/job_format.h"

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gatehouse/exit_codes.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "testing/status_matchers.h"

namespace gatehouse::cli {
namespace {

using ::gatehouse::testing::IsOk;
using ::gatehouse::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

// 2026-11-23 10:02:11 UTC, the time in RFD 0001's examples.
constexpr int64_t kRfdStartSeconds = 1795428131;

v1::JobStatus RfdJob() {
  v1::JobStatus job;
  job.set_job_id("7c9e6679-7425-40de-944b-e07fc1f90ae7");
  job.set_owner("alice");
  job.add_command("/bin/sh");
  job.add_command("-c");
  job.add_command("echo hi");
  job.set_state(v1::EXITED);
  job.set_exit_code(0);
  job.mutable_start_time()->set_seconds(kRfdStartSeconds);
  job.mutable_end_time()->set_seconds(kRfdStartSeconds);
  job.mutable_usage()->set_cpu_user_usec(1000);
  job.mutable_usage()->set_cpu_system_usec(2000);
  job.mutable_usage()->set_memory_peak_bytes(1258291);  // 1.2 MiB
  return job;
}

v1::JobStatus RunningJob() {
  v1::JobStatus job = RfdJob();
  job.set_state(v1::RUNNING);
  job.clear_end_time();
  job.clear_usage();
  return job;
}

v1::JobStatus EndedBySignal(v1::State state, int signal) {
  v1::JobStatus job = RfdJob();
  job.set_state(state);
  job.set_signal(signal);
  return job;
}

v1::JobStatus ExitedWith(int exit_code) {
  v1::JobStatus job = RfdJob();
  job.set_exit_code(exit_code);
  return job;
}

v1::JobStatus FailedToStart() {
  v1::JobStatus job = RfdJob();
  job.set_state(v1::FAILED_TO_START);
  job.clear_usage();
  job.set_message(R"(execve "/bin/nope": No such file or directory)");
  return job;
}

TEST(ShellQuoteTest, QuotesOnlyWhatAShellWouldSplitOrExpand) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"/bin/sh", "/bin/sh"},
      {"-c", "-c"},
      {"KEY=a,b:c@d%e+f", "KEY=a,b:c@d%e+f"},
      {"echo hi", "'echo hi'"},
      {"", "''"},
      {"it's", R"('it'\''s')"},
      {R"(say "hi")", R"('say "hi"')"},
      {"$HOME", "'$HOME'"},
      {"a;b", "'a;b'"},
      {"*.txt", "'*.txt'"},
      {"zoë", "'zoë'"},
      {"line\nbreak", R"($'line\x0abreak')"},
      {"\x1b[2J it's", R"($'\x1b[2J it\'s')"},
      {"back\\slash\t", R"($'back\\slash\x09')"},
      {"c1 \xc2\x9b", R"($'c1 \xc2\x9b')"},
  };
  for (const auto& [arg, quoted] : cases) {
    SCOPED_TRACE(arg);
    EXPECT_EQ(ShellQuote(arg), quoted);
  }
}

TEST(FormatCommandTest, JoinsQuotedArgumentsWithSpaces) {
  EXPECT_EQ(FormatCommand(RfdJob().command()), "/bin/sh -c 'echo hi'");
}

TEST(EscapeControlCharactersTest, EscapesC0DelAndC1ButKeepsUtf8) {
  EXPECT_EQ(EscapeControlCharacters("plain zoë"), "plain zoë");
  EXPECT_EQ(EscapeControlCharacters("a\nb\x1b[31m\x7f"), R"(a\x0ab\x1b[31m\x7f)");
  EXPECT_EQ(EscapeControlCharacters("csi \xc2\x9b end \xc2\xa0"), "csi \\xc2\\x9b end \xc2\xa0");
  EXPECT_EQ(EscapeControlCharacters(std::string("nul\0", 4)), R"(nul\x00)");
}

TEST(ExitColumnTest, ShowsExitCodeSignalOrDash) {
  EXPECT_EQ(FormatExitColumn(ExitedWith(0)), "0");
  EXPECT_EQ(FormatExitColumn(ExitedWith(42)), "42");
  EXPECT_EQ(FormatExitColumn(EndedBySignal(v1::STOPPED, 15)), "sig 15");
  EXPECT_EQ(FormatExitColumn(EndedBySignal(v1::EXITED, 11)), "sig 11");
  EXPECT_EQ(FormatExitColumn(EndedBySignal(v1::OOM_KILLED, 9)), "sig 9");
  EXPECT_EQ(FormatExitColumn(RunningJob()), "-");
  EXPECT_EQ(FormatExitColumn(FailedToStart()), "-");
}

TEST(ExitCodeOfTest, MapsEndedJobsAsAShellWould) {
  EXPECT_EQ(ExitCodeOf(ExitedWith(0)), 0);
  EXPECT_EQ(ExitCodeOf(ExitedWith(3)), 3);
  EXPECT_EQ(ExitCodeOf(EndedBySignal(v1::STOPPED, 15)), 128 + 15);
  EXPECT_EQ(ExitCodeOf(EndedBySignal(v1::STOPPED, 9)), 128 + 9);
  EXPECT_EQ(ExitCodeOf(EndedBySignal(v1::EXITED, 11)), 128 + 11);
  EXPECT_EQ(ExitCodeOf(EndedBySignal(v1::OOM_KILLED, 9)), 128 + 9);
  EXPECT_EQ(ExitCodeOf(EndedBySignal(v1::OOM_KILLED, 0)), 128 + 9);
  EXPECT_EQ(ExitCodeOf(FailedToStart()), kExitFailure);

  v1::JobStatus caught_sigterm = ExitedWith(0);
  caught_sigterm.set_state(v1::STOPPED);
  EXPECT_EQ(ExitCodeOf(caught_sigterm), 0);
}

TEST(HasEndedTest, OnlyFinalStates) {
  EXPECT_TRUE(HasEnded(ExitedWith(0)));
  EXPECT_TRUE(HasEnded(FailedToStart()));
  EXPECT_TRUE(HasEnded(EndedBySignal(v1::STOPPED, 15)));
  EXPECT_TRUE(HasEnded(EndedBySignal(v1::OOM_KILLED, 9)));
  EXPECT_FALSE(HasEnded(RunningJob()));
  v1::JobStatus starting = RunningJob();
  starting.set_state(v1::STARTING);
  EXPECT_FALSE(HasEnded(starting));
}

TEST(ParseLimitsTest, UnsetFlagsRequestNoLimit) {
  const absl::StatusOr<v1::Limits> limits = ParseLimits(LimitFlags{});
  ASSERT_THAT(limits, IsOk());
  EXPECT_EQ(limits->cpu(), 0);
  EXPECT_EQ(limits->memory_bytes(), 0);
  EXPECT_EQ(limits->io_read_bps(), 0);
  EXPECT_EQ(limits->io_write_bps(), 0);
  EXPECT_EQ(limits->pids(), 0);
}

TEST(ParseLimitsTest, AcceptsTheConfigFileForms) {
  const LimitFlags flags{
      .cpu = "0.5", .memory = "256MiB", .io_read_bps = "1GB", .io_write_bps = "4096", .pids = "64"};
  const absl::StatusOr<v1::Limits> limits = ParseLimits(flags);
  ASSERT_THAT(limits, IsOk());
  EXPECT_EQ(limits->cpu(), 0.5);
  EXPECT_EQ(limits->memory_bytes(), uint64_t{256} << 20);
  EXPECT_EQ(limits->io_read_bps(), 1'000'000'000U);
  EXPECT_EQ(limits->io_write_bps(), 4096U);
  EXPECT_EQ(limits->pids(), 64U);
}

struct BadLimit {
  std::string LimitFlags::*flag;
  std::string value;
  std::string error;
};

TEST(ParseLimitsTest, RejectsBadValuesNamingTheFlag) {
  const std::vector<BadLimit> cases = {
      {&LimitFlags::cpu, "-1", "--cpu: "},
      {&LimitFlags::cpu, "half", "--cpu: "},
      {&LimitFlags::memory, "256mb", R"(--memory: byte size "256mb" has unknown unit)"},
      {&LimitFlags::memory, "1.5GiB", "--memory: "},
      {&LimitFlags::io_read_bps, "fast", "--io-read-bps: "},
      {&LimitFlags::io_write_bps, "99999999999999999999", "--io-write-bps: "},
      {&LimitFlags::pids, "4294967296", "--pids: expected a whole number from 0 to 4294967295"},
      {&LimitFlags::pids, "-3", "--pids: "},
  };
  for (const BadLimit& c : cases) {
    SCOPED_TRACE(c.value);
    LimitFlags flags;
    flags.*c.flag = c.value;
    EXPECT_THAT(ParseLimits(flags),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.error)));
  }
}

TEST(ParseEnvTest, SplitsAtTheFirstEqualsAndLaterEntriesWin) {
  const absl::StatusOr<std::map<std::string, std::string>> env =
      ParseEnv({"A=1", "EMPTY=", "URL=http://x/?a=b", "A=2"});
  ASSERT_THAT(env, IsOk());
  EXPECT_THAT(*env, ElementsAre(Pair("A", "2"), Pair("EMPTY", ""), Pair("URL", "http://x/?a=b")));
}

TEST(ParseEnvTest, RejectsEntriesWithoutKeyOrEquals) {
  EXPECT_THAT(ParseEnv({"A=1", "NOVALUE"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr(R"(--env "NOVALUE": expected KEY=VALUE)")));
  EXPECT_THAT(ParseEnv({"=1"}), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("=1")));
  EXPECT_THAT(ParseEnv({}), IsOk());
}

TEST(FormatUnitsTest, CpuTimeAndBytes) {
  EXPECT_EQ(FormatCpuTime(std::chrono::microseconds(0)), "0us");
  EXPECT_EQ(FormatCpuTime(std::chrono::microseconds(999)), "999us");
  EXPECT_EQ(FormatCpuTime(std::chrono::microseconds(1000)), "1ms");
  EXPECT_EQ(FormatCpuTime(std::chrono::microseconds(999'999)), "999ms");
  EXPECT_EQ(FormatCpuTime(std::chrono::microseconds(3'500'000)), "3.5s");
  EXPECT_EQ(FormatBytes(0), "0B");
  EXPECT_EQ(FormatBytes(1023), "1023B");
  EXPECT_EQ(FormatBytes(1024), "1.0KiB");
  EXPECT_EQ(FormatBytes(1258291), "1.2MiB");
  EXPECT_EQ(FormatBytes(uint64_t{3} << 30), "3.0GiB");
  EXPECT_EQ(FormatBytes(uint64_t{2048} << 40), "2048.0TiB");
}

TEST(FormatStatusTextTest, MatchesTheRfdExample) {
  EXPECT_EQ(FormatStatusText(RfdJob()),
            "state EXITED  exit 0  owner alice  started 2026-11-23 10:02:11  ended 2026-11-23 "
            "10:02:11\n"
            "cpu 1ms user 2ms system  memory peak 1.2MiB  io 0B read 0B written\n");
}

TEST(FormatStatusTextTest, ShowsSignalInsteadOfExit) {
  EXPECT_THAT(FormatStatusText(EndedBySignal(v1::STOPPED, 15)),
              HasSubstr("state STOPPED  signal 15  owner alice"));
}

TEST(FormatStatusTextTest, RunningJobHasNoExitEndOrUsage) {
  EXPECT_EQ(FormatStatusText(RunningJob()),
            "state RUNNING  owner alice  started 2026-11-23 10:02:11\n");
}

TEST(FormatStatusTextTest, AddsTheMessageEscaped) {
  EXPECT_EQ(FormatStatusText(FailedToStart()),
            "state FAILED_TO_START  owner alice  started 2026-11-23 10:02:11  ended 2026-11-23 "
            "10:02:11\n"
            "message execve \"/bin/nope\": No such file or directory\n");
  v1::JobStatus job = RfdJob();
  job.set_message("output truncated\n\x1b[2J");
  EXPECT_THAT(FormatStatusText(job), HasSubstr("message output truncated\\x0a\\x1b[2J\n"));
}

TEST(FormatJobTableTest, MatchesTheRfdExample) {
  google::protobuf::RepeatedPtrField<v1::JobStatus> jobs;
  *jobs.Add() = RfdJob();
  EXPECT_EQ(FormatJobTable(jobs),
            "ID                                    OWNER  STATE   EXIT  STARTED              "
            "COMMAND\n"
            "7c9e6679-7425-40de-944b-e07fc1f90ae7  alice  EXITED  0     2026-11-23 10:02:11  "
            "/bin/sh -c 'echo hi'\n");
}

TEST(FormatJobTableTest, PadsColumnsToTheWidestCellCountingCodePoints) {
  google::protobuf::RepeatedPtrField<v1::JobStatus> jobs;
  v1::JobStatus running = RunningJob();
  running.set_job_id("j1");
  running.set_owner("zoë");
  *jobs.Add() = running;
  v1::JobStatus stopped = EndedBySignal(v1::STOPPED, 15);
  stopped.set_job_id("j2");
  stopped.set_owner("bob");
  stopped.clear_command();
  stopped.add_command("sleep");
  stopped.add_command("100");
  *jobs.Add() = stopped;
  EXPECT_EQ(FormatJobTable(jobs),
            "ID  OWNER  STATE    EXIT    STARTED              COMMAND\n"
            "j1  zoë    RUNNING  -       2026-11-23 10:02:11  /bin/sh -c 'echo hi'\n"
            "j2  bob    STOPPED  sig 15  2026-11-23 10:02:11  sleep 100\n");
}

TEST(FormatJobTableTest, NoJobsIsTheHeaderAlone) {
  EXPECT_EQ(FormatJobTable({}), "ID  OWNER  STATE  EXIT  STARTED  COMMAND\n");
}

TEST(FormatStatusJsonTest, HasEveryField) {
  const nlohmann::json json = nlohmann::json::parse(FormatStatusJson(RfdJob()));
  EXPECT_EQ(json["job_id"], "7c9e6679-7425-40de-944b-e07fc1f90ae7");
  EXPECT_EQ(json["owner"], "alice");
  EXPECT_EQ(json["command"], nlohmann::json::array({"/bin/sh", "-c", "echo hi"}));
  EXPECT_EQ(json["state"], "EXITED");
  EXPECT_EQ(json["exit_code"], 0);
  EXPECT_EQ(json["signal"], 0);
  EXPECT_EQ(json["started_at"], "2026-11-23T10:02:11Z");
  EXPECT_EQ(json["ended_at"], "2026-11-23T10:02:11Z");
  EXPECT_EQ(json["usage"], nlohmann::json::parse(R"({"cpu_user_usec": 1000,
      "cpu_system_usec": 2000, "memory_peak_bytes": 1258291, "io_read_bytes": 0,
      "io_write_bytes": 0})"));
  EXPECT_EQ(json["message"], "");
  EXPECT_EQ(json.size(), 10U);
}

TEST(FormatStatusJsonTest, RunningJobHasNullEndAndFractionalStart) {
  v1::JobStatus job = RunningJob();
  job.mutable_start_time()->set_nanos(500'000'000);
  const nlohmann::json json = nlohmann::json::parse(FormatStatusJson(job));
  EXPECT_EQ(json["state"], "RUNNING");
  EXPECT_EQ(json["started_at"], "2026-11-23T10:02:11.5Z");
  EXPECT_TRUE(json["ended_at"].is_null());
}

TEST(FormatStatusJsonTest, SignalAndBytesThatAreNotUtf8) {
  v1::JobStatus job = EndedBySignal(v1::OOM_KILLED, 9);
  job.add_command("\xff");
  const nlohmann::json json = nlohmann::json::parse(FormatStatusJson(job));
  EXPECT_EQ(json["state"], "OOM_KILLED");
  EXPECT_EQ(json["signal"], 9);
  EXPECT_EQ(json["command"].back(), "\xef\xbf\xbd");  // U+FFFD
}

TEST(FormatJobListJsonTest, IsAnArrayOfStatusObjects) {
  google::protobuf::RepeatedPtrField<v1::JobStatus> jobs;
  *jobs.Add() = RfdJob();
  *jobs.Add() = RunningJob();
  const nlohmann::json json = nlohmann::json::parse(FormatJobListJson(jobs));
  ASSERT_TRUE(json.is_array());
  ASSERT_EQ(json.size(), 2U);
  EXPECT_EQ(json[0], nlohmann::json::parse(FormatStatusJson(RfdJob())));
  EXPECT_EQ(json[1]["state"], "RUNNING");
  EXPECT_EQ(nlohmann::json::parse(FormatJobListJson({})), nlohmann::json::array());
}

struct FailureCase {
  absl::Status status;
  std::string job_id;
  std::string line;
  int exit_code;
};

TEST(DescribeFailureTest, OneLinePerCodeWithoutGrpcJargon) {
  const std::vector<FailureCase> cases = {
      {absl::UnavailableError("failed to connect to all addresses; last error: UNKNOWN: "
                              "ipv4:127.0.0.1:7443: Failed to connect to remote host: "
                              "Connection refused"),
       "",
       "gatehouse: cannot reach the job service at 127.0.0.1:7443: connection refused (is the "
       "daemon running, and do --ca/--cert/--key belong to it?)",
       kExitConnection},
      {absl::UnavailableError("failed to connect to all addresses; last error: UNKNOWN: "
                              "ipv4:127.0.0.1:7443: Ssl handshake failed: SSL_ERROR_SSL"),
       "",
       "gatehouse: cannot reach the job service at 127.0.0.1:7443: the TLS handshake failed (is "
       "the daemon running, and do --ca/--cert/--key belong to it?)",
       kExitConnection},
      {absl::UnavailableError("failed to connect to all addresses"), "",
       "gatehouse: cannot reach the job service at 127.0.0.1:7443: could not connect (is the "
       "daemon running, and do --ca/--cert/--key belong to it?)",
       kExitConnection},
      {absl::DeadlineExceededError("Deadline Exceeded"), "j1",
       "gatehouse: no answer from the job service at 127.0.0.1:7443 within 10 s", kExitConnection},
      {absl::UnauthenticatedError("no identity"), "",
       "gatehouse: the job service at 127.0.0.1:7443 did not accept the client certificate: no "
       "identity",
       kExitConnection},
      {absl::NotFoundError("job not found"), "6fa459ea", "gatehouse: job 6fa459ea not found",
       kExitFailure},
      {absl::PermissionDeniedError("access denied"), "",
       "gatehouse: permission denied: access denied", kExitFailure},
      {absl::InvalidArgumentError("command is empty"), "", "gatehouse: command is empty",
       kExitFailure},
      {absl::ResourceExhaustedError("too many jobs (256)"), "", "gatehouse: too many jobs (256)",
       kExitFailure},
      {absl::FailedPreconditionError("job has ended"), "j1", "gatehouse: job has ended",
       kExitFailure},
      {absl::InternalError("multi\nline"), "", R"(gatehouse: multi\x0aline)", kExitFailure},
      {absl::InternalError(""), "", "gatehouse: the request failed without a message (INTERNAL)",
       kExitFailure},
  };
  for (const FailureCase& c : cases) {
    SCOPED_TRACE(c.status.ToString());
    const FailureReport report = DescribeFailure(
        c.status,
        {.server = "127.0.0.1:7443", .job_id = c.job_id, .deadline = std::chrono::seconds(10)});
    EXPECT_EQ(report.line, c.line);
    EXPECT_EQ(report.exit_code, c.exit_code);
  }
}

TEST(DescribeStreamFailureTest, ABrokenStreamIsOneThatHadStarted) {
  const RequestScope scope{
      .server = "127.0.0.1:7443", .job_id = "j1", .deadline = std::chrono::seconds(10)};
  for (const absl::Status& lost :
       {absl::UnavailableError("Socket closed"), absl::CancelledError("Cancelled")}) {
    SCOPED_TRACE(lost.ToString());
    const FailureReport broke = DescribeStreamFailure(lost, scope, /*received_output=*/true);
    EXPECT_EQ(broke.line, lost.code() == absl::StatusCode::kCancelled
                              ? "gatehouse: the output stream of job j1 broke: Cancelled"
                              : "gatehouse: the output stream of job j1 broke: the connection "
                                "was closed");
    EXPECT_EQ(broke.exit_code, kExitConnection);
  }
  const FailureReport unreachable = DescribeStreamFailure(absl::UnavailableError("refused"), scope,
                                                          /*received_output=*/false);
  EXPECT_THAT(unreachable.line, HasSubstr("cannot reach the job service"));
  EXPECT_EQ(unreachable.exit_code, kExitConnection);
  const FailureReport not_found =
      DescribeStreamFailure(absl::NotFoundError("x"), scope, /*received_output=*/true);
  EXPECT_EQ(not_found.line, "gatehouse: job j1 not found");
  EXPECT_EQ(not_found.exit_code, kExitFailure);
}

}  // namespace
}  // namespace gatehouse::cli
