// Typed configuration of the daemon `gatehoused`, as loaded from YAML by config_loader.h.
//
// Plain data: these structs hold what the file said, after validation, and nothing else. They
// know nothing of YAML (see config_loader.h for the schema and its errors) and do nothing with
// the values: the daemon hands them to logging, security and the admin server. Thread-compatible
// value types.
#ifndef GATEHOUSE_CONFIG_CONFIG_H_
#define GATEHOUSE_CONFIG_CONFIG_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/logging.h"
#include "security/policy.h"

namespace gatehouse::config {

// A TCP endpoint. `host` is an IPv4 or IPv6 literal (never a name: nothing in config resolves
// DNS), without brackets.
struct Address {
  std::string host;
  uint16_t port = 0;
  // The last port of a range port..last_port, which only an lb app's `listen` may have
  // ("127.0.0.1:20000-20999", ParseListenAddress); 0 (or `port`) for one port.
  uint16_t last_port = 0;

  bool IsRange() const { return last_port > port; }
  uint16_t LastPort() const { return IsRange() ? last_port : port; }
  // "127.0.0.1:9901", or "[::1]:9901" for IPv6, or "127.0.0.1:20000-20999" for a range.
  // ParseAddress (or ParseListenAddress for a range) reads it back.
  std::string ToString() const;

  bool operator==(const Address&) const = default;
};

struct LogConfig {
  base::LogFormat format = base::LogFormat::kText;
  // One of the names base::ValidateLogLevel accepts.
  std::string level = "info";
};

// Certificates for mutual TLS, as paths to PEM files.
struct TlsConfig {
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  // Certificate revocation list; empty means none.
  std::string crl_file;
};

// A development PKI that the daemon creates under `dir` on first start and reuses after.
struct DevPkiConfig {
  std::string dir;
};

struct AdminConfig {
  // Where /healthz, /readyz and /metrics are served.
  Address listen{"127.0.0.1", 9901};
};

// How an lb app picks an upstream for each new connection (lb/balancer.h).
enum class Balancing { kRoundRobin, kLeastConnections, kPowerOfTwoChoices, kHash };

// What `balancing: hash` hashes to keep a client on one upstream.
enum class HashKey {
  kClientIdentity,  // the certificate's user (tls: mutual apps only)
  kClientAddress,   // the client's IP address (not its port)
};

// What an lb app expects from its clients.
enum class AppTls {
  kMutual,  // TLS 1.3 terminated here; a client certificate is required and names the identity
  kNone,    // plain TCP: no identity, the rate limiter keys on the client's IP address
  kSni,     // routes each connection by its TLS server name to the app of a route
};

// A certificate and its key (PEM files), for a route that terminates TLS with its own.
struct CertificateFilesConfig {
  std::string cert_file;
  std::string key_file;
};

// One server name of a `tls: sni` app and where its connections go. The route's app decides
// what happens: a `tls: none` app gets the connection untouched, ClientHello and all
// (passthrough: its upstreams terminate TLS); a `tls: mutual` app gets it terminated here, with
// `certificate` when set, else the server's own.
struct SniRouteConfig {
  std::string server_name;  // a host name, lower-case
  std::string app;
  std::optional<CertificateFilesConfig> certificate;
};

enum class ProxyProtocol { kNone, kV2 };

// Active TCP-connect health checks of an app's upstreams.
struct HealthCheckConfig {
  std::chrono::nanoseconds interval = std::chrono::seconds(2);
  std::chrono::nanoseconds timeout = std::chrono::seconds(1);
  uint32_t rise = 2;
  uint32_t fall = 3;
};

// Where a rate limit's token buckets live.
enum class RateLimitScope {
  kLocal,   // in this node's memory: a client gets the limit at each node
  kGlobal,  // in Redis (`global_rate_limits`), shared by every node; max_concurrent stays local
};

// Per-client admission of new connections (lb/rate_limiter.h); 0 turns a limit off.
struct RateLimitConfig {
  double connections_per_second = 0;
  uint32_t burst = 0;
  uint32_t max_concurrent = 0;
  RateLimitScope scope = RateLimitScope::kLocal;
};

// Per-connection bandwidth limits in bytes per second, each way (lb/forwarder.h); 0 = none.
struct BandwidthConfig {
  uint64_t upload_bytes_per_second = 0;    // read from the client, sent to the upstream
  uint64_t download_bytes_per_second = 0;  // read from the upstream, sent to the client
};
// A set limit lies within these (the forwarder's own bounds): below 1 KiB/s a TCP peer would
// give up on the connection; above 1 TiB/s it limits nothing.
inline constexpr uint64_t kMinBandwidthBytesPerSecond = 1024;
inline constexpr uint64_t kMaxBandwidthBytesPerSecond = uint64_t{1} << 40;

// Resource limits of a job (jobs/limits.h); unset = no limit.
struct JobLimitsConfig {
  std::optional<double> cpus;  // fraction of one core's time
  std::optional<uint64_t> memory_bytes;
  std::optional<uint64_t> io_read_bytes_per_second;
  std::optional<uint64_t> io_write_bytes_per_second;
  std::optional<uint64_t> pids;

