// BufferPool: copy buffers for the forwarder, kept for reuse by one thread, so that a direction
// of a connection holds a buffer only while bytes are in flight (read, not yet written) and an
// idle connection holds none: 10,000 idle connections with a 64 KiB buffer per direction would
// otherwise keep 1.25 GiB resident. What stays resident is the pool, at most `kMaxBuffers`
// buffers per thread, whatever the number of connections.
//
// Buffers are not zeroed: every byte the forwarder writes out was read in first, so zeroing would
// only make pages resident that a short message never touches.
//
// Thread-compatible; `ThisThread()`'s pool is touched only by its own thread, so it takes no
// lock. A PooledBuffer goes back to the pool of the thread that destroys it.
#ifndef GATEHOUSE_LB_INTERNAL_BUFFER_POOL_H_
#define GATEHOUSE_LB_INTERNAL_BUFFER_POOL_H_

#include <cstddef>
#include <memory>
#include <vector>

namespace gatehouse::lb::internal {

// A buffer lent by a pool; move-only. Destruction (or Reset()) gives it back to the calling
// thread's pool.
class PooledBuffer {
 public:
  PooledBuffer() = default;
  PooledBuffer(std::unique_ptr<char[]> data, size_t size_bytes)
      : data_(std::move(data)), size_bytes_(size_bytes) {}
  PooledBuffer(const PooledBuffer&) = delete;
  PooledBuffer& operator=(const PooledBuffer&) = delete;
  PooledBuffer(PooledBuffer&& other) noexcept;
  PooledBuffer& operator=(PooledBuffer&& other) noexcept;
  ~PooledBuffer() { Reset(); }

  char* data() const { return data_.get(); }
  size_t size() const { return size_bytes_; }
  bool is_valid() const { return data_ != nullptr; }

  // Gives the buffer back now; the PooledBuffer is then empty.
  void Reset();

 private:
  std::unique_ptr<char[]> data_;
  size_t size_bytes_ = 0;
};

class BufferPool {
 public:
  static constexpr size_t kMaxBuffers = 64;

  explicit BufferPool(size_t max_buffers = kMaxBuffers) : max_buffers_(max_buffers) {}
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;
  BufferPool(BufferPool&&) = delete;
  BufferPool& operator=(BufferPool&&) = delete;
  ~BufferPool() = default;

  // The calling thread's pool, created on first use and destroyed when the thread exits; nullptr
  // once it has been destroyed.
  static BufferPool* ThisThread();

  // A buffer of `size_bytes` from the pool, or a new one (not zeroed).
  std::unique_ptr<char[]> Take(size_t size_bytes);
  // Keeps `data` (of `size_bytes`) for reuse when the pool has room; frees it otherwise.
  void Give(std::unique_ptr<char[]> data, size_t size_bytes);

  // Buffers waiting for reuse.
  size_t size() const { return buffers_.size(); }

 private:
  struct Entry {
    std::unique_ptr<char[]> data;
    size_t size_bytes = 0;
  };

  const size_t max_buffers_;
  std::vector<Entry> buffers_;
};

// A buffer of `size_bytes` from the calling thread's pool.
PooledBuffer AcquireBuffer(size_t size_bytes);

}  // namespace gatehouse::lb::internal

#endif  // GATEHOUSE_LB_INTERNAL_BUFFER_POOL_H_
