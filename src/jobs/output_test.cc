#include "jobs/output.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "base/mutex.h"
#include "base/unique_fd.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/byte_pattern.h"
#include "testing/status_matchers.h"
#include "testing/temp_dir.h"
#include "testing/wait_for.h"

namespace gatehouse::jobs {
namespace {

using ::gatehouse::testing::FileMode;
using ::gatehouse::testing::IsOk;
using ::gatehouse::testing::StatusIs;
using ::gatehouse::testing::TempDir;
using ::gatehouse::testing::WaitFor;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

std::shared_ptr<Output> CreateOrDie(const std::string& path) {
  absl::StatusOr<std::shared_ptr<Output>> output = Output::Create(path);
  EXPECT_THAT(output, IsOk());
  return output.ok() ? *std::move(output) : nullptr;
}

std::unique_ptr<OutputReader> OpenOrDie(Output& output) {
  absl::StatusOr<std::unique_ptr<OutputReader>> reader = output.OpenReader();
  EXPECT_THAT(reader, IsOk());
  return reader.ok() ? *std::move(reader) : nullptr;
}

// Reads what is readable now, `chunk` bytes at a time.
std::string ReadAvailable(OutputReader& reader, size_t chunk) {
  std::string data;
  std::vector<char> buffer(chunk);
  while (true) {
    absl::StatusOr<size_t> n = reader.Read(absl::MakeSpan(buffer));
    EXPECT_THAT(n, IsOk());
    if (!n.ok() || *n == 0) return data;
    EXPECT_LE(*n, chunk);
    data.append(buffer.data(), *n);
  }
}

struct Pipe {
  base::UniqueFd read;
  base::UniqueFd write;
};

Pipe MakePipe() {
  int fds[2] = {-1, -1};
  EXPECT_EQ(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
  return {base::UniqueFd(fds[0]), base::UniqueFd(fds[1])};
}

// PumpFrom's count, or SIZE_MAX after failing the test.
size_t Pump(Output& output, int pipe_fd, size_t max_bytes) {
  absl::StatusOr<size_t> moved = output.PumpFrom(pipe_fd, max_bytes);
  EXPECT_THAT(moved, IsOk());
  return moved.value_or(SIZE_MAX);
}

void WriteToPipe(int fd, const std::string& bytes) {
  EXPECT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
}

// Each test gets a fresh Output in a temporary directory; OpenReader adds a reader on it.
class OutputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    output_ = CreateOrDie(tmp_.File("output"));
    ASSERT_NE(output_, nullptr);
  }

  // Call as ASSERT_NO_FATAL_FAILURE(OpenReader()).
  void OpenReader() {
    reader_ = OpenOrDie(*output_);
    ASSERT_NE(reader_, nullptr);
  }

  TempDir tmp_;
  std::shared_ptr<Output> output_;
  std::unique_ptr<OutputReader> reader_;
};

TEST_F(OutputTest, WhatIsWrittenIsReadBackInChunks) {
  ASSERT_NO_FATAL_FAILURE(OpenReader());
  EXPECT_EQ(ReadAvailable(*reader_, 7), "");
  EXPECT_FALSE(reader_->at_end());

  ASSERT_THAT(output_->Append("hello, "), IsOk());
  ASSERT_THAT(output_->Append(""), IsOk());
  ASSERT_THAT(output_->Append("world\n"), IsOk());
  EXPECT_EQ(output_->size(), 13U);
  EXPECT_EQ(ReadAvailable(*reader_, 3), "hello, world\n");
  EXPECT_EQ(reader_->offset(), 13U);
  EXPECT_FALSE(reader_->at_end());  // not closed: more may come

  output_->Close();
  EXPECT_TRUE(output_->closed());
  EXPECT_TRUE(reader_->at_end());
  EXPECT_EQ(testing::ReadFileOrFail(output_->path()), "hello, world\n");
}

// The Create tests use a directory of their own; the fixture's Output is not involved.
TEST_F(OutputTest, CreateRefusesAnExistingPath) {
  TempDir tmp;
  const std::string path = tmp.WriteFile("output", "someone else's");
  EXPECT_THAT(Output::Create(path), StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr(path)));
  EXPECT_EQ(testing::ReadFileOrFail(path), "someone else's");
}

