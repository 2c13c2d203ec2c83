#include "lb/forwarder.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "base/unique_fd.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lb/internal/pipe_pool.h"
#include "lb/testing/test_proxy.h"
#include "testing/byte_pattern.h"
#include "testing/loopback.h"
#include "testing/loopback_server.h"
#include "testing/status_matchers.h"
#include "testing/wait_for.h"

namespace gatehouse::lb {
namespace {

using ::gatehouse::lb::testing::TestProxy;
using ::gatehouse::testing::ConnectLoopback;
using ::gatehouse::testing::FillPattern;
using ::gatehouse::testing::LoopbackServer;
using ::gatehouse::testing::PatternChecker;
using ::gatehouse::testing::ReadAndVerify;
using ::gatehouse::testing::StatusIs;
using ::gatehouse::testing::WaitFor;
using ::gatehouse::testing::WriteAll;
using ::gatehouse::testing::WritePattern;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;
using ::testing::HasSubstr;

ForwarderOptions WithSplice(SpliceMode mode) {
  ForwarderOptions options;
  options.splice = mode;
  return options;
}

std::string ModeName(SpliceMode mode) {
  switch (mode) {
    case SpliceMode::kNever:
      return "Copy";
    case SpliceMode::kAlways:
      return "Splice";
    case SpliceMode::kAuto:
      return "Auto";
  }
  return "Unknown";
}

// Reads exactly `size` bytes; false on end-of-stream, an error or the socket's timeout.
bool ReadExactly(int fd, char* data, size_t size) {
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::read(fd, data + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// Sends `request` and reads back as many bytes (through an echo upstream); true when the reply
// is the request, byte for byte.
bool EchoExchange(int fd, const std::string& request) {
  if (!WriteAll(fd, request.data(), request.size())) return false;
  std::string reply(request.size(), '\0');
  return ReadExactly(fd, reply.data(), reply.size()) && reply == request;
}

// A 64-byte request that differs from exchange to exchange.
std::string SmallRequest(int i) {
  std::string request = "request " + std::to_string(i) + " ";
  request.resize(64, '.');
  return request;
}

// Reads `total` bytes and checks them against the pattern for `seed`: the count, -1 at the
// first wrong byte, -2 on end-of-stream or an error before `total`.
int64_t ReadExactlyAndVerify(int fd, uint64_t seed, uint64_t total) {
  std::vector<uint8_t> buffer(size_t{128} * 1024);
  PatternChecker checker(seed);
  while (checker.checked() < total) {
    const size_t want =
        static_cast<size_t>(std::min<uint64_t>(buffer.size(), total - checker.checked()));
    const ssize_t n = ::read(fd, buffer.data(), want);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -2;
    if (!checker.Check(buffer.data(), static_cast<size_t>(n))) return -1;
  }
  return static_cast<int64_t>(checker.checked());
}

// The last of the three numbers in a tcp_rmem / tcp_wmem sysctl file: the most autotuning may
// give a socket buffer.
uint64_t SysctlMaxBytes(const char* path) {
  FILE* file = std::fopen(path, "re");
  if (file == nullptr) return 0;
  unsigned long long min = 0, initial = 0, max = 0;  // NOLINT(google-runtime-int): fscanf's type
  const int fields = std::fscanf(file, "%llu %llu %llu", &min, &initial, &max);
  std::fclose(file);
  return fields == 3 ? max : 0;
}

struct IntegrityCase {
  SpliceMode mode;
  size_t write_size;
};

class ForwarderIntegrityTest : public ::testing::TestWithParam<IntegrityCase> {};

TEST_P(ForwarderIntegrityTest, HundredMebibytesEachWayArriveIntact) {
  constexpr uint64_t kTotal = 100ULL << 20;
  LoopbackServer echo;
  TestProxy proxy(echo.port(), TestProxy::Plain(WithSplice(GetParam().mode)));
  base::UniqueFd client = ConnectLoopback(proxy.port(), seconds(20));
  int64_t received = 0;
  std::thread reader([&] { received = ReadAndVerify(client.get(), 42); });
  EXPECT_TRUE(WritePattern(client.get(), 42, kTotal, GetParam().write_size));
  ::shutdown(client.get(), SHUT_WR);
  reader.join();
  EXPECT_EQ(received, static_cast<int64_t>(kTotal)) << "-1 means corrupted bytes";
  const auto results = proxy.WaitForResults(1);
  ASSERT_EQ(results.size(), 1U);
  EXPECT_EQ(results[0].end, ForwardEnd::kClosed) << results[0].error.message();
  EXPECT_EQ(results[0].client_to_upstream_bytes, kTotal);
  EXPECT_EQ(results[0].upstream_to_client_bytes, kTotal);
  for (const DirectionStats& stats :
       {results[0].client_to_upstream, results[0].upstream_to_client}) {
    EXPECT_EQ(stats.spliced_bytes + stats.copied_bytes, kTotal);
    if (GetParam().mode == SpliceMode::kNever) {
      EXPECT_EQ(stats.spliced_bytes, 0U);
    }
    if (GetParam().mode == SpliceMode::kAlways) {
      EXPECT_EQ(stats.copied_bytes, 0U);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllModes, ForwarderIntegrityTest,
                         ::testing::Values(IntegrityCase{SpliceMode::kAlways, 1000},
                                           IntegrityCase{SpliceMode::kAlways, 1 << 20},
                                           IntegrityCase{SpliceMode::kNever, 1000},
                                           IntegrityCase{SpliceMode::kNever, 1 << 20},
                                           IntegrityCase{SpliceMode::kAuto, 1000},
                                           IntegrityCase{SpliceMode::kAuto, 1 << 20}),
                         [](const ::testing::TestParamInfo<IntegrityCase>& param_info) {
                           return ModeName(param_info.param.mode) +
                                  (param_info.param.write_size < 4096 ? "SmallWrites"
                                                                      : "LargeWrites");
                         });

class ForwarderTest : public ::testing::TestWithParam<SpliceMode> {
 protected:
  ForwarderOptions Options() const { return WithSplice(GetParam()); }
};

TEST_P(ForwarderTest, HalfCloseStillDeliversTheUpstreamReply) {
  // The upstream reads to end-of-stream, then answers with how much it got.
  LoopbackServer upstream([](int fd) {
    char buffer[4096];
    uint64_t total = 0;
    ssize_t n = 0;
    while ((n = ::read(fd, buffer, sizeof(buffer))) > 0) total += static_cast<uint64_t>(n);
    const std::string reply = "got " + std::to_string(total) + " bytes";
    WriteAll(fd, reply.data(), reply.size());
  });
  TestProxy proxy(upstream.port(), TestProxy::Plain(Options()));
  base::UniqueFd client = ConnectLoopback(proxy.port(), seconds(20));
  ASSERT_TRUE(WritePattern(client.get(), 7, 300000, 4096));
  ASSERT_EQ(::shutdown(client.get(), SHUT_WR), 0);
  std::string reply;
  char buffer[256];
  ssize_t n = 0;
  while ((n = ::read(client.get(), buffer, sizeof(buffer))) > 0) {
    reply.append(buffer, static_cast<size_t>(n));
  }
  EXPECT_EQ(reply, "got 300000 bytes");
  const auto results = proxy.WaitForResults(1);
  ASSERT_EQ(results.size(), 1U);
  EXPECT_EQ(results[0].end, ForwardEnd::kClosed);
  EXPECT_EQ(results[0].client_to_upstream_bytes, 300000U);
  EXPECT_EQ(results[0].upstream_to_client_bytes, reply.size());
}

TEST_P(ForwarderTest, IdleConnectionIsClosedAfterTheTimeout) {
  LoopbackServer echo;
  ForwarderOptions options = Options();
  options.idle_timeout = milliseconds(200);
  TestProxy proxy(echo.port(), TestProxy::Plain(options));
  // Taken before connecting, so before the proxy's idle clock starts.
  const steady_clock::time_point start = steady_clock::now();
  base::UniqueFd client = ConnectLoopback(proxy.port(), seconds(20));
  char byte = 0;
  // The deadline is the socket's 20 s receive timeout: a proxy that never closes fails the read.
  EXPECT_EQ(::read(client.get(), &byte, 1), 0) << "expected EOF from the idle timeout";
  // Only a lower bound: a loaded machine may close late, but never early.
  EXPECT_GE(steady_clock::now() - start, options.idle_timeout);
  const auto results = proxy.WaitForResults(1);
  ASSERT_EQ(results.size(), 1U);
  EXPECT_EQ(results[0].end, ForwardEnd::kIdleTimeout);
}

// One run of the upstream talking for ~4 idle timeouts while the client says nothing at all.
struct TalkRun {
  std::string received;
  ForwardEnd end = ForwardEnd::kClosed;
  // The longest stretch from the start of one upstream write to the end of the next: when the
  // machine stalls the talker this long, no byte reached the proxy for as long, and an idle
  // timeout is then the right answer, not a bug.
  steady_clock::duration longest_gap{};
};

TalkRun TalkWhileTheClientListens(const ForwarderOptions& options) {
  constexpr int kTicks = 20;
  std::atomic<int64_t> longest_gap_ns{0};
  std::atomic<bool> is_talker_done{false};
  LoopbackServer talker([&](int fd) {
    steady_clock::time_point previous_start = steady_clock::now();
    for (int i = 0; i < kTicks; ++i) {
      const steady_clock::time_point start = steady_clock::now();
      const bool wrote = WriteAll(fd, "tick", 4);
      // Counted whether or not the write went through: a stall is what makes it fail.
      const int64_t gap =
          std::chrono::duration_cast<std::chrono::nanoseconds>(steady_clock::now() - previous_start)
              .count();
      if (gap > longest_gap_ns.load()) longest_gap_ns = gap;
      if (!wrote) break;
      previous_start = start;
      // Load shape, not synchronization: spaced writes are what this test is about.
      std::this_thread::sleep_for(milliseconds(40));
    }
    is_talker_done = true;
  });
  TestProxy proxy(talker.port(), TestProxy::Plain(options));
  base::UniqueFd client = ConnectLoopback(proxy.port(), seconds(20));
  TalkRun run;
  char buffer[64];
  ssize_t n = 0;
  while ((n = ::read(client.get(), buffer, sizeof(buffer))) > 0) {
    run.received.append(buffer, static_cast<size_t>(n));
  }
  ::close(client.Release());
  const auto results = proxy.WaitForResults(1);
  EXPECT_EQ(results.size(), 1U);
  if (!results.empty()) run.end = results[0].end;
  // A cut connection can end the client's reads while a stalled talker has yet to record the
  // stall: its gap is read only once it is done.
  EXPECT_TRUE(WaitFor([&] { return is_talker_done.load(); }, seconds(60)));
  run.longest_gap = std::chrono::nanoseconds(longest_gap_ns.load());
  return run;
}

TEST_P(ForwarderTest, TrafficInOneDirectionKeepsTheConnectionAlive) {
  ForwarderOptions options = Options();
  options.idle_timeout = milliseconds(200);
  // A run in which the machine held the talker back for a whole idle timeout proves nothing
  // either way; it is run again rather than judged.
  for (int attempt = 0; attempt < 3; ++attempt) {
    const TalkRun run = TalkWhileTheClientListens(options);
    if (run.longest_gap >= options.idle_timeout) continue;
    EXPECT_EQ(run.received.size(), 80U) << "the connection was cut while the upstream was talking";
    EXPECT_NE(run.end, ForwardEnd::kIdleTimeout);
    return;
  }
  GTEST_SKIP() << "the talker stalled for a whole idle timeout in every attempt";
}

TEST_P(ForwarderTest, UpstreamResetClosesTheClient) {
  LoopbackServer resetter([](int fd) {
    char buffer[16];
    (void)::read(fd, buffer, sizeof(buffer));
    const linger abort_on_close{1, 0};  // close() now sends RST
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof(abort_on_close));
  });
  TestProxy proxy(resetter.port(), TestProxy::Plain(Options()));
  base::UniqueFd client = ConnectLoopback(proxy.port(), seconds(20));
  ASSERT_TRUE(WriteAll(client.get(), "hello", 5));
  char byte = 0;
  EXPECT_LE(::read(client.get(), &byte, 1), 0);
  const auto results = proxy.WaitForResults(1);
  ASSERT_EQ(results.size(), 1U);
  EXPECT_EQ(results[0].end, ForwardEnd::kError);
  EXPECT_TRUE(results[0].error) << "the reset must be reported";
}

// Bounded memory: an upstream that reads nothing must stop the proxy reading the client, so the
// client's writes block once the socket buffers on the way (and one pipe or buffer) are full.
TEST_P(ForwarderTest, UpstreamThatDoesNotReadPushesBackOnTheClient) {
  // What the socket buffers on the way may hold at most (client send, proxy receive and send,
  // upstream receive), plus slack for one pipe or buffer: a proxy that pushes back stops below
  // it; one that buffers without bound goes on to `limit`.
  const uint64_t bound = 2 * (SysctlMaxBytes("/proc/sys/net/ipv4/tcp_rmem") +
                              SysctlMaxBytes("/proc/sys/net/ipv4/tcp_wmem")) +
                         (uint64_t{16} << 20);
  const uint64_t limit = 4 * bound;
  std::atomic<bool> may_read{false};
  std::atomic<int64_t> upstream_received{-3};
  LoopbackServer upstream([&](int fd) {
    if (!WaitFor([&] { return may_read.load(); }, seconds(60))) return;
    upstream_received = ReadAndVerify(fd, 9);
  });
  TestProxy proxy(upstream.port(), TestProxy::Plain(Options()));
  base::UniqueFd client = ConnectLoopback(proxy.port(), seconds(20));
  ::fcntl(client.get(), F_SETFL, ::fcntl(client.get(), F_GETFL) | O_NONBLOCK);
  std::vector<uint8_t> chunk(size_t{64} * 1024);
  uint64_t written = 0;
  while (written < limit) {
    FillPattern(9, written, chunk.data(), chunk.size());
    const ssize_t n = ::send(client.get(), chunk.data(), chunk.size(), MSG_NOSIGNAL);
    if (n > 0) {
      written += static_cast<uint64_t>(n);
      continue;
    }
    ASSERT_TRUE(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        << std::system_category().message(errno);
    // Full for now. A proxy that keeps reading makes room again within moments; one that
    // pushes back leaves the socket full. A slow machine can only end this loop early, which
    // the bound below does not mind.
    pollfd writable{client.get(), POLLOUT, 0};
    if (::poll(&writable, 1, 500) == 0) break;
  }
  EXPECT_LT(written, bound) << "the proxy read far ahead of an upstream that reads nothing";
  // A partial chunk may have gone out: the upstream checks the pattern up to what was sent.
  ::fcntl(client.get(), F_SETFL, ::fcntl(client.get(), F_GETFL) & ~O_NONBLOCK);
  may_read = true;
  ASSERT_EQ(::shutdown(client.get(), SHUT_WR), 0);
  char byte = 0;
  EXPECT_EQ(::read(client.get(), &byte, 1), 0);
  EXPECT_TRUE(WaitFor([&] { return upstream_received.load() != -3; }, seconds(60)));
  EXPECT_EQ(upstream_received.load(), static_cast<int64_t>(written)) << "-1 means corrupted bytes";
  const auto results = proxy.WaitForResults(1);
  ASSERT_EQ(results.size(), 1U);
  EXPECT_EQ(results[0].end, ForwardEnd::kClosed) << results[0].error.message();
}

INSTANTIATE_TEST_SUITE_P(AllModes, ForwarderTest,
                         ::testing::Values(SpliceMode::kAlways, SpliceMode::kNever,
                                           SpliceMode::kAuto),
                         [](const ::testing::TestParamInfo<SpliceMode>& param_info) {
                           return ModeName(param_info.param);
                         });

TEST(ForwarderAutoTest, SmallRequestsAndRepliesStayOnTheCopyPath) {
  constexpr int kExchanges = 200;
  LoopbackServer echo;
  TestProxy proxy(echo.port(), TestProxy::Plain(WithSplice(SpliceMode::kAuto)));
  base::UniqueFd client = ConnectLoopback(proxy.port(), seconds(20));
  for (int i = 0; i < kExchanges; ++i) {
    ASSERT_TRUE(EchoExchange(client.get(), SmallRequest(i))) << "exchange " << i;
  }
  ASSERT_EQ(::shutdown(client.get(), SHUT_WR), 0);
  char byte = 0;
  EXPECT_EQ(::read(client.get(), &byte, 1), 0);
  const auto results = proxy.WaitForResults(1);
  ASSERT_EQ(results.size(), 1U);
  EXPECT_EQ(results[0].end, ForwardEnd::kClosed) << results[0].error.message();
  constexpr uint64_t kBytes = uint64_t{kExchanges} * 64;
  for (const DirectionStats& stats :
       {results[0].client_to_upstream, results[0].upstream_to_client}) {
    EXPECT_EQ(stats.copied_bytes, kBytes);
    EXPECT_EQ(stats.spliced_bytes, 0U);
    EXPECT_EQ(stats.splice_switches, 0U);
  }
}

TEST(ForwarderAutoTest, BulkMovesToSpliceAndSmallMessagesMoveBackToCopy) {
  constexpr uint64_t kBulk = 64ULL << 20;
  constexpr int kExchanges = 20;
  LoopbackServer echo;
  TestProxy proxy(echo.port(), TestProxy::Plain(WithSplice(SpliceMode::kAuto)));
  base::UniqueFd client = ConnectLoopback(proxy.port(), seconds(20));
  for (int i = 0; i < kExchanges; ++i) {
    ASSERT_TRUE(EchoExchange(client.get(), SmallRequest(i))) << "exchange " << i;
  }
  int64_t received = 0;
  std::thread reader([&] { received = ReadExactlyAndVerify(client.get(), 11, kBulk); });
  EXPECT_TRUE(WritePattern(client.get(), 11, kBulk, 1 << 20));
  reader.join();
  ASSERT_EQ(received, static_cast<int64_t>(kBulk)) << "-1: corrupted bytes; -2: cut short";
  for (int i = 0; i < kExchanges; ++i) {
    ASSERT_TRUE(EchoExchange(client.get(), SmallRequest(1000 + i))) << "exchange " << i;
  }
  ASSERT_EQ(::shutdown(client.get(), SHUT_WR), 0);
  char byte = 0;
  EXPECT_EQ(::read(client.get(), &byte, 1), 0);
  const auto results = proxy.WaitForResults(1);
  ASSERT_EQ(results.size(), 1U);
  EXPECT_EQ(results[0].end, ForwardEnd::kClosed) << results[0].error.message();
  constexpr uint64_t kTotal = kBulk + uint64_t{2} * kExchanges * 64;
  EXPECT_EQ(results[0].client_to_upstream_bytes, kTotal);
  EXPECT_EQ(results[0].upstream_to_client_bytes, kTotal);
  for (const DirectionStats& stats :
       {results[0].client_to_upstream, results[0].upstream_to_client}) {
    EXPECT_EQ(stats.spliced_bytes + stats.copied_bytes, kTotal);
    EXPECT_GE(stats.splice_switches, 1U) << "the bulk transfer should have moved to splice";
    EXPECT_GE(stats.spliced_bytes, kBulk / 2) << "most of the bulk should have been spliced";
    EXPECT_GE(stats.copy_switches, 1U) << "the small exchanges after it should be copied again";
  }
}

// Open descriptors of this process by kind, from /proc/self/fd.
struct FdCensus {
  int sockets = 0;
  int pipes = 0;
};

FdCensus TakeFdCensus() {
  FdCensus census;
  std::error_code error;  // the error_code overloads: std::filesystem must not throw here
  std::filesystem::directory_iterator entries("/proc/self/fd", error);
  for (; !error && entries != std::filesystem::directory_iterator(); entries.increment(error)) {
    std::error_code link_error;  // a descriptor closed since the listing: not counted
    const std::string kind = std::filesystem::read_symlink(entries->path(), link_error).string();
    if (link_error) continue;
    if (kind.rfind("socket:", 0) == 0) ++census.sockets;
    if (kind.rfind("pipe:", 0) == 0) ++census.pipes;
  }
  EXPECT_FALSE(error) << "list /proc/self/fd: " << error.message();
  return census;
}

class ForwarderIdleTest : public ::testing::TestWithParam<SpliceMode> {};

TEST_P(ForwarderIdleTest, IdleConnectionsHoldNoPipe) {
  // More connections than a thread's pipe pool keeps, so that a pipe per connection (4
  // descriptors) could not hide inside the pool's bound.
  constexpr int kConnections = 100;
  LoopbackServer echo;
  TestProxy proxy(echo.port(), TestProxy::Plain(WithSplice(GetParam())));
  const FdCensus before = TakeFdCensus();
  std::vector<base::UniqueFd> clients;
  for (int i = 0; i < kConnections; ++i) {
    clients.push_back(ConnectLoopback(proxy.port(), seconds(20)));
    // One exchange, so both directions of every connection have moved bytes and gone idle again.
    ASSERT_TRUE(EchoExchange(clients.back().get(), SmallRequest(i))) << "connection " << i;
  }
  // A connection is four sockets here: the client's, the proxy's two, the echo server's one.
  // The pipes the proxy's one worker may keep pooled are bounded whatever the connection count.
  constexpr int kPooledPipeFds = 2 * static_cast<int>(internal::PipePool::kMaxPipes);
  FdCensus after;
  EXPECT_TRUE(WaitFor([&] {
    after = TakeFdCensus();
    return after.sockets - before.sockets == 4 * kConnections &&
           after.pipes - before.pipes <= kPooledPipeFds;
  })) << "sockets: "
      << after.sockets - before.sockets << ", pipe ends: " << after.pipes - before.pipes;
  EXPECT_EQ(after.sockets - before.sockets, 4 * kConnections);
  EXPECT_LE(after.pipes - before.pipes, kPooledPipeFds);
  if (GetParam() == SpliceMode::kAuto) {
    EXPECT_EQ(after.pipes, before.pipes) << "small messages should never take a pipe";
  }
  clients.clear();
  const auto results = proxy.WaitForResults(kConnections);
  ASSERT_EQ(results.size(), static_cast<size_t>(kConnections));
}

INSTANTIATE_TEST_SUITE_P(SpliceModes, ForwarderIdleTest,
                         ::testing::Values(SpliceMode::kAlways, SpliceMode::kAuto),
                         [](const ::testing::TestParamInfo<SpliceMode>& param_info) {
                           return ModeName(param_info.param);
                         });

struct InvalidOptionsCase {
  std::string name;
  ForwarderOptions options;
  std::string message;
};

std::vector<InvalidOptionsCase> InvalidOptionsCases() {
  std::vector<InvalidOptionsCase> cases;
  const auto add = [&cases](std::string name, std::string message, auto change) {
    ForwarderOptions options;
    change(options);
    cases.push_back({std::move(name), options, std::move(message)});
  };
  add("ZeroBuffer", "buffer_bytes = 0", [](ForwarderOptions& o) { o.buffer_bytes = 0; });
  add("HugeBuffer", "buffer_bytes = 4294967295",
      [](ForwarderOptions& o) { o.buffer_bytes = std::numeric_limits<uint32_t>::max(); });
  add("ZeroPipe", "pipe_bytes = 0", [](ForwarderOptions& o) { o.pipe_bytes = 0; });
  add("HugePipe", "pipe_bytes = 1073741824", [](ForwarderOptions& o) { o.pipe_bytes = 1U << 30; });
  add("ZeroYield", "yield_after_bytes = 0", [](ForwarderOptions& o) { o.yield_after_bytes = 0; });
  add("ZeroIdleTimeout", "idle_timeout = 0ns",
      [](ForwarderOptions& o) { o.idle_timeout = std::chrono::nanoseconds(0); });
  add("NegativeIdleTimeout", "idle_timeout = -1000000ns",
      [](ForwarderOptions& o) { o.idle_timeout = milliseconds(-1); });
  add("EndlessIdleTimeout", "idle_timeout = ", [](ForwarderOptions& o) {
    o.idle_timeout = std::chrono::nanoseconds::max();
  });
  add("UnknownSpliceMode", "splice = 7",
      [](ForwarderOptions& o) { o.splice = static_cast<SpliceMode>(7); });
  return cases;
}

class ForwarderOptionsTest : public ::testing::TestWithParam<InvalidOptionsCase> {};

TEST_P(ForwarderOptionsTest, IsRefusedNamingTheFieldAndValue) {
  EXPECT_THAT(ValidateForwarderOptions(GetParam().options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(GetParam().message)));
}

INSTANTIATE_TEST_SUITE_P(Invalid, ForwarderOptionsTest, ::testing::ValuesIn(InvalidOptionsCases()),
                         [](const ::testing::TestParamInfo<InvalidOptionsCase>& param_info) {
                           return param_info.param.name;
                         });

TEST(ForwarderOptionsTest, DefaultsAndBoundsAreValid) {
  EXPECT_TRUE(ValidateForwarderOptions(ForwarderOptions{}).ok());
  ForwarderOptions smallest;
  smallest.buffer_bytes = kMinForwarderBufferBytes;
  smallest.pipe_bytes = kMinForwarderPipeBytes;
  smallest.yield_after_bytes = kMinForwarderYieldAfterBytes;
  smallest.idle_timeout = std::chrono::nanoseconds(1);
  EXPECT_TRUE(ValidateForwarderOptions(smallest).ok());
  ForwarderOptions largest;
  largest.buffer_bytes = kMaxForwarderBufferBytes;
  largest.pipe_bytes = kMaxForwarderPipeBytes;
  largest.yield_after_bytes = kMaxForwarderYieldAfterBytes;
  largest.idle_timeout = kMaxForwarderIdleTimeout;
  EXPECT_TRUE(ValidateForwarderOptions(largest).ok());
}

// A zero-byte buffer reads nothing, for ever: Forward must refuse it rather than spin.
TEST(ForwarderOptionsTest, ForwardWithAZeroBufferEndsAtOnceWithAnError) {
  LoopbackServer echo;
  ForwarderOptions options = WithSplice(SpliceMode::kNever);
  options.buffer_bytes = 0;
  TestProxy proxy(echo.port(), TestProxy::Plain(options));
  base::UniqueFd client = ConnectLoopback(proxy.port(), seconds(20));
  // The idle timeout (1 h) cannot end this connection within the deadline; only the refusal can.
  const auto results = proxy.WaitForResults(1, seconds(20));
  ASSERT_EQ(results.size(), 1U) << "Forward did not return";
  EXPECT_EQ(results[0].end, ForwardEnd::kError);
  EXPECT_EQ(results[0].error, asio::error::invalid_argument) << results[0].error.message();
  EXPECT_EQ(results[0].client_to_upstream_bytes, 0U);
  char byte = 0;
  EXPECT_EQ(::read(client.get(), &byte, 1), 0) << "the client should see the connection closed";
}

TEST(ForwarderStressTest, ManyConcurrentConnectionsOnTwoWorkers) {
  constexpr int kClientThreads = 6;
  constexpr int kConnectionsPerThread = 40;
  constexpr uint64_t kBytes = uint64_t{64} * 1024;
  LoopbackServer echo;
  TestProxy proxy(echo.port(), TestProxy::Plain(ForwarderOptions{}), /*threads=*/2);
  std::atomic<int> failures{0};
  std::vector<std::thread> clients;
  clients.reserve(kClientThreads);
  for (int t = 0; t < kClientThreads; ++t) {
    clients.emplace_back([&, t] {
      for (int c = 0; c < kConnectionsPerThread; ++c) {
        base::UniqueFd fd = ConnectLoopback(proxy.port(), seconds(20));
        const auto seed = static_cast<uint64_t>(t) * 1000 + static_cast<uint64_t>(c);
        int64_t received = 0;
        std::thread reader([&] { received = ReadAndVerify(fd.get(), seed); });
        const bool wrote = WritePattern(fd.get(), seed, kBytes, 8192);
        ::shutdown(fd.get(), SHUT_WR);
        reader.join();
        if (!wrote || received != static_cast<int64_t>(kBytes)) ++failures;
      }
    });
  }
  for (auto& client : clients) client.join();
  EXPECT_EQ(failures.load(), 0);
  const auto results =
      proxy.WaitForResults(static_cast<size_t>(kClientThreads) * kConnectionsPerThread);
  ASSERT_EQ(results.size(), static_cast<size_t>(kClientThreads * kConnectionsPerThread));
  for (const ForwardResult& result : results) {
    EXPECT_EQ(result.end, ForwardEnd::kClosed) << result.error.message();
  }
}

}  // namespace
}  // namespace gatehouse::lb
