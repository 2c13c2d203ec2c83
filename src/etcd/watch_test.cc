#include "etcd/watch.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "base/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/etcd_server.h"
#include "testing/status_matchers.h"
#include "testing/wait_for.h"

namespace gatehouse::etcd {
namespace {

using ::gatehouse::testing::EtcdServer;
using ::gatehouse::testing::IsOk;
using ::gatehouse::testing::StatusIs;
using ::gatehouse::testing::WaitFor;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Sanitizer builds under load are slow: a deadline for a broken watch, not a wait.
constexpr std::chrono::seconds kDeadline(20);

std::shared_ptr<const Client> MakeClient(const EtcdServer& server) {
  ClientOptions options;
  options.endpoints = {server.endpoint()};
  options.tls.ca_file = server.ca_file();
  options.tls.cert_file = server.client_files().cert_file;
  options.tls.key_file = server.client_files().key_file;
  options.request_timeout = std::chrono::milliseconds(1000);
  auto client = Client::Create(std::move(options));
  EXPECT_THAT(client, IsOk());
  return client.ok() ? std::shared_ptr<const Client>(std::move(*client)) : nullptr;
}

// Collects what a watch delivers (on its thread) for the test thread to look at.
class Recorder {
 public:
  std::function<void(const KeyValue&)> Callback() {
    return [this](const KeyValue& kv) {
      base::MutexLock lock(&mu_);
      values_.push_back(kv.value);
      revisions_.push_back(kv.mod_revision);
    };
  }
  size_t size() const {
    base::MutexLock lock(&mu_);
    return values_.size();
  }
  std::vector<std::string> values() const {
    base::MutexLock lock(&mu_);
    return values_;
  }
  std::vector<int64_t> revisions() const {
    base::MutexLock lock(&mu_);
    return revisions_;
  }
  bool WaitForCount(size_t count) const {
    return WaitFor([&] { return size() >= count; }, kDeadline);
  }