TEST_F(OutputTest, CreateInAMissingDirectoryNamesThePath) {
  TempDir tmp;
  const std::string path = tmp.File("missing/output");
  EXPECT_THAT(Output::Create(path), StatusIs(absl::StatusCode::kNotFound, HasSubstr(path)));
}

TEST_F(OutputTest, FileIsPrivateToTheOwner) { EXPECT_EQ(FileMode(output_->path()), 0600U); }

TEST_F(OutputTest, AppendAndPumpAfterCloseFail) {
  output_->Close();
  EXPECT_THAT(output_->Append("late"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr(output_->path())));
  Pipe pipe = MakePipe();
  EXPECT_THAT(output_->PumpFrom(pipe.read.get(), 1024),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("closed")));
  EXPECT_EQ(output_->size(), 0U);
}

TEST_F(OutputTest, PumpFromMovesPipeBytesUpToTheLimit) {
  ASSERT_NO_FATAL_FAILURE(OpenReader());
  Pipe pipe = MakePipe();

  EXPECT_EQ(Pump(*output_, pipe.read.get(), 1024), 0U);  // empty pipe
  WriteToPipe(pipe.write.get(), "0123456789");
  EXPECT_EQ(Pump(*output_, pipe.read.get(), 4), 4U);
  EXPECT_EQ(ReadAvailable(*reader_, 100), "0123");
  EXPECT_EQ(Pump(*output_, pipe.read.get(), 1024), 6U);
  EXPECT_EQ(Pump(*output_, pipe.read.get(), 1024), 0U);
  ASSERT_THAT(output_->Append("|appended|"), IsOk());
  WriteToPipe(pipe.write.get(), "tail");
  pipe.write.Reset();
  EXPECT_EQ(Pump(*output_, pipe.read.get(), 1024), 4U);
  EXPECT_EQ(Pump(*output_, pipe.read.get(), 1024), 0U);  // EOF
  EXPECT_EQ(ReadAvailable(*reader_, 100), "456789|appended|tail");
  EXPECT_EQ(output_->size(), 24U);
}

TEST_F(OutputTest, PumpFromABadFdNamesTheFile) {
  EXPECT_THAT(output_->PumpFrom(-1, 1024),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr(output_->path())));
}

TEST_F(OutputTest, ReaderOpenedAfterCloseGetsEverythingThenEnds) {
  ASSERT_THAT(output_->Append("first "), IsOk());
  ASSERT_THAT(output_->Append("second"), IsOk());
  output_->Close();
  ASSERT_NO_FATAL_FAILURE(OpenReader());
  EXPECT_FALSE(reader_->at_end());
  EXPECT_EQ(ReadAvailable(*reader_, 5), "first second");
  EXPECT_TRUE(reader_->at_end());
  EXPECT_TRUE(reader_->WaitReadable(Clock::now()));  // closed counts as readable
}

TEST_F(OutputTest, WaitReadableTimesOutWhenNothingComes) {
  ASSERT_NO_FATAL_FAILURE(OpenReader());
  const Clock::time_point start = Clock::now();
  EXPECT_FALSE(reader_->WaitReadable(start + std::chrono::milliseconds(50)));
  EXPECT_GE(Clock::now() - start, std::chrono::milliseconds(50));
}

TEST_F(OutputTest, WaitReadableWakesOnAppendAndOnClose) {
  ASSERT_NO_FATAL_FAILURE(OpenReader());

  std::thread writer([this] { EXPECT_THAT(output_->Append("x"), IsOk()); });
  EXPECT_TRUE(reader_->WaitReadable(Clock::now() + std::chrono::seconds(10)));
  writer.join();
  EXPECT_EQ(ReadAvailable(*reader_, 10), "x");

  std::thread closer([this] { output_->Close(); });
  EXPECT_TRUE(reader_->WaitReadable(Clock::now() + std::chrono::seconds(10)));
  closer.join();
  EXPECT_TRUE(reader_->at_end());
}

