// LbServer with port ranges, in a network namespace each test makes (needs root; the steered
// tests also need BPF sk_lookup and are skipped with the reason without it).
#include "lbserver/port_steering.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "config/value_parsers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lbserver/lb_server_fixture.h"
#include "steer/sk_lookup_steering.h"
#include "testing/loopback_server.h"
#include "testing/network_namespace.h"

namespace gatehouse::lbserver {
namespace {

using ::gatehouse::testing::LoopbackServer;
using ::gatehouse::testing::RunInNewNetworkNamespace;
using ::gatehouse::testing::StatusIs;
using ::gatehouse::testing::TryConnect;
using ::testing::HasSubstr;
using ::testing::SizeIs;

config::LbAppConfig PlainApp(const std::string& name, const std::vector<std::string>& listen,
                             uint16_t upstream_port) {
  config::LbAppConfig app;
  app.name = name;
  app.tls = config::AppTls::kNone;
  for (const std::string& text : listen) {
    absl::StatusOr<config::Address> address = config::ParseListenAddress(text);
    EXPECT_THAT(address, testing::IsOk());
    app.listen.push_back(*address);
  }
  app.upstreams.push_back(testing::Loopback(upstream_port));
  return app;
}

bool Refused(uint16_t port) { return !TryConnect("127.0.0.1", port).is_valid(); }

class PortSteeringTest : public testing::LbServerTest {
 protected:
  void SetUp() override {
    testing::LbServerTest::SetUp();
    for (const char* app : {"web", "old", "new"}) rules_.apps[app].users = {"*"};
  }

  // Runs `body` in a fresh network namespace; with `needs_bpf`, skips when sk_lookup cannot
  // attach there.
  void InNamespace(bool needs_bpf, const std::function<void()>& body) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to make a network namespace";
    std::string skip;
    const absl::Status made = RunInNewNetworkNamespace([&] {
      if (needs_bpf) {
        const auto probe = steer::SkLookupSteering::Attach();
        if (!probe.ok()) {
          skip = probe.status().ToString();
          std::printf("SKIPPED: %s\n", skip.c_str());
          return;
        }
      }
      body();
      server_.reset();  // its workers and sockets belong to the namespace
    });
    ASSERT_THAT(made, testing::IsOk());
    if (!skip.empty()) GTEST_SKIP() << skip;
  }
};

TEST_F(PortSteeringTest, AThousandPortsOfAnAppAllReachItThroughOneSocketPerWorker) {
  InNamespace(/*needs_bpf=*/true, [this] {
    LoopbackServer upstream(LoopbackServer::SayLine("web"));
    StartServer({PlainApp("web", {"127.0.0.1:20000-20999"}, upstream.port())});
    ASSERT_NE(server_, nullptr);
    // One listener key for the whole range: the workers' two sockets, not 2,000.
    EXPECT_THAT(server_->BoundEndpoints(), SizeIs(1));
    EXPECT_TRUE(MetricsHave("gatehouse_lb_steered_ports 1000"));
    for (uint16_t port = 20000; port <= 20999; ++port) {
      ASSERT_EQ(testing::PlainReply("127.0.0.1", port), "web\n") << "port " << port;
    }
    EXPECT_EQ(upstream.accepted(), 1000U);
    EXPECT_TRUE(Refused(21000)) << "a port of no app";
    EXPECT_TRUE(Refused(19999)) << "a port of no app";
    server_->Shutdown(std::chrono::seconds(0));
    EXPECT_TRUE(Refused(20000)) << "shut down: the program is detached";
  });
}

TEST_F(PortSteeringTest, ReloadSteersAddedPortsDropsRemovedOnesAndNeverRefusesAKeptOne) {
  InNamespace(/*needs_bpf=*/true, [this] {
    LoopbackServer web(LoopbackServer::SayLine("web"));
    LoopbackServer api(LoopbackServer::SayLine("api"));
    StartServer({PlainApp("web", {"127.0.0.1:20000-20099"}, web.port()),
                 PlainApp("old", {"127.0.0.1:25000-25009"}, api.port())});
    ASSERT_NE(server_, nullptr);
    ASSERT_EQ(testing::PlainReply("127.0.0.1", 25000), "api\n");

    // A client dials a kept port without pause across the reload; every dial must be served.
    std::atomic<bool> reloaded{false};
    std::atomic<int> served{0};
    std::atomic<int> failed{0};
    std::thread client([&] {
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      int after_reload = 0;
      while (after_reload < 50 && std::chrono::steady_clock::now() < deadline) {
        if (reloaded.load()) ++after_reload;
        if (testing::PlainReply("127.0.0.1", 20050) == "web\n") {
          served.fetch_add(1);
        } else {
          failed.fetch_add(1);
        }
      }
    });
    while (served.load() < 20 && failed.load() == 0) std::this_thread::yield();
    ASSERT_THAT(server_->Reload(Settings({PlainApp("web", {"127.0.0.1:20050-20149"}, web.port()),
                                          PlainApp("new", {"127.0.0.1:30000-30009"}, api.port())})),
                testing::IsOk());
    reloaded.store(true);
    client.join();
    EXPECT_EQ(failed.load(), 0) << "of " << served.load() + failed.load() << " dials";
    EXPECT_GT(served.load(), 50);

    EXPECT_TRUE(Refused(20000)) << "removed from web";
    EXPECT_TRUE(Refused(20049)) << "removed from web";
    EXPECT_EQ(testing::PlainReply("127.0.0.1", 20149), "web\n") << "added to web";
    EXPECT_TRUE(Refused(25000)) << "the app went away";
    EXPECT_EQ(testing::PlainReply("127.0.0.1", 30009), "api\n") << "a new app's range";
    EXPECT_TRUE(MetricsHave("gatehouse_lb_steered_ports 110"));
  });
}

TEST_F(PortSteeringTest, WithoutSteeringAShortRangeGetsPlainListenersAndALongOneIsRefused) {
  InNamespace(/*needs_bpf=*/false, [this] {
    LoopbackServer upstream(LoopbackServer::SayLine("web"));
    LbServerSettings settings =
        Settings({PlainApp("web", {"127.0.0.1:20000-20063"}, upstream.port())});
    settings.sk_lookup_steering = false;
    absl::StatusOr<std::unique_ptr<LbServer>> server = LbServer::Start(settings, &metrics_);
    ASSERT_THAT(server, testing::IsOk());
    EXPECT_THAT((*server)->BoundEndpoints(), SizeIs(64));
    EXPECT_EQ(testing::PlainReply("127.0.0.1", 20000), "web\n");
    EXPECT_EQ(testing::PlainReply("127.0.0.1", 20063), "web\n");
    EXPECT_TRUE(Refused(20064));

    // One port more than plain listeners may serve: the reload fails and changes nothing.
    settings.lb.apps = {PlainApp("web", {"127.0.0.1:20000-20064"}, upstream.port())};
    EXPECT_THAT((*server)->Reload(settings),
                StatusIs(absl::StatusCode::kFailedPrecondition,
                         HasSubstr("lb app web listen 127.0.0.1:20000-20064: a range of 65 ports "
                                   "needs BPF sk_lookup steering, which is unavailable")));
    EXPECT_EQ(testing::PlainReply("127.0.0.1", 20063), "web\n");
    (*server)->Shutdown(std::chrono::seconds(0));
  });
}

}  // namespace
}  // namespace gatehouse::lbserver
