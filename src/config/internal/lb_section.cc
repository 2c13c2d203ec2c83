#include "config/internal/lb_section.h"

#include <algorithm>
#include <array>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "base/host_name.h"
#include "base/status_macros.h"
#include "config/internal/field_readers.h"
#include "config/internal/launch_section.h"
#include "config/internal/listen_ports.h"
#include "config/value_parsers.h"

namespace gatehouse::config::internal {
namespace {

constexpr std::array<absl::string_view, 5> kLbKeys = {"workers", "handshake_timeout",
                                                      "drain_timeout", "max_connections", "apps"};
// clang-format off
constexpr std::array<absl::string_view, 15> kAppKeys = {
    "name", "listen", "upstreams", "balancing", "hash_key", "connect_timeout", "idle_timeout",
    "health_check", "rate_limit", "bandwidth", "proxy_protocol", "tls", "max_connections",
    "launch", "routes"};
// clang-format on
constexpr std::array<absl::string_view, 1> kAppRequiredKeys = {"name"};
// A tls: sni app only accepts and routes; everything about forwarding is its routes' apps'.
constexpr std::array<absl::string_view, 5> kSniAppKeys = {"name", "listen", "tls", "routes",
                                                          "max_connections"};
constexpr std::array<absl::string_view, 3> kRouteKeys = {"server_name", "app", "certificate"};
constexpr std::array<absl::string_view, 2> kRouteRequiredKeys = {"server_name", "app"};
constexpr std::array<absl::string_view, 2> kCertificateKeys = {"cert", "key"};
constexpr std::array<absl::string_view, 4> kHealthCheckKeys = {"interval", "timeout", "rise",
                                                               "fall"};
constexpr std::array<absl::string_view, 4> kRateLimitKeys = {"connections_per_second", "burst",
                                                             "max_concurrent", "scope"};
constexpr std::array<NamedValue<RateLimitScope>, 2> kRateLimitScopes = {{
    {"local", RateLimitScope::kLocal},
    {"global", RateLimitScope::kGlobal},
}};
constexpr std::array<absl::string_view, 2> kBandwidthKeys = {"upload", "download"};

constexpr std::array<NamedValue<Balancing>, 4> kBalancings = {{
    {"round_robin", Balancing::kRoundRobin},
    {"least_connections", Balancing::kLeastConnections},
    {"power_of_two", Balancing::kPowerOfTwoChoices},
    {"hash", Balancing::kHash},
}};
constexpr std::array<NamedValue<HashKey>, 2> kHashKeys = {{
    {"client_identity", HashKey::kClientIdentity},
    {"client_address", HashKey::kClientAddress},
}};
constexpr std::array<NamedValue<ProxyProtocol>, 2> kProxyProtocols = {{
    {"none", ProxyProtocol::kNone},
    {"v2", ProxyProtocol::kV2},
}};
constexpr std::array<NamedValue<AppTls>, 3> kAppTlsModes = {{
    {"mutual", AppTls::kMutual},
    {"none", AppTls::kNone},
    {"sni", AppTls::kSni},
}};

// Bounds that keep a typo from becoming an outage or an overflow, not tuning advice.
constexpr uint32_t kMaxWorkers = 1024;
constexpr uint32_t kMaxConnections = 10'000'000;
constexpr uint32_t kMaxChecks = 100;
constexpr uint32_t kMaxBurst = 1'000'000;
constexpr size_t kMaxNameBytes = 64;

bool IsAppNameChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
}

// App names label metrics and log lines, so they are kept to a safe, short alphabet.
absl::StatusOr<std::string> ReadAppName(const DocumentReader& reader, const Field& field) {
  GH_ASSIGN_OR_RETURN(std::string name, reader.ReadString(field));
  if (name.size() > kMaxNameBytes || !std::all_of(name.begin(), name.end(), IsAppNameChar)) {
    return reader.FieldError(field,
                             absl::StrCat(Quote(name),
                                          " is not a valid app name: use at "
                                          "most ",
                                          kMaxNameBytes, " letters, digits, '.', '_' and '-'"));
  }
  return name;
}

// One address, or a sequence of at least one; `parse` reads each.
absl::StatusOr<std::vector<Address>> ReadAddresses(
    const DocumentReader& reader, const Field& field,
    absl::StatusOr<Address> (*parse)(absl::string_view) = ParseAddress) {
  std::vector<Field> items;
  if (field.node.IsScalar()) {
    items.push_back(field);
  } else {
    GH_ASSIGN_OR_RETURN(items, reader.ReadSequence(field));
  }
  if (items.empty()) return reader.FieldError(field, "needs at least one address");
  std::vector<Address> addresses;
  std::set<std::string> seen;  // a set: a list may hold thousands of ports
  for (const Field& item : items) {
    GH_ASSIGN_OR_RETURN(const std::string text, reader.ReadScalar(item));
    absl::StatusOr<Address> address_or = parse(text);
    if (!address_or.ok()) return reader.FieldError(item, address_or.status().message());
    Address address = *std::move(address_or);
    if (!seen.insert(address.ToString()).second) {
      return reader.FieldError(item, absl::StrCat("duplicate address ", address.ToString()));
    }
    addresses.push_back(std::move(address));
  }
  return addresses;
}

absl::StatusOr<HealthCheckConfig> ParseHealthCheck(const DocumentReader& reader,
                                                   const Field& field) {
  GH_ASSIGN_OR_RETURN(const std::vector<Field> entries,
                      reader.ReadEntries(field, kHealthCheckKeys));
  HealthCheckConfig check;
  for (const Field& entry : entries) {
    if (entry.key == "interval") {
      GH_ASSIGN_OR_RETURN(check.interval, ReadPositiveDuration(reader, entry));
    } else if (entry.key == "timeout") {
      GH_ASSIGN_OR_RETURN(check.timeout, ReadPositiveDuration(reader, entry));
    } else if (entry.key == "rise") {
      GH_ASSIGN_OR_RETURN(check.rise, ReadCount(reader, entry, 1, kMaxChecks));
    } else {
      GH_ASSIGN_OR_RETURN(check.fall, ReadCount(reader, entry, 1, kMaxChecks));
    }
  }
  if (check.timeout >= check.interval) {
    return reader.FieldError(field, "timeout must be shorter than interval");
  }
  return check;
}

absl::StatusOr<RateLimitConfig> ParseRateLimit(const DocumentReader& reader, const Field& field) {
  GH_ASSIGN_OR_RETURN(const std::vector<Field> entries, reader.ReadEntries(field, kRateLimitKeys));
  RateLimitConfig limit;
  for (const Field& entry : entries) {
    if (entry.key == "connections_per_second") {
      GH_ASSIGN_OR_RETURN(limit.connections_per_second, ReadDecimal(reader, entry));
    } else if (entry.key == "burst") {
      GH_ASSIGN_OR_RETURN(limit.burst, ReadCount(reader, entry, 0, kMaxBurst));
    } else if (entry.key == "scope") {
      GH_ASSIGN_OR_RETURN(limit.scope, ReadChoice<RateLimitScope>(reader, entry, kRateLimitScopes));
    } else {
      GH_ASSIGN_OR_RETURN(limit.max_concurrent, ReadCount(reader, entry, 0, kMaxConnections));
    }
  }
  if (limit.connections_per_second > 0 && limit.burst == 0) {
    return reader.FieldError(field, "connections_per_second needs a burst of at least 1");
  }
  if (limit.connections_per_second == 0 && limit.burst > 0) {
    return reader.FieldError(field, "burst needs connections_per_second above 0");
  }
  // Only the token bucket is shared between nodes: a global scope without a rate is a no-op.
  if (limit.scope == RateLimitScope::kGlobal && limit.connections_per_second == 0) {
    return reader.FieldError(field, "scope: global needs connections_per_second above 0");
  }
  return limit;
}

// A rate in bytes per second ("10MiB" is 10 MiB/s), within the forwarder's bounds.
absl::StatusOr<uint64_t> ReadBytesPerSecond(const DocumentReader& reader, const Field& field) {
  GH_ASSIGN_OR_RETURN(const uint64_t rate, ReadByteSize(reader, field));
  if (rate < kMinBandwidthBytesPerSecond || rate > kMaxBandwidthBytesPerSecond) {
    return reader.FieldError(field, absl::StrCat("a bandwidth limit is from 1KiB to 1TiB per "
                                                 "second, got ",
                                                 rate, " bytes"));
  }
  return rate;
}

absl::StatusOr<BandwidthConfig> ParseBandwidth(const DocumentReader& reader, const Field& field) {
  GH_ASSIGN_OR_RETURN(const std::vector<Field> entries, reader.ReadEntries(field, kBandwidthKeys));
  BandwidthConfig bandwidth;
  for (const Field& entry : entries) {
    GH_ASSIGN_OR_RETURN(const uint64_t rate, ReadBytesPerSecond(reader, entry));
    (entry.key == "upload" ? bandwidth.upload_bytes_per_second
                           : bandwidth.download_bytes_per_second) = rate;
  }
  return bandwidth;
}

absl::StatusOr<CertificateFilesConfig> ParseCertificateFiles(const DocumentReader& reader,
                                                             const Field& field) {
  GH_ASSIGN_OR_RETURN(const std::vector<Field> entries,
                      reader.ReadEntries(field, kCertificateKeys));
  GH_RETURN_IF_ERROR(reader.RequireKeys(field, entries, kCertificateKeys));
  CertificateFilesConfig files;
  for (const Field& entry : entries) {
    GH_ASSIGN_OR_RETURN(std::string path, reader.ReadString(entry));
    (entry.key == "cert" ? files.cert_file : files.key_file) = std::move(path);
  }
  return files;
}

absl::StatusOr<SniRouteConfig> ParseRoute(const DocumentReader& reader, const Field& field) {
  GH_ASSIGN_OR_RETURN(const std::vector<Field> entries, reader.ReadEntries(field, kRouteKeys));
  GH_RETURN_IF_ERROR(reader.RequireKeys(field, entries, kRouteRequiredKeys));
  SniRouteConfig route;
  for (const Field& entry : entries) {
    if (entry.key == "server_name") {
      GH_ASSIGN_OR_RETURN(const std::string name, reader.ReadScalar(entry));
      if (!base::IsHostName(name)) {
        return reader.FieldError(entry, absl::StrCat(Quote(name),
                                                     " is not a host name (letters, digits, '-' "
                                                     "and '.'; no wildcards)"));
      }
      route.server_name = absl::AsciiStrToLower(name);
    } else if (entry.key == "app") {
      GH_ASSIGN_OR_RETURN(route.app, reader.ReadScalar(entry));
    } else {
      GH_ASSIGN_OR_RETURN(route.certificate, ParseCertificateFiles(reader, entry));
    }
  }
  return route;
}

absl::StatusOr<std::vector<SniRouteConfig>> ParseRoutes(const DocumentReader& reader,
                                                        const Field& field) {
  GH_ASSIGN_OR_RETURN(const std::vector<Field> items, reader.ReadSequence(field));
  std::vector<SniRouteConfig> routes;
  for (const Field& item : items) {
    GH_ASSIGN_OR_RETURN(SniRouteConfig route, ParseRoute(reader, item));
    for (const SniRouteConfig& seen : routes) {
      if (seen.server_name == route.server_name) {
        return reader.FieldError(
            item, absl::StrCat("server name ", Quote(route.server_name), " has a route already"));
      }
    }
    routes.push_back(std::move(route));
  }
  return routes;
}

absl::Status ParseAppEntry(const DocumentReader& reader, const Field& entry, LbAppConfig& app) {
  if (entry.key == "name") {
    GH_ASSIGN_OR_RETURN(app.name, ReadAppName(reader, entry));
  } else if (entry.key == "listen") {
    GH_ASSIGN_OR_RETURN(app.listen, ReadAddresses(reader, entry, ParseListenAddress));
  } else if (entry.key == "upstreams") {
    GH_ASSIGN_OR_RETURN(app.upstreams, ReadAddresses(reader, entry));
    for (const Address& upstream : app.upstreams) {
      if (upstream.port == 0) return reader.FieldError(entry, "an upstream needs a port above 0");
    }
  } else if (entry.key == "balancing") {
    GH_ASSIGN_OR_RETURN(app.balancing, ReadChoice<Balancing>(reader, entry, kBalancings));
  } else if (entry.key == "hash_key") {
    GH_ASSIGN_OR_RETURN(app.hash_key, ReadChoice<HashKey>(reader, entry, kHashKeys));
  } else if (entry.key == "connect_timeout") {
    GH_ASSIGN_OR_RETURN(app.connect_timeout, ReadPositiveDuration(reader, entry));
  } else if (entry.key == "idle_timeout") {
    GH_ASSIGN_OR_RETURN(app.idle_timeout, ReadPositiveDuration(reader, entry));
  } else if (entry.key == "health_check") {
    GH_ASSIGN_OR_RETURN(app.health_check, ParseHealthCheck(reader, entry));
  } else if (entry.key == "rate_limit") {
    GH_ASSIGN_OR_RETURN(app.rate_limit, ParseRateLimit(reader, entry));
  } else if (entry.key == "bandwidth") {
    GH_ASSIGN_OR_RETURN(app.bandwidth, ParseBandwidth(reader, entry));
  } else if (entry.key == "proxy_protocol") {
    GH_ASSIGN_OR_RETURN(app.proxy_protocol,
                        ReadChoice<ProxyProtocol>(reader, entry, kProxyProtocols));
  } else if (entry.key == "tls") {
    GH_ASSIGN_OR_RETURN(app.tls, ReadChoice<AppTls>(reader, entry, kAppTlsModes));
  } else if (entry.key == "launch") {
    GH_ASSIGN_OR_RETURN(app.launch, ParseLaunchSection(reader, entry));
  } else if (entry.key == "routes") {
    GH_ASSIGN_OR_RETURN(app.routes, ParseRoutes(reader, entry));
  } else {
    GH_ASSIGN_OR_RETURN(app.max_connections, ReadCount(reader, entry, 0, kMaxConnections));
  }
  return absl::OkStatus();
}

// `hash_key` after the whole app is read: its default and its check depend on `tls` and
// `balancing`, which may come later in the mapping.
absl::Status CheckHashKey(const DocumentReader& reader, absl::Span<const Field> entries,
                          LbAppConfig& app) {
  const auto hash_key = std::find_if(entries.begin(), entries.end(),
                                     [](const Field& entry) { return entry.key == "hash_key"; });
  if (hash_key == entries.end()) {
    app.hash_key = app.tls == AppTls::kNone ? HashKey::kClientAddress : HashKey::kClientIdentity;
    return absl::OkStatus();
  }
  if (app.balancing != Balancing::kHash) {
    return reader.FieldError(*hash_key, "hash_key needs balancing: hash");
  }
  if (app.hash_key == HashKey::kClientIdentity && app.tls == AppTls::kNone) {
    return reader.FieldError(
        *hash_key, "client_identity needs tls: mutual (a tls: none client has no identity)");
  }
  return absl::OkStatus();
}

absl::StatusOr<LbAppConfig> ParseApp(const DocumentReader& reader, const Field& field) {
  GH_ASSIGN_OR_RETURN(const std::vector<Field> entries, reader.ReadEntries(field, kAppKeys));
  GH_RETURN_IF_ERROR(reader.RequireKeys(field, entries, kAppRequiredKeys));
  LbAppConfig app;
  for (const Field& entry : entries) {
    GH_RETURN_IF_ERROR(ParseAppEntry(reader, entry, app));
  }
  if (app.tls == AppTls::kSni) {
    for (const Field& entry : entries) {
      if (std::find(kSniAppKeys.begin(), kSniAppKeys.end(), entry.key) == kSniAppKeys.end()) {
        return reader.FieldError(
            entry, absl::StrCat("a tls: sni app only routes by server name; set ", entry.key,
                                " on the apps of its routes"));
      }
    }
    if (app.routes.empty()) return reader.FieldError(field, "a tls: sni app needs routes");
    if (app.listen.empty()) return reader.FieldError(field, "a tls: sni app needs listen");
    return app;
  }
  if (const Field* routes = FindEntry(entries, "routes"); routes != nullptr) {
    return reader.FieldError(*routes, "routes needs tls: sni");
  }
  if (app.upstreams.empty() && !app.launch.has_value()) {
    return reader.FieldError(field, "an app needs upstreams, a launch, or both");
  }
  GH_RETURN_IF_ERROR(CheckHashKey(reader, entries, app));
  return app;
}

const LbAppConfig* FindApp(const std::vector<LbAppConfig>& apps, absl::string_view name) {
  for (const LbAppConfig& app : apps) {
    if (app.name == name) return &app;
  }
  return nullptr;
}

// Once every app is read: a route names an app that exists and is not itself routing, a
// certificate only where TLS ends here, and an app without `listen` must be some route's.
absl::Status CheckRoutes(const DocumentReader& reader, const std::vector<Field>& items,
                         const std::vector<LbAppConfig>& apps) {
  std::set<std::string> routed;
  for (size_t i = 0; i < apps.size(); ++i) {
    for (const SniRouteConfig& route : apps[i].routes) {
      const LbAppConfig* target = FindApp(apps, route.app);
      const std::string where = absl::StrCat("the route for ", Quote(route.server_name));
      if (target == nullptr) {
        return reader.FieldError(items[i], absl::StrCat(where, " names app ", Quote(route.app),
                                                        ", which does not exist"));
      }
      if (target->tls == AppTls::kSni) {
        return reader.FieldError(items[i], absl::StrCat(where, " names app ", Quote(route.app),
                                                        ", which is tls: sni itself"));
      }
      if (target->tls == AppTls::kNone && route.certificate.has_value()) {
        return reader.FieldError(
            items[i], absl::StrCat(where, " has a certificate, but its app ", Quote(route.app),
                                   " is tls: none, so the connection passes through untouched"));
      }
      routed.insert(route.app);
    }
  }
  for (size_t i = 0; i < apps.size(); ++i) {
    if (apps[i].listen.empty() && !routed.contains(apps[i].name)) {
      return reader.FieldError(items[i],
                               "an app needs listen, unless it is the app of a tls: sni route");
    }
  }
  return absl::OkStatus();
}

// Apps by name and listen address, so that a second use of either points at the culprit.
absl::StatusOr<std::vector<LbAppConfig>> ParseApps(const DocumentReader& reader,
                                                   const Field& field) {
  GH_ASSIGN_OR_RETURN(const std::vector<Field> items, reader.ReadSequence(field));
  std::vector<LbAppConfig> apps;
  ListenPorts taken;
  for (const Field& item : items) {
    GH_ASSIGN_OR_RETURN(LbAppConfig app, ParseApp(reader, item));
    for (const LbAppConfig& seen : apps) {
      if (seen.name == app.name) {
        return reader.FieldError(item, absl::StrCat("duplicate app name ", Quote(app.name)));
      }
    }
    for (const Address& listen : app.listen) {
      const absl::Status free = taken.Take(listen, app.name);
      if (!free.ok()) return reader.FieldError(item, free.message());
    }
    apps.push_back(std::move(app));
  }
  GH_RETURN_IF_ERROR(CheckRoutes(reader, items, apps));
  return apps;
}

}  // namespace

absl::StatusOr<LbConfig> ParseLbSection(const DocumentReader& reader, const Field& field) {
  GH_ASSIGN_OR_RETURN(const std::vector<Field> entries, reader.ReadEntries(field, kLbKeys));
  LbConfig lb;
  for (const Field& entry : entries) {
    if (entry.key == "workers") {
      GH_ASSIGN_OR_RETURN(lb.workers, ReadCount(reader, entry, 0, kMaxWorkers));
    } else if (entry.key == "handshake_timeout") {
      GH_ASSIGN_OR_RETURN(lb.handshake_timeout, ReadPositiveDuration(reader, entry));
    } else if (entry.key == "drain_timeout") {
      GH_ASSIGN_OR_RETURN(lb.drain_timeout, ReadPositiveDuration(reader, entry));
    } else if (entry.key == "max_connections") {
      GH_ASSIGN_OR_RETURN(lb.max_connections, ReadCount(reader, entry, 1, kMaxConnections));
    } else {
      GH_ASSIGN_OR_RETURN(lb.apps, ParseApps(reader, entry));
    }
  }
  return lb;
}

}  // namespace gatehouse::config::internal
