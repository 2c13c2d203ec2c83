#include "admin/admin_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/metrics.h"
#include "base/unique_fd.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/log_capture.h"
#include "testing/status_matchers.h"
#include "testing/wait_for.h"

namespace gatehouse::admin {
namespace {

using ::gatehouse::testing::IsOk;
using ::gatehouse::testing::ScopedLogCapture;
using ::gatehouse::testing::StatusIs;
using ::gatehouse::testing::WaitFor;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// Every blocking socket call in these tests gives up after this, so no test can hang.
constexpr std::chrono::seconds kIoTimeout{10};

// strerror is not thread-safe; std::error_code's message() is.
std::string ErrnoText(int error) {
  return std::error_code(error, std::system_category()).message();
}

// Connects to 127.0.0.1:`port` with send and receive timeouts, from `source` (an IPv4 literal;
// Linux routes all of 127.0.0.0/8 to loopback, so 127.0.0.2 is a second peer with no setup).
// Fails the test and returns an empty fd on error.
base::UniqueFd Connect(uint16_t port, const char* source = "127.0.0.1") {
  base::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.is_valid()) {
    ADD_FAILURE() << "socket: " << ErrnoText(errno);
    return fd;
  }
  timeval timeout{};
  timeout.tv_sec = kIoTimeout.count();
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)) != 0 ||
      ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout)) != 0) {
    ADD_FAILURE() << "setsockopt: " << ErrnoText(errno);
    return {};
  }
  sockaddr_in local{};
  local.sin_family = AF_INET;
  if (::inet_pton(AF_INET, source, &local.sin_addr) != 1 ||
      ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&local), sizeof(local)) != 0) {
    ADD_FAILURE() << "bind to " << source << ": " << ErrnoText(errno);
    return {};
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    ADD_FAILURE() << "connect to port " << port << ": " << ErrnoText(errno);
    return {};
  }
  return fd;
}

// `fd` is borrowed.
bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      ADD_FAILURE() << "send: " << ErrnoText(errno);
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

struct ReadResult {
  std::string data;
  bool is_eof = false;
  int error = 0;  // errno of the failed recv when not `is_eof`; EAGAIN means the timeout passed.
};

// Reads from the borrowed `fd` until EOF, an error or the receive timeout.
ReadResult ReadToEnd(int fd) {
  ReadResult result;
  char buffer[4096];
  while (true) {
    const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n == 0) {
      result.is_eof = true;
      return result;
    }
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      result.error = errno;
      return result;
    }
    result.data.append(buffer, static_cast<size_t>(n));
  }
}

// Sends `request` on a new connection from `source` and returns everything the server sent
// before closing.
std::string Exchange(uint16_t port, std::string_view request, const char* source = "127.0.0.1") {
  const base::UniqueFd fd = Connect(port, source);
  if (!fd.is_valid() || !SendAll(fd.get(), request)) {
    return "";
  }
  ReadResult result = ReadToEnd(fd.get());
  EXPECT_TRUE(result.is_eof) << "recv: " << ErrnoText(result.error);
  return std::move(result.data);
}

std::string Get(uint16_t port, std::string_view target, const char* source = "127.0.0.1") {
  return Exchange(port, "GET " + std::string(target) + " HTTP/1.1\r\nHost: localhost\r\n\r\n",
                  source);
}

int StatusCode(const std::string& response) {
  if (response.size() < 12 || response.compare(0, 9, "HTTP/1.1 ") != 0) {
    return -1;
  }
  return std::stoi(response.substr(9, 3));
}

std::string Body(const std::string& response) {
  const size_t end = response.find("\r\n\r\n");
  return end == std::string::npos ? "" : response.substr(end + 4);
}

AdminServerOptions TestOptions() {
  AdminServerOptions options;
  options.port = 0;
  options.request_timeout = std::chrono::seconds(10);
  return options;
}

class AdminServerTest : public ::testing::Test {
 protected:
  std::unique_ptr<AdminServer> StartServer(AdminServerOptions options = TestOptions()) {
    auto server =
        AdminServer::Start(std::move(options), &registry_, [this] { return is_ready_.load(); });
    EXPECT_THAT(server, IsOk());
    return server.ok() ? std::move(server).value() : nullptr;
  }

