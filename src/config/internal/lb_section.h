// The `lb` section of the config file: the load balancer's settings and its apps.
//
//   lb:
//     workers: 0                  # event-loop threads; 0 = one per CPU
//     handshake_timeout: 5s
//     drain_timeout: 30s
//     max_connections: 10000      # open client connections, all apps together
//     apps:
//       - name: web               # required; letters, digits, '.', '_' and '-'
//         listen: [127.0.0.1:8443]   # required; one address or a list
//         upstreams: [127.0.0.1:8080] # at least one; required unless there is a launch
//         balancing: round_robin  # round_robin | least_connections | power_of_two | hash
//         hash_key: client_identity  # hash only: client_identity (tls: mutual) | client_address
//         connect_timeout: 5s
//         idle_timeout: 1h
//         health_check: {interval: 2s, timeout: 1s, rise: 2, fall: 3}
//         rate_limit: {connections_per_second: 0, burst: 0, max_concurrent: 0}
//         proxy_protocol: none    # none | v2
//         tls: mutual             # mutual | none
//         max_connections: 0      # 0 = only the process-wide cap
//         launch: {command: [/srv/web/server], port: 8080}  # see launch_section.h
//
// Checks within the section: unique app names, no listen address used twice, upstreams or a
// launch in every app, a health check timeout below its interval, a burst with every rate,
// hash_key only with balancing: hash, and client_identity only with tls: mutual.
// Checks against the rest of the document (authorization rules of the apps, launches against
// the jobs section) are the loader's. Stateless and thread-safe.
#ifndef GATEHOUSE_CONFIG_INTERNAL_LB_SECTION_H_
#define GATEHOUSE_CONFIG_INTERNAL_LB_SECTION_H_

#include "absl/status/statusor.h"
#include "config/config.h"
#include "config/internal/document_reader.h"

namespace gatehouse::config::internal {

absl::StatusOr<LbConfig> ParseLbSection(const DocumentReader& reader, const Field& field);

}  // namespace gatehouse::config::internal

#endif  // GATEHOUSE_CONFIG_INTERNAL_LB_SECTION_H_
