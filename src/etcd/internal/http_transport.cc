#include "etcd/internal/http_transport.h"

#include <curl/curl.h>

#include <algorithm>
#include <memory>
#include <string>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace gatehouse::etcd::internal {
namespace {

struct EasyDeleter {
  void operator()(CURL* easy) const { curl_easy_cleanup(easy); }
};
struct MultiDeleter {
  void operator()(CURLM* multi) const { curl_multi_cleanup(multi); }
};
struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using EasyPtr = std::unique_ptr<CURL, EasyDeleter>;
using MultiPtr = std::unique_ptr<CURLM, MultiDeleter>;
using SlistPtr = std::unique_ptr<curl_slist, SlistDeleter>;

// A failed (non-200) response body is kept for the error message, up to this many bytes.
constexpr size_t kMaxErrorBodyBytes = 4096;
// How often a stream checks its stop flag while no data arrives.
constexpr int kStopPollMillis = 100;

// Everything one easy handle needs to outlive the transfer.
struct Transfer {
  EasyPtr easy;
  SlistPtr headers;
  char error[CURL_ERROR_SIZE] = {};
};

size_t CollectBody(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

absl::Status Configure(const PostRequest& request, Transfer& transfer) {
  EnsureCurlInitialized();
  transfer.easy.reset(curl_easy_init());
  if (transfer.easy == nullptr) return absl::InternalError("curl_easy_init failed");
  CURL* easy = transfer.easy.get();
  // "Expect: 100-continue" would hold a large body back waiting for a go-ahead.
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  if (headers == nullptr) return absl::ResourceExhaustedError("curl_slist_append failed");
  transfer.headers.reset(headers);
  // On success the head of the list stays the same; on failure the list is left as it was.
  if (curl_slist_append(headers, "Expect:") == nullptr) {
    return absl::ResourceExhaustedError("curl_slist_append failed");
  }

  bool ok = true;
  const auto set = [&ok](CURLcode code) { ok = ok && code == CURLE_OK; };
  set(curl_easy_setopt(easy, CURLOPT_URL, request.url.c_str()));
  set(curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, transfer.error));
  // Threads and signals do not mix: without this a DNS timeout may longjmp via SIGALRM.
  set(curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L));
  set(curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "https"));
  set(curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1)));
  set(curl_easy_setopt(easy, CURLOPT_POST, 1L));
  set(curl_easy_setopt(easy, CURLOPT_POSTFIELDS, request.body.data()));
  set(curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(request.body.size())));
  set(curl_easy_setopt(easy, CURLOPT_HTTPHEADER, transfer.headers.get()));
  // TLS 1.2 is the floor; etcd 3.4 built with Go >= 1.13 negotiates TLS 1.3.
  set(curl_easy_setopt(easy, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2)));
  set(curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L));
  set(curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L));
  set(curl_easy_setopt(easy, CURLOPT_CAINFO, request.tls->ca_file.c_str()));
  set(curl_easy_setopt(easy, CURLOPT_SSLCERT, request.tls->cert_file.c_str()));
  set(curl_easy_setopt(easy, CURLOPT_SSLKEY, request.tls->key_file.c_str()));
  set(curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                       static_cast<long>(request.connect_timeout.count())));
  if (request.total_timeout.count() > 0) {
    set(curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS,
                         static_cast<long>(request.total_timeout.count())));
  }
  // A stream may be idle for long; keepalive probes notice a peer that vanished silently.
  set(curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L));
  set(curl_easy_setopt(easy, CURLOPT_TCP_KEEPIDLE, 10L));
  set(curl_easy_setopt(easy, CURLOPT_TCP_KEEPINTVL, 5L));
  if (!ok) return absl::InternalError(absl::StrCat("POST ", request.url, ": curl setup failed"));
  return absl::OkStatus();
}

absl::Status TransferError(const PostRequest& request, const Transfer& transfer, CURLcode code) {
  const std::string reason =
      transfer.error[0] != '\0' ? std::string(transfer.error) : curl_easy_strerror(code);
  std::string message = absl::StrCat("POST ", request.url, ": ", reason);
  if (code == CURLE_OPERATION_TIMEDOUT) return absl::DeadlineExceededError(message);
  return absl::UnavailableError(message);
}

bool RequestSent(const Transfer& transfer) {
  long request_bytes = 0;
  if (curl_easy_getinfo(transfer.easy.get(), CURLINFO_REQUEST_SIZE, &request_bytes) != CURLE_OK) {
    return true;  // Unknown counts as sent: the caller must not retry a write.
  }
  return request_bytes > 0;
}

