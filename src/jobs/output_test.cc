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

TEST(OutputTest, WhatIsWrittenIsReadBackInChunks) {
  TempDir tmp;
  std::shared_ptr<Output> output = CreateOrDie(tmp.File("output"));
  ASSERT_NE(output, nullptr);
  std::unique_ptr<OutputReader> reader = OpenOrDie(*output);
  ASSERT_NE(reader, nullptr);
  EXPECT_EQ(ReadAvailable(*reader, 7), "");
  EXPECT_FALSE(reader->at_end());

  ASSERT_THAT(output->Append("hello, "), IsOk());
  ASSERT_THAT(output->Append(""), IsOk());
  ASSERT_THAT(output->Append("world\n"), IsOk());
  EXPECT_EQ(output->size(), 13U);
  EXPECT_EQ(ReadAvailable(*reader, 3), "hello, world\n");
  EXPECT_EQ(reader->offset(), 13U);
  EXPECT_FALSE(reader->at_end());  // not closed: more may come

  output->Close();
  EXPECT_TRUE(output->closed());
  EXPECT_TRUE(reader->at_end());
  EXPECT_EQ(testing::ReadFileOrFail(output->path()), "hello, world\n");
}

TEST(OutputTest, CreateRefusesAnExistingPath) {
  TempDir tmp;
  const std::string path = tmp.WriteFile("output", "someone else's");
  EXPECT_THAT(Output::Create(path), StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr(path)));
  EXPECT_EQ(testing::ReadFileOrFail(path), "someone else's");
}

TEST(OutputTest, CreateInAMissingDirectoryNamesThePath) {
  TempDir tmp;
  const std::string path = tmp.File("missing/output");
  EXPECT_THAT(Output::Create(path), StatusIs(absl::StatusCode::kNotFound, HasSubstr(path)));
}

TEST(OutputTest, FileIsPrivateToTheOwner) {
  TempDir tmp;
  std::shared_ptr<Output> output = CreateOrDie(tmp.File("output"));
  ASSERT_NE(output, nullptr);
  EXPECT_EQ(FileMode(output->path()), 0600U);
}

TEST(OutputTest, AppendAndPumpAfterCloseFail) {
  TempDir tmp;
  std::shared_ptr<Output> output = CreateOrDie(tmp.File("output"));
  ASSERT_NE(output, nullptr);
  output->Close();
  EXPECT_THAT(output->Append("late"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr(output->path())));
  Pipe pipe = MakePipe();
  EXPECT_THAT(output->PumpFrom(pipe.read.get(), 1024),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("closed")));
  EXPECT_EQ(output->size(), 0U);
}

TEST(OutputTest, PumpFromMovesPipeBytesUpToTheLimit) {
  TempDir tmp;
  std::shared_ptr<Output> output = CreateOrDie(tmp.File("output"));
  ASSERT_NE(output, nullptr);
  std::unique_ptr<OutputReader> reader = OpenOrDie(*output);
  ASSERT_NE(reader, nullptr);
  Pipe pipe = MakePipe();

  EXPECT_EQ(Pump(*output, pipe.read.get(), 1024), 0U);  // empty pipe
  WriteToPipe(pipe.write.get(), "0123456789");
  EXPECT_EQ(Pump(*output, pipe.read.get(), 4), 4U);
  EXPECT_EQ(ReadAvailable(*reader, 100), "0123");
  EXPECT_EQ(Pump(*output, pipe.read.get(), 1024), 6U);
  EXPECT_EQ(Pump(*output, pipe.read.get(), 1024), 0U);
  ASSERT_THAT(output->Append("|appended|"), IsOk());
  WriteToPipe(pipe.write.get(), "tail");
  pipe.write.Reset();
  EXPECT_EQ(Pump(*output, pipe.read.get(), 1024), 4U);
  EXPECT_EQ(Pump(*output, pipe.read.get(), 1024), 0U);  // EOF
  EXPECT_EQ(ReadAvailable(*reader, 100), "456789|appended|tail");
  EXPECT_EQ(output->size(), 24U);
}

