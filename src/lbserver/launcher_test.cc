// Launcher with a real job runner and real servers in jobs (python3 -m http.server and small
// python3 servers), as root; skipped otherwise.
#include "lbserver/launcher.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "asio/co_spawn.hpp"
#include "asio/experimental/as_tuple.hpp"
#include "asio/io_context.hpp"
#include "asio/read.hpp"
#include "asio/use_awaitable.hpp"
#include "asio/write.hpp"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"
#include "testing/temp_dir.h"
#include "testing/wait_for.h"

namespace gatehouse::lbserver {
namespace {

using ::gatehouse::testing::IsOk;
using ::gatehouse::testing::StatusIs;
using ::gatehouse::testing::WaitFor;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr uint16_t kPort = 8080;
constexpr auto kAsTuple = asio::experimental::as_tuple(asio::use_awaitable);
constexpr char kHttpGet[] = "GET / HTTP/1.0\r\n\r\n";

std::vector<std::string> HttpServer() {
  return {"/usr/bin/python3", "-m", "http.server", "--bind", "127.0.0.1", "8080"};
}

// A server that accepts the launcher's probe, then serves one connection: it reads one line and
// exits with code 7 without answering.
std::vector<std::string> ServerThatExitsMidConnection() {
  return {"/usr/bin/python3", "-c",
          "import os, socket\n"
          "s = socket.socket()\n"
          "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
          "s.bind(('127.0.0.1', 8080))\n"
          "s.listen(16)\n"
          "s.accept()[0].close()\n"
          "c = s.accept()[0]\n"
          "c.recv(100)\n"
          "os._exit(7)\n"};
}

// What one client got: the reply until the server closed, or why there was none.
struct Outcome {
  absl::Status status;
  std::string reply;
  std::string job;
  bool no_delay = false;  // TCP_NODELAY on the upstream socket, as the static dialer sets it
};

asio::awaitable<void> Exchange(Launcher& launcher, std::string request, Outcome& outcome) {
  absl::StatusOr<Launcher::Lease> lease = co_await launcher.Acquire();
  if (!lease.ok()) {
    outcome.status = lease.status();
    co_return;
  }
  outcome.job = lease->job();
  asio::ip::tcp::socket socket(co_await asio::this_coro::executor);
  if (const std::error_code error = co_await ConnectToInstance(socket, *lease, seconds(5))) {
    launcher.ReportDialFailure(*lease);
    outcome.status = absl::UnavailableError(error.message());
    co_return;
  }
  asio::ip::tcp::no_delay no_delay;
  std::error_code ignored;
  socket.get_option(no_delay, ignored);
  outcome.no_delay = no_delay.value();
  co_await asio::async_write(socket, asio::buffer(request), kAsTuple);
  std::string reply;
  auto [error, n] = co_await asio::async_read(socket, asio::dynamic_buffer(reply), kAsTuple);
  outcome.reply = std::move(reply);
  if (error != asio::error::eof) outcome.status = absl::UnknownError(error.message());
}

class LauncherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root for cgroups and namespaces";
    if (::access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "needs /usr/bin/python3";
    jobs::JobRunnerOptions options;
    options.state_dir = state_.File("state");
    options.cgroup_parent = absl::StrCat("gatehouse-launcher-test-", ::getpid());
    options.stop_grace = seconds(2);
    auto runner = jobs::JobRunner::Create(options);
    ASSERT_THAT(runner, IsOk());
    runner_ = std::move(*runner);
    metrics_ = RegisterLaunchMetrics(registry_, "notes");
  }

  LaunchOptions Options(std::vector<std::string> command) {
    LaunchOptions options;
    options.app = "notes";
    options.spec.executable = command.front();
    options.spec.args.assign(command.begin() + 1, command.end());
    options.spec.owner = "app:notes";
    options.spec.limits.pids = 256;
    options.port = kPort;
    options.ready_timeout = seconds(10);
    options.idle_timeout = std::chrono::hours(1);
    options.first_backoff = seconds(30);  // longer than ready_timeout: refusals come at once
    return options;
  }

  std::unique_ptr<Launcher> MakeLauncher(LaunchOptions options) {
    return std::make_unique<Launcher>(std::move(options), runner_.get(), metrics_);
  }

  // `clients` concurrent exchanges on one event loop thread; returns when all have ended.
  std::vector<Outcome> RunClients(Launcher& launcher, size_t clients,
                                  const std::string& request = kHttpGet) {
    asio::io_context context;
    std::vector<Outcome> outcomes(clients);
    for (Outcome& outcome : outcomes) {
      asio::co_spawn(context, Exchange(launcher, request, outcome),
                     [](const std::exception_ptr&) {});
    }
    context.run_for(seconds(60));
    return outcomes;
  }

  size_t JobsOfTheApp() const {
    size_t count = 0;
    for (const jobs::JobStatus& status : runner_->List()) count += status.owner == "app:notes";
    return count;
  }

  bool AllJobsEnded() const {
    for (const jobs::JobStatus& status : runner_->List()) {
      if (!jobs::IsFinal(status.state)) return false;
    }
    return true;
  }

