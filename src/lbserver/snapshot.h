// LbSnapshot: everything a worker needs to serve new connections under one configuration, built
// whole by LbServer on a (re)load and posted to every worker. Immutable once built, shared as
// std::shared_ptr<const LbSnapshot>; a connection keeps the snapshot it was accepted under, so a
// reload never changes a connection in flight. Thread-safe (immutable).
#ifndef GATEHOUSE_LBSERVER_SNAPSHOT_H_
#define GATEHOUSE_LBSERVER_SNAPSHOT_H_

#include <openssl/ssl.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lbserver/app.h"
#include "security/policy.h"

namespace gatehouse::lbserver {

struct LbSnapshot {
  // The server context for TLS apps (TLS 1.3, client certificate required; security core).
  std::shared_ptr<SSL_CTX> tls_context;
  std::shared_ptr<const security::AuthorizationPolicy> policy;
  std::vector<std::shared_ptr<const App>> apps;
  // Configured listen address ("127.0.0.1:8443") -> the app that owns it.
  std::map<std::string, std::shared_ptr<const App>> app_by_listener;
  std::chrono::nanoseconds handshake_timeout{0};
  uint32_t max_connections = 0;
};

// Process-wide count of open client connections, against lb.max_connections. Lives as long as
// the LbServer; connections hold it by pointer. Thread-safe (atomic).
struct ConnectionCount {
  std::atomic<uint32_t> open{0};
};

}  // namespace gatehouse::lbserver

#endif  // GATEHOUSE_LBSERVER_SNAPSHOT_H_