TEST(OutputTest, PumpFromABadFdNamesTheFile) {
  TempDir tmp;
  std::shared_ptr<Output> output = CreateOrDie(tmp.File("output"));
  ASSERT_NE(output, nullptr);
  EXPECT_THAT(output->PumpFrom(-1, 1024),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr(output->path())));
}

TEST(OutputTest, ReaderOpenedAfterCloseGetsEverythingThenEnds) {
  TempDir tmp;
  std::shared_ptr<Output> output = CreateOrDie(tmp.File("output"));
  ASSERT_NE(output, nullptr);
  ASSERT_THAT(output->Append("first "), IsOk());
  ASSERT_THAT(output->Append("second"), IsOk());
  output->Close();
  std::unique_ptr<OutputReader> reader = OpenOrDie(*output);
  ASSERT_NE(reader, nullptr);
  EXPECT_FALSE(reader->at_end());
  EXPECT_EQ(ReadAvailable(*reader, 5), "first second");
  EXPECT_TRUE(reader->at_end());
  EXPECT_TRUE(reader->WaitReadable(Clock::now()));  // closed counts as readable
}

TEST(OutputTest, WaitReadableTimesOutWhenNothingComes) {
  TempDir tmp;
  std::shared_ptr<Output> output = CreateOrDie(tmp.File("output"));
  ASSERT_NE(output, nullptr);
  std::unique_ptr<OutputReader> reader = OpenOrDie(*output);
  ASSERT_NE(reader, nullptr);
  const Clock::time_point start = Clock::now();
  EXPECT_FALSE(reader->WaitReadable(start + std::chrono::milliseconds(50)));
  EXPECT_GE(Clock::now() - start, std::chrono::milliseconds(50));
}

TEST(OutputTest, WaitReadableWakesOnAppendAndOnClose) {
  TempDir tmp;
  std::shared_ptr<Output> output = CreateOrDie(tmp.File("output"));
  ASSERT_NE(output, nullptr);
  std::unique_ptr<OutputReader> reader = OpenOrDie(*output);
  ASSERT_NE(reader, nullptr);

  std::thread writer([&output] { EXPECT_THAT(output->Append("x"), IsOk()); });
  EXPECT_TRUE(reader->WaitReadable(Clock::now() + std::chrono::seconds(10)));
  writer.join();
  EXPECT_EQ(ReadAvailable(*reader, 10), "x");

  std::thread closer([&output] { output->Close(); });
  EXPECT_TRUE(reader->WaitReadable(Clock::now() + std::chrono::seconds(10)));
  closer.join();
  EXPECT_TRUE(reader->at_end());
}

TEST(OutputTest, NotifyWhenReadableFiresOnceOnAppend) {
  TempDir tmp;
  std::shared_ptr<Output> output = CreateOrDie(tmp.File("output"));
  ASSERT_NE(output, nullptr);
  std::unique_ptr<OutputReader> reader = OpenOrDie(*output);
  ASSERT_NE(reader, nullptr);
  std::atomic<int> fired{0};
  std::atomic<std::thread::id> fired_on;
  OutputReader::Subscription subscription = reader->NotifyWhenReadable([&] {
    fired_on = std::this_thread::get_id();
    ++fired;
  });
  EXPECT_EQ(fired, 0);

  std::thread pump([&output] {
    EXPECT_THAT(output->Append("a"), IsOk());
    EXPECT_THAT(output->Append("b"), IsOk());
    output->Close();
  });
  const std::thread::id pump_id = pump.get_id();
  pump.join();
  EXPECT_EQ(fired, 1);
  EXPECT_EQ(fired_on.load(), pump_id);
}

