// The lease script's arithmetic (refill, debt, grant, expiry) against a real redis-server, and
// the hiredis wrapper's errors (wrong password, no password, nothing listening).
#include "globallimit/internal/lease_script.h"

#include <chrono>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "globallimit/internal/redis_connection.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/redis_server.h"
#include "testing/status_matchers.h"

namespace gatehouse::globallimit::internal {
namespace {

using ::gatehouse::testing::IsOk;
using ::gatehouse::testing::RedisServer;
using ::gatehouse::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr std::chrono::milliseconds kTtl{60000};

// A server timestamp in full (StrCat would keep only 6 significant digits).
std::string Ms(double ms) { return absl::StrFormat("%.3f", ms); }

class LeaseScriptTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!RedisServer::IsInstalled()) GTEST_SKIP() << RedisServer::kBinary << " is not installed";
    server_ = std::make_unique<RedisServer>();
    ASSERT_TRUE(server_->is_running());
    RedisOptions options;
    options.port = server_->port();
    options.password = server_->password();
    absl::StatusOr<std::unique_ptr<RedisConnection>> connection = RedisConnection::Connect(options);
    ASSERT_THAT(connection, IsOk());
    connection_ = *std::move(connection);
    const RedisValue sha = Run({"SCRIPT", "LOAD", static_cast<std::string>(LeaseScript())});
    ASSERT_EQ(sha.type, RedisValue::Type::kString) << sha.str;
    sha_ = sha.str;
  }

  RedisValue Run(const std::vector<std::string>& argv) {
    absl::StatusOr<RedisValue> reply = connection_->Command(argv);
    EXPECT_THAT(reply, IsOk());
    return reply.ok() ? *reply : RedisValue();
  }

  // Runs the script; returns the grant, or -1 after a failed expectation.
  int64_t Lease(const std::string& key, double rate, uint32_t burst, uint64_t debt, uint32_t want) {
    const RedisValue reply = Run(LeaseCommand(sha_, key, rate, burst, debt, want, kTtl));
    EXPECT_EQ(reply.type, RedisValue::Type::kInteger) << reply.str;
    return reply.type == RedisValue::Type::kInteger ? reply.integer : -1;
  }

  double Tokens(const std::string& key) {
    const RedisValue reply = Run({"HGET", key, "tokens"});
    double tokens = 0;
    EXPECT_TRUE(absl::SimpleAtod(reply.str, &tokens)) << reply.str;
    return tokens;
  }

  // Redis' own clock, in milliseconds.
  double ServerNowMs() {
    const RedisValue reply = Run({"TIME"});
    EXPECT_EQ(reply.elements.size(), 2U);
    if (reply.elements.size() != 2) return 0;
    double seconds = 0;
    double micros = 0;
    EXPECT_TRUE(absl::SimpleAtod(reply.elements[0].str, &seconds));
    EXPECT_TRUE(absl::SimpleAtod(reply.elements[1].str, &micros));
    return seconds * 1000 + micros / 1000;
  }

  std::unique_ptr<RedisServer> server_;
  std::unique_ptr<RedisConnection> connection_;
  std::string sha_;
};

TEST(LeaseScriptKeyTest, KeyNamesAppAsHashTagAndIdentity) {
  EXPECT_EQ(BucketKey("web", "spiffe://a/b"), "gatehouse:rl:{web}:spiffe://a/b");
}

TEST(LeaseScriptKeyTest, TtlIsTwiceTheRefillTimePlusOneSecond) {
  EXPECT_EQ(BucketTtl(50, 50), std::chrono::milliseconds(3000));
  EXPECT_EQ(BucketTtl(10, 100), std::chrono::milliseconds(21000));
  EXPECT_EQ(BucketTtl(1e-9, 1), std::chrono::milliseconds(86400000));  // capped at a day
}

// A rate so slow that refill during the test is far below the tolerance.
constexpr double kNoRefill = 1e-6;

TEST_F(LeaseScriptTest, NewBucketStartsFullAndGrantsAtMostWant) {
  EXPECT_EQ(Lease("k", kNoRefill, 10, 0, 4), 4);
  EXPECT_NEAR(Tokens("k"), 6, 0.01);
}

TEST_F(LeaseScriptTest, DebtIsSubtractedBeforeGranting) {
  EXPECT_EQ(Lease("k", kNoRefill, 10, 3, 4), 4);  // 10 - 3 = 7, grant 4
  EXPECT_NEAR(Tokens("k"), 3, 0.01);
  EXPECT_EQ(Lease("k", kNoRefill, 10, 1, 4), 2);  // 3 - 1 = 2, grant only 2
  EXPECT_NEAR(Tokens("k"), 0, 0.01);
}

