// RedisLeaser: the node-wide link to the Redis server that holds global rate-limit buckets (see
// global_rate_limiter.h for the model). Every app's GlobalRateLimiter on a node shares one
// leaser. Limiters queue lease requests ("give me up to `want` tokens of this bucket, and pay
// this debt"); one background thread owns the only hiredis connection, sends everything queued
// as one pipelined batch of EVALSHA calls, and hands each answer back to its limiter. The data
// path therefore never waits on Redis.
//
// The thread connects at start and reconnects with exponential backoff (50 ms doubling to 2 s)
// whenever connecting, AUTH, SCRIPT LOAD or a command fails; while idle it PINGs now and then so
// a dead server is noticed before traffic needs it. It waits on a condition variable with a
// deadline (it never spins) and holds no mutex across Redis I/O. Every read, write and connect
// is bounded by `RedisOptions::timeout`, which also bounds how long the destructor waits.
//
// `redis_up()` is the fallback signal: false until the first connection succeeds, after a
// connection-level error until a reconnect succeeds, and while lease requests have waited longer
// than `RedisOptions::unreachable_after` without a successful command. Requests queued when a
// connection attempt fails are answered "failed" at once (their limiters retry later).
//
// What it does not do: TLS (hiredis 0.14 has none), Redis Cluster or Sentinel discovery, and
// logging (libraries never print); the last error is kept for the caller to log.
#ifndef GATEHOUSE_GLOBALLIMIT_REDIS_LEASER_H_
#define GATEHOUSE_GLOBALLIMIT_REDIS_LEASER_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/clock.h"
#include "base/mutex.h"
#include "globallimit/redis_options.h"

namespace gatehouse::globallimit {

namespace internal {
class RedisConnection;
}  // namespace internal

struct LeaserStats {
  uint64_t leases = 0;         // lease calls answered by Redis
  uint64_t tokens_leased = 0;  // tokens granted by those calls
  uint64_t redis_errors = 0;   // failed connects, AUTH, script loads and batches
  bool redis_up = false;       // as `redis_up()`
};

// One request for tokens of one bucket. Copied into the queue and handed back with its answer.
struct LeaseRequest {
  std::string key;       // the Redis key (internal::BucketKey)
  std::string identity;  // echoed back, so the client can find its entry
  double rate = 0;       // tokens per second
  uint32_t burst = 0;
  uint64_t debt = 0;  // tokens spent on credit, to subtract before granting
  uint32_t want = 0;
  std::chrono::milliseconds ttl{0};  // PEXPIRE of the bucket
};

// Receives answers, on the leaser's thread with no leaser lock held. The leaser keeps only a
// weak_ptr to it, so a client may go away while its requests are queued.
class LeaseClient {
 public:
  LeaseClient() = default;
  LeaseClient(const LeaseClient&) = delete;
  LeaseClient& operator=(const LeaseClient&) = delete;
  LeaseClient(LeaseClient&&) = delete;
  LeaseClient& operator=(LeaseClient&&) = delete;
  virtual ~LeaseClient() = default;

  // `granted` is the number of tokens granted (the debt was then paid), or nullopt when the
  // request failed (nothing is known to be paid or granted). `now` is the leaser clock's time.
  virtual void OnLeaseDone(const LeaseRequest& request, std::optional<uint32_t> granted,
                           std::chrono::steady_clock::time_point now) = 0;
};

// Thread-safe. Shared (std::shared_ptr) by the limiters of every app on the node, which keeps it
// alive as long as any of them; the last owner's release stops and joins the thread.
class RedisLeaser {
 public:
  // Starts the thread. Does not wait for Redis and does not fail when it is down (the leaser then
  // starts in fallback and keeps trying); fails only with InvalidArgument for invalid options
  // (empty host, port 0, non-positive timeout or unreachable_after). `clock` is borrowed and must
  // outlive the leaser; it dates requests and answers (the thread's own waits use the steady
  // clock).
  static absl::StatusOr<std::shared_ptr<RedisLeaser>> Start(const RedisOptions& options,
                                                            const base::Clock* clock);

