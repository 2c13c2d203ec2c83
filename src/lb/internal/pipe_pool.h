// PipePool: pipes for the forwarder's splice path, kept for reuse by one thread, so that a
// direction of a connection holds a pipe only while bytes are in flight and an idle connection
// holds none (10,000 idle connections would otherwise hold 40,000 pipe descriptors), while a bulk
// flow that drains and refills its pipe many times a second does not pay pipe2(2), fcntl(2) and
// two close(2) per burst.
//
// The pool is bounded (`kMaxPipes`): a pipe given back to a full pool is closed. A pipe is only
// ever pooled empty: one with bytes left in it (a connection that failed mid-transfer) is closed,
// so that no byte of one connection can reach another.
//
// Thread-compatible; the forwarder uses `ThisThread()`'s pool, which only its own thread touches,
// so it takes no lock. A pipe may be acquired on one thread and given back on another (an
// io_context run by several threads); it then simply joins the other thread's pool.
#ifndef GATEHOUSE_LB_INTERNAL_PIPE_POOL_H_
#define GATEHOUSE_LB_INTERNAL_PIPE_POOL_H_

#include <cstddef>
#include <cstdint>
#include <system_error>
#include <vector>

#include "base/unique_fd.h"

namespace gatehouse::lb::internal {

// Both ends of a pipe, non-blocking and close-on-exec.
struct Pipe {
  base::UniqueFd read_end;
  base::UniqueFd write_end;
  // The capacity asked for with F_SETPIPE_SZ, and what the kernel granted (F_GETPIPE_SZ): it
  // rounds up to a power of two pages, and refuses more than /proc/sys/fs/pipe-max-size to an
  // unprivileged process, which leaves the default 64 KiB.
  uint32_t requested_bytes = 0;
  size_t capacity_bytes = 0;

  bool is_valid() const { return read_end.is_valid() && write_end.is_valid(); }
};

class PipePool {
 public:
  static constexpr size_t kMaxPipes = 64;

  explicit PipePool(size_t max_pipes = kMaxPipes) : max_pipes_(max_pipes) {}
  PipePool(const PipePool&) = delete;
  PipePool& operator=(const PipePool&) = delete;
  PipePool(PipePool&&) = delete;
  PipePool& operator=(PipePool&&) = delete;
  ~PipePool() = default;

  // The calling thread's pool, created on first use and destroyed (its pipes closed) when the
  // thread exits; nullptr once it has been destroyed, while the thread's other thread_local
  // objects are torn down.
  static PipePool* ThisThread();

  // Sets `*pipe` to an empty pipe of `capacity_bytes` (best effort, see Pipe): a pooled one,
  // resized if it was made for another capacity, or a new one. The error is pipe2(2)'s (EMFILE,
  // ENFILE).
  std::error_code Acquire(uint32_t capacity_bytes, Pipe* pipe);

  // Keeps `pipe` for reuse when it is valid, empty (asked of the kernel with FIONREAD, not taken
  // on trust) and the pool has room; closes it otherwise.
  void Release(Pipe pipe);

  // Pipes waiting for reuse.
  size_t size() const { return pipes_.size(); }

 private:
  const size_t max_pipes_;
  std::vector<Pipe> pipes_;
};

// Gives `pipe` back to the calling thread's pool, or closes it when the thread has none left.
void ReleasePipe(Pipe pipe);

}  // namespace gatehouse::lb::internal

#endif  // GATEHOUSE_LB_INTERNAL_PIPE_POOL_H_
