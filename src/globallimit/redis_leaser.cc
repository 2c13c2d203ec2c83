#include "globallimit/redis_leaser.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "globallimit/internal/lease_script.h"
#include "globallimit/internal/redis_connection.h"

namespace gatehouse::globallimit {
namespace {

using internal::RedisValue;
using std::chrono::steady_clock;

constexpr std::chrono::milliseconds kMinBackoff{50};
constexpr std::chrono::milliseconds kMaxBackoff{2000};
// An idle connection is checked this often, so that `redis_up()` turns false soon after the
// server dies even when no lease is needed (the first lease would otherwise find out).
constexpr std::chrono::milliseconds kIdlePing{250};
// Requests per pipeline: bounds the time one batch holds the connection.
constexpr size_t kMaxBatch = 512;

int64_t Nanos(steady_clock::time_point time) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(time.time_since_epoch()).count();
}

}  // namespace

absl::StatusOr<std::shared_ptr<RedisLeaser>> RedisLeaser::Start(const RedisOptions& options,
                                                                const base::Clock* clock) {
  if (clock == nullptr) return absl::InvalidArgumentError("redis leaser: clock is null");
  if (options.host.empty()) return absl::InvalidArgumentError("redis leaser: host is empty");
  if (options.port == 0) return absl::InvalidArgumentError("redis leaser: port is 0");
  if (options.timeout.count() <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("redis leaser: timeout must be positive, got ",
                                                   options.timeout.count(), "ms"));
  }
  if (options.unreachable_after.count() <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("redis leaser: unreachable_after must be positive, got ",
                     options.unreachable_after.count(), "ms"));
  }
  // The constructor is private, so std::make_shared cannot reach it.
  return std::shared_ptr<RedisLeaser>(new RedisLeaser(options, clock));
}

RedisLeaser::RedisLeaser(RedisOptions options, const base::Clock* clock)
    : options_(std::move(options)), clock_(clock), thread_([this] { Run(); }) {}

RedisLeaser::~RedisLeaser() {
  {
    base::MutexLock lock(&mu_);
    stopping_ = true;
  }
  wake_.NotifyAll();
  thread_.join();
}

LeaserStats RedisLeaser::stats() const {
  LeaserStats stats;
  stats.leases = leases_.load(std::memory_order_relaxed);
  stats.tokens_leased = tokens_leased_.load(std::memory_order_relaxed);
  stats.redis_errors = redis_errors_.load(std::memory_order_acquire);
  stats.redis_up = redis_up();
  return stats;
}

bool RedisLeaser::redis_up() const {
  if (!connected_.load(std::memory_order_acquire)) return false;
  const int64_t waiting_since = waiting_since_ns_.load(std::memory_order_acquire);
  if (waiting_since == 0) return true;
  const int64_t since = std::max(waiting_since, last_success_ns_.load(std::memory_order_acquire));
  return Nanos(clock_->Now()) - since <=
         std::chrono::duration_cast<std::chrono::nanoseconds>(options_.unreachable_after).count();
}

absl::Status RedisLeaser::last_error() const {
  base::MutexLock lock(&mu_);
  return {last_error_code_, last_error_message_};
}

void RedisLeaser::RequestLease(LeaseRequest request, std::weak_ptr<LeaseClient> client) {
  const steady_clock::time_point now = clock_->Now();
  {
    base::MutexLock lock(&mu_);
    if (stopping_) return;
    queue_.push_back(Pending{std::move(request), std::move(client), now});
    if (waiting_since_ns_.load(std::memory_order_relaxed) == 0) {
      waiting_since_ns_.store(Nanos(now), std::memory_order_release);
    }
  }
  wake_.NotifyOne();
}

void RedisLeaser::UpdateWaitingLocked() {
  waiting_since_ns_.store(queue_.empty() ? 0 : Nanos(queue_.front().queued_at),
                          std::memory_order_release);
}

void RedisLeaser::Run() {
  backoff_ = kMinBackoff;
  steady_clock::time_point next_connect = steady_clock::now();
  steady_clock::time_point last_io = steady_clock::now();
  while (true) {
    std::deque<Pending> batch;
    const bool connected = connection_ != nullptr;
    {
      base::MutexLock lock(&mu_);
      const steady_clock::time_point deadline = connected ? last_io + kIdlePing : next_connect;
      wake_.WaitUntil(&mu_, deadline, [this, connected]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || (connected && !queue_.empty());
      });
      if (stopping_) return;
      if (connected) {
        const size_t count = std::min(queue_.size(), kMaxBatch);
        std::move(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(count),
                  std::back_inserter(batch));
        queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(count));
      }
    }
    if (!connected) {
      if (steady_clock::now() < next_connect) continue;
      Connect();
      if (connection_ == nullptr) {
        next_connect = steady_clock::now() + backoff_;
        backoff_ = std::min(kMaxBackoff, backoff_ * 2);
        // Nobody can answer them soon: let their limiters know now rather than after a timeout.
        {
          base::MutexLock lock(&mu_);
          batch.swap(queue_);
          UpdateWaitingLocked();
        }
        AnswerFailed(batch);
      } else {
        backoff_ = kMinBackoff;
        last_io = steady_clock::now();
      }
      continue;
    }
    if (batch.empty()) {
      if (steady_clock::now() >= last_io + kIdlePing) {
        Ping();
        last_io = steady_clock::now();
      }
      continue;
    }
    Lease(batch);
    last_io = steady_clock::now();
    // After an I/O error, reconnect at once; failed connects back off.
    if (connection_ == nullptr) next_connect = steady_clock::now();
  }
}

