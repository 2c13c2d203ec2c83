#include "lb/internal/pipe_pool.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace gatehouse::lb::internal {
namespace {

constexpr uint32_t kCapacity = 64 * 1024;

int QueuedBytes(const Pipe& pipe) {
  int queued = -1;
  EXPECT_EQ(::ioctl(pipe.read_end.get(), FIONREAD, &queued), 0);
  return queued;
}

bool IsOpen(int fd) { return ::fcntl(fd, F_GETFD) != -1 || errno != EBADF; }

TEST(PipePoolTest, ReusesAnEmptyPipe) {
  PipePool pool;
  Pipe pipe;
  ASSERT_FALSE(pool.Acquire(kCapacity, &pipe));
  ASSERT_TRUE(pipe.is_valid());
  EXPECT_GE(pipe.capacity_bytes, kCapacity);
  const int read_end = pipe.read_end.get();
  pool.Release(std::move(pipe));
  EXPECT_EQ(pool.size(), 1U);
  Pipe again;
  ASSERT_FALSE(pool.Acquire(kCapacity, &again));
  EXPECT_EQ(again.read_end.get(), read_end) << "the pooled pipe should have been reused";
  EXPECT_EQ(pool.size(), 0U);
}

TEST(PipePoolTest, NeverHandsOutAPipeWithBytesInIt) {
  PipePool pool;
  Pipe dirty;
  ASSERT_FALSE(pool.Acquire(kCapacity, &dirty));
  ASSERT_EQ(::write(dirty.write_end.get(), "left over", 9), 9);
  const int dirty_read_end = dirty.read_end.get();
  pool.Release(std::move(dirty));
  EXPECT_EQ(pool.size(), 0U) << "a pipe with bytes in it must not be pooled";
  EXPECT_FALSE(IsOpen(dirty_read_end)) << "a pipe with bytes in it must be closed";
  Pipe next;
  ASSERT_FALSE(pool.Acquire(kCapacity, &next));
  EXPECT_EQ(QueuedBytes(next), 0);
}

TEST(PipePoolTest, DrainedPipeIsReusedEmpty) {
  PipePool pool;
  Pipe pipe;
  ASSERT_FALSE(pool.Acquire(kCapacity, &pipe));
  char bytes[4];
  ASSERT_EQ(::write(pipe.write_end.get(), "abcd", 4), 4);
  ASSERT_EQ(::read(pipe.read_end.get(), bytes, 4), 4);
  pool.Release(std::move(pipe));
  ASSERT_EQ(pool.size(), 1U);
  Pipe again;
  ASSERT_FALSE(pool.Acquire(kCapacity, &again));
  EXPECT_EQ(QueuedBytes(again), 0);
}

TEST(PipePoolTest, KeepsAtMostItsBoundAndClosesTheRest) {
  PipePool pool(/*max_pipes=*/2);
  std::vector<Pipe> pipes(3);
  for (Pipe& pipe : pipes) ASSERT_FALSE(pool.Acquire(kCapacity, &pipe));
  const int third_read_end = pipes[2].read_end.get();
  const int third_write_end = pipes[2].write_end.get();
  for (Pipe& pipe : pipes) pool.Release(std::move(pipe));
  EXPECT_EQ(pool.size(), 2U);
  EXPECT_FALSE(IsOpen(third_read_end));
  EXPECT_FALSE(IsOpen(third_write_end));
}

TEST(PipePoolTest, ResizesAPooledPipeForAnotherCapacity) {
  PipePool pool;
  Pipe pipe;
  ASSERT_FALSE(pool.Acquire(kCapacity, &pipe));
  pool.Release(std::move(pipe));
  Pipe larger;
  ASSERT_FALSE(pool.Acquire(4 * kCapacity, &larger));
  EXPECT_EQ(larger.requested_bytes, 4 * kCapacity);
  // The kernel may refuse more than pipe-max-size; what it granted is what the pipe says.
  EXPECT_EQ(larger.capacity_bytes,
            static_cast<size_t>(::fcntl(larger.write_end.get(), F_GETPIPE_SZ)));
}

TEST(PipePoolTest, EachThreadHasItsOwnPool) {
  PipePool* mine = PipePool::ThisThread();
  PipePool* theirs = nullptr;
  std::thread([&theirs] { theirs = PipePool::ThisThread(); }).join();
  ASSERT_NE(mine, nullptr);
  EXPECT_NE(mine, theirs);
}

}  // namespace
}  // namespace gatehouse::lb::internal
