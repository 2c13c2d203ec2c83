#include "lb/internal/pipe_pool.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

namespace gatehouse::lb::internal {
namespace {

// The default capacity of a Linux pipe (16 pages), assumed when F_GETPIPE_SZ fails.
constexpr size_t kDefaultPipeBytes = 65536;

// Set by the thread's pool as it is destroyed, so that a pipe given back later in the thread's
// teardown (a coroutine frame destroyed by another thread_local's destructor) is closed instead
// of touching a destroyed pool. A bool has no destructor, so it outlives the pool.
thread_local bool is_thread_pool_destroyed = false;

struct ThreadPipePool {
  ThreadPipePool() = default;
  ThreadPipePool(const ThreadPipePool&) = delete;
  ThreadPipePool& operator=(const ThreadPipePool&) = delete;
  ThreadPipePool(ThreadPipePool&&) = delete;
  ThreadPipePool& operator=(ThreadPipePool&&) = delete;
  ~ThreadPipePool() { is_thread_pool_destroyed = true; }

  PipePool pool;
};

void Resize(Pipe* pipe, uint32_t capacity_bytes) {
  // A larger pipe means fewer splice calls per byte. Failure (EPERM above pipe-max-size for an
  // unprivileged process) keeps the current capacity, which still works.
  ::fcntl(pipe->write_end.get(), F_SETPIPE_SZ, static_cast<int>(capacity_bytes));
  const int granted = ::fcntl(pipe->write_end.get(), F_GETPIPE_SZ);
  pipe->capacity_bytes = granted > 0 ? static_cast<size_t>(granted) : kDefaultPipeBytes;
  pipe->requested_bytes = capacity_bytes;
}

}  // namespace

PipePool* PipePool::ThisThread() {
  if (is_thread_pool_destroyed) return nullptr;
  thread_local ThreadPipePool thread_pool;
  return &thread_pool.pool;
}

std::error_code PipePool::Acquire(uint32_t capacity_bytes, Pipe* pipe) {
  if (!pipes_.empty()) {
    *pipe = std::move(pipes_.back());
    pipes_.pop_back();
    if (pipe->requested_bytes != capacity_bytes) Resize(pipe, capacity_bytes);
    return {};
  }
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return {errno, std::system_category()};
  pipe->read_end.Reset(fds[0]);
  pipe->write_end.Reset(fds[1]);
  Resize(pipe, capacity_bytes);
  return {};
}

void PipePool::Release(Pipe pipe) {
  if (!pipe.is_valid() || pipes_.size() >= max_pipes_) return;  // `pipe` closes itself
  // Bytes left in a pipe belong to the connection that put them there; reused, the pipe would
  // send them to another. The caller's count of bytes in flight should already say it is empty,
  // but a pool that a bug elsewhere could poison is not taken on trust.
  int queued = 0;
  if (::ioctl(pipe.read_end.get(), FIONREAD, &queued) != 0 || queued != 0) return;
  pipes_.push_back(std::move(pipe));
}

void ReleasePipe(Pipe pipe) {
  if (PipePool* pool = PipePool::ThisThread()) pool->Release(std::move(pipe));
}

}  // namespace gatehouse::lb::internal
