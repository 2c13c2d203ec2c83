// Typed configuration of the daemon `gatehoused`, as loaded from YAML by config_loader.h.
//
// Plain data: these structs hold what the file said, after validation, and nothing else. They
// know nothing of YAML (see config_loader.h for the schema and its errors) and do nothing with
// the values: the daemon hands them to logging, security and the admin server. Thread-compatible
// value types.
#ifndef GATEHOUSE_CONFIG_CONFIG_H_
#define GATEHOUSE_CONFIG_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>

#include "base/logging.h"
#include "security/policy.h"

namespace gatehouse::config {

// A TCP endpoint. `host` is an IPv4 or IPv6 literal (never a name: nothing in config resolves
// DNS), without brackets.
struct Address {
  std::string host;
  uint16_t port = 0;

  // "127.0.0.1:9901", or "[::1]:9901" for IPv6. ParseAddress (value_parsers.h) reads it back.
  std::string ToString() const;
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

struct Config {
  LogConfig log;
  // Exactly one of `tls` and `dev_pki` is set in a loaded config.
  std::optional<TlsConfig> tls;
  std::optional<DevPkiConfig> dev_pki;
  AdminConfig admin;
  // Checked here for empty names and misplaced "*"; security::AuthorizationPolicy::Create
  // still validates them itself.
  security::PolicyRules authorization;
};

}  // namespace gatehouse::config

#endif  // GATEHOUSE_CONFIG_CONFIG_H_