TEST_F(OutputTest, NotifyWhenReadableFiresOnceOnAppend) {
  ASSERT_NO_FATAL_FAILURE(OpenReader());
  std::atomic<int> fired{0};
  std::atomic<std::thread::id> fired_on;
  OutputReader::Subscription subscription = reader_->NotifyWhenReadable([&] {
    fired_on = std::this_thread::get_id();
    ++fired;
  });
  EXPECT_EQ(fired, 0);

  std::thread pump([this] {
    EXPECT_THAT(output_->Append("a"), IsOk());
    EXPECT_THAT(output_->Append("b"), IsOk());
    output_->Close();
  });
  const std::thread::id pump_id = pump.get_id();
  pump.join();
  EXPECT_EQ(fired, 1);
  EXPECT_EQ(fired_on.load(), pump_id);
}

TEST_F(OutputTest, NotifyWhenReadableFiresAtOnceWhenBytesAreThere) {
  ASSERT_NO_FATAL_FAILURE(OpenReader());
  ASSERT_THAT(output_->Append("ready"), IsOk());
  std::thread::id fired_on;
  int fired = 0;
  OutputReader::Subscription subscription = reader_->NotifyWhenReadable([&] {
    fired_on = std::this_thread::get_id();
    ++fired;
  });
  EXPECT_EQ(fired, 1);
  EXPECT_EQ(fired_on, std::this_thread::get_id());

  // Once everything is read, it waits again; a close counts as readable.
  EXPECT_EQ(ReadAvailable(*reader_, 100), "ready");
  subscription = reader_->NotifyWhenReadable([&fired] { ++fired; });
  EXPECT_EQ(fired, 1);
  output_->Close();
  EXPECT_EQ(fired, 2);
  reader_->NotifyWhenReadable([&fired] { ++fired; });  // at end: fires at once
  EXPECT_EQ(fired, 3);
}

TEST_F(OutputTest, CancelledOrDestroyedSubscriptionsDoNotFire) {
  ASSERT_NO_FATAL_FAILURE(OpenReader());
  std::atomic<int> cancelled_fired{0};
  std::atomic<int> kept_fired{0};

  OutputReader::Subscription cancelled =
      reader_->NotifyWhenReadable([&cancelled_fired] { ++cancelled_fired; });
  cancelled.Cancel();
  cancelled.Cancel();  // twice is harmless
  {
    OutputReader::Subscription destroyed = reader_->NotifyWhenReadable([&] { ++cancelled_fired; });
  }
  OutputReader::Subscription replaced = reader_->NotifyWhenReadable([&] { ++cancelled_fired; });
  replaced = reader_->NotifyWhenReadable([&kept_fired] { ++kept_fired; });
  // Moving keeps the registration; destroying the moved-from shell does not cancel it.
  OutputReader::Subscription kept;
  {
    OutputReader::Subscription moved = reader_->NotifyWhenReadable([&kept_fired] { ++kept_fired; });
    kept = std::move(moved);
  }

  std::thread pump([this] { EXPECT_THAT(output_->Append("x"), IsOk()); });
  pump.join();
  EXPECT_EQ(cancelled_fired, 0);
  EXPECT_EQ(kept_fired, 2);
  kept.Cancel();  // after it ran: nothing to do
}

TEST_F(OutputTest, SubscriptionMayOutliveTheOutput) {
  ASSERT_NO_FATAL_FAILURE(OpenReader());
  auto captured = std::make_shared<int>(0);
  OutputReader::Subscription subscription =
      reader_->NotifyWhenReadable([captured] { ++*captured; });
  reader_.reset();
  output_.reset();  // destroys the pending callback with the Output
  EXPECT_EQ(captured.use_count(), 1);
  subscription.Cancel();
  EXPECT_EQ(*captured, 0);
}

