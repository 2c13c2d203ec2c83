// Watch: follows one etcd key on a thread of its own and reports every change to it, in revision
// order, exactly once, across disconnects and etcd restarts.
//
// It holds one watch stream (POST /v3/watch on etcd's JSON gateway) open. When the stream breaks
// it reconnects, with exponential backoff and jitter, to the next endpoint in turn, resuming from
// the revision after the last one it handled, so no change is missed or repeated. If etcd has
// compacted that revision away, the changes in between are gone: it reads the key and reports its
// current value if it is newer than the last one reported (one update standing for the lost
// ones), then watches on from there.
#ifndef GATEHOUSE_ETCD_WATCH_H_
#define GATEHOUSE_ETCD_WATCH_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/mutex.h"
#include "etcd/client.h"

namespace gatehouse::etcd {

struct WatchOptions {
  // Wait before the first reconnect; doubled after each failed attempt up to `max_backoff`, and
  // back to `initial_backoff` once a stream is established. Each wait is drawn at random from
  // [backoff / 2, backoff] so that many watchers do not reconnect in step.
  std::chrono::milliseconds initial_backoff{100};
  std::chrono::milliseconds max_backoff{5000};
  // Called for a DELETE event with its revision; may be empty. After a compaction that hid a
  // delete, it gets the revision at which the key was read missing instead.
  std::function<void(int64_t revision)> on_delete;
};

// Thread-safe. Callbacks run on the watch thread, one at a time, in revision order; they must not
// block for long (Stop waits for the one running) and must not destroy the Watch (calling Stop is
// fine).
class Watch {
 public:
  // Starts watching `key` from `start_revision`, the first revision to report (0: changes after
  // the watch is established). `on_put` gets each PUT as a KeyValue (found = true; `revision` is
  // the header revision of the message that carried it). InvalidArgument for a null client, an
  // empty key, a negative revision, an empty callback or a bad backoff. Connecting happens on the
  // watch thread: an unreachable etcd is not an error here, only `connected()` stays false.
  static absl::StatusOr<std::unique_ptr<Watch>> Start(std::shared_ptr<const Client> client,
                                                      std::string key, int64_t start_revision,
                                                      std::function<void(const KeyValue&)> on_put,
                                                      WatchOptions options = {});

  Watch(const Watch&) = delete;
  Watch& operator=(const Watch&) = delete;
  Watch(Watch&&) = delete;
  Watch& operator=(Watch&&) = delete;
  // Stops (see Stop).
  ~Watch();

  // Ends the watch thread and waits for it, promptly (about 100 ms) whether the stream is open,
  // connecting or backing off. No callback runs after it returns. Idempotent. From a callback it
  // only asks the thread to stop.
  void Stop();

  // True while a watch stream is established (etcd confirmed it).
  bool connected() const { return connected_.load(std::memory_order_acquire); }
  // The mod_revision of the last PUT delivered to `on_put` (0 before the first).
  int64_t last_revision() const { return last_revision_.load(std::memory_order_acquire); }
  // Reconnect attempts so far (each attempt after the first connection attempt).
  uint64_t reconnects() const { return reconnects_.load(std::memory_order_relaxed); }

 private:
  Watch(std::shared_ptr<const Client> client, std::string key, int64_t start_revision,
        std::function<void(const KeyValue&)> on_put, WatchOptions options);

  // Outcome of one stream.
  struct StreamEnd {
    absl::Status status;
    bool was_connected = false;
    int64_t compact_revision = 0;  // Non-zero: the next revision was compacted away.
  };

  void Run();
  // Holds one stream to `endpoint` open until it ends; advances `next_revision_`.
  StreamEnd RunStream(const std::string& endpoint);
  // Handles one line of the stream; false ends the stream.
  bool HandleLine(std::string_view line, StreamEnd& end);
  // After a compaction: reads the key, reports it if newer, and moves `next_revision_` past it.
  absl::Status Resync();
  void DeliverPut(const KeyValue& kv);
  // Waits `delay` or until Stop; returns false when stopping.
  bool Sleep(std::chrono::milliseconds delay);

  const std::shared_ptr<const Client> client_;
  const std::string key_;
  const std::function<void(const KeyValue&)> on_put_;
  const WatchOptions options_;

  // The next revision to report; 0 until the first stream tells the current one. Only the watch
  // thread touches it.
  int64_t next_revision_;
  // Whether the last change handled was a PUT (so a key found missing after a compaction was
  // deleted since). Only the watch thread touches it.
  bool last_event_was_put_ = false;

  // Release/acquire: a reader that sees a revision also sees what the callback did before it.
  std::atomic<bool> stop_{false};
  std::atomic<bool> connected_{false};
  std::atomic<int64_t> last_revision_{0};
  std::atomic<uint64_t> reconnects_{0};

  base::Mutex mu_;
  base::CondVar stopping_;  // Signaled by Stop, to cut a backoff wait short.
  // The watch thread's id, stored by that thread before anything else, so that Stop called from a
  // callback can tell.
  std::atomic<std::thread::id> thread_id_{};
  base::Mutex join_mu_;  // Serializes joining the thread among concurrent Stop calls.
  std::thread thread_ ABSL_GUARDED_BY(join_mu_);
};

}  // namespace gatehouse::etcd

#endif  // GATEHOUSE_ETCD_WATCH_H_
