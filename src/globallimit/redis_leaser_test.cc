// RedisLeaser against a real redis-server: connecting, leasing, wrong password, a server that
// dies and comes back, and a prompt shutdown when the server never answers.
#include "globallimit/redis_leaser.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/mutex.h"
#include "base/unique_fd.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/redis_server.h"
#include "testing/status_matchers.h"
#include "testing/subprocess.h"
#include "testing/wait_for.h"

namespace gatehouse::globallimit {
namespace {

using ::gatehouse::testing::IsOk;
using ::gatehouse::testing::RedisServer;
using ::gatehouse::testing::StatusIs;
using ::gatehouse::testing::WaitFor;
using ::testing::HasSubstr;

RedisOptions OptionsFor(const RedisServer& server) {
  RedisOptions options;
  options.port = server.port();
  options.password = server.password();
  // Generous: a loaded CI machine may stall the server for longer than the 200 ms default, and
  // these tests count errors.
  options.timeout = std::chrono::seconds(2);
  return options;
}

// Collects answers; thread-safe (answers arrive on the leaser's thread).
class RecordingClient : public LeaseClient {
 public:
  void OnLeaseDone(const LeaseRequest& /*request*/, std::optional<uint32_t> granted,
                   std::chrono::steady_clock::time_point /*now*/) override {
    base::MutexLock lock(&mu_);
    answers_.push_back(granted);
  }
  std::vector<std::optional<uint32_t>> answers() const {
    base::MutexLock lock(&mu_);
    return answers_;
  }

 private:
  mutable base::Mutex mu_;
  std::vector<std::optional<uint32_t>> answers_ ABSL_GUARDED_BY(mu_);
};

LeaseRequest Request(uint32_t want, uint64_t debt = 0) {
  LeaseRequest request;
  request.key = "gatehouse:rl:{test}:alice";
  request.identity = "alice";
  request.rate = 1e-6;
  request.burst = 10;
  request.debt = debt;
  request.want = want;
  request.ttl = std::chrono::seconds(60);
  return request;
}

class RedisLeaserTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!RedisServer::IsInstalled()) GTEST_SKIP() << RedisServer::kBinary << " is not installed";
    server_ = std::make_unique<RedisServer>();
    ASSERT_TRUE(server_->is_running());
  }
  std::unique_ptr<RedisServer> server_;
};

TEST(RedisLeaserOptionsTest, RejectsInvalidOptions) {
  struct Case {
    const char* name = "";
    RedisOptions options;
  };
  std::vector<Case> cases(4);
  cases[0].name = "empty host";
  cases[0].options.host = "";
  cases[1].name = "port 0";
  cases[1].options.port = 0;
  cases[2].name = "zero timeout";
  cases[2].options.timeout = std::chrono::milliseconds(0);
  cases[3].name = "zero unreachable_after";
  cases[3].options.unreachable_after = std::chrono::milliseconds(0);
  for (const Case& c : cases) {
    EXPECT_THAT(RedisLeaser::Start(c.options, &base::SystemClock()),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("redis leaser")))
        << c.name;
  }
}

TEST_F(RedisLeaserTest, ConnectsAndLeases) {
  absl::StatusOr<std::shared_ptr<RedisLeaser>> leaser =
      RedisLeaser::Start(OptionsFor(*server_), &base::SystemClock());
  ASSERT_THAT(leaser, IsOk());
  ASSERT_TRUE(WaitFor([&] { return (*leaser)->redis_up(); }));
  EXPECT_EQ((*leaser)->epoch(), 1U);
  auto client = std::make_shared<RecordingClient>();
  (*leaser)->RequestLease(Request(4, 3), client);  // 10 - 3 = 7: grants 4
  (*leaser)->RequestLease(Request(4), client);     // 3 left: grants 3
  ASSERT_TRUE(WaitFor([&] { return client->answers().size() == 2; }));
  EXPECT_EQ(client->answers()[0], std::optional<uint32_t>(4));
  EXPECT_EQ(client->answers()[1], std::optional<uint32_t>(3));
  const LeaserStats stats = (*leaser)->stats();
  EXPECT_EQ(stats.leases, 2U);
  EXPECT_EQ(stats.tokens_leased, 7U);
  EXPECT_EQ(stats.redis_errors, 0U);
  EXPECT_TRUE(stats.redis_up);
}

TEST_F(RedisLeaserTest, AnswersForAGoneClientAreDropped) {
  absl::StatusOr<std::shared_ptr<RedisLeaser>> leaser =
      RedisLeaser::Start(OptionsFor(*server_), &base::SystemClock());
  ASSERT_THAT(leaser, IsOk());
  ASSERT_TRUE(WaitFor([&] { return (*leaser)->redis_up(); }));
  auto client = std::make_shared<RecordingClient>();
  (*leaser)->RequestLease(Request(1), client);
  client.reset();
  ASSERT_TRUE(WaitFor([&] { return (*leaser)->stats().leases == 1; }));
}

