// Binary upgrade as an operator runs it: SIGUSR2 to a real gatehoused, which starts the same
// executable, hands it every listening socket and drains. While it happens, gatebench opens
// connections at a steady rate and a transfer started before the upgrade goes on after it.
//
// Its own binary: it makes itself a child subreaper (PR_SET_CHILD_SUBREAPER), so that the
// successor, orphaned when its predecessor exits, becomes this test's child and is ended here.
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <future>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "security/tls_context.h"
#include "testing/byte_pattern.h"
#include "testing/daemon.h"
#include "testing/http_get.h"
#include "testing/loopback.h"
#include "testing/loopback_server.h"
#include "testing/subprocess.h"
#include "testing/temp_dir.h"
#include "testing/test_pki.h"
#include "testing/wait_for.h"

namespace gatehouse {
namespace {

using ::gatehouse::testing::BuiltProgram;
using ::gatehouse::testing::ChildProcess;
using ::gatehouse::testing::Daemon;
using ::gatehouse::testing::HttpGet;
using ::gatehouse::testing::LoopbackServer;
using ::gatehouse::testing::ProcessResult;
using ::gatehouse::testing::TempDir;
using ::gatehouse::testing::TestPki;
using ::gatehouse::testing::WaitFor;
using ::testing::HasSubstr;

constexpr uint64_t kSeed = 11;
constexpr uint64_t kPhaseBytes = uint64_t{8} << 20;  // before the upgrade, and again after it
constexpr size_t kChunkBytes = size_t{64} * 1024;

// Writes the pattern stream's bytes [offset, offset + size) to `fd`; false on a write error.
bool WritePatternRange(int fd, uint64_t offset, uint64_t size) {
  std::vector<uint8_t> chunk(kChunkBytes);
  for (uint64_t done = 0; done < size;) {
    const size_t length = static_cast<size_t>(std::min<uint64_t>(kChunkBytes, size - done));
    testing::FillPattern(kSeed, offset + done, chunk.data(), length);
    size_t written = 0;
    while (written < length) {
      const ssize_t n = ::send(fd, chunk.data() + written, length - written, MSG_NOSIGNAL);
      if (n <= 0) return false;
      written += static_cast<size_t>(n);
    }
    done += length;
  }
  return true;
}

class UpgradeTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0); }

  // One plain-TCP app, "echo", on 127.0.0.1:0 in front of `upstream`; the admin endpoint on a
  // free port.
  std::string Config(uint16_t upstream) const {
    const security::TlsFiles server = pki_.ServerFiles();
    return absl::StrCat("tls: {ca: ", server.ca_file, ", cert: ", server.cert_file,
                        ", key: ", server.key_file,
                        "}\nadmin: {listen: 127.0.0.1:0}\n"
                        "authorization:\n  apps:\n    echo: {users: [\"*\"]}\n"
                        "lb:\n  workers: 2\n  drain_timeout: 30s\n  apps:\n"
                        "    - {name: echo, tls: none, listen: 127.0.0.1:0, upstreams: [127.0.0.1:",
                        upstream, "]}\n");
  }

  // Connections app "echo" of the daemon behind `admin_port` has accepted.
  static uint64_t AcceptedConnections(uint16_t admin_port) {
    static const std::regex kAccepted(
        R"(\ngatehouse_lb_accepted_connections_total\{app="echo"\} (\d+)\n)");
    std::smatch match;
    const std::string metrics = HttpGet(admin_port, "/metrics").body;
    return std::regex_search(metrics, match, kAccepted) ? std::stoull(match[1].str()) : 0;
  }

  // The successor's PID, from the predecessor's log line (0 until it is there).
  static pid_t SuccessorOf(Daemon& daemon) {
    static const std::regex kServes(R"(binary upgrade: PID (\d+) serves now)");
    std::smatch match;
    const std::string log = daemon.process().output();
    return std::regex_search(log, match, kServes) ? std::stoi(match[1].str()) : 0;
  }

  // Ends the successor (our child, as a subreaper) and reaps it: SIGTERM, then it drains.
  static void EndSuccessor(pid_t pid) {
    if (pid <= 0) return;
    ::kill(pid, SIGTERM);
    int status = 0;
    const bool exited =
        WaitFor([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, std::chrono::seconds(30));
    if (!exited) {
      ADD_FAILURE() << "the successor did not exit on SIGTERM";
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return;
    }
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  }

  TempDir tmp_;
  TestPki pki_;
};

