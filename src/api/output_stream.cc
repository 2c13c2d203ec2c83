#include "api/output_stream.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace gatehouse::api {

OutputStream::OutputStream(std::unique_ptr<jobs::OutputReader> reader,
                           std::function<void(size_t)> on_bytes, std::function<void()> on_end)
    : reader_(std::move(reader)), on_bytes_(std::move(on_bytes)), on_end_(std::move(on_end)) {
  Pump();
}

void OutputStream::Pump() {
  // Read straight into the message: one copy fewer per byte than through a buffer of our own.
  // Growing back to kChunkBytes after a short read zero-fills only what the short read left.
  std::string& data = *chunk_.mutable_data();
  data.resize(kChunkBytes);
  const absl::StatusOr<size_t> read = reader_->Read(absl::MakeSpan(data.data(), data.size()));
  data.resize(read.ok() ? *read : 0);
  if (!read.ok()) {
    FinishOnce(grpc::Status(grpc::StatusCode::INTERNAL,
                            absl::StrCat("reading the job's output: ", read.status().message())));
    return;
  }
  if (*read > 0) {
    {
      base::MutexLock lock(&mu_);
      if (finished_) return;
      writing_ = true;
    }
    on_bytes_(*read);
    StartWrite(&chunk_);
    return;
  }
  if (reader_->at_end()) {
    FinishOnce(grpc::Status::OK);
    return;
  }
  uint64_t wait = 0;
  {
    base::MutexLock lock(&mu_);
    if (finished_) return;
    waiting_ = true;
    wait = ++wait_count_;
  }
  // The callback may run before NotifyWhenReadable returns (bytes arrived meanwhile), here or on
  // the runner's thread; its reference keeps this alive either way.
  refs_.fetch_add(1, std::memory_order_relaxed);
  jobs::OutputReader::Subscription subscription = reader_->NotifyWhenReadable([this] {
    {
      base::MutexLock lock(&mu_);
      waiting_ = false;
    }
    Pump();
    Unref();
  });
  {
    base::MutexLock lock(&mu_);
    // Kept only while this wait is pending: if its callback has run already, what it started
    // (a write, then perhaps a newer wait) is not to be overwritten.
    if (waiting_ && wait_count_ == wait) {
      subscription_ = std::move(subscription);
      return;
    }
  }
  // Destroyed outside the lock: a callback still finishing on the runner's thread may need it.
}

void OutputStream::OnWriteDone(bool ok) {
  {
    base::MutexLock lock(&mu_);
    writing_ = false;
  }
  if (!ok) {  // the client went away or cancelled
    FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, "the client went away"));
    return;
  }
  Pump();
}

void OutputStream::OnCancel() {
  // A write in flight ends with ok=false (OnWriteDone finishes then); a wait for output that
  // may never come must end here.
  jobs::OutputReader::Subscription subscription;
  bool was_waiting = false;
  {
    base::MutexLock lock(&mu_);
    if (writing_) return;
    was_waiting = waiting_;
    subscription = std::move(subscription_);
  }
  subscription.Cancel();  // after this the callback has run or never will
  bool never_ran = false;
  {
    base::MutexLock lock(&mu_);
    never_ran = was_waiting && waiting_;
    waiting_ = false;
  }
  if (never_ran) Unref();
  FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the client"));
}

void OutputStream::FinishOnce(const grpc::Status& status) {
  {
    base::MutexLock lock(&mu_);
    if (finished_) return;
    finished_ = true;
  }
  Finish(status);
}

void OutputStream::OnDone() {
  jobs::OutputReader::Subscription subscription;
  bool was_waiting = false;
  {
    base::MutexLock lock(&mu_);
    was_waiting = waiting_;
    subscription = std::move(subscription_);
  }
  subscription.Cancel();
  bool never_ran = false;
  {
    base::MutexLock lock(&mu_);
    never_ran = was_waiting && waiting_;
    waiting_ = false;
  }
  if (never_ran) Unref();
  on_end_();
  Unref();
}

void OutputStream::Unref() {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

}  // namespace gatehouse::api