TEST(OutputTest, NotifyWhenReadableFiresAtOnceWhenBytesAreThere) {
  TempDir tmp;
  std::shared_ptr<Output> output = CreateOrDie(tmp.File("output"));
  ASSERT_NE(output, nullptr);
  std::unique_ptr<OutputReader> reader = OpenOrDie(*output);
  ASSERT_NE(reader, nullptr);
  ASSERT_THAT(output->Append("ready"), IsOk());
  std::thread::id fired_on;
  int fired = 0;
  OutputReader::Subscription subscription = reader->NotifyWhenReadable([&] {
    fired_on = std::this_thread::get_id();
    ++fired;
  });
  EXPECT_EQ(fired, 1);
  EXPECT_EQ(fired_on, std::this_thread::get_id());

  // Once everything is read, it waits again; a close counts as readable.
  EXPECT_EQ(ReadAvailable(*reader, 100), "ready");
  subscription = reader->NotifyWhenReadable([&fired] { ++fired; });
  EXPECT_EQ(fired, 1);
  output->Close();
  EXPECT_EQ(fired, 2);
  reader->NotifyWhenReadable([&fired] { ++fired; });  // at end: fires at once
  EXPECT_EQ(fired, 3);
}

TEST(OutputTest, CancelledOrDestroyedSubscriptionsDoNotFire) {
  TempDir tmp;
  std::shared_ptr<Output> output = CreateOrDie(tmp.File("output"));
  ASSERT_NE(output, nullptr);
  std::unique_ptr<OutputReader> reader = OpenOrDie(*output);
  ASSERT_NE(reader, nullptr);
  std::atomic<int> cancelled_fired{0};
  std::atomic<int> kept_fired{0};

  OutputReader::Subscription cancelled =
      reader->NotifyWhenReadable([&cancelled_fired] { ++cancelled_fired; });
  cancelled.Cancel();
  cancelled.Cancel();  // twice is harmless
  {
    OutputReader::Subscription destroyed = reader->NotifyWhenReadable([&] { ++cancelled_fired; });
  }
  OutputReader::Subscription replaced = reader->NotifyWhenReadable([&] { ++cancelled_fired; });
  replaced = reader->NotifyWhenReadable([&kept_fired] { ++kept_fired; });
  // Moving keeps the registration; destroying the moved-from shell does not cancel it.
  OutputReader::Subscription kept;
  {
    OutputReader::Subscription moved = reader->NotifyWhenReadable([&kept_fired] { ++kept_fired; });
    kept = std::move(moved);
  }

  std::thread pump([&output] { EXPECT_THAT(output->Append("x"), IsOk()); });
  pump.join();
  EXPECT_EQ(cancelled_fired, 0);
  EXPECT_EQ(kept_fired, 2);
  kept.Cancel();  // after it ran: nothing to do
}

TEST(OutputTest, SubscriptionMayOutliveTheOutput) {
  TempDir tmp;
  std::shared_ptr<Output> output = CreateOrDie(tmp.File("output"));
  ASSERT_NE(output, nullptr);
  std::unique_ptr<OutputReader> reader = OpenOrDie(*output);
  ASSERT_NE(reader, nullptr);
  auto captured = std::make_shared<int>(0);
  OutputReader::Subscription subscription = reader->NotifyWhenReadable([captured] { ++*captured; });
  reader.reset();
  output.reset();  // destroys the pending callback with the Output
  EXPECT_EQ(captured.use_count(), 1);
  subscription.Cancel();
  EXPECT_EQ(*captured, 0);
}