 private:
  mutable base::Mutex mu_;
  std::vector<std::string> values_ ABSL_GUARDED_BY(mu_);
  std::vector<int64_t> revisions_ ABSL_GUARDED_BY(mu_);
};

// Writes `value` over whatever `key` holds; returns the revision (0 on failure).
int64_t Put(const Client& client, const std::string& key, const std::string& value) {
  const auto current = client.Get(key);
  EXPECT_THAT(current, IsOk());
  if (!current.ok()) return 0;
  const auto revision = client.CompareAndPut(key, value, current->mod_revision);
  EXPECT_THAT(revision, IsOk());
  return revision.ok() ? *revision : 0;
}

bool StrictlyIncreasing(const std::vector<int64_t>& revisions) {
  for (size_t i = 1; i < revisions.size(); ++i) {
    if (revisions[i] <= revisions[i - 1]) return false;
  }
  return true;
}

TEST(EtcdWatchTest, DeliversPutsInOrder) {
  EtcdServer server;
  const auto client = MakeClient(server);
  ASSERT_NE(client, nullptr);
  Recorder recorder;
  auto watch = Watch::Start(client, "/w", 0, recorder.Callback());
  ASSERT_THAT(watch, IsOk());
  ASSERT_TRUE(WaitFor([&] { return (*watch)->connected(); }, kDeadline));
  std::vector<int64_t> written;
  written.reserve(5);
  for (int i = 0; i < 5; ++i) written.push_back(Put(*client, "/w", "v" + std::to_string(i)));
  Put(*client, "/other", "ignored");
  ASSERT_TRUE(recorder.WaitForCount(5));
  EXPECT_THAT(recorder.values(), ElementsAre("v0", "v1", "v2", "v3", "v4"));
  EXPECT_EQ(recorder.revisions(), written);
  EXPECT_EQ((*watch)->last_revision(), written.back());
  EXPECT_EQ((*watch)->reconnects(), 0U);
}

TEST(EtcdWatchTest, DeliversHistoryFromStartRevision) {
  EtcdServer server;
  const auto client = MakeClient(server);
  ASSERT_NE(client, nullptr);
  const int64_t first = Put(*client, "/h", "a");
  Put(*client, "/h", "b");
  const int64_t third = Put(*client, "/h", "c");
  Recorder recorder;
  auto watch = Watch::Start(client, "/h", first + 1, recorder.Callback());
  ASSERT_THAT(watch, IsOk());
  ASSERT_TRUE(recorder.WaitForCount(2));
  EXPECT_THAT(recorder.values(), ElementsAre("b", "c"));
  EXPECT_EQ((*watch)->last_revision(), third);
}

TEST(EtcdWatchTest, ReportsDeletes) {
  EtcdServer server;
  const auto client = MakeClient(server);
  ASSERT_NE(client, nullptr);
  const int64_t put = Put(*client, "/d", "a");
  std::atomic<int64_t> deleted{0};
  WatchOptions options;
  options.on_delete = [&deleted](int64_t revision) { deleted.store(revision); };
  Recorder recorder;
  auto watch = Watch::Start(client, "/d", put, recorder.Callback(), options);
  ASSERT_THAT(watch, IsOk());
  ASSERT_TRUE(recorder.WaitForCount(1));
  const auto result = server.Etcdctl({"del", "/d"});
  ASSERT_EQ(result.exit_code, 0) << result.output;
  ASSERT_TRUE(WaitFor([&] { return deleted.load() > put; }, kDeadline));
}

TEST(EtcdWatchTest, ResumesAcrossEtcdRestartWithoutLossOrRepeat) {
  EtcdServer server;
  const auto client = MakeClient(server);
  ASSERT_NE(client, nullptr);
  Recorder recorder;
  WatchOptions options;
  // Long enough that etcd is back, and written to, before the watch reconnects.
  options.initial_backoff = std::chrono::milliseconds(1000);
  options.max_backoff = std::chrono::milliseconds(4000);
  auto watch = Watch::Start(client, "/r", 0, recorder.Callback(), options);
  ASSERT_THAT(watch, IsOk());
  ASSERT_TRUE(WaitFor([&] { return (*watch)->connected(); }, kDeadline));
  std::vector<int64_t> written;
  written.push_back(Put(*client, "/r", "a"));
  written.push_back(Put(*client, "/r", "b"));
  ASSERT_TRUE(recorder.WaitForCount(2));

  server.Stop();
  ASSERT_TRUE(WaitFor([&] { return !(*watch)->connected(); }, kDeadline));
  // One attempt failed while etcd was down; the next wait is [initial, 2 * initial].
  ASSERT_TRUE(WaitFor([&] { return (*watch)->reconnects() >= 1; }, kDeadline));
  server.Start();
  ASSERT_TRUE(server.running());
  // Written while the watch is still disconnected (backing off).
  written.push_back(Put(*client, "/r", "c"));
  written.push_back(Put(*client, "/r", "d"));
  const bool written_while_disconnected = !(*watch)->connected();
  ASSERT_TRUE(recorder.WaitForCount(4));
  ASSERT_TRUE(WaitFor([&] { return (*watch)->connected(); }, kDeadline));
  written.push_back(Put(*client, "/r", "e"));
  ASSERT_TRUE(recorder.WaitForCount(5));

  EXPECT_TRUE(written_while_disconnected);
  EXPECT_THAT(recorder.values(), ElementsAre("a", "b", "c", "d", "e"));
  EXPECT_EQ(recorder.revisions(), written);
  EXPECT_TRUE(StrictlyIncreasing(recorder.revisions()));
  EXPECT_GE((*watch)->reconnects(), 1U);
  (*watch)->Stop();
  EXPECT_EQ(recorder.size(), 5U);
}

TEST(EtcdWatchTest, AfterCompactionDeliversCurrentValueOnce) {
  EtcdServer server;
  const auto client = MakeClient(server);
  ASSERT_NE(client, nullptr);
  const int64_t first = Put(*client, "/c", "old");
  Put(*client, "/c", "older");
  const int64_t last = Put(*client, "/c", "current");
  Put(*client, "/unrelated", "x");
  const auto result = server.Etcdctl({"compact", std::to_string(last)});
  ASSERT_EQ(result.exit_code, 0) << result.output;

  Recorder recorder;
  auto watch = Watch::Start(client, "/c", first, recorder.Callback());
  ASSERT_THAT(watch, IsOk());
  ASSERT_TRUE(recorder.WaitForCount(1));
  ASSERT_TRUE(WaitFor([&] { return (*watch)->connected(); }, kDeadline));
  const int64_t after = Put(*client, "/c", "after");
  ASSERT_TRUE(recorder.WaitForCount(2));
  EXPECT_THAT(recorder.values(), ElementsAre("current", "after"));
  EXPECT_THAT(recorder.revisions(), ElementsAre(last, after));
}

TEST(EtcdWatchTest, StopIsPromptWhileEtcdIsDown) {
  EtcdServer server;
  const auto client = MakeClient(server);
  ASSERT_NE(client, nullptr);
  Recorder recorder;
  WatchOptions options;
  options.initial_backoff = std::chrono::milliseconds(50);
  options.max_backoff = std::chrono::milliseconds(10000);
  auto watch = Watch::Start(client, "/s", 0, recorder.Callback(), options);
  ASSERT_THAT(watch, IsOk());
  ASSERT_TRUE(WaitFor([&] { return (*watch)->connected(); }, kDeadline));
  server.Kill();
  // Several failed attempts: the backoff has grown to seconds.
  ASSERT_TRUE(WaitFor([&] { return (*watch)->reconnects() >= 6; }, kDeadline));
  EXPECT_FALSE((*watch)->connected());
  const auto start = std::chrono::steady_clock::now();
  (*watch)->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(500));
}

TEST(EtcdWatchTest, StopIsPromptOnAnIdleStream) {
  EtcdServer server;
  const auto client = MakeClient(server);
  ASSERT_NE(client, nullptr);
  Recorder recorder;
  auto watch = Watch::Start(client, "/idle", 0, recorder.Callback());
  ASSERT_THAT(watch, IsOk());
  ASSERT_TRUE(WaitFor([&] { return (*watch)->connected(); }, kDeadline));
  const auto start = std::chrono::steady_clock::now();
  watch->reset();  // The destructor stops.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(500));
}

TEST(EtcdWatchTest, StopFromCallbackEndsDelivery) {
  EtcdServer server;
  const auto client = MakeClient(server);
  ASSERT_NE(client, nullptr);
  std::atomic<Watch*> self{nullptr};
  std::atomic<int> calls{0};
  auto watch = Watch::Start(client, "/cb", 0, [&](const KeyValue&) {
    calls.fetch_add(1);
    self.load()->Stop();
  });
  ASSERT_THAT(watch, IsOk());
  self.store(watch->get());
  ASSERT_TRUE(WaitFor([&] { return (*watch)->connected(); }, kDeadline));
  Put(*client, "/cb", "a");
  Put(*client, "/cb", "b");
  ASSERT_TRUE(WaitFor([&] { return !(*watch)->connected(); }, kDeadline));
  (*watch)->Stop();
  EXPECT_EQ(calls.load(), 1);
}

TEST(EtcdWatchTest, MovesToNextEndpointWhenFirstIsDown) {
  EtcdServer server;
  EtcdServer down;
  down.Kill();
  ClientOptions options;
  options.endpoints = {down.endpoint(), server.endpoint()};
  options.tls.ca_file = server.ca_file();
  options.tls.cert_file = server.client_files().cert_file;
  options.tls.key_file = server.client_files().key_file;
  auto created = Client::Create(std::move(options));
  ASSERT_THAT(created, IsOk());
  const std::shared_ptr<const Client> client = std::move(*created);
  Recorder recorder;
  WatchOptions watch_options;
  watch_options.initial_backoff = std::chrono::milliseconds(20);
  auto watch = Watch::Start(client, "/m", 0, recorder.Callback(), watch_options);
  ASSERT_THAT(watch, IsOk());
  ASSERT_TRUE(WaitFor([&] { return (*watch)->connected(); }, kDeadline));
  EXPECT_GE((*watch)->reconnects(), 1U);
  const int64_t revision = Put(*client, "/m", "v");
  ASSERT_TRUE(recorder.WaitForCount(1));
  EXPECT_EQ((*watch)->last_revision(), revision);
}

TEST(EtcdWatchTest, StartRefusesBadArguments) {
  EtcdServer server;
  const auto client = MakeClient(server);
  ASSERT_NE(client, nullptr);
  Recorder recorder;
  EXPECT_THAT(Watch::Start(nullptr, "/k", 0, recorder.Callback()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("client")));
  EXPECT_THAT(Watch::Start(client, "", 0, recorder.Callback()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("key")));
  EXPECT_THAT(Watch::Start(client, "/k", -1, recorder.Callback()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("/k")));
  EXPECT_THAT(Watch::Start(client, "/k", 0, nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("on_put")));
  WatchOptions bad;
  bad.max_backoff = std::chrono::milliseconds(1);
  EXPECT_THAT(Watch::Start(client, "/k", 0, recorder.Callback(), bad),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("backoff")));
}

}  // namespace
}  // namespace gatehouse::etcd
