#include "config/internal/listen_ports.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <array>

#include "absl/strings/str_cat.h"
#include "config/internal/document_reader.h"

namespace gatehouse::config::internal {
namespace {

bool IsIpv6(const std::string& host) { return host.find(':') != std::string::npos; }

// The address in inet_ntop's spelling; the parser has already checked that it is a literal.
std::string CanonicalHost(const std::string& host) {
  const int family = IsIpv6(host) ? AF_INET6 : AF_INET;
  std::array<unsigned char, sizeof(in6_addr)> binary{};
  std::array<char, INET6_ADDRSTRLEN> text{};
  if (inet_pton(family, host.c_str(), binary.data()) != 1 ||
      inet_ntop(family, binary.data(), text.data(), text.size()) == nullptr) {
    return host;
  }
  return text.data();
}

std::string WildcardOf(const std::string& canonical_host) {
  return IsIpv6(canonical_host) ? "::" : "0.0.0.0";
}

}  // namespace

std::vector<const ListenPorts::Owner*> ListenPorts::Overlapping(const Ports& ports,
                                                                const Address& listen) {
  std::vector<const Owner*> found;
  // Entries are sorted by first port and do not overlap, so their last ports ascend too: walk
  // back from the last one that starts within `listen` while they end within it.
  for (auto entry = ports.upper_bound(listen.LastPort()); entry != ports.begin();) {
    --entry;
    if (entry->second.address.LastPort() < listen.port) break;
    found.push_back(&entry->second);
  }
  return found;
}

absl::Status ListenPorts::Take(const Address& listen, const std::string& app) {
  const std::string host = CanonicalHost(listen.host);
  const std::string wildcard = WildcardOf(host);
  for (const Owner* other : Overlapping(by_host_[host], listen)) {
    if (CanonicalHost(other->address.host) == host && other->address.port == listen.port &&
        other->address.LastPort() == listen.LastPort()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "listen address ", listen.ToString(), " is already used by app ", Quote(other->app)));
    }
    return absl::InvalidArgumentError(absl::StrCat("listen address ", listen.ToString(),
                                                   " overlaps ", other->address.ToString(),
                                                   " of app ", Quote(other->app)));
  }
  const auto shadowed = [&listen](const Owner& other) {
    return absl::InvalidArgumentError(absl::StrCat(
        "listen address ", listen.ToString(), " overlaps ", other.address.ToString(), " of app ",
        Quote(other.app),
        ": a port range on a wildcard address would take those ports from the specific one"));
  };
  if (host == wildcard && listen.IsRange()) {
    for (const auto& [other_host, ports] : by_host_) {
      if (other_host == host || IsIpv6(other_host) != IsIpv6(host)) continue;
      const std::vector<const Owner*> others = Overlapping(ports, listen);
      if (!others.empty()) return shadowed(*others.front());
    }
  } else if (host != wildcard) {
    const auto wildcard_ports = by_host_.find(wildcard);
    if (wildcard_ports != by_host_.end()) {
      for (const Owner* other : Overlapping(wildcard_ports->second, listen)) {
        if (other->address.IsRange()) return shadowed(*other);
      }
    }
  }
  by_host_[host].emplace(listen.port, Owner{listen, app});
  return absl::OkStatus();
}

}  // namespace gatehouse::config::internal