TEST_F(UpgradeTest, UnderSteadyLoadNothingIsRefusedAndATransferSpanningItEndsByteExact) {
  LoopbackServer upstream;  // echoes
  Daemon daemon(tmp_, Config(upstream.port()));
  ASSERT_TRUE(daemon.started()) << daemon.process().output();
  const uint16_t port = daemon.PortOf("echo");
  const uint16_t admin_port = daemon.admin_port();
  ASSERT_NE(port, 0) << daemon.process().output();
  pid_t successor = 0;
  const absl::Cleanup end_successor = [&] { EndSuccessor(successor); };

  // A transfer through the predecessor: the first half before the upgrade, the second after.
  base::UniqueFd transfer = testing::TryConnect("127.0.0.1", port);
  ASSERT_TRUE(transfer.is_valid());
  std::promise<void> upgraded;
  std::future<bool> written = std::async(std::launch::async, [&, fd = transfer.get()] {
    std::future<void> go_on = upgraded.get_future();
    if (!WritePatternRange(fd, 0, kPhaseBytes)) return false;
    go_on.wait();
    const bool ok = WritePatternRange(fd, kPhaseBytes, kPhaseBytes);
    ::shutdown(fd, SHUT_WR);
    return ok;
  });
  std::future<int64_t> echoed = std::async(
      std::launch::async, [fd = transfer.get()] { return testing::ReadAndVerify(fd, kSeed); });
  // On an early return, end the transfer so that both tasks return.
  absl::Cleanup stop_transfer = [&] {
    upgraded.set_value();
    ::shutdown(transfer.get(), SHUT_RDWR);
  };

  const std::string report = tmp_.File("connrate.json");
  ChildProcess load({BuiltProgram("gatebench"), "connrate", "--target",
                     absl::StrCat("127.0.0.1:", port), "--connections", "8", "--rate", "200/s",
                     "--duration", "6s", "--size", "64", "--quiet", "--json", report});
  // Load runs before, across and after the upgrade: a hundred connections of it first.
  ASSERT_TRUE(
      WaitFor([&] { return AcceptedConnections(admin_port) >= 100; }, std::chrono::seconds(20)))
      << daemon.process().output();

  daemon.process().Signal(SIGUSR2);
  ASSERT_TRUE(
      WaitFor([&] { return (successor = SuccessorOf(daemon)) != 0; }, std::chrono::seconds(60)))
      << daemon.process().output();
  std::move(stop_transfer).Cancel();
  upgraded.set_value();

  // The predecessor drains: the transfer it carries ends complete and byte-exact.
  EXPECT_TRUE(written.get());
  EXPECT_EQ(echoed.get(), static_cast<int64_t>(2 * kPhaseBytes)) << daemon.process().output();
  const ProcessResult predecessor = daemon.process().WaitForExit(std::chrono::seconds(60));
  EXPECT_EQ(predecessor.exit_code, 0) << predecessor.output;
  EXPECT_THAT(predecessor.output, HasSubstr("stopped after the binary upgrade"));

  const ProcessResult load_result = load.WaitForExit(std::chrono::seconds(60));
  ASSERT_EQ(load_result.exit_code, 0) << load_result.output;
  const nlohmann::json totals = nlohmann::json::parse(testing::ReadFileOrFail(report));
  EXPECT_GT(totals["total"]["requests"].get<uint64_t>(), 600U) << totals["total"].dump();
  EXPECT_EQ(totals["total"]["errors"].get<uint64_t>(), 0U) << totals["total"].dump();

  // The successor serves the same ports, the admin endpoint's too.
  EXPECT_EQ(HttpGet(admin_port, "/readyz").status, 200);
  EXPECT_TRUE(testing::TryConnect("127.0.0.1", port).is_valid());
}

TEST_F(UpgradeTest, ASuccessorThatCannotStartLeavesThePredecessorServing) {
  LoopbackServer upstream;
  Daemon daemon(tmp_, Config(upstream.port()));
  ASSERT_TRUE(daemon.started()) << daemon.process().output();
  const uint16_t port = daemon.PortOf("echo");
  // The successor reads the file afresh: a broken one makes it exit before it takes over.
  tmp_.WriteFile("gatehouse.yaml", "lb: {apps: [}\n");
  daemon.process().Signal(SIGUSR2);
  ASSERT_TRUE(daemon.process().WaitForOutput("binary upgrade failed, still serving",
                                             std::chrono::seconds(60)))
      << daemon.process().output();
  EXPECT_EQ(HttpGet(daemon.admin_port(), "/readyz").status, 200);
  EXPECT_TRUE(testing::TryConnect("127.0.0.1", port).is_valid());
  daemon.process().Signal(SIGTERM);
  const ProcessResult result = daemon.process().WaitForExit(std::chrono::seconds(30));
  EXPECT_EQ(result.exit_code, 0) << result.output;
}

}  // namespace
}  // namespace gatehouse
