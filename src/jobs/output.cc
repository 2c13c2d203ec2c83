#include "jobs/output.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace gatehouse::jobs {
namespace {

// How long RemoveWaiter waits for a callback that is running on another thread. Callbacks are
// meant to be short (they schedule work, they do not do it); a bound keeps a stuck callback
// from hanging the canceller for ever.
constexpr std::chrono::seconds kCancelWait(10);

absl::Status ClosedError(const std::string& path) {
  return absl::FailedPreconditionError(absl::StrCat("output ", path, " is closed"));
}

}  // namespace

absl::StatusOr<std::shared_ptr<Output>> Output::Create(const std::string& path) {
  base::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd.is_valid()) {
    const int error = errno;
    return absl::ErrnoToStatus(error, absl::StrCat("create output file ", path));
  }
  // Not make_shared: the constructor is private.
  return std::shared_ptr<Output>(new Output(path, std::move(fd)));
}

Output::Output(std::string path, base::UniqueFd fd)
    : path_(std::move(path)), write_fd_(std::move(fd)) {}

Output::~Output() = default;

absl::StatusOr<size_t> Output::PumpFrom(int pipe_fd, size_t max_bytes) {
  if (closed()) return ClosedError(path_);
  size_t moved = 0;
  absl::Status status;
  while (moved < max_bytes) {
    // No offsets: the write fd has no O_APPEND (splice refuses those), so the file position is
    // the end of what was written.
    const ssize_t n = ::splice(pipe_fd, nullptr, write_fd_.get(), nullptr, max_bytes - moved,
                               SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n > 0) {
      moved += static_cast<size_t>(n);
      continue;
    }
    const int error = n == 0 ? 0 : errno;  // 0: end-of-file
    if (error == EINTR) continue;
    if (error != 0 && error != EAGAIN) {  // EAGAIN: the pipe is empty for now
      status = absl::ErrnoToStatus(
          error, absl::StrCat("splice from pipe fd ", pipe_fd, " into output file ", path_));
    }
    break;
  }
  // Bytes moved before an error are in the file: readers get them either way.
  if (moved > 0) Publish(size() + moved, /*close=*/false);
  if (!status.ok()) return status;
  return moved;
}

absl::Status Output::Append(absl::string_view bytes) {
  if (closed()) return ClosedError(path_);
  size_t written = 0;
  absl::Status status;
  while (written < bytes.size()) {
    const ssize_t n = ::write(write_fd_.get(), bytes.data() + written, bytes.size() - written);
    if (n >= 0) {
      written += static_cast<size_t>(n);
      continue;
    }
    const int error = errno;
    if (error != EINTR) {
      status = absl::ErrnoToStatus(error, absl::StrCat("write output file ", path_));
      break;
    }
  }
  if (written > 0) Publish(size() + written, /*close=*/false);
  return status;
}

void Output::Close() {
  Publish(size(), /*close=*/true);
  // Nothing more is written: a finished job's output holds no fd, however long it is kept.
  write_fd_.Reset();
}

absl::StatusOr<std::unique_ptr<OutputReader>> Output::OpenReader(size_t max_readers) {
  {
    base::MutexLock lock(&mu_);
    if (max_readers > 0 && readers_ >= max_readers) {
      return absl::ResourceExhaustedError(
          absl::StrCat(readers_, " readers of ", path_, " are open already (the cap)"));
    }
    ++readers_;  // reserved before the open, so that concurrent opens cannot pass the cap
  }
  base::UniqueFd fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.is_valid()) {
    const int error = errno;
    base::MutexLock lock(&mu_);
    --readers_;
    return absl::ErrnoToStatus(error, absl::StrCat("open output file ", path_, " for reading"));
  }
  // Not make_unique: the constructor is private.
  return std::unique_ptr<OutputReader>(new OutputReader(shared_from_this(), std::move(fd)));
}

size_t Output::open_readers() const {
  base::MutexLock lock(&mu_);
  return readers_;
}

uint64_t Output::size() const {
  base::MutexLock lock(&mu_);
  return size_;
}

bool Output::closed() const {
  base::MutexLock lock(&mu_);
  return closed_;
}

bool Output::AtEnd(uint64_t offset) const {
  base::MutexLock lock(&mu_);
  return closed_ && offset == size_;
}

bool Output::WaitReadable(uint64_t offset, std::chrono::steady_clock::time_point deadline) {
  base::MutexLock lock(&mu_);
  return changed_.WaitUntil(&mu_, deadline, [this, offset]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return ReadableLocked(offset);
  });
}

uint64_t Output::AddWaiter(uint64_t offset, std::function<void()>& wake) {
  base::MutexLock lock(&mu_);
  if (ReadableLocked(offset)) return 0;
  const uint64_t id = next_waiter_++;
  waiters_.emplace(id, std::move(wake));
  return id;
}

