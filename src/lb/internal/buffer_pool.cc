#include "lb/internal/buffer_pool.h"

#include <utility>

namespace gatehouse::lb::internal {
namespace {

// Set by the thread's pool as it is destroyed (see pipe_pool.cc): a buffer given back later in
// the thread's teardown is freed instead of touching a destroyed pool.
thread_local bool is_thread_pool_destroyed = false;

struct ThreadBufferPool {
  ThreadBufferPool() = default;
  ThreadBufferPool(const ThreadBufferPool&) = delete;
  ThreadBufferPool& operator=(const ThreadBufferPool&) = delete;
  ThreadBufferPool(ThreadBufferPool&&) = delete;
  ThreadBufferPool& operator=(ThreadBufferPool&&) = delete;
  ~ThreadBufferPool() { is_thread_pool_destroyed = true; }

  BufferPool pool;
};

}  // namespace

PooledBuffer::PooledBuffer(PooledBuffer&& other) noexcept
    : data_(std::move(other.data_)), size_bytes_(std::exchange(other.size_bytes_, 0)) {}

PooledBuffer& PooledBuffer::operator=(PooledBuffer&& other) noexcept {
  if (this != &other) {
    Reset();
    data_ = std::move(other.data_);
    size_bytes_ = std::exchange(other.size_bytes_, 0);
  }
  return *this;
}

void PooledBuffer::Reset() {
  if (data_ == nullptr) return;
  if (BufferPool* pool = BufferPool::ThisThread()) {
    pool->Give(std::move(data_), size_bytes_);
  }
  data_.reset();
  size_bytes_ = 0;
}

BufferPool* BufferPool::ThisThread() {
  if (is_thread_pool_destroyed) return nullptr;
  thread_local ThreadBufferPool thread_pool;
  return &thread_pool.pool;
}

std::unique_ptr<char[]> BufferPool::Take(size_t size_bytes) {
  // Connections on one thread normally share one size; a buffer of another size (options that
  // changed with a reload) is freed rather than kept to be skipped over on every take.
  while (!buffers_.empty()) {
    Entry entry = std::move(buffers_.back());
    buffers_.pop_back();
    if (entry.size_bytes == size_bytes) return std::move(entry.data);
  }
  return std::make_unique_for_overwrite<char[]>(size_bytes);
}

void BufferPool::Give(std::unique_ptr<char[]> data, size_t size_bytes) {
  if (data == nullptr || buffers_.size() >= max_buffers_) return;  // `data` frees itself
  buffers_.push_back({std::move(data), size_bytes});
}

PooledBuffer AcquireBuffer(size_t size_bytes) {
  BufferPool* pool = BufferPool::ThisThread();
  if (pool == nullptr) {
    return {std::make_unique_for_overwrite<char[]>(size_bytes), size_bytes};
  }
  return {pool->Take(size_bytes), size_bytes};
}

}  // namespace gatehouse::lb::internal
