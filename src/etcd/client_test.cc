#include "etcd/client.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/unique_fd.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/etcd_server.h"
#include "testing/loopback.h"
#include "testing/status_matchers.h"
#include "testing/test_pki.h"

namespace gatehouse::etcd {
namespace {

using ::gatehouse::testing::EtcdServer;
using ::gatehouse::testing::IsOk;
using ::gatehouse::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

ClientOptions OptionsFor(const EtcdServer& server) {
  ClientOptions options;
  options.endpoints = {server.endpoint()};
  options.tls.ca_file = server.ca_file();
  options.tls.cert_file = server.client_files().cert_file;
  options.tls.key_file = server.client_files().key_file;
  return options;
}

std::unique_ptr<Client> MakeClient(ClientOptions options) {
  auto client = Client::Create(std::move(options));
  EXPECT_THAT(client, IsOk());
  return client.ok() ? std::move(*client) : nullptr;
}

// A loopback port with nothing listening (it was free a moment ago).
std::string DeadEndpoint() {
  const base::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address = testing::LoopbackAddress(0);
  socklen_t length = sizeof(address);
  EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  EXPECT_EQ(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&address), &length), 0);
  return "https://127.0.0.1:" + std::to_string(ntohs(address.sin_port));
}

// One etcd for the suite (started and stopped around it): each test uses keys of its own.
EtcdServer* suite_server = nullptr;

class EtcdClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { suite_server = new EtcdServer(); }
  static void TearDownTestSuite() {
    delete suite_server;
    suite_server = nullptr;
  }
  void SetUp() override {
    server_ = suite_server;
    ASSERT_TRUE(server_->running());
    client_ = MakeClient(OptionsFor(*server_));
    ASSERT_NE(client_, nullptr);
  }

  EtcdServer* server_ = nullptr;  // Borrowed from the suite.
  std::unique_ptr<Client> client_;
};

TEST_F(EtcdClientTest, GetOfMissingKeyIsNotFoundWithoutError) {
  const auto kv = client_->Get("/missing");
  ASSERT_THAT(kv, IsOk());
  EXPECT_FALSE(kv->found);
  EXPECT_EQ(kv->value, "");
  EXPECT_EQ(kv->mod_revision, 0);
  EXPECT_GE(kv->revision, 1);
}

TEST_F(EtcdClientTest, CompareAndPutCreatesKeyThatGetReads) {
  const auto revision = client_->CompareAndPut("/create", "hello", 0);
  ASSERT_THAT(revision, IsOk());
  const auto kv = client_->Get("/create");
  ASSERT_THAT(kv, IsOk());
  EXPECT_TRUE(kv->found);
  EXPECT_EQ(kv->value, "hello");
  EXPECT_EQ(kv->mod_revision, *revision);
  EXPECT_GE(kv->revision, *revision);
}

TEST_F(EtcdClientTest, CompareAndPutWithStaleRevisionFailsAndLeavesValue) {
  const auto first = client_->CompareAndPut("/cas", "a", 0);
  ASSERT_THAT(first, IsOk());
  const auto second = client_->CompareAndPut("/cas", "b", *first);
  ASSERT_THAT(second, IsOk());
  EXPECT_GT(*second, *first);

  EXPECT_THAT(client_->CompareAndPut("/cas", "c", *first),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("/cas"),
                             HasSubstr("current mod_revision " + std::to_string(*second)))));
  EXPECT_THAT(client_->CompareAndPut("/cas", "d", 0),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("mod_revision")));
  const auto kv = client_->Get("/cas");
  ASSERT_THAT(kv, IsOk());
  EXPECT_EQ(kv->value, "b");
  EXPECT_EQ(kv->mod_revision, *second);
}

TEST_F(EtcdClientTest, CompareAndPutOnMissingKeyWithRevisionFails) {
  EXPECT_THAT(client_->CompareAndPut("/never", "x", 5),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("current mod_revision 0"), HasSubstr("does not exist"))));
}

