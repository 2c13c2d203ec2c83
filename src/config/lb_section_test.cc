// The `lb` section through the public loader: what a file says, and every way it can be wrong.
#include <ostream>
#include <string>

#include "config/config_loader.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"

namespace gatehouse::config {
namespace {

using ::gatehouse::testing::IsOk;
using ::gatehouse::testing::StatusIs;
using ::testing::Eq;

constexpr char kPrefix[] = "dev_pki: {dir: /pki}\n";

absl::StatusOr<Config> Parse(const std::string& yaml) {
  return ParseConfig(kPrefix + yaml, "gh.yaml");
}

TEST(LbSectionTest, ParsesEveryKey) {
  const absl::StatusOr<Config> config = Parse(R"yaml(
authorization:
  apps:
    billing: {users: [alice], roles: [billing]}
    public: {users: ["*"]}
lb:
  workers: 3
  handshake_timeout: 2s
  drain_timeout: 10s
  max_connections: 500
  apps:
    - name: billing
      listen: [127.0.0.1:5433, "[::1]:5433"]
      upstreams: [10.0.1.10:5432, 10.0.1.11:5432]
      balancing: least_connections
      connect_timeout: 250ms
      idle_timeout: 5m
      health_check: {interval: 2s, timeout: 500ms, rise: 1, fall: 4}
      rate_limit: {connections_per_second: 0.5, burst: 40, max_concurrent: 100}
      proxy_protocol: v2
      max_connections: 50
    - name: public
      listen: 127.0.0.1:8080
      upstreams: [127.0.0.1:9000]
      tls: none
)yaml");
  ASSERT_THAT(config, IsOk());
  ASSERT_TRUE(config->lb.has_value());
  const LbConfig& lb = *config->lb;
  EXPECT_EQ(lb.workers, 3U);
  EXPECT_EQ(lb.handshake_timeout, std::chrono::seconds(2));
  EXPECT_EQ(lb.drain_timeout, std::chrono::seconds(10));
  EXPECT_EQ(lb.max_connections, 500U);
  ASSERT_EQ(lb.apps.size(), 2U);
  const LbAppConfig& billing = lb.apps[0];
  EXPECT_EQ(billing.name, "billing");
  ASSERT_EQ(billing.listen.size(), 2U);
  EXPECT_EQ(billing.listen[1].ToString(), "[::1]:5433");
  ASSERT_EQ(billing.upstreams.size(), 2U);
  EXPECT_EQ(billing.upstreams[1].ToString(), "10.0.1.11:5432");
  EXPECT_EQ(billing.balancing, Balancing::kLeastConnections);
  EXPECT_EQ(billing.connect_timeout, std::chrono::milliseconds(250));
  EXPECT_EQ(billing.idle_timeout, std::chrono::minutes(5));
  ASSERT_TRUE(billing.health_check.has_value());
  EXPECT_EQ(billing.health_check->timeout, std::chrono::milliseconds(500));
  EXPECT_EQ(billing.health_check->rise, 1U);
  EXPECT_EQ(billing.health_check->fall, 4U);
  EXPECT_DOUBLE_EQ(billing.rate_limit.connections_per_second, 0.5);
  EXPECT_EQ(billing.rate_limit.burst, 40U);
  EXPECT_EQ(billing.rate_limit.max_concurrent, 100U);
  EXPECT_EQ(billing.proxy_protocol, ProxyProtocol::kV2);
  EXPECT_EQ(billing.tls, AppTls::kMutual);
  EXPECT_EQ(billing.max_connections, 50U);
  const LbAppConfig& plain = lb.apps[1];
  EXPECT_EQ(plain.tls, AppTls::kNone);
  ASSERT_EQ(plain.listen.size(), 1U);
  EXPECT_EQ(plain.listen[0].ToString(), "127.0.0.1:8080");
}

TEST(LbSectionTest, OmittedKeysTakeTheDocumentedDefaults) {
  const absl::StatusOr<Config> config =
      Parse("lb:\n  apps:\n    - {name: a, listen: 127.0.0.1:1, upstreams: 127.0.0.1:2}\n");
  ASSERT_THAT(config, IsOk());
  const LbConfig& lb = *config->lb;
  EXPECT_EQ(lb.workers, 0U);
  EXPECT_EQ(lb.handshake_timeout, std::chrono::seconds(5));
  EXPECT_EQ(lb.drain_timeout, std::chrono::seconds(30));
  EXPECT_EQ(lb.max_connections, 10000U);
  const LbAppConfig& app = lb.apps[0];
  EXPECT_EQ(app.balancing, Balancing::kRoundRobin);
  EXPECT_EQ(app.connect_timeout, std::chrono::seconds(5));
  EXPECT_EQ(app.idle_timeout, std::chrono::hours(1));
  EXPECT_FALSE(app.health_check.has_value());
  EXPECT_EQ(app.rate_limit.connections_per_second, 0);
  EXPECT_EQ(app.proxy_protocol, ProxyProtocol::kNone);
  EXPECT_EQ(app.tls, AppTls::kMutual);
  EXPECT_EQ(app.max_connections, 0U);
}

TEST(LbSectionTest, HashKeyDefaultsToTheIdentityOrTheAddressByTls) {
  const absl::StatusOr<Config> config = Parse(
      "lb:\n  apps:\n"
      "    - {name: a, listen: 127.0.0.1:1, upstreams: 127.0.0.1:2, balancing: hash}\n"
      "    - {name: b, listen: 127.0.0.1:3, upstreams: 127.0.0.1:2, balancing: hash, tls: none}\n"
      "    - {name: c, listen: 127.0.0.1:4, upstreams: 127.0.0.1:2, hash_key: client_address, "
      "balancing: hash}\n");
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ(config->lb->apps[0].balancing, Balancing::kHash);
  EXPECT_EQ(config->lb->apps[0].hash_key, HashKey::kClientIdentity);
  EXPECT_EQ(config->lb->apps[1].hash_key, HashKey::kClientAddress);
  EXPECT_EQ(config->lb->apps[2].hash_key, HashKey::kClientAddress);
}

TEST(LbSectionTest, BandwidthLimitsAreBytesPerSecondEachWayAndOffByDefault) {
  const absl::StatusOr<Config> config = Parse(
      "lb:\n  apps:\n"
      "    - {name: a, listen: 127.0.0.1:1, upstreams: 127.0.0.1:2, "
      "bandwidth: {upload: 10MiB, download: 1GB}}\n"
      "    - {name: b, listen: 127.0.0.1:3, upstreams: 127.0.0.1:2, bandwidth: {download: 1KiB}}\n"
      "    - {name: c, listen: 127.0.0.1:4, upstreams: 127.0.0.1:2}\n");
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ(config->lb->apps[0].bandwidth.upload_bytes_per_second, uint64_t{10} << 20);
  EXPECT_EQ(config->lb->apps[0].bandwidth.download_bytes_per_second, 1'000'000'000U);
  EXPECT_EQ(config->lb->apps[1].bandwidth.upload_bytes_per_second, 0U);
  EXPECT_EQ(config->lb->apps[1].bandwidth.download_bytes_per_second, 1024U);
  EXPECT_EQ(config->lb->apps[2].bandwidth.upload_bytes_per_second, 0U);
  EXPECT_EQ(config->lb->apps[2].bandwidth.download_bytes_per_second, 0U);
}

TEST(LbSectionTest, AnSniAppRoutesNamesToAppsThatNeedNoListenerOfTheirOwn) {
  const absl::StatusOr<Config> config = Parse(
      "lb:\n  apps:\n"
      "    - name: edge\n      listen: 127.0.0.1:1\n      tls: sni\n      max_connections: 9\n"
      "      routes:\n"
      "        - {server_name: Pass.Example, app: pass}\n"
      "        - {server_name: own.example, app: ends, certificate: {cert: o.pem, key: o.key}}\n"
      "        - {server_name: default.example, app: ends}\n"
      "    - {name: pass, upstreams: 127.0.0.1:2, tls: none}\n"
      "    - {name: ends, upstreams: 127.0.0.1:3, listen: 127.0.0.1:4}\n");
  ASSERT_THAT(config, IsOk());
  const LbAppConfig& edge = config->lb->apps[0];
  EXPECT_EQ(edge.tls, AppTls::kSni);
  EXPECT_EQ(edge.max_connections, 9U);
  ASSERT_EQ(edge.routes.size(), 3U);
  EXPECT_EQ(edge.routes[0].server_name, "pass.example");
  EXPECT_EQ(edge.routes[0].app, "pass");
  EXPECT_FALSE(edge.routes[0].certificate.has_value());
  ASSERT_TRUE(edge.routes[1].certificate.has_value());
  EXPECT_EQ(edge.routes[1].certificate->cert_file, "o.pem");
  EXPECT_EQ(edge.routes[1].certificate->key_file, "o.key");
  EXPECT_FALSE(edge.routes[2].certificate.has_value());
  EXPECT_TRUE(config->lb->apps[1].listen.empty());
}

TEST(LbSectionTest, ListenTakesPortRangesThatRoundTrip) {
  const absl::StatusOr<Config> config = Parse(
      "lb:\n  apps:\n"
      "    - {name: a, listen: [127.0.0.1:20000-20999, \"[::1]:443-444\", 127.0.0.1:8443, "
      "127.0.0.1:21000-21000], upstreams: 127.0.0.1:2}\n"
      "    - {name: b, listen: [127.0.0.1:21001-21002, 127.0.0.2:20000-20999], "
      "upstreams: 127.0.0.1:2}\n");
  ASSERT_THAT(config, IsOk());
  const std::vector<Address>& listen = config->lb->apps[0].listen;
  ASSERT_EQ(listen.size(), 4U);
  EXPECT_TRUE(listen[0].IsRange());
  EXPECT_EQ(listen[0].port, 20000);
  EXPECT_EQ(listen[0].LastPort(), 20999);
  EXPECT_EQ(listen[0].ToString(), "127.0.0.1:20000-20999");
  EXPECT_EQ(listen[1].ToString(), "[::1]:443-444");
  EXPECT_FALSE(listen[2].IsRange());
  EXPECT_EQ(listen[2].LastPort(), 8443);
  EXPECT_FALSE(listen[3].IsRange()) << "a range of one port is that port";
  EXPECT_EQ(listen[3].ToString(), "127.0.0.1:21000");
  EXPECT_EQ(config->lb->apps[1].listen[1].ToString(), "127.0.0.2:20000-20999");
}

TEST(LbSectionTest, WildcardAndSpecificListenersMayShareAPortUnlessAWildcardRangeTakesIt) {
  // Plain listeners: the kernel prefers the specific address. A specific range next to a
  // wildcard single port, and ranges of different families, are fine as well.
  EXPECT_THAT(Parse("lb:\n  apps:\n"
                    "    - {name: a, listen: [0.0.0.0:443, 0.0.0.0:9000-9099], "
                    "upstreams: 127.0.0.1:2}\n"
                    "    - {name: b, listen: [127.0.0.1:443, 127.0.0.1:8000-8999, "
                    "\"[::1]:9000-9099\"], upstreams: 127.0.0.1:2}\n"),
              IsOk());
}

TEST(LbSectionTest, AHealthCheckMappingFillsTheKeysItOmits) {
  const absl::StatusOr<Config> config = Parse(
      "lb:\n  apps:\n    - {name: a, listen: 127.0.0.1:1, upstreams: 127.0.0.1:2, "
      "health_check: {}}\n");
  ASSERT_THAT(config, IsOk());
  const HealthCheckConfig& check = *config->lb->apps[0].health_check;
  EXPECT_EQ(check.interval, std::chrono::seconds(2));
  EXPECT_EQ(check.timeout, std::chrono::seconds(1));
  EXPECT_EQ(check.rise, 2U);
  EXPECT_EQ(check.fall, 3U);
}

struct BadLbCase {
  const char* name;
  const char* yaml;  // after kPrefix, so line numbers start at 2
  const char* error;
};

void PrintTo(const BadLbCase& bad, std::ostream* os) { *os << bad.name; }

class BadLbSectionTest : public ::testing::TestWithParam<BadLbCase> {};

TEST_P(BadLbSectionTest, FailsWithPositionedMessage) {
  EXPECT_THAT(Parse(GetParam().yaml),
              StatusIs(absl::StatusCode::kInvalidArgument, Eq(GetParam().error)));
}

const BadLbCase kBadCases[] = {
    {"UnknownLbKey", "lb: {worker: 2}\n",
     R"(gh.yaml:2:6: unknown key "worker" in lb; expected one of: workers, handshake_timeout, )"
     R"(drain_timeout, max_connections, apps)"},
    {"AppsNotASequence", "lb: {apps: {name: a}}\n",
     R"(gh.yaml:2:12: lb.apps: expected a sequence, got a mapping)"},
    {"AppWithoutUpstreamsOrLaunch", "lb:\n  apps:\n    - {name: a, listen: 127.0.0.1:1}\n",
     R"(gh.yaml:4:7: lb.apps[0]: an app needs upstreams, a launch, or both)"},
    {"UnknownAppKey",
     "lb:\n  apps:\n    - {name: a, listen: 127.0.0.1:1, upstreams: 127.0.0.1:2, balance: x}\n",
     R"(gh.yaml:4:62: unknown key "balance" in lb.apps[0]; expected one of: name, listen, )"
     R"(upstreams, balancing, hash_key, connect_timeout, idle_timeout, health_check, )"
     R"(rate_limit, bandwidth, proxy_protocol, tls, max_connections, launch, routes)"},
    {"BadBalancing",
     "lb:\n  apps:\n    - {name: a, listen: 127.0.0.1:1, upstreams: 127.0.0.1:2, "
     "balancing: random}\n",
     R"(gh.yaml:4:73: lb.apps[0].balancing: "random" is not one of: round_robin, )"
     R"(least_connections, power_of_two, hash)"},
    {"HashKeyWithoutHashBalancing",
     "lb:\n  apps:\n    - {name: a, listen: 127.0.0.1:1, upstreams: 127.0.0.1:2, "
     "hash_key: client_address}\n",
     R"(gh.yaml:4:72: lb.apps[0].hash_key: hash_key needs balancing: hash)"},
    {"IdentityHashKeyOnAPlainApp",
     "lb:\n  apps:\n    - {name: a, listen: 127.0.0.1:1, upstreams: 127.0.0.1:2, "
     "hash_key: client_identity, balancing: hash, tls: none}\n",
     R"(gh.yaml:4:72: lb.apps[0].hash_key: client_identity needs tls: mutual (a tls: none )"
     R"(client has no identity))"},
    {"BadHashKey",
     "lb:\n  apps:\n    - {name: a, listen: 127.0.0.1:1, upstreams: 127.0.0.1:2, "
     "balancing: hash, hash_key: port}\n",
     R"(gh.yaml:4:89: lb.apps[0].hash_key: "port" is not one of: client_identity, client_address)"},
    {"BandwidthBelowOneKibPerSecond",
     "lb:\n  apps:\n    - {name: a, listen: 127.0.0.1:1, upstreams: 127.0.0.1:2, "
     "bandwidth: {upload: 1000}}\n",
     R"(gh.yaml:4:82: lb.apps[0].bandwidth.upload: a bandwidth limit is from 1KiB to 1TiB per )"
     R"(second, got 1000 bytes)"},
    {"BandwidthAboveOneTibPerSecond",
     "lb:\n  apps:\n    - {name: a, listen: 127.0.0.1:1, upstreams: 127.0.0.1:2, "
     "bandwidth: {download: 2TiB}}\n",
     R"(gh.yaml:4:84: lb.apps[0].bandwidth.download: a bandwidth limit is from 1KiB to 1TiB per )"
     R"(second, got 2199023255552 bytes)"},
    {"BandwidthNotASize",
     "lb:\n  apps:\n    - {name: a, listen: 127.0.0.1:1, upstreams: 127.0.0.1:2, "
     "bandwidth: {upload: 10Mbps}}\n",
     R"(gh.yaml:4:82: lb.apps[0].bandwidth.upload: expected a size above 0 such as 512MiB or )"
     R"(1GB, got "10Mbps")"},
    {"BandwidthUnknownDirection",
     "lb:\n  apps:\n    - {name: a, listen: 127.0.0.1:1, upstreams: 127.0.0.1:2, "
     "bandwidth: {up: 10MiB}}\n",
     R"(gh.yaml:4:74: unknown key "up" in lb.apps[0].bandwidth; expected one of: upload, )"
     R"(download)"},
    {"BadAppName",
     "lb:\n  apps:\n    - {name: \"a b\", listen: 127.0.0.1:1, upstreams: 127.0.0.1:2}\n",
     R"(gh.yaml:4:14: lb.apps[0].name: "a b" is not a valid app name: use at most 64 letters, )"
     R"(digits, '.', '_' and '-')"},
    {"DuplicateAppName",
     "lb:\n  apps:\n    - {name: a, listen: 127.0.0.1:1, upstreams: 127.0.0.1:2}\n"
     "    - {name: a, listen: 127.0.0.1:3, upstreams: 127.0.0.1:2}\n",
     R"(gh.yaml:5:7: lb.apps[1]: duplicate app name "a")"},
    {"ListenAddressOfAnotherApp",
     "lb:\n  apps:\n    - {name: a, listen: 127.0.0.1:1, upstreams: 127.0.0.1:2}\n"
     "    - {name: b, listen: [127.0.0.1:3, 127.0.0.1:1], upstreams: 127.0.0.1:2}\n",
     R"(gh.yaml:5:7: lb.apps[1]: listen address 127.0.0.1:1 is already used by app "a")"},
    {"ListenRangeOverlapsAnotherApp",
     "lb:\n  apps:\n    - {name: a, listen: 127.0.0.1:20500, upstreams: 127.0.0.1:2}\n"
     "    - {name: b, listen: 127.0.0.1:20000-20999, upstreams: 127.0.0.1:2}\n",
     R"(gh.yaml:5:7: lb.apps[1]: listen address 127.0.0.1:20000-20999 overlaps 127.0.0.1:20500 )"
     R"(of app "a")"},
    {"ListenRangesOfOneAppOverlap",
     "lb:\n  apps:\n    - {name: a, listen: [127.0.0.1:10-20, 127.0.0.1:5-10], "
     "upstreams: 127.0.0.1:2}\n",
     R"(gh.yaml:4:7: lb.apps[0]: listen address 127.0.0.1:5-10 overlaps 127.0.0.1:10-20 of app )"
     R"("a")"},
    {"WildcardRangeOverASpecificListener",
     "lb:\n  apps:\n    - {name: a, listen: 127.0.0.1:8050, upstreams: 127.0.0.1:2}\n"
     "    - {name: b, listen: 0.0.0.0:8000-8100, upstreams: 127.0.0.1:2}\n",
     R"(gh.yaml:5:7: lb.apps[1]: listen address 0.0.0.0:8000-8100 overlaps 127.0.0.1:8050 of )"
     R"(app "a": a port range on a wildcard address would take those ports from the specific )"
     R"(one)"},
    {"SpecificListenerUnderAWildcardRange",
     "lb:\n  apps:\n    - {name: a, listen: \"[::]:8000-8100\", upstreams: 127.0.0.1:2}\n"
     "    - {name: b, listen: \"[::1]:8100\", upstreams: 127.0.0.1:2}\n",
     R"(gh.yaml:5:7: lb.apps[1]: listen address [::1]:8100 overlaps [::]:8000-8100 of app "a": )"
     R"(a port range on a wildcard address would take those ports from the specific one)"},
    {"OneIpv6AddressSpelledTwoWays",
     "lb:\n  apps:\n    - {name: a, listen: \"[::1]:443-444\", upstreams: 127.0.0.1:2}\n"
     "    - {name: b, listen: \"[0:0::1]:444\", upstreams: 127.0.0.1:2}\n",
     R"(gh.yaml:5:7: lb.apps[1]: listen address [0:0::1]:444 overlaps [::1]:443-444 of app "a")"},
    {"ListenRangeBackwards",
     "lb:\n  apps:\n    - {name: a, listen: 127.0.0.1:20-10, upstreams: 127.0.0.1:2}\n",
     R"(gh.yaml:4:25: lb.apps[0].listen: expected HOST:FIRST-LAST with ports 1 <= FIRST <= LAST )"
     R"(<= 65535, got "127.0.0.1:20-10")"},
    {"ListenRangeFromPortZero",
     "lb:\n  apps:\n    - {name: a, listen: 127.0.0.1:0-10, upstreams: 127.0.0.1:2}\n",
     R"(gh.yaml:4:25: lb.apps[0].listen: expected HOST:FIRST-LAST with ports 1 <= FIRST <= LAST )"
     R"(<= 65535, got "127.0.0.1:0-10")"},
    {"UpstreamRange",
     "lb:\n  apps:\n    - {name: a, listen: 127.0.0.1:1, upstreams: 127.0.0.1:2-3}\n",
     R"(gh.yaml:4:49: lb.apps[0].upstreams: expected HOST:PORT with a port in 0-65535, got )"
     R"("127.0.0.1:2-3")"},
    {"EmptyListen", "lb:\n  apps:\n    - {name: a, listen: [], upstreams: 127.0.0.1:2}\n",
     R"(gh.yaml:4:25: lb.apps[0].listen: needs at least one address)"},
    {"UpstreamWithoutPort",
     "lb:\n  apps:\n    - {name: a, listen: 127.0.0.1:1, upstreams: [127.0.0.1:0]}\n",
     R"(gh.yaml:4:49: lb.apps[0].upstreams: an upstream needs a port above 0)"},
    {"UpstreamHostName",
     "lb:\n  apps:\n    - {name: a, listen: 127.0.0.1:1, upstreams: [db.local:5432]}\n",
     R"(gh.yaml:4:50: lb.apps[0].upstreams[0]: expected HOST:PORT with an IP address host, got )"
     R"("db.local:5432")"},
    {"ZeroTimeout",
     "lb:\n  apps:\n    - {name: a, listen: 127.0.0.1:1, upstreams: 127.0.0.1:2, "
     "idle_timeout: 0s}\n",
     R"(gh.yaml:4:76: lb.apps[0].idle_timeout: must be above zero)"},
    {"CheckTimeoutNotBelowInterval",
     "lb:\n  apps:\n    - {name: a, listen: 127.0.0.1:1, upstreams: 127.0.0.1:2, "
     "health_check: {interval: 1s, timeout: 1s}}\n",
     R"(gh.yaml:4:76: lb.apps[0].health_check: timeout must be shorter than interval)"},
    {"ZeroFall",
     "lb:\n  apps:\n    - {name: a, listen: 127.0.0.1:1, upstreams: 127.0.0.1:2, "
     "health_check: {fall: 0}}\n",
     R"(gh.yaml:4:83: lb.apps[0].health_check.fall: expected a whole number from 1 to 100, )"
     R"(got "0")"},
    {"RateWithoutBurst",
     "lb:\n  apps:\n    - {name: a, listen: 127.0.0.1:1, upstreams: 127.0.0.1:2, "
     "rate_limit: {connections_per_second: 5}}\n",
     R"(gh.yaml:4:74: lb.apps[0].rate_limit: connections_per_second needs a burst of at least 1)"},
    {"NegativeRate",
     "lb:\n  apps:\n    - {name: a, listen: 127.0.0.1:1, upstreams: 127.0.0.1:2, "
     "rate_limit: {connections_per_second: -5, burst: 1}}\n",
     R"(gh.yaml:4:99: lb.apps[0].rate_limit.connections_per_second: expected a non-negative )"
     R"(decimal number such as "0.5", got "-5")"},
    {"BadTlsMode",
     "lb:\n  apps:\n    - {name: a, listen: 127.0.0.1:1, upstreams: 127.0.0.1:2, tls: off}\n",
     R"(gh.yaml:4:67: lb.apps[0].tls: "off" is not one of: mutual, none, sni)"},
    {"AppWithoutListenThatNoRouteNames", "lb:\n  apps:\n    - {name: a, upstreams: 127.0.0.1:2}\n",
     R"(gh.yaml:4:7: lb.apps[0]: an app needs listen, unless it is the app of a tls: sni route)"},
    {"SniAppWithUpstreams",
     "lb:\n  apps:\n    - {name: s, listen: 127.0.0.1:1, tls: sni, upstreams: 127.0.0.1:2, "
     "routes: [{server_name: a.example, app: a}]}\n"
     "    - {name: a, upstreams: 127.0.0.1:2, tls: none}\n",
     R"(gh.yaml:4:59: lb.apps[0].upstreams: a tls: sni app only routes by server name; set )"
     R"(upstreams on the apps of its routes)"},
    {"SniAppWithoutRoutes", "lb:\n  apps:\n    - {name: s, listen: 127.0.0.1:1, tls: sni}\n",
     R"(gh.yaml:4:7: lb.apps[0]: a tls: sni app needs routes)"},
    {"RoutesWithoutSni",
     "lb:\n  apps:\n    - {name: s, listen: 127.0.0.1:1, upstreams: 127.0.0.1:2, "
     "routes: [{server_name: a.example, app: s}]}\n",
     R"(gh.yaml:4:70: lb.apps[0].routes: routes needs tls: sni)"},
    {"RouteToAMissingApp",
     "lb:\n  apps:\n    - {name: s, listen: 127.0.0.1:1, tls: sni, "
     "routes: [{server_name: a.example, app: ghost}]}\n",
     R"(gh.yaml:4:7: lb.apps[0]: the route for "a.example" names app "ghost", which does not )"
     R"(exist)"},
    {"RouteToAnSniApp",
     "lb:\n  apps:\n    - {name: s, listen: 127.0.0.1:1, tls: sni, "
     "routes: [{server_name: a.example, app: s}]}\n",
     R"(gh.yaml:4:7: lb.apps[0]: the route for "a.example" names app "s", which is tls: sni )"
     R"(itself)"},
    {"CertificateOnAPassthroughRoute",
     "lb:\n  apps:\n    - {name: s, listen: 127.0.0.1:1, tls: sni, routes: [{server_name: "
     "a.example, app: a, certificate: {cert: a.pem, key: a.key}}]}\n"
     "    - {name: a, upstreams: 127.0.0.1:2, tls: none}\n",
     R"(gh.yaml:4:7: lb.apps[0]: the route for "a.example" has a certificate, but its app "a" )"
     R"(is tls: none, so the connection passes through untouched)"},
    {"WildcardServerName",
     "lb:\n  apps:\n    - {name: s, listen: 127.0.0.1:1, tls: sni, "
     "routes: [{server_name: \"*.example\", app: a}]}\n"
     "    - {name: a, upstreams: 127.0.0.1:2, tls: none}\n",
     R"(gh.yaml:4:71: lb.apps[0].routes[0].server_name: "*.example" is not a host name )"
     R"((letters, digits, '-' and '.'; no wildcards))"},
    {"DuplicateServerName",
     "lb:\n  apps:\n    - {name: s, listen: 127.0.0.1:1, tls: sni, routes: ["
     "{server_name: a.example, app: a}, {server_name: A.Example, app: a}]}\n"
     "    - {name: a, upstreams: 127.0.0.1:2, tls: none}\n",
     R"(gh.yaml:4:91: lb.apps[0].routes[1]: server name "a.example" has a route already)"},
    {"CertificateWithoutKey",
     "lb:\n  apps:\n    - {name: s, listen: 127.0.0.1:1, tls: sni, routes: [{server_name: "
     "a.example, app: a, certificate: {cert: a.pem}}]}\n"
     "    - {name: a, upstreams: 127.0.0.1:2}\n",
     R"(gh.yaml:4:90: lb.apps[0].routes[0].certificate: missing required key "key")"},
    {"NamedUserOnPlainApp",
     "authorization:\n  apps:\n    a: {users: [alice]}\n"
     "lb:\n  apps:\n    - {name: a, listen: 127.0.0.1:1, upstreams: 127.0.0.1:2, tls: none}\n",
     R"(gh.yaml:4:8: authorization.apps.a: app "a" has tls: none, so its clients have no )"
     R"(identity: only users: ["*"] can admit them)"},
    {"RuleForAnSniApp",
     "authorization:\n  apps:\n    s: {users: [alice]}\n"
     "lb:\n  apps:\n    - {name: s, listen: 127.0.0.1:1, tls: sni, "
     "routes: [{server_name: a.example, app: a}]}\n"
     "    - {name: a, upstreams: 127.0.0.1:2}\n",
     R"(gh.yaml:4:8: authorization.apps.s: app "s" has tls: sni: it only routes, and the apps of )"
     R"(its routes decide who may connect)"},
    {"WorkersOutOfRange", "lb: {workers: 5000}\n",
     R"(gh.yaml:2:15: lb.workers: expected a whole number from 0 to 1024, got "5000")"},
};

std::string CaseName(const ::testing::TestParamInfo<BadLbCase>& param_info) {
  return param_info.param.name;
}

INSTANTIATE_TEST_SUITE_P(Table, BadLbSectionTest, ::testing::ValuesIn(kBadCases), CaseName);

}  // namespace
}  // namespace gatehouse::config