  base::MetricsRegistry registry_;
  std::atomic<bool> is_ready_{false};
};

TEST_F(AdminServerTest, HealthzAnswersOk) {
  const auto server = StartServer();
  ASSERT_NE(server, nullptr);
  EXPECT_NE(server->port(), 0);
  const std::string response = Get(server->port(), "/healthz");
  EXPECT_THAT(response, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(response, HasSubstr("\r\nContent-Length: 3\r\n"));
  EXPECT_THAT(response, HasSubstr("\r\nConnection: close\r\n"));
  EXPECT_EQ(Body(response), "ok\n");
}

TEST_F(AdminServerTest, ReadyzFollowsIsReady) {
  const auto server = StartServer();
  ASSERT_NE(server, nullptr);
  std::string response = Get(server->port(), "/readyz");
  EXPECT_EQ(StatusCode(response), 503);
  EXPECT_EQ(Body(response), "not ready\n");

  is_ready_ = true;
  response = Get(server->port(), "/readyz");
  EXPECT_EQ(StatusCode(response), 200);
  EXPECT_EQ(Body(response), "ready\n");
}

TEST_F(AdminServerTest, MetricsRendersTheRegistryAsPrometheusText) {
  registry_.GetCounter("gh_test_requests_total", "Requests in the test.")->Increment(7);
  const auto server = StartServer();
  ASSERT_NE(server, nullptr);
  const std::string response = Get(server->port(), "/metrics");
  EXPECT_EQ(StatusCode(response), 200);
  EXPECT_THAT(response,
              HasSubstr("\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
  EXPECT_EQ(Body(response), registry_.RenderPrometheusText());
  EXPECT_THAT(Body(response), HasSubstr("\ngh_test_requests_total 7\n"));
}

TEST_F(AdminServerTest, QueryStringIsIgnoredForRouting) {
  const auto server = StartServer();
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(StatusCode(Get(server->port(), "/metrics?x=1")), 200);
  EXPECT_EQ(Body(Get(server->port(), "/healthz?verbose")), "ok\n");
}

TEST_F(AdminServerTest, HeadAnswersHeadersWithoutBody) {
  const auto server = StartServer();
  ASSERT_NE(server, nullptr);
  const std::string response =
      Exchange(server->port(), "HEAD /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n");
  EXPECT_THAT(response, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(response, HasSubstr("\r\nContent-Length: 3\r\n"));
  EXPECT_EQ(Body(response), "");
}

TEST_F(AdminServerTest, RequestSplitAcrossSegmentsIsAnswered) {
  const auto server = StartServer();
  ASSERT_NE(server, nullptr);
  const base::UniqueFd fd = Connect(server->port());
  ASSERT_TRUE(fd.is_valid());
  ASSERT_TRUE(SendAll(fd.get(), "GET /hea"));
  ASSERT_TRUE(SendAll(fd.get(), "lthz HTTP/1.1\r\nHo"));
  ASSERT_TRUE(SendAll(fd.get(), "st: a\r\n\r\n"));
  const ReadResult result = ReadToEnd(fd.get());
  EXPECT_TRUE(result.is_eof);
  EXPECT_EQ(StatusCode(result.data), 200);
  EXPECT_EQ(Body(result.data), "ok\n");
}

struct ErrorCase {
  std::string name;
  std::string request;
  int status_code;
  std::string header = "";  // Expected somewhere in the response, when not empty.
};

class AdminServerErrorTest : public AdminServerTest,
                             public ::testing::WithParamInterface<ErrorCase> {};

TEST_P(AdminServerErrorTest, AnswersWithStatusAndCloses) {
  const auto server = StartServer();
  ASSERT_NE(server, nullptr);
  const std::string response = Exchange(server->port(), GetParam().request);
  EXPECT_EQ(StatusCode(response), GetParam().status_code) << response;
  EXPECT_THAT(response, HasSubstr("\r\nConnection: close\r\n"));
  EXPECT_THAT(response, HasSubstr("\r\nContent-Length: "));
  if (!GetParam().header.empty()) {
    EXPECT_THAT(response, HasSubstr(GetParam().header));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, AdminServerErrorTest,
    ::testing::Values(
        ErrorCase{"UnknownPath", "GET /nope HTTP/1.1\r\nHost: a\r\n\r\n", 404},
        ErrorCase{"TrailingSlash", "GET /healthz/ HTTP/1.1\r\nHost: a\r\n\r\n", 404},
        ErrorCase{"Post", "POST /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi", 405,
                  "\r\nAllow: GET, HEAD\r\n"},
        ErrorCase{"DeleteMetrics", "DELETE /metrics HTTP/1.1\r\nHost: a\r\n\r\n", 405},
        ErrorCase{"Garbage", "garbage\r\n\r\n", 400},
        ErrorCase{"BinaryGarbage", std::string("\x16\x03\x01\x02\x00\x01\xfc\x03\n", 9), 400},
        ErrorCase{"MissingHost", "GET /healthz HTTP/1.1\r\n\r\n", 400},
        ErrorCase{"Http2", "GET /healthz HTTP/2.0\r\n\r\n", 505},
        ErrorCase{"HugeHeaders",
                  "GET /healthz HTTP/1.1\r\nHost: a\r\nX-Big: " +
                      std::string(size_t{20} * 1024, 'a') + "\r\n\r\n",
                  431},
        ErrorCase{"ManyHeaders",
                  [] {
                    std::string request = "GET /healthz HTTP/1.1\r\nHost: a\r\n";
                    for (int i = 0; i < 1000; ++i) {
                      absl::StrAppend(&request, "X-H", i, ": v\r\n");
                    }
                    return request + "\r\n";
                  }(),
                  431}),
    [](const ::testing::TestParamInfo<ErrorCase>& param_info) { return param_info.param.name; });

TEST_F(AdminServerTest, IdleClientIsDisconnectedAfterRequestTimeout) {
  AdminServerOptions options = TestOptions();
  options.request_timeout = std::chrono::milliseconds(200);
  const auto server = StartServer(options);
  ASSERT_NE(server, nullptr);

  const auto start = std::chrono::steady_clock::now();
  const base::UniqueFd fd = Connect(server->port());
  ASSERT_TRUE(fd.is_valid());
  const ReadResult result = ReadToEnd(fd.get());
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(result.is_eof) << "recv: " << ErrnoText(result.error);
  EXPECT_EQ(StatusCode(result.data), 408);
  EXPECT_GE(elapsed, options.request_timeout);
  EXPECT_LT(elapsed, kIoTimeout / 2);
}

TEST_F(AdminServerTest, TrickledRequestGetsNoMoreThanRequestTimeout) {
  AdminServerOptions options = TestOptions();
  options.request_timeout = std::chrono::milliseconds(200);
  const auto server = StartServer(options);
  ASSERT_NE(server, nullptr);

  const auto start = std::chrono::steady_clock::now();
  const base::UniqueFd fd = Connect(server->port());
  ASSERT_TRUE(fd.is_valid());
  ASSERT_TRUE(SendAll(fd.get(), "GET /healthz HTTP/1.1\r\n"));
  // Keep sending header lines (each is progress) until the server gives up on the request. The
  // receive timeout on each poll is short; the overall bound is the WaitFor deadline.
  timeval poll_timeout{};
  poll_timeout.tv_usec = 20000;
  ASSERT_EQ(::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &poll_timeout, sizeof(poll_timeout)),
            0);
  std::string received;
  int header = 0;
  EXPECT_TRUE(WaitFor([&] {
    char buffer[512];
    const ssize_t n = ::recv(fd.get(), buffer, sizeof(buffer), 0);
    if (n > 0) received.append(buffer, static_cast<size_t>(n));
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return true;
    // Sending may fail once the server has closed its side; the recv above then reports it.
    const std::string line = absl::StrCat("X-", header++, ": v\r\n");
    static_cast<void>(::send(fd.get(), line.data(), line.size(), MSG_NOSIGNAL));
    return false;
  }));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(StatusCode(received), 408);
  EXPECT_GE(elapsed, options.request_timeout);
  EXPECT_LT(elapsed, kIoTimeout / 2);
}

TEST_F(AdminServerTest, TwentyConcurrentClientsAllGetAnswers) {
  const auto server = StartServer();
  ASSERT_NE(server, nullptr);
  constexpr int kClients = 20;
  std::vector<std::string> responses(kClients);
  std::vector<std::thread> clients;
  clients.reserve(kClients);
  std::vector<std::string> sources(kClients);
  for (int i = 0; i < kClients; ++i) {
    // Each client from its own address: one address may hold only max_connections_per_peer.
    sources[i] = absl::StrCat("127.0.1.", i + 1);
    clients.emplace_back([&responses, &sources, i, port = server->port()] {
      responses[i] = Get(port, i % 2 == 0 ? "/healthz" : "/metrics", sources[i].c_str());
    });
  }
  for (std::thread& client : clients) {
    client.join();
  }
  for (int i = 0; i < kClients; ++i) {
    EXPECT_EQ(StatusCode(responses[i]), 200) << "client " << i;
  }
  // The server half-closes after each response and counts the connection until the client's
  // close reaches it.
  EXPECT_TRUE(WaitFor([&] { return server->OpenConnectionsForTest() == 0; }));
}

TEST_F(AdminServerTest, ConnectionsBeyondMaxConnectionsAreClosedAtOnce) {
  AdminServerOptions options = TestOptions();
  options.max_connections = 1;
  const auto server = StartServer(options);
  ASSERT_NE(server, nullptr);

  const base::UniqueFd first = Connect(server->port());
  ASSERT_TRUE(first.is_valid());
  ASSERT_TRUE(WaitFor([&] { return server->OpenConnectionsForTest() == 1; }));

  const base::UniqueFd second = Connect(server->port());
  ASSERT_TRUE(second.is_valid());
  const ReadResult rejected = ReadToEnd(second.get());
  EXPECT_TRUE(rejected.is_eof) << "recv: " << ErrnoText(rejected.error);
  EXPECT_EQ(rejected.data, "");

  // The first connection is still served.
  ASSERT_TRUE(SendAll(first.get(), "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"));
  EXPECT_EQ(StatusCode(ReadToEnd(first.get()).data), 200);
}

TEST_F(AdminServerTest, PeerOverItsCapIsClosedAtOnceAndOtherPeersAreStillServed) {
  AdminServerOptions options = TestOptions();
  // Small enough that, without a per-peer cap, one peer's connections would fill the server.
  options.max_connections = 4;
  options.max_connections_per_peer = 2;
  const auto server = StartServer(options);
  ASSERT_NE(server, nullptr);

  // One peer opens idle connections, one at a time so the server's accept order is known.
  std::vector<base::UniqueFd> held;
  for (size_t i = 1; i <= options.max_connections_per_peer; ++i) {
    held.push_back(Connect(server->port(), "127.0.0.1"));
    ASSERT_TRUE(held.back().is_valid());
    ASSERT_TRUE(WaitFor([&] { return server->OpenConnectionsForTest() == i; }));
  }
  // Over its cap: closed before anything is read or sent, again and again.
  for (int i = 0; i < 4; ++i) {
    const base::UniqueFd extra = Connect(server->port(), "127.0.0.1");
    ASSERT_TRUE(extra.is_valid());
    const ReadResult rejected = ReadToEnd(extra.get());
    EXPECT_TRUE(rejected.is_eof || rejected.error == ECONNRESET) << ErrnoText(rejected.error);
    EXPECT_EQ(rejected.data, "");
  }
  EXPECT_EQ(server->OpenConnectionsForTest(), options.max_connections_per_peer);

  // Another peer is served while the first still holds its connections. Its connection is
  // closed at the end of the block: the server's lingering close would otherwise keep it open
  // for request_timeout, and the count below would wait on it.
  {
    const base::UniqueFd other = Connect(server->port(), "127.0.0.2");
    ASSERT_TRUE(other.is_valid());
    ASSERT_TRUE(SendAll(other.get(), "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"));
    const ReadResult answered = ReadToEnd(other.get());
    EXPECT_EQ(StatusCode(answered.data), 200) << answered.data;
    EXPECT_EQ(Body(answered.data), "ok\n");
  }

  // The held connections are untouched by all of this and still get their answers.
  for (const base::UniqueFd& fd : held) {
    ASSERT_TRUE(SendAll(fd.get(), "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"));
    EXPECT_EQ(StatusCode(ReadToEnd(fd.get()).data), 200);
  }
  // Closing them frees the peer's share: its count drops to zero and it is served again.
  held.clear();
  ASSERT_TRUE(WaitFor([&] { return server->OpenConnectionsForTest() == 0; }));
  EXPECT_EQ(StatusCode(Get(server->port(), "/healthz")), 200);
}

TEST_F(AdminServerTest, DefaultsCapEachPeerWellBelowTheTotal) {
  const AdminServerOptions defaults;
  EXPECT_EQ(defaults.max_connections_per_peer, 8U);
  EXPECT_EQ(defaults.max_connections, 256U);

  const auto server = StartServer();
  ASSERT_NE(server, nullptr);
  std::vector<base::UniqueFd> held;
  for (size_t i = 1; i <= defaults.max_connections_per_peer; ++i) {
    held.push_back(Connect(server->port(), "127.0.0.1"));
    ASSERT_TRUE(held.back().is_valid());
    ASSERT_TRUE(WaitFor([&] { return server->OpenConnectionsForTest() == i; }));
  }
  const base::UniqueFd extra = Connect(server->port(), "127.0.0.1");
  ASSERT_TRUE(extra.is_valid());
  const ReadResult rejected = ReadToEnd(extra.get());
  EXPECT_TRUE(rejected.is_eof || rejected.error == ECONNRESET) << ErrnoText(rejected.error);
  EXPECT_EQ(rejected.data, "");
  const base::UniqueFd other = Connect(server->port(), "127.0.0.3");
  ASSERT_TRUE(other.is_valid());
  ASSERT_TRUE(SendAll(other.get(), "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"));
  EXPECT_EQ(StatusCode(ReadToEnd(other.get()).data), 200);
}

TEST_F(AdminServerTest, NonLoopbackAddressWarnsThatThereIsNoAuthentication) {
  ScopedLogCapture log;  // Before the servers: their threads log into it.
  {
    AdminServerOptions options = TestOptions();
    options.host = "0.0.0.0";
    const auto server = StartServer(options);
    ASSERT_NE(server, nullptr);
  }
  const std::string warnings = log.Text();
  EXPECT_THAT(warnings, HasSubstr("[warning] admin endpoint 0.0.0.0:"));
  EXPECT_THAT(warnings, HasSubstr("is not on a loopback address and has no authentication"));
}

TEST_F(AdminServerTest, LoopbackAddressesDoNotWarn) {
  ScopedLogCapture log;
  for (const char* host : {"127.0.0.1", "127.0.0.5", "::1", "::ffff:127.0.0.1"}) {
    AdminServerOptions options = TestOptions();
    options.host = host;
    auto server = AdminServer::Start(options, &registry_, [] { return true; });
    if (!server.ok() && std::string_view(host).find(':') != std::string_view::npos) {
      continue;  // A sandbox without IPv6: nothing to check for these addresses.
    }
    ASSERT_THAT(server, IsOk()) << host;
  }
  EXPECT_THAT(log.Text(), Not(HasSubstr("[warning]")));
}

TEST_F(AdminServerTest, BindToPortInUseFailsNamingTheAddress) {
  const auto first = StartServer();
  ASSERT_NE(first, nullptr);
  AdminServerOptions options = TestOptions();
  options.port = first->port();
  const auto second = AdminServer::Start(options, &registry_, [] { return true; });
  EXPECT_THAT(second, StatusIs(absl::StatusCode::kFailedPrecondition,
                               HasSubstr(absl::StrCat("bind 127.0.0.1:", first->port(),
                                                      ": Address already in use"))));
  // The first server is unaffected.
  EXPECT_EQ(StatusCode(Get(first->port(), "/healthz")), 200);
}

TEST_F(AdminServerTest, InvalidOptionsAreRejected) {
  AdminServerOptions options = TestOptions();
  options.host = "localhost";
  EXPECT_THAT(AdminServer::Start(options, &registry_, [] { return true; }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("\"localhost\"")));
  EXPECT_THAT(AdminServer::Start(TestOptions(), nullptr, [] { return true; }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("metrics")));
  EXPECT_THAT(AdminServer::Start(TestOptions(), &registry_, nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is_ready")));
  options = TestOptions();
  options.max_connections = 0;
  EXPECT_THAT(AdminServer::Start(options, &registry_, [] { return true; }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("max_connections")));
  options = TestOptions();
  options.max_connections_per_peer = 0;
  EXPECT_THAT(AdminServer::Start(options, &registry_, [] { return true; }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("max_connections_per_peer")));
}

TEST_F(AdminServerTest, StopWithAConnectedClientReturnsPromptlyAndTheClientSeesEof) {
  const auto server = StartServer();  // request_timeout is 10 s: only Stop ends the connection.
  ASSERT_NE(server, nullptr);
  const base::UniqueFd fd = Connect(server->port());
  ASSERT_TRUE(fd.is_valid());
  ASSERT_TRUE(WaitFor([&] { return server->OpenConnectionsForTest() == 1; }));

  const auto start = std::chrono::steady_clock::now();
  server->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));

  const ReadResult result = ReadToEnd(fd.get());
  EXPECT_TRUE(result.is_eof) << "recv: " << ErrnoText(result.error);
  EXPECT_EQ(result.data, "");
  // The listening socket is closed too.
  base::UniqueFd refused(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(server->port());
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_NE(::connect(refused.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)),
            0);
}

TEST_F(AdminServerTest, StopTwiceIsFine) {
  const auto server = StartServer();
  ASSERT_NE(server, nullptr);
  server->Stop();
  server->Stop();
}

TEST_F(AdminServerTest, ConcurrentStopsAllReturn) {
  const auto server = StartServer();
  ASSERT_NE(server, nullptr);
  std::thread other([&server] { server->Stop(); });
  server->Stop();
  other.join();
}

TEST_F(AdminServerTest, DestructionWithoutStopIsFine) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  const base::UniqueFd fd = Connect(server->port());
  ASSERT_TRUE(fd.is_valid());
  ASSERT_TRUE(WaitFor([&] { return server->OpenConnectionsForTest() == 1; }));
  server.reset();
  EXPECT_TRUE(ReadToEnd(fd.get()).is_eof);
}

TEST_F(AdminServerTest, StopFromTheServerThreadDoesNotDeadlock) {
  std::atomic<AdminServer*> server_for_callback{nullptr};
  std::atomic<bool> has_stopped{false};
  auto server = AdminServer::Start(TestOptions(), &registry_, [&] {
    server_for_callback.load()->Stop();
    has_stopped = true;
    return true;
  });
  ASSERT_THAT(server, IsOk());
  server_for_callback = server->get();

  const base::UniqueFd fd = Connect((*server)->port());
  ASSERT_TRUE(fd.is_valid());
  ASSERT_TRUE(SendAll(fd.get(), "GET /readyz HTTP/1.1\r\nHost: a\r\n\r\n"));
  // The response may or may not make it out before the shutdown closes the socket; either way
  // the connection ends rather than hanging.
  const ReadResult result = ReadToEnd(fd.get());
  EXPECT_TRUE(result.is_eof || result.error == ECONNRESET) << ErrnoText(result.error);
  EXPECT_TRUE(has_stopped);
  server->reset();  // Joins the server thread from this one.
}

}  // namespace
}  // namespace gatehouse::admin
