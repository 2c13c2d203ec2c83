// PROXY protocol version 2 (haproxy.org's proxy-protocol.txt, section 2.2): the binary header a
// proxy writes to an upstream before the client's first byte, so the upstream learns who the
// client is although the TCP connection comes from the proxy.
//
// The header carries the client's address and port (source) and the address the client
// connected to (destination). For a client that presented a verified certificate it also carries
// a PP2_TYPE_SSL TLV (client flags SSL|CERT_CONN, verify 0) with the PP2_SUBTYPE_SSL_VERSION and
// PP2_SUBTYPE_SSL_CN sub-TLVs, as HAProxy's `send-proxy-v2-ssl-cn` does, so existing upstreams
// that read HAProxy's header read ours; and one TLV of type 0xE0 (PP2_TYPE_MIN_CUSTOM) per
// role of the identity, holding the role's bytes.
//
// Families: two IPv4 endpoints are sent as TCP over IPv4; anything involving IPv6 as TCP over
// IPv6, with IPv4 addresses IPv4-mapped. Pure functions; thread-safe.
#ifndef GATEHOUSE_LB_PROXY_PROTOCOL_H_
#define GATEHOUSE_LB_PROXY_PROTOCOL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "asio/ip/tcp.hpp"

namespace gatehouse::lb {

// The TLS facts a header may carry; absent for a plain-TCP client.
struct ProxyTlsInfo {
  std::string version = "TLSv1.3";
  std::string common_name;         // the verified client certificate's CN
  std::vector<std::string> roles;  // one 0xE0 TLV each
};

// Type of the TLV that carries one role.
inline constexpr uint8_t kProxyTlvRole = 0xE0;

// The header's bytes. InvalidArgument when the TLVs would not fit the header's 16-bit length
// (a CN or roles far beyond what the identity rules admit).
absl::StatusOr<std::string> EncodeProxyV2Header(const asio::ip::tcp::endpoint& source,
                                                const asio::ip::tcp::endpoint& destination,
                                                const ProxyTlsInfo* tls);

}  // namespace gatehouse::lb

#endif  // GATEHOUSE_LB_PROXY_PROTOCOL_H_