void RedisLeaser::Connect() {
  absl::StatusOr<std::unique_ptr<internal::RedisConnection>> connection =
      internal::RedisConnection::Connect(options_);
  if (!connection.ok()) {
    Fail(connection.status());
    return;
  }
  absl::StatusOr<RedisValue> sha =
      (*connection)->Command({"SCRIPT", "LOAD", static_cast<std::string>(internal::LeaseScript())});
  if (!sha.ok()) {
    Fail(sha.status());
    return;
  }
  if (sha->type != RedisValue::Type::kString) {
    Fail(absl::UnavailableError(
        absl::StrCat("redis ", (*connection)->address(), ": SCRIPT LOAD: ", sha->str)));
    return;
  }
  connection_ = *std::move(connection);
  script_sha_ = sha->str;
  const int64_t now = Nanos(clock_->Now());
  last_success_ns_.store(now, std::memory_order_release);
  {
    base::MutexLock lock(&mu_);
    // Requests that waited for this connection start their wait afresh.
    waiting_since_ns_.store(queue_.empty() ? 0 : now, std::memory_order_release);
  }
  epoch_.fetch_add(1, std::memory_order_acq_rel);
  connected_.store(true, std::memory_order_release);
}

void RedisLeaser::Fail(const absl::Status& status) {
  // The error and its count first: whoever sees `redis_up()` turn false can read why.
  {
    base::MutexLock lock(&mu_);
    last_error_code_ = status.code();
    last_error_message_ = static_cast<std::string>(status.message());
  }
  redis_errors_.fetch_add(1, std::memory_order_release);
  connected_.store(false, std::memory_order_release);
  connection_.reset();
}

void RedisLeaser::Ping() {
  absl::StatusOr<RedisValue> reply = connection_->Command({"PING"});
  if (!reply.ok()) {
    Fail(reply.status());
    return;
  }
  if (reply->is_error()) {
    Fail(absl::UnavailableError(
        absl::StrCat("redis ", connection_->address(), ": PING: ", reply->str)));
    return;
  }
  last_success_ns_.store(Nanos(clock_->Now()), std::memory_order_release);
}

void RedisLeaser::Lease(std::deque<Pending>& batch) {
  std::vector<std::vector<std::string>> commands;
  commands.reserve(batch.size());
  for (const Pending& pending : batch) {
    const LeaseRequest& r = pending.request;
    commands.push_back(
        internal::LeaseCommand(script_sha_, r.key, r.rate, r.burst, r.debt, r.want, r.ttl));
  }
  absl::StatusOr<std::vector<RedisValue>> replies = connection_->Pipeline(commands);
  // NOSCRIPT: the server lost its script cache (SCRIPT FLUSH, a restart behind a proxy). Load
  // the script again and retry the whole batch once; nothing was granted by the failed calls.
  if (replies.ok() && std::any_of(replies->begin(), replies->end(), [](const RedisValue& v) {
        return v.is_error() && absl::StartsWith(v.str, "NOSCRIPT");
      })) {
    absl::StatusOr<RedisValue> sha =
        connection_->Command({"SCRIPT", "LOAD", static_cast<std::string>(internal::LeaseScript())});
    if (sha.ok() && sha->type == RedisValue::Type::kString) {
      script_sha_ = sha->str;
      for (std::vector<std::string>& command : commands) command[1] = script_sha_;
      replies = connection_->Pipeline(commands);
    } else if (!sha.ok()) {
      replies = sha.status();
    }
  }
  if (!replies.ok()) {
    Fail(replies.status());
    AnswerFailed(batch);
    return;
  }
  std::vector<std::optional<uint32_t>> grants;
  grants.reserve(batch.size());
  uint64_t tokens = 0;
  uint64_t answered = 0;
  absl::Status error;
  for (const RedisValue& reply : *replies) {
    if (reply.type == RedisValue::Type::kInteger && reply.integer >= 0) {
      grants.emplace_back(static_cast<uint32_t>(reply.integer));
      tokens += static_cast<uint64_t>(reply.integer);
      ++answered;
    } else {
      grants.emplace_back(std::nullopt);
      error = absl::InternalError(absl::StrCat("redis ", connection_->address(),
                                               ": EVALSHA lease: unexpected reply ", reply.str));
    }
  }
  const steady_clock::time_point now = clock_->Now();
  leases_.fetch_add(answered, std::memory_order_relaxed);
  tokens_leased_.fetch_add(tokens, std::memory_order_relaxed);
  last_success_ns_.store(Nanos(now), std::memory_order_release);
  if (!error.ok()) redis_errors_.fetch_add(1, std::memory_order_relaxed);
  {
    base::MutexLock lock(&mu_);
    if (!error.ok()) {
      last_error_code_ = error.code();
      last_error_message_ = static_cast<std::string>(error.message());
    }
    UpdateWaitingLocked();
  }
  Answer(batch, grants, now);
}

void RedisLeaser::Answer(std::deque<Pending>& batch,
                         const std::vector<std::optional<uint32_t>>& grants,
                         steady_clock::time_point now) {
  for (size_t i = 0; i < batch.size(); ++i) {
    if (std::shared_ptr<LeaseClient> client = batch[i].client.lock()) {
      client->OnLeaseDone(batch[i].request, grants[i], now);
    }
  }
}

void RedisLeaser::AnswerFailed(std::deque<Pending>& batch) {
  if (batch.empty()) return;
  Answer(batch, std::vector<std::optional<uint32_t>>(batch.size()), clock_->Now());
}

}  // namespace gatehouse::globallimit
