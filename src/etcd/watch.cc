#include "etcd/watch.h"

#include <algorithm>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/escape_for_log.h"
#include "base/status_macros.h"
#include "etcd/internal/http_transport.h"
#include "etcd/internal/json_codec.h"
#include "spdlog/spdlog.h"

namespace gatehouse::etcd {

absl::StatusOr<std::unique_ptr<Watch>> Watch::Start(std::shared_ptr<const Client> client,
                                                    std::string key, int64_t start_revision,
                                                    std::function<void(const KeyValue&)> on_put,
                                                    WatchOptions options) {
  if (client == nullptr) return absl::InvalidArgumentError("etcd watch: no client");
  if (key.empty()) return absl::InvalidArgumentError("etcd watch: empty key");
  const std::string what = absl::StrCat("etcd watch \"", base::EscapeForLog(key), "\": ");
  if (start_revision < 0) {
    return absl::InvalidArgumentError(absl::StrCat(what, "negative start revision"));
  }
  if (!on_put) return absl::InvalidArgumentError(absl::StrCat(what, "no on_put callback"));
  if (options.initial_backoff.count() <= 0 || options.max_backoff < options.initial_backoff) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, "backoff must be positive with max_backoff >= initial_backoff"));
  }
  std::unique_ptr<Watch> watch(new Watch(std::move(client), std::move(key), start_revision,
                                         std::move(on_put), std::move(options)));
  Watch* const self = watch.get();
  {
    base::MutexLock lock(&self->join_mu_);
    self->thread_ = std::thread([self] {
      self->thread_id_.store(std::this_thread::get_id(), std::memory_order_release);
      self->Run();
    });
  }
  return watch;
}

Watch::Watch(std::shared_ptr<const Client> client, std::string key, int64_t start_revision,
             std::function<void(const KeyValue&)> on_put, WatchOptions options)
    : client_(std::move(client)),
      key_(std::move(key)),
      on_put_(std::move(on_put)),
      options_(std::move(options)),
      next_revision_(start_revision) {}

Watch::~Watch() { Stop(); }

void Watch::Stop() {
  stop_.store(true, std::memory_order_release);
  {
    // Under the lock, so the watch thread cannot miss the signal between its check and its wait.
    base::MutexLock lock(&mu_);
    stopping_.NotifyAll();
  }
  // From a callback: the thread ends when the callback returns. Joining would deadlock, and so
  // would taking `join_mu_` while another thread holds it to join this one.
  if (thread_id_.load(std::memory_order_acquire) == std::this_thread::get_id()) return;
  base::MutexLock lock(&join_mu_);
  // The thread notices `stop_` within the transport's 100 ms poll or at once when waiting.
  if (thread_.joinable()) thread_.join();
}