TEST_F(OutputTest, CancellingFromInsideTheCallbackDoesNotWait) {
  ASSERT_NO_FATAL_FAILURE(OpenReader());
  int fired = 0;
  OutputReader::Subscription subscription;
  subscription = reader_->NotifyWhenReadable([&] {
    ++fired;
    subscription.Cancel();  // what a reactor does when it finishes itself from the callback
  });

  std::atomic<bool> appended{false};
  std::thread pump([&] {
    EXPECT_THAT(output_->Append("x"), IsOk());
    appended = true;
  });
  // Waiting for itself would hang until the cancel bound (10 s); well within it means it did not.
  EXPECT_TRUE(WaitFor([&appended] { return appended.load(); }, std::chrono::seconds(5)));
  pump.join();
  EXPECT_EQ(fired, 1);
}

TEST_F(OutputTest, CancelWaitsForARunningCallbackToFinish) {
  ASSERT_NO_FATAL_FAILURE(OpenReader());
  std::atomic<bool> entered{false};
  std::atomic<bool> release{false};
  std::atomic<bool> callback_finished{false};
  std::atomic<bool> cancel_returned{false};
  OutputReader::Subscription subscription = reader_->NotifyWhenReadable([&] {
    entered = true;
    EXPECT_TRUE(WaitFor([&release] { return release.load(); }));
    callback_finished = true;
  });

  std::thread pump([this] { EXPECT_THAT(output_->Append("x"), IsOk()); });
  EXPECT_TRUE(WaitFor([&entered] { return entered.load(); }));
  std::thread canceller([&] {
    subscription.Cancel();
    EXPECT_TRUE(callback_finished);
    cancel_returned = true;
  });
  // A bounded check that Cancel is still blocked while the callback runs.
  EXPECT_FALSE(WaitFor([&cancel_returned] { return cancel_returned.load(); },
                       std::chrono::milliseconds(100)));
  release = true;
  canceller.join();
  pump.join();
  EXPECT_TRUE(cancel_returned);
}

// Subscribes and cancels `count` times, catching up with the output before each subscription,
// and counts callbacks that run after their Cancel returned.
void SubscribeAndCancel(Output& output, int count, int variant,
                        std::atomic<int>& ran_after_cancel) {
  std::unique_ptr<OutputReader> reader = OpenOrDie(output);
  if (reader == nullptr) return;
  for (int i = 0; i < count; ++i) {
    ReadAvailable(*reader, 64);
    auto cancelled = std::make_shared<std::atomic<bool>>(false);
    OutputReader::Subscription subscription =
        reader->NotifyWhenReadable([cancelled, &ran_after_cancel] {
          std::this_thread::yield();  // widens the window for a Cancel to meet it running
          if (*cancelled) ++ran_after_cancel;
        });
    // Varies where the cancel lands relative to the writer's next Publish.
    for (int spin = 0; spin < i % 16; ++spin) std::this_thread::yield();
    if ((i + variant) % 2 == 0) {
      subscription.Cancel();
    } else {
      subscription = OutputReader::Subscription();  // move-assignment cancels the old one
    }
    *cancelled = true;
  }
}

// Cancels subscriptions while a writer publishes one byte at a time, so cancels land before,
// during and after Publish takes the waiters out (all three paths of RemoveWaiter). The captured
// shared_ptr lets ASan catch a callback that is never destroyed.
TEST_F(OutputTest, CancellingConcurrentlyWithPublishNeverRunsACancelledCallback) {
  constexpr int kThreads = 4;
  constexpr int kSubscriptionsPerThread = 500;
  std::atomic<bool> stop{false};
  std::atomic<int> ran_after_cancel{0};
  std::thread writer([&] {
    while (!stop && output_->Append("x").ok()) {
    }
  });

  std::vector<std::thread> cancellers;
  cancellers.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    cancellers.emplace_back([this, &ran_after_cancel, t] {
      SubscribeAndCancel(*output_, kSubscriptionsPerThread, t, ran_after_cancel);
    });
  }
  for (std::thread& canceller : cancellers) canceller.join();
  stop = true;
  writer.join();
  EXPECT_EQ(ran_after_cancel, 0);
}