TEST(OutputTest, CancellingFromInsideTheCallbackDoesNotWait) {
  TempDir tmp;
  std::shared_ptr<Output> output = CreateOrDie(tmp.File("output"));
  ASSERT_NE(output, nullptr);
  std::unique_ptr<OutputReader> reader = OpenOrDie(*output);
  ASSERT_NE(reader, nullptr);
  int fired = 0;
  OutputReader::Subscription subscription;
  subscription = reader->NotifyWhenReadable([&] {
    ++fired;
    subscription.Cancel();  // what a reactor does when it finishes itself from the callback
  });

  std::atomic<bool> appended{false};
  std::thread pump([&] {
    EXPECT_THAT(output->Append("x"), IsOk());
    appended = true;
  });
  // Waiting for itself would hang until the cancel bound (10 s); well within it means it did not.
  EXPECT_TRUE(WaitFor([&appended] { return appended.load(); }, std::chrono::seconds(5)));
  pump.join();
  EXPECT_EQ(fired, 1);
}

TEST(OutputTest, CancelWaitsForARunningCallbackToFinish) {
  TempDir tmp;
  std::shared_ptr<Output> output = CreateOrDie(tmp.File("output"));
  ASSERT_NE(output, nullptr);
  std::unique_ptr<OutputReader> reader = OpenOrDie(*output);
  ASSERT_NE(reader, nullptr);
  std::atomic<bool> entered{false};
  std::atomic<bool> release{false};
  std::atomic<bool> callback_finished{false};
  std::atomic<bool> cancel_returned{false};
  OutputReader::Subscription subscription = reader->NotifyWhenReadable([&] {
    entered = true;
    EXPECT_TRUE(WaitFor([&release] { return release.load(); }));
    callback_finished = true;
  });

  std::thread pump([&output] { EXPECT_THAT(output->Append("x"), IsOk()); });
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
TEST(OutputTest, CancellingConcurrentlyWithPublishNeverRunsACancelledCallback) {
  constexpr int kThreads = 4;
  constexpr int kSubscriptionsPerThread = 500;
  TempDir tmp;
  std::shared_ptr<Output> output = CreateOrDie(tmp.File("output"));
  ASSERT_NE(output, nullptr);
  std::atomic<bool> stop{false};
  std::atomic<int> ran_after_cancel{0};
  std::thread writer([&] {
    while (!stop && output->Append("x").ok()) {
    }
  });

  std::vector<std::thread> cancellers;
  cancellers.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    cancellers.emplace_back([&output, &ran_after_cancel, t] {
      SubscribeAndCancel(*output, kSubscriptionsPerThread, t, ran_after_cancel);
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

TEST(OutputTest, ManyConcurrentReadersGetEveryByteInOrder) {
  constexpr int kReaders = 50;
  constexpr size_t kTotal = size_t{8} * 1024 * 1024;
  constexpr size_t kMaxChunk = size_t{64} * 1024;
  TempDir tmp;
  std::shared_ptr<Output> output = CreateOrDie(tmp.File("output"));
  ASSERT_NE(output, nullptr);
  std::string expected(kTotal, '\0');
  testing::FillPattern(kPatternSeed, 0, reinterpret_cast<uint8_t*>(expected.data()), kTotal);

  std::vector<ReaderResult> results(kReaders);
  std::vector<std::thread> readers;
  readers.reserve(kReaders);
  for (int i = 0; i < kReaders; ++i) {
    // Buffers from 512 B to 64 KiB; every other reader waits through callbacks.
    const size_t buffer_size = 512 + (static_cast<size_t>(i) * 1361) % kMaxChunk;
    readers.emplace_back([&output, &results, i, buffer_size] {
      results[i] = ReadToEnd(*output, buffer_size, /*event_driven=*/i % 2 == 1);
    });
  }
  std::thread writer([&output, &expected] {
    std::mt19937 random(20240611);
    std::uniform_int_distribution<size_t> chunk_size(1, kMaxChunk);
    absl::string_view rest(expected);
    while (!rest.empty()) {
      const size_t n = std::min(chunk_size(random), rest.size());
      if (!output->Append(rest.substr(0, n)).ok()) break;
      rest.remove_prefix(n);
    }
    output->Close();
  });
  writer.join();
  for (std::thread& reader : readers) reader.join();

  EXPECT_EQ(output->size(), kTotal);
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
