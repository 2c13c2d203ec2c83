// The sections that tie several nodes together (RFD 0001 section 10):
//
//   config_source:                     # the file holds only this (and optionally `log`)
//     etcd:
//       endpoints: [https://10.0.0.1:2379, https://10.0.0.2:2379]   # required, https only
//       key: /gatehouse/config         # the key holding the YAML document
//       tls: {ca: PATH, cert: PATH, key: PATH}                      # required: mutual TLS
//       cache: /var/lib/gatehouse/etcd-config-cache.yaml            # last good document
//
//   global_rate_limits:                # where `rate_limit: {scope: global}` keeps its buckets
//     redis: 127.0.0.1:6379
//     password_file: /etc/gatehouse/redis.password                  # AUTH; optional
//     timeout: 200ms                   # connect and each command
//     fallback: open | closed          # Redis unreachable: limit per node, or refuse
//     lease_size: 5                    # tokens leased per identity at once; default rate/10
//
// Stateless and thread-safe.
#ifndef GATEHOUSE_CONFIG_INTERNAL_CLUSTER_SECTIONS_H_
#define GATEHOUSE_CONFIG_INTERNAL_CLUSTER_SECTIONS_H_

#include "absl/status/statusor.h"
#include "config/config.h"
#include "config/internal/document_reader.h"

namespace gatehouse::config::internal {

absl::StatusOr<EtcdSourceConfig> ParseConfigSourceSection(const DocumentReader& reader,
                                                          const Field& field);

absl::StatusOr<GlobalRateLimitsConfig> ParseGlobalRateLimitsSection(const DocumentReader& reader,
                                                                    const Field& field);

}  // namespace gatehouse::config::internal

#endif  // GATEHOUSE_CONFIG_INTERNAL_CLUSTER_SECTIONS_H_