// Cancel semantics. A waiter is in one of three places:
//   - waiters_: not taken by a Publish yet. Removing it is enough.
//   - dispatching_ with thread::id(): taken by a Publish that has not reached it yet. Removing
//     it makes RunWaiter skip it (RunWaiter checks under mu_ before it starts the callback).
//   - dispatching_ with a thread: its callback is running. We wait on changed_ until RunWaiter
//     erases it after the callback returned, except when the callback is cancelling itself
//     (same thread): waiting would deadlock, and a one-shot callback cannot run again anyway.
// Either way, once RemoveWaiter returns the callback is not running and will not run.
void Output::RemoveWaiter(uint64_t id) {
  // Declared before the lock, so destroyed after it is released: the callback's captures may do
  // anything in their destructors, including cancelling other subscriptions.
  std::function<void()> dropped;
  base::MutexLock lock(&mu_);
  if (auto waiter = waiters_.find(id); waiter != waiters_.end()) {
    dropped = std::move(waiter->second);
    waiters_.erase(waiter);
    return;
  }
  const auto dispatching = dispatching_.find(id);
  if (dispatching == dispatching_.end()) return;  // it already ran
  if (dispatching->second == std::thread::id()) {
    dispatching_.erase(dispatching);
    return;
  }
  if (dispatching->second == std::this_thread::get_id()) return;
  const bool finished = changed_.WaitUntil(
      &mu_, std::chrono::steady_clock::now() + kCancelWait,
      [this, id]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !dispatching_.contains(id); });
  if (!finished) {
    spdlog::error(
        "output {}: a readability callback is still running after {} s; cancelling it "
        "without waiting further",
        path_, kCancelWait.count());
  }
}

void Output::Publish(uint64_t new_size, bool close) {
  absl::flat_hash_map<uint64_t, std::function<void()>> wake;
  {
    base::MutexLock lock(&mu_);
    size_ = std::max(size_, new_size);
    closed_ = closed_ || close;
    // Every waiter was registered at the size it had read up to, so any growth (or the close)
    // makes all of them readable.
    wake.swap(waiters_);
    for (const auto& waiter : wake) dispatching_.emplace(waiter.first, std::thread::id());
  }
  changed_.NotifyAll();
  for (const auto& [id, callback] : wake) RunWaiter(id, callback);
}

void Output::RunWaiter(uint64_t id, const std::function<void()>& wake) {
  {
    base::MutexLock lock(&mu_);
    const auto dispatching = dispatching_.find(id);
    if (dispatching == dispatching_.end()) return;  // cancelled while waiting its turn
    dispatching->second = std::this_thread::get_id();
  }
  wake();
  base::MutexLock lock(&mu_);
  dispatching_.erase(id);
  // Wakes a RemoveWaiter waiting for this callback to finish.
  changed_.NotifyAll();
}

OutputReader::~OutputReader() {
  base::MutexLock lock(&output_->mu_);
  --output_->readers_;
}

absl::StatusOr<size_t> OutputReader::Read(absl::Span<char> buffer) {
  const uint64_t available = output_->size() - offset_;
  const size_t want = static_cast<size_t>(std::min<uint64_t>(buffer.size(), available));
  if (want == 0) return 0;
  while (true) {
    const ssize_t n = ::pread(fd_.get(), buffer.data(), want, static_cast<off_t>(offset_));
    if (n > 0) {
      offset_ += static_cast<uint64_t>(n);
      return static_cast<size_t>(n);
    }
    if (n == 0) {
      // The published bytes were written before they were published, so only someone
      // truncating the file behind our back gets here.
      return absl::DataLossError(absl::StrCat("output file ", output_->path(), " ends at ", offset_,
                                              ", before its published size"));
    }
    const int error = errno;
    if (error != EINTR) {
      return absl::ErrnoToStatus(
          error, absl::StrCat("read output file ", output_->path(), " at offset ", offset_));
    }
  }
}

bool OutputReader::at_end() const { return output_->AtEnd(offset_); }

bool OutputReader::WaitReadable(std::chrono::steady_clock::time_point deadline) {
  return output_->WaitReadable(offset_, deadline);
}

OutputReader::Subscription OutputReader::NotifyWhenReadable(std::function<void()> wake) {
  const uint64_t id = output_->AddWaiter(offset_, wake);
  if (id == 0) {
    wake();
    return {};
  }
  return {output_, id};
}

OutputReader::Subscription::Subscription(Subscription&& other) noexcept
    : output_(std::move(other.output_)), id_(std::exchange(other.id_, 0)) {}

OutputReader::Subscription& OutputReader::Subscription::operator=(Subscription&& other) noexcept {
  if (this != &other) {
    Cancel();
    output_ = std::move(other.output_);
    id_ = std::exchange(other.id_, 0);
  }
  return *this;
}

void OutputReader::Subscription::Cancel() {
  const uint64_t id = std::exchange(id_, 0);
  // Locked only now: a Subscription does not keep the Output alive, and if it is gone no
  // callback of it can run.
  const std::shared_ptr<Output> output = std::exchange(output_, {}).lock();
  if (id != 0 && output != nullptr) output->RemoveWaiter(id);
}

}  // namespace gatehouse::jobs