TEST_F(EtcdClientTest, KeysAndValuesAreBinarySafe) {
  std::string every_byte;
  for (int i = 0; i < 256; ++i) every_byte.push_back(static_cast<char>(i));
  const std::string key("/bin\0ary\xff", 9);
  ASSERT_THAT(client_->CompareAndPut(key, every_byte, 0), IsOk());
  const auto kv = client_->Get(key);
  ASSERT_THAT(kv, IsOk());
  EXPECT_EQ(kv->value, every_byte);
  // The key with its NUL is a different key from its prefix.
  const auto prefix = client_->Get("/bin");
  ASSERT_THAT(prefix, IsOk());
  EXPECT_FALSE(prefix->found);
}

TEST_F(EtcdClientTest, OneMebibyteValueRoundTrips) {
  std::string big(1 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 131) % 251);
  ASSERT_THAT(client_->CompareAndPut("/big", big, 0), IsOk());
  const auto kv = client_->Get("/big");
  ASSERT_THAT(kv, IsOk());
  EXPECT_EQ(kv->value.size(), big.size());
  EXPECT_TRUE(kv->value == big);
}

TEST_F(EtcdClientTest, EtcdRefusesClientCertificateFromAnotherCa) {
  testing::TestPki other;
  const security::TlsFiles foreign = other.IssueClient("foreign");
  ClientOptions options = OptionsFor(*server_);
  options.tls.cert_file = foreign.cert_file;
  options.tls.key_file = foreign.key_file;
  auto client = MakeClient(options);
  ASSERT_NE(client, nullptr);
  EXPECT_THAT(client->Get("/x"), StatusIs(absl::StatusCode::kUnavailable,
                                          AllOf(HasSubstr(server_->endpoint()), HasSubstr("/x"))));
  EXPECT_THAT(client->CompareAndPut("/x", "v", 0),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr(server_->endpoint())));
  const auto kv = client_->Get("/x");
  ASSERT_THAT(kv, IsOk());
  EXPECT_FALSE(kv->found);
}

TEST_F(EtcdClientTest, ClientRefusesServerFromUntrustedCa) {
  testing::TestPki other;
  ClientOptions options = OptionsFor(*server_);
  options.tls.ca_file = other.ca_file();
  auto client = MakeClient(options);
  ASSERT_NE(client, nullptr);
  EXPECT_THAT(client->Get("/x"),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr(server_->endpoint())));
}

TEST_F(EtcdClientTest, ClientCertificateIsRequired) {
  ClientOptions options = OptionsFor(*server_);
  options.tls.cert_file.clear();
  options.tls.key_file.clear();
  EXPECT_THAT(Client::Create(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("tls.cert_file")));
}

TEST_F(EtcdClientTest, UnreachableEndpointFailsFastNamingIt) {
  ClientOptions options = OptionsFor(*server_);
  options.endpoints = {DeadEndpoint()};
  options.request_timeout = std::chrono::milliseconds(500);
  auto client = MakeClient(options);
  ASSERT_NE(client, nullptr);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THAT(client->Get("/x"),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr(options.endpoints[0]), HasSubstr("get"), HasSubstr("/x"))));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(500));
}

TEST_F(EtcdClientTest, SilentEndpointFailsWithinTimeout) {
  // Listening, never accepting: the TCP connection is made, the TLS handshake never answered.
  const base::UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address = testing::LoopbackAddress(0);
  socklen_t length = sizeof(address);
  ASSERT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(::listen(listener.get(), 16), 0);
  ASSERT_EQ(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&address), &length), 0);
  ClientOptions options = OptionsFor(*server_);
  options.endpoints = {"https://127.0.0.1:" + std::to_string(ntohs(address.sin_port))};
  options.request_timeout = std::chrono::milliseconds(300);
  auto client = MakeClient(options);
  ASSERT_NE(client, nullptr);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THAT(client->Get("/x"),
              StatusIs(absl::StatusCode::kDeadlineExceeded, HasSubstr(options.endpoints[0])));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_GE(elapsed, std::chrono::milliseconds(250));
  EXPECT_LT(elapsed, std::chrono::milliseconds(1500));
}

