// OutputStream: the server side of one StreamOutput call, a gRPC callback-API write reactor.
//
// It sends a job's output from its first byte: it reads what the file holds in chunks, writes
// one chunk at a time, and when it has caught up it asks the output to call it back once there
// is more (OutputReader::NotifyWhenReadable), holding no thread while it waits. It finishes with
// OK once the job has ended and every byte was sent, and at once when the client cancels or its
// deadline passes, which also drops its reader and its callback.
//
// Lifetime: gRPC owns it until OnDone; a pending readiness callback, which runs on the job
// runner's thread outside any gRPC reaction, holds a reference of its own. Whoever drops the
// last one deletes it. Thread-safe in the way gRPC reactors must be.
#ifndef GATEHOUSE_API_OUTPUT_STREAM_H_
#define GATEHOUSE_API_OUTPUT_STREAM_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "base/mutex.h"
#include "gatehouse/v1/jobs.pb.h"
#include "grpcpp/grpcpp.h"
#include "jobs/output.h"

namespace gatehouse::api {

class OutputStream final : public grpc::ServerWriteReactor<v1::OutputChunk> {
 public:
  // Bytes per OutputChunk: under gRPC's default 4 MiB message cap with room to spare, large
  // enough that a fast reader is not bound by per-message costs.
  static constexpr size_t kChunkBytes = size_t{1} << 20;

  // `on_bytes` counts what was sent (for metrics); `on_end` runs once, in OnDone.
  OutputStream(std::unique_ptr<jobs::OutputReader> reader, std::function<void(size_t)> on_bytes,
               std::function<void()> on_end);
  OutputStream(const OutputStream&) = delete;
  OutputStream& operator=(const OutputStream&) = delete;
  OutputStream(OutputStream&&) = delete;
  OutputStream& operator=(OutputStream&&) = delete;

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  ~OutputStream() override = default;
  // Sends what there is, finishes at the end, or waits for more. Called by one party at a time
  // (the constructor, OnWriteDone, or the readiness callback), never two at once.
  void Pump();
  void FinishOnce(const grpc::Status& status);
  void Unref();

  std::unique_ptr<jobs::OutputReader> reader_;
  v1::OutputChunk chunk_;
  const std::function<void(size_t)> on_bytes_;
  const std::function<void()> on_end_;
  std::atomic<int> refs_{1};  // gRPC's, until OnDone

  base::Mutex mu_;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool waiting_ ABSL_GUARDED_BY(mu_) = false;     // a readiness callback is pending or running
  uint64_t wait_count_ ABSL_GUARDED_BY(mu_) = 0;  // waits begun, to tell the current one
  jobs::OutputReader::Subscription subscription_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gatehouse::api

#endif  // GATEHOUSE_API_OUTPUT_STREAM_H_