// Waits for `reader` to become readable through NotifyWhenReadable, as an event-driven reader
// does. The subscription is destroyed before the locals its callback uses: Cancel's guarantee is
// what makes that safe when the callback is still running on the pump thread.
bool WaitThroughCallback(OutputReader& reader, Clock::time_point deadline) {
  base::Mutex mu;
  base::CondVar woken_changed;
  bool woken = false;
  OutputReader::Subscription subscription = reader.NotifyWhenReadable([&] {
    base::MutexLock lock(&mu);
    woken = true;
    woken_changed.NotifyAll();
  });
  base::MutexLock lock(&mu);
  return woken_changed.WaitUntil(&mu, deadline, [&woken] { return woken; });
}

struct ReaderResult {
  uint64_t bytes = 0;
  bool pattern_ok = false;
  bool at_end = false;
  std::string error;
};

constexpr uint64_t kPatternSeed = 0x6A6F62;

ReaderResult ReadToEnd(Output& output, size_t buffer_size, bool event_driven) {
  ReaderResult result;
  absl::StatusOr<std::unique_ptr<OutputReader>> reader = output.OpenReader();
  if (!reader.ok()) {
    result.error = reader.status().ToString();
    return result;
  }
  std::vector<char> buffer(buffer_size);
  testing::PatternChecker checker(kPatternSeed);
  const Clock::time_point deadline = Clock::now() + std::chrono::seconds(120);
  while (!(*reader)->at_end()) {
    absl::StatusOr<size_t> n = (*reader)->Read(absl::MakeSpan(buffer));
    if (!n.ok()) {
      result.error = n.status().ToString();
      break;
    }
    if (*n > 0) {
      checker.Check(reinterpret_cast<const uint8_t*>(buffer.data()), *n);
      continue;
    }
    const bool readable =
        event_driven ? WaitThroughCallback(**reader, deadline) : (*reader)->WaitReadable(deadline);
    if (!readable) {
      result.error = absl::StrCat("timed out at offset ", (*reader)->offset());
      break;
    }
  }
  result.bytes = checker.checked();
  result.pattern_ok = checker.ok();
  result.at_end = (*reader)->at_end();
  return result;
}

TEST_F(OutputTest, ManyConcurrentReadersGetEveryByteInOrder) {
  constexpr int kReaders = 50;
  constexpr size_t kTotal = size_t{8} * 1024 * 1024;
  constexpr size_t kMaxChunk = size_t{64} * 1024;
  std::string expected(kTotal, '\0');
  testing::FillPattern(kPatternSeed, 0, reinterpret_cast<uint8_t*>(expected.data()), kTotal);

  std::vector<ReaderResult> results(kReaders);
  std::vector<std::thread> readers;
  readers.reserve(kReaders);
  for (int i = 0; i < kReaders; ++i) {
    // Buffers from 512 B to 64 KiB; every other reader waits through callbacks.
    const size_t buffer_size = 512 + (static_cast<size_t>(i) * 1361) % kMaxChunk;
    readers.emplace_back([this, &results, i, buffer_size] {
      results[i] = ReadToEnd(*output_, buffer_size, /*event_driven=*/i % 2 == 1);
    });
  }
  std::thread writer([this, &expected] {
    std::mt19937 random(20240611);
    std::uniform_int_distribution<size_t> chunk_size(1, kMaxChunk);
    absl::string_view rest(expected);
    while (!rest.empty()) {
      const size_t n = std::min(chunk_size(random), rest.size());
      if (!output_->Append(rest.substr(0, n)).ok()) break;
      rest.remove_prefix(n);
    }
    output_->Close();
  });
  writer.join();
  for (std::thread& reader : readers) reader.join();

  EXPECT_EQ(output_->size(), kTotal);
  for (int i = 0; i < kReaders; ++i) {
    SCOPED_TRACE(absl::StrCat("reader ", i));
    EXPECT_EQ(results[i].error, "");
    EXPECT_EQ(results[i].bytes, kTotal);
    EXPECT_TRUE(results[i].pattern_ok);
    EXPECT_TRUE(results[i].at_end);
  }
}

}  // namespace
}  // namespace gatehouse::jobs
