// Output and OutputReader: a job's captured stdout+stderr, kept in one file that is also the
// buffer for every reader.
//
// The job's stdout and stderr share one pipe, so the file holds the bytes in the order the job
// wrote them (the streams are not tagged). The writer side (the runner's pump) moves bytes from
// that pipe into the file with splice(2), then publishes the new size and wakes readers. A reader
// has its own read-only fd and offset, reads with pread(2) up to the published size, and never
// holds more memory than the buffer its caller passes: a slow reader costs nothing but its
// offset, and never slows the job or other readers.
//
// Thread-safety: Output is thread-safe (one pump thread writes; readers on any threads).
// OutputReader is thread-compatible (one owner), but NotifyWhenReadable's callback runs on the
// pump's thread.
#ifndef GATEHOUSE_JOBS_OUTPUT_H_
#define GATEHOUSE_JOBS_OUTPUT_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "base/mutex.h"
#include "base/unique_fd.h"

namespace gatehouse::jobs {

class OutputReader;

// Shared by the pump and every reader (shared lifetime: readers may outlive the job's entry).
class Output : public std::enable_shared_from_this<Output> {
 public:
  // Creates (O_EXCL, mode 0600) the file at `path`. AlreadyExists or the errno text otherwise.
  static absl::StatusOr<std::shared_ptr<Output>> Create(const std::string& path);

  Output(const Output&) = delete;
  Output& operator=(const Output&) = delete;
  Output(Output&&) = delete;
  Output& operator=(Output&&) = delete;
  ~Output();

  // Pump side. Moves what `pipe_fd` (borrowed, non-blocking) holds into the file, up to
  // `max_bytes`, and publishes it. Returns the bytes moved; 0 with ok status means the pipe is
  // empty right now (EAGAIN) or at end-of-file (the caller tells those apart by epoll's EPOLLHUP).
  absl::StatusOr<size_t> PumpFrom(int pipe_fd, size_t max_bytes);
  // Pump side, for tests and for messages the runner itself adds: appends `bytes`.
  absl::Status Append(absl::string_view bytes);
  // No more bytes will come: readers see end-of-stream once they have read everything.
  void Close();

  // A reader starting at byte 0. ResourceExhausted when `max_readers` (0: no cap) are open
  // already; otherwise fails only if the file cannot be opened.
  absl::StatusOr<std::unique_ptr<OutputReader>> OpenReader(size_t max_readers = 0);
  size_t open_readers() const;

  uint64_t size() const;
  bool closed() const;
  const std::string& path() const { return path_; }

 private:
  friend class OutputReader;
  Output(std::string path, base::UniqueFd fd);

  // Reader side, keyed by the reader's offset.
  bool AtEnd(uint64_t offset) const;
  bool WaitReadable(uint64_t offset, std::chrono::steady_clock::time_point deadline);
  bool ReadableLocked(uint64_t offset) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return size_ > offset || closed_;
  }

  // Waiter registry for NotifyWhenReadable: callbacks run once, on the pump thread, outside mu_.
  // AddWaiter registers `wake` (moving it out) and returns its id, unless a reader at `offset`
  // can read now: then it returns 0 and leaves `wake` to the caller. Checking and registering
  // under one lock is what keeps a Publish in between from being missed.
  uint64_t AddWaiter(uint64_t offset, std::function<void()>& wake);
  // Once this returns, the waiter's callback is not running and will not run (see output.cc).
  void RemoveWaiter(uint64_t id);
  void Publish(uint64_t new_size, bool close);
  void RunWaiter(uint64_t id, const std::function<void()>& wake);

  const std::string path_;
  base::UniqueFd write_fd_;  // pump only
  mutable base::Mutex mu_;
  base::CondVar changed_;
  uint64_t size_ ABSL_GUARDED_BY(mu_) = 0;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t next_waiter_ ABSL_GUARDED_BY(mu_) = 1;
  size_t readers_ ABSL_GUARDED_BY(mu_) = 0;  // OutputReaders alive
  absl::flat_hash_map<uint64_t, std::function<void()>> waiters_ ABSL_GUARDED_BY(mu_);
  // Waiters a Publish has taken out of waiters_ and not finished: std::thread::id() while they
  // wait their turn, else the thread running the callback (so RemoveWaiter knows whether to
  // wait for it, and that it must not when called from inside that very callback).
  absl::flat_hash_map<uint64_t, std::thread::id> dispatching_ ABSL_GUARDED_BY(mu_);
};

class OutputReader {
 public:
  // Cancels a pending NotifyWhenReadable callback when destroyed (or when Cancel() is called);
  // after that returns the callback has finished and will not run. If the callback is running on
  // another thread, Cancel waits for it (up to 10 s, then logs an error and gives up); from
  // inside the callback itself it returns at once. It does not keep the Output alive.
  class Subscription {
   public:
    Subscription() = default;
    Subscription(Subscription&& other) noexcept;
    Subscription& operator=(Subscription&& other) noexcept;
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;
    ~Subscription() { Cancel(); }
    void Cancel();

   private:
    friend class OutputReader;
    Subscription(std::weak_ptr<Output> output, uint64_t id) : output_(std::move(output)), id_(id) {}
    std::weak_ptr<Output> output_;
    uint64_t id_ = 0;
  };

  OutputReader(const OutputReader&) = delete;
  OutputReader& operator=(const OutputReader&) = delete;
  OutputReader(OutputReader&&) = delete;
  OutputReader& operator=(OutputReader&&) = delete;
  ~OutputReader();

  // Copies up to buffer.size() bytes from this reader's offset. 0: nothing new yet, or at end
  // (see at_end()).
  absl::StatusOr<size_t> Read(absl::Span<char> buffer);
  // The output is closed and this reader has read all of it.
  bool at_end() const;
  // Blocks until there are bytes past this reader's offset, or the output is closed, or
  // `deadline`. Returns true unless the deadline passed first.
  bool WaitReadable(std::chrono::steady_clock::time_point deadline);
  // Runs `wake` once, as soon as there are bytes to read or the output is closed (at once, on
  // the caller's thread, if that is already so). For event-driven readers (gRPC reactors).
  Subscription NotifyWhenReadable(std::function<void()> wake);
  uint64_t offset() const { return offset_; }

 private:
  friend class Output;
  OutputReader(std::shared_ptr<Output> output, base::UniqueFd fd)
      : output_(std::move(output)), fd_(std::move(fd)) {}

  std::shared_ptr<Output> output_;
  base::UniqueFd fd_;
  uint64_t offset_ = 0;
};

}  // namespace gatehouse::jobs

#endif  // GATEHOUSE_JOBS_OUTPUT_H_
