#include "admin/http_request.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace gatehouse::admin {
namespace {

// tchar from RFC 9110 section 5.6.2.
bool IsTokenChar(char c) {
  if (absl::ascii_isalnum(static_cast<unsigned char>(c))) {
    return true;
  }
  return absl::string_view("!#$%&'*+-.^_`|~").find(c) != absl::string_view::npos;
}

bool IsToken(absl::string_view text) {
  if (text.empty()) {
    return false;
  }
  for (const char c : text) {
    if (!IsTokenChar(c)) {
      return false;
    }
  }
  return true;
}

// field-value bytes (RFC 9110 section 5.5): HTAB, SP, VCHAR and obs-text; no other controls.
bool IsFieldValueChar(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return byte == '\t' || (byte >= 0x20 && byte != 0x7f);
}

// Visible ASCII only: a target with spaces, controls or raw 8-bit bytes is not a valid URI.
bool IsTargetChar(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return byte > 0x20 && byte < 0x7f;
}

HttpParseResult Reject(HttpParseOutcome outcome, std::string error) {
  HttpParseResult result;
  result.outcome = outcome;
  result.error = std::move(error);
  return result;
}

HttpParseResult TooLarge(size_t max_request_bytes) {
  return Reject(HttpParseOutcome::kHeadersTooLarge,
                absl::StrCat("request head exceeds ", max_request_bytes, " bytes"));
}

HttpParseResult Valid() {
  HttpParseResult result;
  result.outcome = HttpParseOutcome::kComplete;
  return result;
}

// Parses `line` (without its line end) as a request line into `request`. Returns kComplete on
// success; otherwise the rejection.
HttpParseResult ParseRequestLine(absl::string_view line, HttpRequest* request) {
  const size_t first_space = line.find(' ');
  const size_t second_space =
      first_space == absl::string_view::npos ? first_space : line.find(' ', first_space + 1);
  if (second_space == absl::string_view::npos) {
    return Reject(HttpParseOutcome::kBadRequest, "request line is not `method target version`");
  }
  const absl::string_view method = line.substr(0, first_space);
  const absl::string_view target = line.substr(first_space + 1, second_space - first_space - 1);
  const absl::string_view version = line.substr(second_space + 1);
  if (!IsToken(method)) {
    return Reject(HttpParseOutcome::kBadRequest, "method is not a token");
  }
  if (target.empty() || target.front() != '/') {
    return Reject(HttpParseOutcome::kBadRequest, "request target is not in origin-form");
  }
  for (const char c : target) {
    if (!IsTargetChar(c) || c == '#') {
      return Reject(HttpParseOutcome::kBadRequest, "request target holds an invalid character");
    }
  }
  // HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive (RFC 9112 section 2.3). This also
  // rejects a third space, which would end up in `version`.
  if (version.size() != 8 || !absl::StartsWith(version, "HTTP/") ||
      !absl::ascii_isdigit(static_cast<unsigned char>(version[5])) || version[6] != '.' ||
      !absl::ascii_isdigit(static_cast<unsigned char>(version[7]))) {
    return Reject(HttpParseOutcome::kBadRequest, "malformed HTTP version");
  }
  if (version[5] != '1') {
    return Reject(HttpParseOutcome::kVersionNotSupported,
                  absl::StrCat("unsupported version ", version));
  }
  const absl::string_view path = target.substr(0, target.find('?'));
  request->method.assign(method.data(), method.size());
  request->target.assign(target.data(), target.size());
  request->path.assign(path.data(), path.size());
  // HTTP/1.2 and later minor versions are answered as HTTP/1.1 (RFC 9110 section 6.2).
  request->minor_version = version[7] - '0';
  return Valid();
}

// Checks one header field line (without its line end) and counts Host fields in `host_count`.
// Returns kComplete when the line is valid.
HttpParseResult CheckHeaderLine(absl::string_view line, int* host_count) {
  // A leading SP or HTAB (obsolete line folding) or whitespace before the colon fails the token
  // check on the name.
  const size_t colon = line.find(':');
  if (colon == absl::string_view::npos || !IsToken(line.substr(0, colon))) {
    return Reject(HttpParseOutcome::kBadRequest, "malformed header field");
  }
  for (const char c : line.substr(colon + 1)) {
    if (!IsFieldValueChar(c)) {
      return Reject(HttpParseOutcome::kBadRequest, "control character in header field value");
    }
  }
  if (absl::EqualsIgnoreCase(line.substr(0, colon), "host")) {
    ++*host_count;
  }
  return Valid();
}

// The blank line ending the head has arrived at `head_bytes`: checks what needs all the fields.
HttpParseResult FinishHead(HttpRequest request, int host_count, size_t head_bytes) {
  if (host_count > 1 || (host_count == 0 && request.minor_version >= 1)) {
    return Reject(HttpParseOutcome::kBadRequest,
                  absl::StrCat("request has ", host_count, " Host header fields"));
  }
  HttpParseResult result = Valid();
  result.request = std::move(request);
  result.head_bytes = head_bytes;
  return result;
}

}  // namespace

absl::string_view HttpParseOutcomeName(HttpParseOutcome outcome) {
  switch (outcome) {
    case HttpParseOutcome::kComplete:
      return "complete";
    case HttpParseOutcome::kIncomplete:
      return "incomplete";
    case HttpParseOutcome::kBadRequest:
      return "bad request";
    case HttpParseOutcome::kHeadersTooLarge:
      return "headers too large";
    case HttpParseOutcome::kVersionNotSupported:
      return "version not supported";
  }
  return "unknown";
}

HttpParseResult ParseHttpRequest(absl::string_view data, size_t max_request_bytes) {
  HttpRequest request;
  bool has_request_line = false;
  int host_count = 0;
  size_t pos = 0;
  // Every complete line is checked as soon as it arrives, so garbage is rejected without waiting
  // for the rest of the head or the timeout.
  for (size_t newline = data.find('\n'); newline != absl::string_view::npos;
       newline = data.find('\n', pos)) {
    if (newline + 1 > max_request_bytes) {
      return TooLarge(max_request_bytes);
    }
    absl::string_view line = data.substr(pos, newline - pos);
    pos = newline + 1;
    if (absl::EndsWith(line, "\r")) {
      line.remove_suffix(1);
    }
    // A bare CR is a line end to some parsers and not to others: the classic smuggling vector.
    if (line.find('\r') != absl::string_view::npos) {
      return Reject(HttpParseOutcome::kBadRequest, "bare CR");
    }
    HttpParseResult checked;
    if (!has_request_line) {
      if (line.empty()) {
        continue;
      }
      checked = ParseRequestLine(line, &request);
      has_request_line = true;
    } else if (line.empty()) {
      return FinishHead(std::move(request), host_count, pos);
    } else {
      checked = CheckHeaderLine(line, &host_count);
    }
    if (checked.outcome != HttpParseOutcome::kComplete) {
      return checked;
    }
  }
  if (data.size() > max_request_bytes) {
    return TooLarge(max_request_bytes);
  }
  return HttpParseResult{};
}

}  // namespace gatehouse::admin
