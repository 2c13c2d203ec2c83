#include "config/internal/cluster_sections.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "config/internal/field_readers.h"

namespace gatehouse::config::internal {
namespace {

constexpr std::array<absl::string_view, 1> kConfigSourceKeys = {"etcd"};
constexpr std::array<absl::string_view, 4> kEtcdKeys = {"endpoints", "key", "tls", "cache"};
constexpr std::array<absl::string_view, 2> kEtcdRequiredKeys = {"endpoints", "tls"};
constexpr std::array<absl::string_view, 3> kEtcdTlsKeys = {"ca", "cert", "key"};
constexpr std::array<absl::string_view, 5> kGlobalRateLimitKeys = {
    "redis", "password_file", "timeout", "fallback", "lease_size"};
constexpr std::array<absl::string_view, 1> kGlobalRateLimitRequiredKeys = {"redis"};
constexpr std::array<NamedValue<GlobalLimitFallback>, 2> kFallbacks = {{
    {"open", GlobalLimitFallback::kOpen},
    {"closed", GlobalLimitFallback::kClosed},
}};

// A bound that keeps a typo from leasing a client's whole day at once, not tuning advice.
constexpr uint32_t kMaxLeaseSize = 100'000;
constexpr size_t kMaxEndpoints = 16;
constexpr std::chrono::seconds kMaxRedisTimeout{10};

absl::StatusOr<std::string> ReadEndpoint(const DocumentReader& reader, const Field& field) {
  GH_ASSIGN_OR_RETURN(std::string endpoint, reader.ReadString(field));
  // Plain HTTP would send the whole config, and the client key's proof, in the clear.
  if (!absl::StartsWith(endpoint, "https://") || endpoint.size() == 8) {
    return reader.FieldError(field, absl::StrCat(Quote(endpoint),
                                                 " is not an https:// URL (etcd is reached over "
                                                 "mutual TLS only)"));
  }
  return endpoint;
}

absl::StatusOr<std::vector<std::string>> ReadEndpoints(const DocumentReader& reader,
                                                       const Field& field) {
  GH_ASSIGN_OR_RETURN(const std::vector<Field> items, reader.ReadSequence(field));
  if (items.empty() || items.size() > kMaxEndpoints) {
    return reader.FieldError(field, absl::StrCat("expected 1 to ", kMaxEndpoints, " endpoints"));
  }
  std::vector<std::string> endpoints;
  for (const Field& item : items) {
    GH_ASSIGN_OR_RETURN(std::string endpoint, ReadEndpoint(reader, item));
    if (std::find(endpoints.begin(), endpoints.end(), endpoint) != endpoints.end()) {
      return reader.FieldError(item, absl::StrCat("duplicate entry ", Quote(endpoint)));
    }
    endpoints.push_back(std::move(endpoint));
  }
  return endpoints;
}

absl::StatusOr<TlsConfig> ReadEtcdTls(const DocumentReader& reader, const Field& field) {
  GH_ASSIGN_OR_RETURN(const std::vector<Field> entries, reader.ReadEntries(field, kEtcdTlsKeys));
  GH_RETURN_IF_ERROR(reader.RequireKeys(field, entries, kEtcdTlsKeys));
  TlsConfig tls;
  for (const Field& entry : entries) {
    GH_ASSIGN_OR_RETURN(std::string path, reader.ReadString(entry));
    if (entry.key == "ca") {
      tls.ca_file = std::move(path);
    } else if (entry.key == "cert") {
      tls.cert_file = std::move(path);
    } else {
      tls.key_file = std::move(path);
    }
  }
  return tls;
}

// An etcd key is bytes; a printable, slash-rooted one is what operators use and can type.
absl::StatusOr<std::string> ReadEtcdKey(const DocumentReader& reader, const Field& field) {
  GH_ASSIGN_OR_RETURN(std::string key, reader.ReadString(field));
  const bool printable = std::all_of(key.begin(), key.end(), [](char c) {
    return static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) < 0x7f;
  });
  if (key.front() != '/' || !printable) {
    return reader.FieldError(field, absl::StrCat(Quote(key),
                                                 " is not a key like /gatehouse/config (a "
                                                 "leading '/', printable, no spaces)"));
  }
  return key;
}

absl::StatusOr<EtcdSourceConfig> ParseEtcd(const DocumentReader& reader, const Field& field) {
  GH_ASSIGN_OR_RETURN(const std::vector<Field> entries, reader.ReadEntries(field, kEtcdKeys));
  GH_RETURN_IF_ERROR(reader.RequireKeys(field, entries, kEtcdRequiredKeys));
  EtcdSourceConfig etcd;
  for (const Field& entry : entries) {
    if (entry.key == "endpoints") {
      GH_ASSIGN_OR_RETURN(etcd.endpoints, ReadEndpoints(reader, entry));
    } else if (entry.key == "key") {
      GH_ASSIGN_OR_RETURN(etcd.key, ReadEtcdKey(reader, entry));
    } else if (entry.key == "tls") {
      GH_ASSIGN_OR_RETURN(etcd.tls, ReadEtcdTls(reader, entry));
    } else {
      GH_ASSIGN_OR_RETURN(etcd.cache_file, reader.ReadString(entry));
    }
  }
  return etcd;
}

}  // namespace

absl::StatusOr<EtcdSourceConfig> ParseConfigSourceSection(const DocumentReader& reader,
                                                          const Field& field) {
  GH_ASSIGN_OR_RETURN(const std::vector<Field> entries,
                      reader.ReadEntries(field, kConfigSourceKeys));
  GH_RETURN_IF_ERROR(reader.RequireKeys(field, entries, kConfigSourceKeys));
  return ParseEtcd(reader, entries.front());
}

absl::StatusOr<GlobalRateLimitsConfig> ParseGlobalRateLimitsSection(const DocumentReader& reader,
                                                                    const Field& field) {
  GH_ASSIGN_OR_RETURN(const std::vector<Field> entries,
                      reader.ReadEntries(field, kGlobalRateLimitKeys));
  GH_RETURN_IF_ERROR(reader.RequireKeys(field, entries, kGlobalRateLimitRequiredKeys));
  GlobalRateLimitsConfig limits;
  for (const Field& entry : entries) {
    if (entry.key == "redis") {
      GH_ASSIGN_OR_RETURN(limits.redis, ReadAddress(reader, entry));
    } else if (entry.key == "password_file") {
      GH_ASSIGN_OR_RETURN(limits.password_file, reader.ReadString(entry));
    } else if (entry.key == "timeout") {
      GH_ASSIGN_OR_RETURN(limits.timeout, ReadPositiveDuration(reader, entry));
      // A connection's admission never waits on Redis, but a reload and shutdown wait for the
      // leaser's thread, which waits this long at most.
      if (limits.timeout > kMaxRedisTimeout) {
        return reader.FieldError(entry, "at most 10s");
      }
    } else if (entry.key == "fallback") {
      GH_ASSIGN_OR_RETURN(limits.fallback,
                          ReadChoice<GlobalLimitFallback>(reader, entry, kFallbacks));
    } else {
      GH_ASSIGN_OR_RETURN(limits.lease_size, ReadCount(reader, entry, 1, kMaxLeaseSize));
    }
  }
  return limits;
}

}  // namespace gatehouse::config::internal