TEST_F(RedisLeaserTest, WrongPasswordStaysDownWithAClearError) {
  RedisOptions options = OptionsFor(*server_);
  options.password = "wrong";
  absl::StatusOr<std::shared_ptr<RedisLeaser>> leaser =
      RedisLeaser::Start(options, &base::SystemClock());
  ASSERT_THAT(leaser, IsOk());  // Start never waits for or fails on Redis
  ASSERT_TRUE(WaitFor([&] { return (*leaser)->stats().redis_errors >= 2; }));  // it retries
  EXPECT_FALSE((*leaser)->redis_up());
  EXPECT_THAT((*leaser)->last_error(),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr(absl::StrCat("127.0.0.1:", server_->port(), ": AUTH"))));
  // Requests are answered "failed" rather than left waiting.
  auto client = std::make_shared<RecordingClient>();
  (*leaser)->RequestLease(Request(1), client);
  ASSERT_TRUE(WaitFor([&] { return client->answers().size() == 1; }));
  EXPECT_EQ(client->answers()[0], std::nullopt);
}

TEST_F(RedisLeaserTest, NoticesDeathWhileIdleAndReconnectsAfterRestart) {
  absl::StatusOr<std::shared_ptr<RedisLeaser>> leaser =
      RedisLeaser::Start(OptionsFor(*server_), &base::SystemClock());
  ASSERT_THAT(leaser, IsOk());
  ASSERT_TRUE(WaitFor([&] { return (*leaser)->redis_up(); }));
  server_->Kill();
  ASSERT_TRUE(WaitFor([&] { return !(*leaser)->redis_up(); }));  // the idle PING finds out
  EXPECT_THAT((*leaser)->last_error(),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("redis")));
  ASSERT_TRUE(server_->Restart());
  ASSERT_TRUE(WaitFor([&] { return (*leaser)->redis_up(); }));
  EXPECT_GE((*leaser)->epoch(), 2U);
  auto client = std::make_shared<RecordingClient>();
  (*leaser)->RequestLease(Request(2), client);
  ASSERT_TRUE(WaitFor([&] { return client->answers().size() == 1; }));
  EXPECT_EQ(client->answers()[0], std::optional<uint32_t>(2));
}

TEST_F(RedisLeaserTest, ReloadsTheScriptAfterScriptFlush) {
  absl::StatusOr<std::shared_ptr<RedisLeaser>> leaser =
      RedisLeaser::Start(OptionsFor(*server_), &base::SystemClock());
  ASSERT_THAT(leaser, IsOk());
  ASSERT_TRUE(WaitFor([&] { return (*leaser)->redis_up(); }));
  const ::gatehouse::testing::ProcessResult flush = ::gatehouse::testing::RunProcess(
      {"/usr/bin/redis-cli", "-p", absl::StrCat(server_->port()), "--no-auth-warning", "-a",
       server_->password(), "SCRIPT", "FLUSH"});
  ASSERT_EQ(flush.exit_code, 0) << flush.output;
  auto client = std::make_shared<RecordingClient>();
  (*leaser)->RequestLease(Request(2), client);
  ASSERT_TRUE(WaitFor([&] { return client->answers().size() == 1; }));
  EXPECT_EQ(client->answers()[0], std::optional<uint32_t>(2));
  EXPECT_EQ((*leaser)->stats().redis_errors, 0U);
}

// A listening socket nobody accepts on: connects complete in the kernel, and then no reply ever
// comes (or, once the backlog is full, the connect itself hangs).
TEST(RedisLeaserShutdownTest, DestructorReturnsPromptlyWhenRedisNeverAnswers) {
  const base::UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(listener.is_valid());
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the sockets API takes sockaddr*
  ASSERT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  socklen_t length = sizeof(address);
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): as above
  ASSERT_EQ(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&address), &length), 0);
  ASSERT_EQ(::listen(listener.get(), 1), 0);

  RedisOptions options;
  options.port = ntohs(address.sin_port);
  options.password = "secret";
  options.timeout = std::chrono::milliseconds(200);
  absl::StatusOr<std::shared_ptr<RedisLeaser>> leaser =
      RedisLeaser::Start(options, &base::SystemClock());
  ASSERT_THAT(leaser, IsOk());
  auto client = std::make_shared<RecordingClient>();
  (*leaser)->RequestLease(Request(1), client);
  ASSERT_TRUE(WaitFor([&] { return (*leaser)->stats().redis_errors >= 1; }));
  EXPECT_FALSE((*leaser)->redis_up());
  EXPECT_THAT((*leaser)->last_error(),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr(absl::StrCat("redis 127.0.0.1:", options.port, ": "))));
  const auto start = std::chrono::steady_clock::now();
  leaser->reset();
  const auto took = std::chrono::steady_clock::now() - start;
  // At most one connect, AUTH and SCRIPT LOAD at 200 ms each, plus scheduling on a busy machine.
  EXPECT_LT(took, std::chrono::milliseconds(2000));
}

}  // namespace
}  // namespace gatehouse::globallimit