TEST_F(LeaseScriptTest, DebtMayDriveTokensNegativeAndThenNothingIsGranted) {
  EXPECT_EQ(Lease("k", kNoRefill, 10, 12, 4), 0);
  EXPECT_NEAR(Tokens("k"), -2, 0.01);
  EXPECT_EQ(Lease("k", kNoRefill, 10, 0, 4), 0);
  EXPECT_NEAR(Tokens("k"), -2, 0.01);
}

TEST_F(LeaseScriptTest, GrantIsTheFloorOfFractionalTokens) {
  ASSERT_EQ(Run({"HSET", "k", "tokens", "2.75", "ts_ms", Ms(ServerNowMs() + 1e6)}).type,
            RedisValue::Type::kInteger);  // ts in the future: no refill
  EXPECT_EQ(Lease("k", kNoRefill, 10, 0, 5), 2);
  EXPECT_NEAR(Tokens("k"), 0.75, 0.01);
}

TEST_F(LeaseScriptTest, RefillsAtRateFromServerTime) {
  // -2 tokens two seconds ago at 5 per second: 8 now (plus the few ms this test takes).
  ASSERT_EQ(Run({"HSET", "k", "tokens", "-2", "ts_ms", Ms(ServerNowMs() - 2000)}).type,
            RedisValue::Type::kInteger);
  EXPECT_EQ(Lease("k", 5, 100, 0, 3), 3);
  EXPECT_NEAR(Tokens("k"), 5, 0.5);
}

TEST_F(LeaseScriptTest, RefillStopsAtBurst) {
  ASSERT_EQ(Run({"HSET", "k", "tokens", "0", "ts_ms", Ms(ServerNowMs() - 3600000)}).type,
            RedisValue::Type::kInteger);
  EXPECT_EQ(Lease("k", 100, 7, 0, 1000), 7);
  EXPECT_NEAR(Tokens("k"), 0, 0.5);
}

TEST_F(LeaseScriptTest, SetsExpiry) {
  Lease("k", kNoRefill, 10, 0, 1);
  const RedisValue ttl = Run({"PTTL", "k"});
  ASSERT_EQ(ttl.type, RedisValue::Type::kInteger);
  EXPECT_GT(ttl.integer, 0);
  EXPECT_LE(ttl.integer, kTtl.count());
}

TEST_F(LeaseScriptTest, UnknownShaAnswersNoscript) {
  const RedisValue reply = Run(LeaseCommand(std::string(40, '0'), "k", kNoRefill, 10, 0, 1, kTtl));
  EXPECT_TRUE(reply.is_error());
  EXPECT_THAT(reply.str, StartsWith("NOSCRIPT"));
}

TEST_F(LeaseScriptTest, PipelinedLeasesAnswerInOrder) {
  absl::StatusOr<std::vector<RedisValue>> replies =
      connection_->Pipeline({LeaseCommand(sha_, "a", kNoRefill, 3, 0, 2, kTtl),
                             LeaseCommand(sha_, "a", kNoRefill, 3, 0, 2, kTtl),
                             LeaseCommand(sha_, "b", kNoRefill, 3, 0, 2, kTtl)});
  ASSERT_THAT(replies, IsOk());
  ASSERT_EQ(replies->size(), 3U);
  EXPECT_EQ((*replies)[0].integer, 2);
  EXPECT_EQ((*replies)[1].integer, 1);
  EXPECT_EQ((*replies)[2].integer, 2);
}

TEST_F(LeaseScriptTest, WrongPasswordIsUnauthenticatedNamingAddressAndCommand) {
  RedisOptions options;
  options.port = server_->port();
  options.password = "not-the-password";
  EXPECT_THAT(
      RedisConnection::Connect(options),
      StatusIs(absl::StatusCode::kUnauthenticated,
               HasSubstr(absl::StrCat("127.0.0.1:", server_->port(), ": AUTH: WRONGPASS"))));
}

TEST_F(LeaseScriptTest, MissingPasswordGetsNoauthReplies) {
  RedisOptions options;
  options.port = server_->port();
  absl::StatusOr<std::unique_ptr<RedisConnection>> connection = RedisConnection::Connect(options);
  ASSERT_THAT(connection, IsOk());
  absl::StatusOr<RedisValue> reply = (*connection)->Command({"GET", "k"});
  ASSERT_THAT(reply, IsOk());
  EXPECT_TRUE(reply->is_error());
  EXPECT_THAT(reply->str, StartsWith("NOAUTH"));
}

TEST_F(LeaseScriptTest, NothingListeningIsUnavailableNamingAddress) {
  RedisOptions options;
  options.port = server_->port();
  server_->Kill();
  EXPECT_THAT(RedisConnection::Connect(options),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr(absl::StrCat("127.0.0.1:", options.port, ": connect: "))));
}

TEST_F(LeaseScriptTest, ServerDeathBreaksTheConnection) {
  server_->Kill();
  EXPECT_THAT(connection_->Command({"PING"}),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr(": PING: ")));
  EXPECT_TRUE(connection_->is_broken());
}

}  // namespace
}  // namespace gatehouse::globallimit::internal
