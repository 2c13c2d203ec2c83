// HTTP/1.1 request-head parsing for the admin endpoint (RFC 9112 sections 2-5): the request line
// and the header fields, from the bytes received so far.
//
// It is deliberately small and strict, because the admin endpoint only ever answers a few GETs:
//   - Lines end in CRLF; a bare LF is accepted as a line end (RFC 9112 section 2.2), a bare CR or
//     NUL anywhere is rejected. Empty lines before the request line are skipped (section 2.2).
//   - The request line is exactly `method SP request-target SP HTTP-version`, single spaces. The
//     method is a token (case-sensitive); the target must be in origin-form (`/path?query`),
//     visible ASCII, no fragment; absolute-form and `*` are rejected.
//   - Only HTTP/1.x is served; another well-formed major version gets 505.
//   - Header names are tokens immediately followed by `:` (no whitespace before the colon,
//     section 5.1); obsolete line folding is rejected (section 5.2); values may hold no control
//     characters but HTAB. HTTP/1.1 requests need exactly one `Host` (section 3.2), HTTP/1.0 at
//     most one.
//   - The whole head, request line through the blank line, is limited to `max_request_bytes`.
// It does not read bodies, decode percent-escapes or support keep-alive: the server answers one
// request per connection and closes it, so unread bytes can never be taken for a next request.
// Pure functions without I/O, so they are unit-tested without sockets. Thread-safe (stateless).
#ifndef GATEHOUSE_ADMIN_HTTP_REQUEST_H_
#define GATEHOUSE_ADMIN_HTTP_REQUEST_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace gatehouse::admin {

enum class HttpParseOutcome {
  kComplete,             // The head is complete and valid; `HttpParseResult::request` is set.
  kIncomplete,           // Valid so far; more bytes are needed.
  kBadRequest,           // Malformed: answer 400.
  kHeadersTooLarge,      // The head exceeds `max_request_bytes`: answer 431.
  kVersionNotSupported,  // A well-formed version other than HTTP/1.x: answer 505.
};

// Short name for logs and tests, e.g. "bad request".
absl::string_view HttpParseOutcomeName(HttpParseOutcome outcome);

struct HttpRequest {
  std::string method;     // As sent, e.g. "GET".
  std::string target;     // The request-target as sent, e.g. "/metrics?name=x".
  std::string path;       // `target` without the query, e.g. "/metrics".
  int minor_version = 1;  // The x in HTTP/1.x.
};

struct HttpParseResult {
  HttpParseOutcome outcome = HttpParseOutcome::kIncomplete;
  HttpRequest request;    // Set when `outcome` is kComplete.
  size_t head_bytes = 0;  // When kComplete: bytes of the input up to and including the blank line.
  std::string error;      // When rejected: what was wrong, for the log (never sent to the client).
};

// Parses the request head at the start of `data`, all bytes received so far on a connection.
// Returns kIncomplete until the blank line ending the head arrives, unless what has arrived is
// already invalid (kBadRequest, kVersionNotSupported) or longer than `max_request_bytes` without
// ending (kHeadersTooLarge). Bytes after the head (a body) are ignored.
HttpParseResult ParseHttpRequest(absl::string_view data, size_t max_request_bytes);

}  // namespace gatehouse::admin

#endif  // GATEHOUSE_ADMIN_HTTP_REQUEST_H_
