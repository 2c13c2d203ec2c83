#include "lb/internal/buffer_pool.h"

#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace gatehouse::lb::internal {
namespace {

TEST(BufferPoolTest, ReusesAGivenBackBufferOfTheSameSize) {
  BufferPool pool;
  std::unique_ptr<char[]> buffer = pool.Take(4096);
  char* const address = buffer.get();
  pool.Give(std::move(buffer), 4096);
  EXPECT_EQ(pool.size(), 1U);
  EXPECT_EQ(pool.Take(4096).get(), address);
  EXPECT_EQ(pool.size(), 0U);
}

TEST(BufferPoolTest, DoesNotHandOutABufferOfAnotherSize) {
  BufferPool pool;
  pool.Give(pool.Take(4096), 4096);
  std::unique_ptr<char[]> larger = pool.Take(8192);
  ASSERT_NE(larger, nullptr);
  EXPECT_EQ(pool.size(), 0U) << "the smaller buffer should have been freed, not kept";
}

TEST(BufferPoolTest, KeepsAtMostItsBound) {
  BufferPool pool(/*max_buffers=*/2);
  std::vector<std::unique_ptr<char[]>> buffers(3);
  for (auto& buffer : buffers) buffer = pool.Take(1024);
  for (auto& buffer : buffers) pool.Give(std::move(buffer), 1024);
  EXPECT_EQ(pool.size(), 2U);
}

TEST(BufferPoolTest, PooledBufferGoesBackToThisThreadsPoolWhenDestroyed) {
  BufferPool* pool = BufferPool::ThisThread();
  ASSERT_NE(pool, nullptr);
  char* address = nullptr;
  size_t while_held = 0;
  {
    PooledBuffer buffer = AcquireBuffer(12345);
    ASSERT_TRUE(buffer.is_valid());
    EXPECT_EQ(buffer.size(), 12345U);
    address = buffer.data();
    while_held = pool->size();  // the thread's pool is shared by every test on this thread
    PooledBuffer moved = std::move(buffer);
    EXPECT_FALSE(buffer.is_valid());  // NOLINT(bugprone-use-after-move): the moved-from state
    EXPECT_EQ(moved.data(), address);
  }
  EXPECT_EQ(pool->size(), while_held + 1);
  EXPECT_EQ(AcquireBuffer(12345).data(), address) << "the last buffer given back comes out first";
}

TEST(BufferPoolTest, EachThreadHasItsOwnPool) {
  BufferPool* mine = BufferPool::ThisThread();
  BufferPool* theirs = nullptr;
  std::thread([&theirs] { theirs = BufferPool::ThisThread(); }).join();
  ASSERT_NE(mine, nullptr);
  EXPECT_NE(mine, theirs);
}

}  // namespace
}  // namespace gatehouse::lb::internal
