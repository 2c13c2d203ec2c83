// HTTP/1.1 POST over mutual TLS with libcurl, for etcd's JSON gateway: a unary call that collects
// the response body, and a streaming call that hands the response over line by line (the watch).
// Each call uses its own curl easy handle, so calls on different threads share nothing.
// Thread-safe.
#ifndef GATEHOUSE_ETCD_INTERNAL_HTTP_TRANSPORT_H_
#define GATEHOUSE_ETCD_INTERNAL_HTTP_TRANSPORT_H_

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "etcd/tls_files.h"

namespace gatehouse::etcd::internal {

// Initializes libcurl once per process (curl_global_init is not thread-safe by itself; this is).
void EnsureCurlInitialized();

struct PostRequest {
  std::string url;  // https://host:port/path
  std::string body;
  const TlsFiles* tls = nullptr;  // Borrowed; must outlive the call.
  // Deadline for connecting (TCP and TLS handshake).
  std::chrono::milliseconds connect_timeout{2000};
  // Deadline for the whole transfer; zero means none (a stream ends by `stop` instead).
  std::chrono::milliseconds total_timeout{2000};
};

struct PostResult {
  // OK when an HTTP response arrived (whatever its status); otherwise Unavailable or
  // DeadlineExceeded with curl's reason, naming the URL.
  absl::Status transport;
  // False only when no byte of the request left this process, so retrying it elsewhere cannot
  // apply it twice.
  bool request_sent = false;
  long http_status = 0;  // curl reports `long`.
  std::string body;
};

// Sends `request` and collects the whole response.
PostResult Post(const PostRequest& request);

// Sends `request` and calls `on_line` with each newline-terminated line of a 200 response (and a
// last unterminated line, if any, when the stream ends), on the calling thread. Returns when the
// server ends the response (OK), `on_line` returns false (Cancelled), `stop` becomes true
// (Cancelled, noticed within 100 ms), the transfer fails (Unavailable / DeadlineExceeded), or the
// status is not 200 (Unavailable with the body).
absl::Status PostStream(const PostRequest& request,
                        const std::function<bool(std::string_view line)>& on_line,
                        const std::atomic<bool>& stop);

}  // namespace gatehouse::etcd::internal

#endif  // GATEHOUSE_ETCD_INTERNAL_HTTP_TRANSPORT_H_