// State of a streaming response, reached from curl's write callback.
struct StreamState {
  CURL* easy = nullptr;
  const std::function<bool(std::string_view)>* on_line = nullptr;
  long http_status = 0;
  std::string pending;     // Bytes after the last newline.
  std::string error_body;  // The body of a non-200 response.
  bool cancelled = false;
};

size_t StreamBody(char* data, size_t size, size_t count, void* user) {
  auto& state = *static_cast<StreamState*>(user);
  const size_t bytes = size * count;
  if (state.http_status == 0) {
    curl_easy_getinfo(state.easy, CURLINFO_RESPONSE_CODE, &state.http_status);
  }
  if (state.http_status != 200) {
    if (state.error_body.size() < kMaxErrorBodyBytes) {
      state.error_body.append(data, std::min(bytes, kMaxErrorBodyBytes - state.error_body.size()));
    }
    return bytes;
  }
  state.pending.append(data, bytes);
  size_t start = 0;
  for (size_t newline = state.pending.find('\n'); newline != std::string::npos;
       newline = state.pending.find('\n', start)) {
    const std::string_view line(state.pending.data() + start, newline - start);
    start = newline + 1;
    if (!line.empty() && !(*state.on_line)(line)) {
      state.cancelled = true;
      return 0;  // Makes curl abort the transfer with CURLE_WRITE_ERROR.
    }
  }
  state.pending.erase(0, start);
  return bytes;
}

}  // namespace

void EnsureCurlInitialized() {
  static const CURLcode kInit = curl_global_init(CURL_GLOBAL_DEFAULT);
  static_cast<void>(kInit);  // A failure shows as a failing curl_easy_init later.
}

PostResult Post(const PostRequest& request) {
  PostResult result;
  Transfer transfer;
  result.transport = Configure(request, transfer);
  if (!result.transport.ok()) return result;
  curl_easy_setopt(transfer.easy.get(), CURLOPT_WRITEFUNCTION, &CollectBody);
  curl_easy_setopt(transfer.easy.get(), CURLOPT_WRITEDATA, &result.body);
  const CURLcode code = curl_easy_perform(transfer.easy.get());
  result.request_sent = RequestSent(transfer);
  if (code != CURLE_OK) {
    result.transport = TransferError(request, transfer, code);
    return result;
  }
  curl_easy_getinfo(transfer.easy.get(), CURLINFO_RESPONSE_CODE, &result.http_status);
  return result;
}

absl::Status PostStream(const PostRequest& request,
                        const std::function<bool(std::string_view line)>& on_line,
                        const std::atomic<bool>& stop) {
  Transfer transfer;
  GH_RETURN_IF_ERROR(Configure(request, transfer));
  CURL* easy = transfer.easy.get();
  StreamState state;
  state.easy = easy;
  state.on_line = &on_line;
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &StreamBody);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &state);

  // The multi interface lets this thread wait for data with a timeout, so it sees `stop` within
  // kStopPollMillis even on a silent stream; curl_easy_perform would block until data arrives.
  const MultiPtr multi(curl_multi_init());
  if (multi == nullptr) return absl::InternalError("curl_multi_init failed");
  if (curl_multi_add_handle(multi.get(), easy) != CURLM_OK) {
    return absl::InternalError("curl_multi_add_handle failed");
  }
  const absl::Cleanup remove = [&multi, easy] { curl_multi_remove_handle(multi.get(), easy); };
  int running = 1;
  while (running != 0) {
    if (stop.load(std::memory_order_acquire)) {
      return absl::CancelledError(absl::StrCat("POST ", request.url, ": stopped"));
    }
    if (curl_multi_perform(multi.get(), &running) != CURLM_OK) {
      return absl::InternalError(absl::StrCat("POST ", request.url, ": curl_multi_perform failed"));
    }
    if (running == 0) break;
    if (curl_multi_poll(multi.get(), nullptr, 0, kStopPollMillis, nullptr) != CURLM_OK) {
      return absl::InternalError(absl::StrCat("POST ", request.url, ": curl_multi_poll failed"));
    }
  }
  CURLcode code = CURLE_OK;
  int queued = 0;
  while (const CURLMsg* message = curl_multi_info_read(multi.get(), &queued)) {
    if (message->msg == CURLMSG_DONE) code = message->data.result;
  }
  if (state.cancelled) {
    return absl::CancelledError(absl::StrCat("POST ", request.url, ": cancelled by the reader"));
  }
  if (code != CURLE_OK) return TransferError(request, transfer, code);
  long http_status = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &http_status);
  if (http_status != 200) {
    return absl::UnavailableError(
        absl::StrCat("POST ", request.url, ": HTTP ", http_status, ": ", state.error_body));
  }
  // A stream may end with an unterminated line (etcd's gateway writes its last error so).
  if (!state.pending.empty()) on_line(state.pending);
  return absl::OkStatus();
}

}  // namespace gatehouse::etcd::internal