void Watch::Run() {
  const std::vector<std::string>& endpoints = client_->options().endpoints;
  size_t endpoint_index = client_->preferred_endpoint() % endpoints.size();
  std::chrono::milliseconds backoff = options_.initial_backoff;
  std::minstd_rand random(std::random_device{}());
  bool resync_needed = false;
  bool first_attempt = true;
  while (!stop_.load(std::memory_order_acquire)) {
    if (!first_attempt) reconnects_.fetch_add(1, std::memory_order_relaxed);
    first_attempt = false;
    if (resync_needed) {
      const absl::Status status = Resync();
      if (status.ok()) {
        resync_needed = false;
      } else {
        spdlog::warn("etcd watch \"{}\": reading the key after a compaction failed: {}",
                     base::EscapeForLog(key_), status.ToString());
      }
    }
    if (!resync_needed) {
      const StreamEnd end = RunStream(endpoints[endpoint_index]);
      connected_.store(false, std::memory_order_release);
      if (stop_.load(std::memory_order_acquire)) break;
      if (end.compact_revision != 0) {
        spdlog::info(
            "etcd watch \"{}\": revision {} was compacted (compact revision {}); "
            "reading the current value",
            base::EscapeForLog(key_), next_revision_, end.compact_revision);
        resync_needed = true;
        continue;  // Not a failure of the endpoint: read the key and watch on at once.
      }
      if (end.was_connected) backoff = options_.initial_backoff;
      spdlog::warn("etcd watch \"{}\" at {}: {}; reconnecting", base::EscapeForLog(key_),
                   endpoints[endpoint_index], end.status.ToString());
    }
    endpoint_index = (endpoint_index + 1) % endpoints.size();
    std::uniform_int_distribution<int64_t> jitter(backoff.count() / 2, backoff.count());
    if (!Sleep(std::chrono::milliseconds(jitter(random)))) break;
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
  connected_.store(false, std::memory_order_release);
}

Watch::StreamEnd Watch::RunStream(const std::string& endpoint) {
  StreamEnd end;
  internal::PostRequest request;
  request.url = absl::StrCat(endpoint, "/v3/watch");
  request.body = internal::EncodeWatchCreateRequest(key_, next_revision_);
  request.tls = &client_->options().tls;
  request.connect_timeout = client_->options().request_timeout;
  request.total_timeout = std::chrono::milliseconds(0);  // A stream lasts until it breaks.
  const absl::Status status = internal::PostStream(
      request, [this, &end](std::string_view line) { return HandleLine(line, end); }, stop_);
  if (end.status.ok()) {
    end.status = status.ok() ? absl::UnavailableError("etcd ended the watch stream") : status;
  }
  return end;
}

bool Watch::HandleLine(std::string_view line, StreamEnd& end) {
  if (stop_.load(std::memory_order_acquire)) return false;
  absl::StatusOr<internal::WatchMessage> message = internal::DecodeWatchMessage(line);
  if (!message.ok()) {
    end.status = message.status();
    return false;
  }
  if (message->canceled) {
    if (message->compact_revision != 0) {
      end.compact_revision = message->compact_revision;
      end.status = absl::OutOfRangeError(
          absl::StrCat("revision ", next_revision_, " compacted at ", message->compact_revision));
    } else {
      end.status =
          absl::UnavailableError(absl::StrCat("etcd canceled the watch: ", message->cancel_reason));
    }
    return false;
  }
  if (message->created) {
    // A watch from "now" learns which revision that is from the creation's header.
    if (next_revision_ == 0) next_revision_ = message->header_revision + 1;
    end.was_connected = true;
    connected_.store(true, std::memory_order_release);
  }
  for (internal::WatchEvent& event : message->events) {
    // A resumed stream never repeats a revision, but a resync may have reported it already.
    if (event.mod_revision < next_revision_) continue;
    next_revision_ = event.mod_revision + 1;
    if (event.is_delete) {
      last_event_was_put_ = false;
      if (options_.on_delete) options_.on_delete(event.mod_revision);
    } else {
      KeyValue kv;
      kv.found = true;
      kv.value = std::move(event.value);
      kv.mod_revision = event.mod_revision;
      kv.revision = message->header_revision;
      DeliverPut(kv);
    }
    if (stop_.load(std::memory_order_acquire)) return false;
  }
  return true;
}

absl::Status Watch::Resync() {
  GH_ASSIGN_OR_RETURN(const KeyValue kv, client_->Get(key_));
  const int64_t read_revision = kv.revision;
  if (kv.found && kv.mod_revision >= next_revision_) {
    DeliverPut(kv);
  } else if (!kv.found && last_event_was_put_) {
    // The delete itself was compacted away; its revision is unknown, the read's stands in.
    last_event_was_put_ = false;
    if (options_.on_delete) options_.on_delete(read_revision);
  }
  next_revision_ = std::max(next_revision_, read_revision + 1);
  return absl::OkStatus();
}

void Watch::DeliverPut(const KeyValue& kv) {
  const int64_t revision = kv.mod_revision;
  last_event_was_put_ = true;
  on_put_(kv);
  last_revision_.store(revision, std::memory_order_release);
}

bool Watch::Sleep(std::chrono::milliseconds delay) {
  const auto deadline = std::chrono::steady_clock::now() + delay;
  base::MutexLock lock(&mu_);
  stopping_.WaitUntil(&mu_, deadline, [this] { return stop_.load(std::memory_order_acquire); });
  return !stop_.load(std::memory_order_acquire);
}

}  // namespace gatehouse::etcd