  testing::TempDir state_;
  std::unique_ptr<jobs::JobRunner> runner_;
  base::MetricsRegistry registry_;
  LaunchMetrics metrics_;
};

TEST_F(LauncherTest, FiftyConcurrentFirstConnectionsShareOneStartAndAllGetReplies) {
  auto launcher = MakeLauncher(Options(HttpServer()));
  EXPECT_EQ(JobsOfTheApp(), 0U) << "nothing runs before the first connection";
  const std::vector<Outcome> outcomes = RunClients(*launcher, 50);
  std::set<std::string> jobs_used;
  for (const Outcome& outcome : outcomes) {
    EXPECT_THAT(outcome.status, IsOk());
    EXPECT_THAT(outcome.reply, StartsWith("HTTP/1.0 200 OK"));
    EXPECT_TRUE(outcome.no_delay);
    jobs_used.insert(outcome.job);
  }
  EXPECT_EQ(jobs_used.size(), 1U);
  EXPECT_EQ(JobsOfTheApp(), 1U);
  EXPECT_EQ(metrics_.cold_starts->value(), 1U);
  EXPECT_EQ(metrics_.cold_start_seconds->count(), 1U);
  EXPECT_EQ(metrics_.instances->value(), 1);
  EXPECT_EQ(metrics_.waiting->value(), 0);

  // Warm: the same instance, no new start.
  const std::vector<Outcome> warm = RunClients(*launcher, 3);
  for (const Outcome& outcome : warm) EXPECT_EQ(outcome.job, *jobs_used.begin());
  EXPECT_EQ(metrics_.cold_starts->value(), 1U);

  launcher.reset();  // stops the server
  EXPECT_TRUE(WaitFor([this] { return AllJobsEnded(); }, seconds(10)));
}

TEST_F(LauncherTest, IdleServerIsStoppedAndTheNextConnectionStartsAFreshOne) {
  LaunchOptions options = Options(HttpServer());
  options.idle_timeout = milliseconds(300);
  auto launcher = MakeLauncher(std::move(options));
  const std::vector<Outcome> first = RunClients(*launcher, 1);
  ASSERT_THAT(first[0].status, IsOk());
  ASSERT_TRUE(WaitFor([this] { return metrics_.idle_stops->value() == 1; }, seconds(10)));
  // The launcher has seen the job end (it waits for that before a new start may begin).
  EXPECT_TRUE(WaitFor([this] { return metrics_.instances->value() == 0; }, seconds(10)));
  EXPECT_TRUE(AllJobsEnded());

  const std::vector<Outcome> second = RunClients(*launcher, 1);
  ASSERT_THAT(second[0].status, IsOk());
  EXPECT_THAT(second[0].reply, StartsWith("HTTP/1.0 200 OK"));
  EXPECT_NE(second[0].job, first[0].job);
  EXPECT_EQ(metrics_.cold_starts->value(), 2U);
}

TEST_F(LauncherTest, AServerThatCrashesAtStartFailsTheWaitersAndBacksOff) {
  auto launcher = MakeLauncher(Options({"/bin/sh", "-c", "exit 3"}));
  const std::vector<Outcome> outcomes = RunClients(*launcher, 5);
  for (const Outcome& outcome : outcomes) {
    EXPECT_THAT(outcome.status,
                StatusIs(absl::StatusCode::kUnavailable, HasSubstr("exited with code 3")));
  }
  EXPECT_EQ(metrics_.failures[static_cast<size_t>(LaunchFailure::kExitedBeforeReady)]->value(), 1U);
  // Backing off: the next connection is refused at once, without a start.
  const std::vector<Outcome> next = RunClients(*launcher, 1);
  EXPECT_THAT(next[0].status,
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("the next start is in")));
  EXPECT_EQ(JobsOfTheApp(), 1U);
  EXPECT_EQ(metrics_.refused->value(), 6U);
}

TEST_F(LauncherTest, AServerThatNeverListensIsStoppedAfterReadyTimeout) {
  LaunchOptions options = Options({"/bin/sleep", "1000"});
  options.ready_timeout = milliseconds(300);
  auto launcher = MakeLauncher(std::move(options));
  const std::vector<Outcome> outcomes = RunClients(*launcher, 1);
  EXPECT_THAT(outcomes[0].status, StatusIs(absl::StatusCode::kUnavailable,
                                           HasSubstr("did not accept on port 8080 within 300 ms")));
  EXPECT_EQ(metrics_.failures[static_cast<size_t>(LaunchFailure::kNotReady)]->value(), 1U);
  EXPECT_TRUE(WaitFor([this] { return AllJobsEnded(); }, seconds(10)));
}

TEST_F(LauncherTest, AServerThatExitsMidConnectionClosesItAndIsCounted) {
  auto launcher = MakeLauncher(Options(ServerThatExitsMidConnection()));
  const std::vector<Outcome> outcomes = RunClients(*launcher, 1, "hello\n");
  EXPECT_THAT(outcomes[0].status, IsOk()) << "the client sees its connection closed";
  EXPECT_EQ(outcomes[0].reply, "");
  EXPECT_TRUE(WaitFor(
      [this] {
        return metrics_.failures[static_cast<size_t>(LaunchFailure::kExited)]->value() == 1;
      },
      seconds(10)));
  EXPECT_EQ(metrics_.instances->value(), 0);
  const std::vector<Outcome> next = RunClients(*launcher, 1);
  EXPECT_THAT(next[0].status,
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("the next start is in")));
}

TEST_F(LauncherTest, TooManyWaitingConnectionsAreRefusedAtOnce) {
  LaunchOptions options = Options(HttpServer());
  options.max_waiting = 2;
  auto launcher = MakeLauncher(std::move(options));
  const std::vector<Outcome> outcomes = RunClients(*launcher, 5);
  size_t refused = 0;
  for (const Outcome& outcome : outcomes) {
    refused += outcome.status.code() == absl::StatusCode::kResourceExhausted;
  }
  EXPECT_EQ(refused, 3U);
  EXPECT_EQ(metrics_.cold_starts->value(), 1U);
}

}  // namespace
}  // namespace gatehouse::lbserver