TEST_F(EtcdClientTest, SecondEndpointAnswersWhenFirstIsDown) {
  ClientOptions options = OptionsFor(*server_);
  options.endpoints = {DeadEndpoint(), server_->endpoint()};
  auto client = MakeClient(options);
  ASSERT_NE(client, nullptr);
  ASSERT_THAT(client->CompareAndPut("/failover", "v", 0), IsOk());
  EXPECT_EQ(client->preferred_endpoint(), 1U);
  const auto kv = client->Get("/failover");
  ASSERT_THAT(kv, IsOk());
  EXPECT_EQ(kv->value, "v");
}

TEST_F(EtcdClientTest, AllEndpointsDownNamesEach) {
  ClientOptions options = OptionsFor(*server_);
  options.endpoints = {DeadEndpoint(), DeadEndpoint()};
  auto client = MakeClient(options);
  ASSERT_NE(client, nullptr);
  EXPECT_THAT(client->Get("/x"),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr(options.endpoints[0]), HasSubstr(options.endpoints[1]))));
}

struct BadOptionsCase {
  const char* name;
  void (*change)(ClientOptions&);
  absl::StatusCode code;
  const char* message;
};

const BadOptionsCase kBadOptionsCases[] = {
    {"plain http", [](ClientOptions& o) { o.endpoints = {"http://127.0.0.1:2379"}; },
     absl::StatusCode::kInvalidArgument, "http://127.0.0.1:2379"},
    {"no endpoints", [](ClientOptions& o) { o.endpoints.clear(); },
     absl::StatusCode::kInvalidArgument, "no endpoints"},
    {"not a url", [](ClientOptions& o) { o.endpoints = {"127.0.0.1:2379"}; },
     absl::StatusCode::kInvalidArgument, "https://host:port"},
    {"with a path", [](ClientOptions& o) { o.endpoints = {"https://127.0.0.1:2379/v3"}; },
     absl::StatusCode::kInvalidArgument, "https://host:port"},
    {"no ca", [](ClientOptions& o) { o.tls.ca_file.clear(); }, absl::StatusCode::kInvalidArgument,
     "tls.ca_file"},
    {"missing key file", [](ClientOptions& o) { o.tls.key_file = "/nonexistent/key.pem"; },
     absl::StatusCode::kNotFound, "/nonexistent/key.pem"},
    {"zero timeout", [](ClientOptions& o) { o.request_timeout = std::chrono::milliseconds(0); },
     absl::StatusCode::kInvalidArgument, "request_timeout"},
};
TEST_F(EtcdClientTest, CreateRefusesBadOptions) {
  for (const BadOptionsCase& bad : kBadOptionsCases) {
    ClientOptions options = OptionsFor(*server_);
    bad.change(options);
    EXPECT_THAT(Client::Create(options), StatusIs(bad.code, HasSubstr(bad.message))) << bad.name;
  }
}

TEST_F(EtcdClientTest, ConcurrentCompareAndPutHasOneWinner) {
  ASSERT_THAT(client_->CompareAndPut("/race", "0", 0), IsOk());
  const auto base = client_->Get("/race");
  ASSERT_THAT(base, IsOk());
  constexpr int kThreads = 8;
  std::atomic<int> wins{0};
  std::atomic<int> losses{0};
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      const auto result = client_->CompareAndPut("/race", std::to_string(i), base->mod_revision);
      if (result.ok()) {
        wins.fetch_add(1);
      } else if (result.status().code() == absl::StatusCode::kFailedPrecondition) {
        losses.fetch_add(1);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(wins.load(), 1);
  EXPECT_EQ(losses.load(), kThreads - 1);
}

}  // namespace
}  // namespace gatehouse::etcd
