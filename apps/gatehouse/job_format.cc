#include "gatehouse/job_format.h"

#include <algorithm>
#include <array>
#include <csignal>
#include <cstddef>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "base/status_macros.h"
#include "config/value_parsers.h"
#include "gatehouse/exit_codes.h"
#include "nlohmann/json.hpp"

namespace gatehouse::cli {
namespace {

// How a shell reports a process that a signal ended.
constexpr int kSignalExitBase = 128;

// Width of the gap between two columns of the `ls` table.
constexpr size_t kColumnGap = 2;

// The length of the control character that starts at `text[i]`: 1 for C0 and DEL, 2 for a C1
// control in UTF-8 (0xc2 0x80 to 0xc2 0x9f), which some terminals obey as ESC sequences would be;
// 0 when none starts there.
size_t ControlCharacterLength(absl::string_view text, size_t i) {
  const auto byte = static_cast<unsigned char>(text[i]);
  if (byte < 0x20 || byte == 0x7f) return 1;
  if (byte == 0xc2 && i + 1 < text.size()) {
    const auto next = static_cast<unsigned char>(text[i + 1]);
    if (next >= 0x80 && next <= 0x9f) return 2;
  }
  return 0;
}

void AppendHexEscapes(absl::string_view bytes, std::string* out) {
  for (const char c : bytes) {
    absl::StrAppend(out, "\\x", absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
  }
}

bool HasControlCharacter(absl::string_view text) {
  for (size_t i = 0; i < text.size(); ++i) {
    if (ControlCharacterLength(text, i) > 0) return true;
  }
  return false;
}

bool IsShellSafe(char c) {
  constexpr absl::string_view kSafePunctuation = "@%_+=:,./-";
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         kSafePunctuation.find(c) != absl::string_view::npos;
}

// bash's ANSI-C quoting: the only form in which a shell reads a control character back from
// printable text.
std::string AnsiCQuote(absl::string_view arg) {
  std::string quoted = "$'";
  for (size_t i = 0; i < arg.size();) {
    if (const size_t length = ControlCharacterLength(arg, i); length > 0) {
      AppendHexEscapes(arg.substr(i, length), &quoted);
      i += length;
      continue;
    }
    if (arg[i] == '\'' || arg[i] == '\\') quoted.push_back('\\');
    quoted.push_back(arg[i]);
    ++i;
  }
  quoted.push_back('\'');
  return quoted;
}

// Columns are counted in code points, so that a UTF-8 owner name does not shift the columns to
// its right; UTF-8 continuation bytes (0b10xxxxxx) start none.
size_t DisplayWidth(absl::string_view text) {
  size_t width = 0;
  for (const char c : text) {
    if ((static_cast<unsigned char>(c) & 0xc0) != 0x80) ++width;
  }
  return width;
}

// The enum's name ("EXITED"); the number for a state this CLI is too old to know.
std::string StateName(v1::State state) {
  const std::string& name = v1::State_Name(state);
  return name.empty() ? absl::StrCat("STATE_", static_cast<int>(state)) : name;
}

// An ended job that ran, so its exit code, signal and usage mean something.
bool HasOutcome(const v1::JobStatus& status) {
  return HasEnded(status) && status.state() != v1::FAILED_TO_START;
}

absl::Time ToTime(const google::protobuf::Timestamp& timestamp) {
  return absl::FromUnixSeconds(timestamp.seconds()) + absl::Nanoseconds(timestamp.nanos());
}

std::string FormatTableTime(const google::protobuf::Timestamp& timestamp) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", ToTime(timestamp), absl::UTCTimeZone());
}

nlohmann::ordered_json Rfc3339OrNull(bool is_set, const google::protobuf::Timestamp& timestamp) {
  if (!is_set) return nullptr;
  // %E*S: seconds with as many fractional digits as needed, none for a whole second.
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", ToTime(timestamp), absl::UTCTimeZone());
}

nlohmann::ordered_json StatusObject(const v1::JobStatus& status) {
  nlohmann::ordered_json object;
  object["job_id"] = status.job_id();
  object["owner"] = status.owner();
  object["command"] = nlohmann::ordered_json::array();
  for (const std::string& arg : status.command()) object["command"].push_back(arg);
  object["state"] = StateName(status.state());
  object["exit_code"] = status.exit_code();
  object["signal"] = status.signal();
  object["started_at"] = Rfc3339OrNull(status.has_start_time(), status.start_time());
  object["ended_at"] = Rfc3339OrNull(status.has_end_time(), status.end_time());
  const v1::Usage& usage = status.usage();
  object["usage"] = {{"cpu_user_usec", usage.cpu_user_usec()},
                     {"cpu_system_usec", usage.cpu_system_usec()},
                     {"memory_peak_bytes", usage.memory_peak_bytes()},
                     {"io_read_bytes", usage.io_read_bytes()},
                     {"io_write_bytes", usage.io_write_bytes()}};
  object["message"] = status.message();
  return object;
}

std::string DumpJson(const nlohmann::ordered_json& json) {
  // Commands and messages are bytes, not necessarily UTF-8; the default handler would throw.
  return json.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

absl::Status FlagError(absl::string_view flag, const absl::Status& status) {
  return absl::InvalidArgumentError(absl::StrCat(flag, ": ", status.message()));
}

absl::StatusOr<uint64_t> ParseByteSizeFlag(absl::string_view flag, const std::string& text) {
  if (text.empty()) return 0;
  absl::StatusOr<uint64_t> bytes = config::ParseByteSize(text);
  if (!bytes.ok()) return FlagError(flag, bytes.status());
  return bytes;
}

std::string MessageOf(const absl::Status& status) {
  if (status.message().empty()) {
    return absl::StrCat("the request failed without a message (",
                        absl::StatusCodeToString(status.code()), ")");
  }
  return EscapeControlCharacters(status.message());
}

// gRPC's own words for a lost or failed connection ("failed to connect to all addresses; last
// error: UNKNOWN: ipv4:127.0.0.1:7443: Failed to connect to remote host: Connection refused"),
// said plainly; anything else as it came.
std::string ConnectionReason(const absl::Status& status) {
  const absl::string_view message = status.message();
  if (absl::StrContains(message, "Connection refused")) return "connection refused";
  if (absl::StrContains(message, "Connection reset")) return "the connection was reset";
  if (absl::StrContains(message, "Socket closed") || absl::StrContains(message, "GOAWAY")) {
    return "the connection was closed";
  }
  if (absl::StrContains(message, "Handshake") || absl::StrContains(message, "handshake") ||
      absl::StrContains(message, "SSL")) {
    return "the TLS handshake failed";
  }
  if (absl::StrContains(message, "failed to connect to all addresses")) {
    return "could not connect";
  }
  return MessageOf(status);
}

}  // namespace

absl::StatusOr<v1::Limits> ParseLimits(const LimitFlags& flags) {
  v1::Limits limits;
  if (!flags.cpu.empty()) {
    absl::StatusOr<double> cpu = config::ParseDecimal(flags.cpu);
    if (!cpu.ok()) return FlagError("--cpu", cpu.status());
    limits.set_cpu(*cpu);
  }
  GH_ASSIGN_OR_RETURN(const uint64_t memory_bytes, ParseByteSizeFlag("--memory", flags.memory));
  limits.set_memory_bytes(memory_bytes);
  GH_ASSIGN_OR_RETURN(const uint64_t read_bps,
                      ParseByteSizeFlag("--io-read-bps", flags.io_read_bps));
  limits.set_io_read_bps(read_bps);
  GH_ASSIGN_OR_RETURN(const uint64_t write_bps,
                      ParseByteSizeFlag("--io-write-bps", flags.io_write_bps));
  limits.set_io_write_bps(write_bps);
  if (!flags.pids.empty()) {
    absl::StatusOr<uint64_t> pids =
        config::ParseCount(flags.pids, std::numeric_limits<uint32_t>::max());
    if (!pids.ok()) return FlagError("--pids", pids.status());
    limits.set_pids(static_cast<uint32_t>(*pids));
  }
  return limits;
}

absl::StatusOr<std::map<std::string, std::string>> ParseEnv(
    const std::vector<std::string>& entries) {
  std::map<std::string, std::string> env;
  for (const std::string& entry : entries) {
    const size_t equals = entry.find('=');
    if (equals == std::string::npos || equals == 0) {
      return absl::InvalidArgumentError(absl::StrCat("--env \"", EscapeControlCharacters(entry),
                                                     "\": expected KEY=VALUE with a KEY"));
    }
    env[entry.substr(0, equals)] = entry.substr(equals + 1);
  }
  return env;
}

std::string EscapeControlCharacters(absl::string_view text) {
  std::string escaped;
  escaped.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    if (const size_t length = ControlCharacterLength(text, i); length > 0) {
      AppendHexEscapes(text.substr(i, length), &escaped);
      i += length;
      continue;
    }
    escaped.push_back(text[i]);
    ++i;
  }
  return escaped;
}

std::string ShellQuote(absl::string_view arg) {
  if (arg.empty()) return "''";
  if (std::all_of(arg.begin(), arg.end(), IsShellSafe)) return static_cast<std::string>(arg);
  if (HasControlCharacter(arg)) return AnsiCQuote(arg);
  return absl::StrCat("'", absl::StrReplaceAll(arg, {{"'", "'\\''"}}), "'");
}

std::string FormatCommand(const google::protobuf::RepeatedPtrField<std::string>& argv) {
  return absl::StrJoin(
      argv, " ", [](std::string* out, const std::string& arg) { out->append(ShellQuote(arg)); });
}

std::string FormatCpuTime(std::chrono::microseconds cpu_time) {
  constexpr int64_t kMicrosPerMilli = 1000;
  constexpr int64_t kMicrosPerSecond = 1000 * kMicrosPerMilli;
  const int64_t micros = cpu_time.count();
  if (micros < kMicrosPerMilli) return absl::StrCat(micros, "us");
  if (micros < kMicrosPerSecond) return absl::StrCat(micros / kMicrosPerMilli, "ms");
  return absl::StrFormat("%.1fs", static_cast<double>(micros) / kMicrosPerSecond);
}

std::string FormatBytes(uint64_t bytes) {
  constexpr uint64_t kUnitStep = 1024;
  if (bytes < kUnitStep) return absl::StrCat(bytes, "B");
  constexpr std::array<absl::string_view, 4> kUnits = {"KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes) / kUnitStep;
  size_t unit = 0;
  while (value >= kUnitStep && unit + 1 < kUnits.size()) {
    value /= kUnitStep;
    ++unit;
  }
  return absl::StrFormat("%.1f%s", value, kUnits[unit]);
}

bool HasEnded(const v1::JobStatus& status) {
  switch (status.state()) {
    case v1::EXITED:
    case v1::STOPPED:
    case v1::OOM_KILLED:
    case v1::FAILED_TO_START:
      return true;
    default:
      return false;
  }
}

int ExitCodeOf(const v1::JobStatus& status) {
  if (status.state() == v1::FAILED_TO_START) return kExitFailure;
  // The server reports the SIGKILL too, but say it here rather than rely on it.
  if (status.state() == v1::OOM_KILLED) return kSignalExitBase + SIGKILL;
  if (status.signal() > 0) return kSignalExitBase + status.signal();
  return status.exit_code();
}

std::string FormatExitColumn(const v1::JobStatus& status) {
  if (!HasOutcome(status)) return "-";
  if (status.signal() > 0) return absl::StrCat("sig ", status.signal());
  return absl::StrCat(status.exit_code());
}

std::string FormatStatusText(const v1::JobStatus& status) {
  std::string text = absl::StrCat("state ", StateName(status.state()));
  if (HasOutcome(status)) {
    if (status.signal() > 0) {
      absl::StrAppend(&text, "  signal ", status.signal());
    } else {
      absl::StrAppend(&text, "  exit ", status.exit_code());
    }
  }
  absl::StrAppend(&text, "  owner ", EscapeControlCharacters(status.owner()));
  if (status.has_start_time()) {
    absl::StrAppend(&text, "  started ", FormatTableTime(status.start_time()));
  }
  if (status.has_end_time()) absl::StrAppend(&text, "  ended ", FormatTableTime(status.end_time()));
  text.push_back('\n');
  // The server reads usage from the job's cgroup when the job ends; before that it is all zeros.
  if (HasOutcome(status)) {
    const v1::Usage& usage = status.usage();
    absl::StrAppend(
        &text, "cpu ",
        FormatCpuTime(std::chrono::microseconds(static_cast<int64_t>(usage.cpu_user_usec()))),
        " user ",
        FormatCpuTime(std::chrono::microseconds(static_cast<int64_t>(usage.cpu_system_usec()))),
        " system  memory peak ", FormatBytes(usage.memory_peak_bytes()), "  io ",
        FormatBytes(usage.io_read_bytes()), " read ", FormatBytes(usage.io_write_bytes()),
        " written\n");
  }
  if (!status.message().empty()) {
    absl::StrAppend(&text, "message ", EscapeControlCharacters(status.message()), "\n");
  }
  return text;
}

std::string FormatJobTable(const google::protobuf::RepeatedPtrField<v1::JobStatus>& jobs) {
  using Row = std::array<std::string, 6>;
  std::vector<Row> rows = {{"ID", "OWNER", "STATE", "EXIT", "STARTED", "COMMAND"}};
  rows.reserve(jobs.size() + 1);
  for (const v1::JobStatus& job : jobs) {
    rows.push_back({EscapeControlCharacters(job.job_id()), EscapeControlCharacters(job.owner()),
                    StateName(job.state()), FormatExitColumn(job),
                    job.has_start_time() ? FormatTableTime(job.start_time()) : "-",
                    FormatCommand(job.command())});
  }
  constexpr size_t kPaddedColumns = std::tuple_size_v<Row> - 1;  // all but COMMAND
  std::array<size_t, kPaddedColumns> widths{};
  for (const Row& row : rows) {
    for (size_t column = 0; column < kPaddedColumns; ++column) {
      widths[column] = std::max(widths[column], DisplayWidth(row[column]));
    }
  }
  std::string table;
  for (const Row& row : rows) {
    for (size_t column = 0; column < kPaddedColumns; ++column) {
      table.append(row[column]);
      table.append(widths[column] - DisplayWidth(row[column]) + kColumnGap, ' ');
    }
    table.append(row.back());
    table.push_back('\n');
  }
  return table;
}

std::string FormatStatusJson(const v1::JobStatus& status) { return DumpJson(StatusObject(status)); }

std::string FormatJobListJson(const google::protobuf::RepeatedPtrField<v1::JobStatus>& jobs) {
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const v1::JobStatus& job : jobs) list.push_back(StatusObject(job));
  return DumpJson(list);
}

FailureReport DescribeFailure(const absl::Status& status, const RequestScope& scope) {
  const std::string server = EscapeControlCharacters(scope.server);
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
      return {absl::StrCat("gatehouse: cannot reach the job service at ", server, ": ",
                           ConnectionReason(status),
                           " (is the daemon running, and do --ca/--cert/--key belong to it?)"),
              kExitConnection};
    case absl::StatusCode::kDeadlineExceeded:
      return {absl::StrCat("gatehouse: no answer from the job service at ", server, " within ",
                           scope.deadline.count(), " s"),
              kExitConnection};
    case absl::StatusCode::kUnauthenticated:
      return {absl::StrCat("gatehouse: the job service at ", server,
                           " did not accept the client certificate: ", MessageOf(status)),
              kExitConnection};
    case absl::StatusCode::kNotFound:
      if (scope.job_id.empty()) break;
      return {absl::StrCat("gatehouse: job ", EscapeControlCharacters(scope.job_id), " not found"),
              kExitFailure};
    case absl::StatusCode::kPermissionDenied:
      return {absl::StrCat("gatehouse: permission denied: ", MessageOf(status)), kExitFailure};
    default:
      break;
  }
  return {absl::StrCat("gatehouse: ", MessageOf(status)), kExitFailure};
}

FailureReport DescribeStreamFailure(const absl::Status& status, const RequestScope& scope,
                                    bool received_output) {
  const bool is_connection_loss = status.code() == absl::StatusCode::kUnavailable ||
                                  status.code() == absl::StatusCode::kCancelled;
  if (received_output && is_connection_loss) {
    return {
        absl::StrCat("gatehouse: the output stream of job ", EscapeControlCharacters(scope.job_id),
                     " broke: ", ConnectionReason(status)),
        kExitConnection};
  }
  return DescribeFailure(status, scope);
}

}  // namespace gatehouse::cli