  bool operator==(const JobLimitsConfig&) const = default;
};

// An app whose server the lb starts as a job on its first connection and stops when idle.
struct LaunchConfig {
  // argv; command[0] is an absolute path or a name looked up in PATH.
  std::vector<std::string> command;
  // Where the server listens on the loopback of its job.
  uint16_t port = 0;
  // Keys the file leaves out are filled from jobs.default_limits when the config is loaded.
  JobLimitsConfig limits;
  // The server must accept on `port` within this of its job's start.
  std::chrono::nanoseconds ready_timeout = std::chrono::seconds(5);
  // The server is stopped after this long without a connection.
  std::chrono::nanoseconds idle_timeout = std::chrono::minutes(2);
  // Connections waiting for a start at once; more are refused.
  uint32_t max_waiting = 256;
  // "NAME=value"; PATH=/usr/local/bin:/usr/bin:/bin is always set unless given.
  std::vector<std::string> env;
  std::string working_dir = "/";

  bool operator==(const LaunchConfig&) const = default;
};

// One app of the load balancer: where it listens and where it forwards.
struct LbAppConfig {
  std::string name;
  std::vector<Address> listen;
  std::vector<Address> upstreams;
  Balancing balancing = Balancing::kRoundRobin;
  // Used by `balancing: hash` only. Defaults to the identity for tls: mutual apps, to the address
  // for tls: none ones.
  HashKey hash_key = HashKey::kClientIdentity;
  std::chrono::nanoseconds connect_timeout = std::chrono::seconds(5);
  std::chrono::nanoseconds idle_timeout = std::chrono::hours(1);
  // Absent: no active checks; failed dials still eject an upstream for a while (passively).
  std::optional<HealthCheckConfig> health_check;
  RateLimitConfig rate_limit;
  BandwidthConfig bandwidth;
  ProxyProtocol proxy_protocol = ProxyProtocol::kNone;
  AppTls tls = AppTls::kMutual;
  // Open connections of this app at once; 0 = only the process-wide cap applies.
  uint32_t max_connections = 0;
  // Set: the lb starts the app's server as a job on demand (scale to zero). An app has this,
  // `upstreams`, or both; with both, the server is started only when no upstream can be reached.
  std::optional<LaunchConfig> launch;
  // tls: sni apps only: their routes, at least one. Such an app has no upstreams of its own.
  std::vector<SniRouteConfig> routes;
};

struct LbConfig {
  // Event-loop threads; 0 = one per CPU the process may run on.
  uint32_t workers = 0;
  // A TLS client must finish its handshake within this, or it is dropped.
  std::chrono::nanoseconds handshake_timeout = std::chrono::seconds(5);
  // On SIGTERM, open connections get this long to finish before they are closed.
  std::chrono::nanoseconds drain_timeout = std::chrono::seconds(30);
  // Open client connections of all apps at once; more are closed as soon as they are accepted.
  uint32_t max_connections = 10000;
  std::vector<LbAppConfig> apps;
};

// The job worker service (the gRPC job API).
struct JobsConfig {
  Address listen{"127.0.0.1", 7443};
  // Job outputs live under <state_dir>/jobs/<id>/output.
  std::string state_dir = "/var/lib/gatehouse";
  // Jobs' cgroups are created under this, in each hierarchy.
  std::string cgroup_parent = "gatehouse";
  std::chrono::nanoseconds stop_grace = std::chrono::seconds(10);
  // Jobs starting or running at once; ended jobs do not count.
  uint32_t max_jobs = 256;
  // Output kept per job; past it the rest is dropped (the job runs on).
  uint64_t max_output_bytes = uint64_t{2} << 30;
  uint32_t max_readers_per_job = 64;
  // Ended jobs (status and output) are kept this long, and at most this many.
  std::chrono::nanoseconds ended_job_retention = std::chrono::hours(24);
  uint32_t max_ended_jobs = 1000;
  // What a request that sets no limit gets, and the most a request may ask for. A loaded
  // config's default_limits always has cpus, memory_bytes and pids (jobs_section.h).
  JobLimitsConfig default_limits;
  JobLimitsConfig max_limits;
  // Who jobs run as: never root (65534 is nobody/nogroup on Debian).
  uint32_t run_as_uid = 65534;
  uint32_t run_as_gid = 65534;
};

// The config document lives in etcd (v3) under `key` and is watched; the local file then holds
// only this (and optionally `log`).
struct EtcdSourceConfig {
  // "https://host:port"; tried in order.
  std::vector<std::string> endpoints;
  std::string key = "/gatehouse/config";
  // Mutual TLS to etcd: all three files are required.
  TlsConfig tls;
  // The last good document, written atomically (0600) after each applied revision; read when
  // etcd cannot be reached at start.
  std::string cache_file = "/var/lib/gatehouse/etcd-config-cache.yaml";
};

// What `scope: global` rate limits do while Redis cannot be reached.
enum class GlobalLimitFallback {
  kOpen,    // each node limits on its own, as with `scope: local`
  kClosed,  // every new connection of such an app is refused
};

// The Redis server that holds `scope: global` rate limits' buckets (globallimit/).
struct GlobalRateLimitsConfig {
  Address redis{"127.0.0.1", 6379};
  // A file holding the Redis AUTH password (first line); empty = no AUTH.
  std::string password_file;
  std::chrono::nanoseconds timeout = std::chrono::milliseconds(200);
  GlobalLimitFallback fallback = GlobalLimitFallback::kOpen;
  // Tokens a node leases per identity at once; 0 = a tenth of a second of the app's rate.
  uint32_t lease_size = 0;

  bool operator==(const GlobalRateLimitsConfig&) const = default;
};

struct Config {
  // Set: this file only says where the real document is (`config_source.etcd`).
  std::optional<EtcdSourceConfig> etcd_source;
  std::optional<GlobalRateLimitsConfig> global_rate_limits;
  LogConfig log;
  // Exactly one of `tls` and `dev_pki` is set in a loaded config.
  std::optional<TlsConfig> tls;
  std::optional<DevPkiConfig> dev_pki;
  AdminConfig admin;
  // Checked here for empty names and misplaced "*"; security::AuthorizationPolicy::Create
  // still validates them itself.
  security::PolicyRules authorization;
  // The load balancer service; absent when the config has no `lb` section.
  std::optional<LbConfig> lb;
  // The job worker service; absent when the config has no `jobs` section.
  std::optional<JobsConfig> jobs;
};

}  // namespace gatehouse::config

#endif  // GATEHOUSE_CONFIG_CONFIG_H_