  RedisLeaser(const RedisLeaser&) = delete;
  RedisLeaser& operator=(const RedisLeaser&) = delete;
  RedisLeaser(RedisLeaser&&) = delete;
  RedisLeaser& operator=(RedisLeaser&&) = delete;
  // Stops and joins the thread: returns within about one connect timeout plus one command
  // timeout, even when Redis is unreachable. Queued requests are dropped unanswered.
  ~RedisLeaser();

  LeaserStats stats() const;
  // Cheap enough for every admission: two atomic loads, and a clock read only while requests
  // wait.
  bool redis_up() const;

  // Counts successful connections; a limiter that sees it change knows Redis may have lost or
  // never seen its buckets (a restart, or a connection to another server).
  uint64_t epoch() const { return epoch_.load(std::memory_order_acquire); }

  // The last connection, AUTH, script or command error; OK if none yet.
  absl::Status last_error() const;

  const RedisOptions& options() const { return options_; }

  // Queues `request`; its answer goes to `client` (unless it is gone by then). Never blocks on
  // Redis. A client should keep at most one request per bucket in flight.
  void RequestLease(LeaseRequest request, std::weak_ptr<LeaseClient> client);

 private:
  struct Pending {
    LeaseRequest request;
    std::weak_ptr<LeaseClient> client;
    std::chrono::steady_clock::time_point queued_at;  // by `clock_`
  };

  RedisLeaser(RedisOptions options, const base::Clock* clock);

  void Run();
  // Connects, authenticates and loads the script; on failure records the error.
  void Connect();
  // Sends `batch` as one pipeline (reloading the script once on NOSCRIPT) and answers it.
  void Lease(std::deque<Pending>& batch);
  void Ping();
  // Records a failure of `status`; drops the connection.
  void Fail(const absl::Status& status);
  static void Answer(std::deque<Pending>& batch, const std::vector<std::optional<uint32_t>>& grants,
                     std::chrono::steady_clock::time_point now);
  void AnswerFailed(std::deque<Pending>& batch);
  // Updates `waiting_since_ns_` from the queue.
  void UpdateWaitingLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const RedisOptions options_;
  const base::Clock* const clock_;

  // Owned by the thread (`Run`): touched by no one else, so unguarded.
  std::unique_ptr<internal::RedisConnection> connection_;
  std::string script_sha_;
  std::chrono::milliseconds backoff_{0};

  mutable base::Mutex mu_;
  base::CondVar wake_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<Pending> queue_ ABSL_GUARDED_BY(mu_);
  // The last error as code and message, not as an absl::Status: copies of a Status share a
  // refcounted representation, and Debian's libabsl is not built for TSan, which then reports
  // the other thread's copy being freed as a race. `last_error()` builds a fresh Status.
  absl::StatusCode last_error_code_ ABSL_GUARDED_BY(mu_) = absl::StatusCode::kOk;
  std::string last_error_message_ ABSL_GUARDED_BY(mu_);

  // Read lock-free by `redis_up` on every admission: relaxed would do for a hint, acquire/release
  // keeps it simple to reason about and costs nothing on x86.
  std::atomic<bool> connected_{false};
  std::atomic<uint64_t> epoch_{0};
  // Clock time (ns since its epoch) since when the oldest unanswered request has waited, or
  // since the last success if that is later; 0 when nothing waits.
  std::atomic<int64_t> waiting_since_ns_{0};
  std::atomic<int64_t> last_success_ns_{0};
  std::atomic<uint64_t> leases_{0};
  std::atomic<uint64_t> tokens_leased_{0};
  std::atomic<uint64_t> redis_errors_{0};

  std::thread thread_;  // last: started after everything it uses is constructed
};

}  // namespace gatehouse::globallimit

#endif  // GATEHOUSE_GLOBALLIMIT_REDIS_LEASER_H_
