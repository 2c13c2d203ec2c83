// Dev PKI: a private CA and certificates in a directory, for development and tests.
// Production deployments bring their own CA (docs/rfd/0001-gatehouse.md, "Security").
//
// Layout of `dir`: ca.pem, ca.key (the CA), server.pem, server.key (serverAuth; SANs localhost,
// 127.0.0.1 and ::1), and NAME.pem, NAME.key per issued client (clientAuth; CN=NAME, one OU per
// role). Keys are ECDSA P-256, PKCS#8, mode 0600; certificates 0644; the directory 0700.
// Files are written atomically; existing files are never replaced unless `force` is set.
// Thread-compatible: concurrent writers to one directory get AlreadyExists, not torn files.
#ifndef GATEHOUSE_SECURITY_DEV_PKI_H_
#define GATEHOUSE_SECURITY_DEV_PKI_H_

#include <chrono>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gatehouse::security {

inline constexpr std::chrono::hours kDevCaValidity{24 * 365 * 3};
inline constexpr std::chrono::hours kDevLeafValidity{24 * 365};
// The longest validity the dev PKI issues, to the CA and to clients alike: 3650 days. A dev
// certificate has no business living longer, and the bound keeps `now + validity` far from
// overflowing system_clock's nanosecond count (which ends in 2262).
inline constexpr int kMaxDevValidityDays = 3650;
inline constexpr std::chrono::hours kMaxDevValidity{24 * kMaxDevValidityDays};
static_assert(kDevCaValidity <= kMaxDevValidity && kDevLeafValidity <= kMaxDevValidity);

struct DevPkiPaths {
  std::string ca_cert;
  std::string ca_key;
  std::string server_cert;
  std::string server_key;
};

DevPkiPaths DevPkiPathsIn(const std::string& dir);

// Names of issued certificates and roles: 1 to 64 of [A-Za-z0-9._-], not starting with '.' or
// '-'. Client names "ca" and "server" are reserved. InvalidArgument otherwise.
absl::Status ValidateDevName(absl::string_view name, absl::string_view what);

// Creates `dir` if needed and writes the CA and server files. AlreadyExists (nothing written)
// when any of them exists and `force` is false.
absl::Status InitDevPki(const std::string& dir, bool force);

struct DevClientRequest {
  std::string name;
  std::vector<std::string> roles;
  std::chrono::hours validity = kDevLeafValidity;
};

// Issues dir/NAME.pem and dir/NAME.key signed by dir's CA. InvalidArgument for a bad name or role
// (see ValidateDevName) or a validity outside 1 hour..kMaxDevValidity; AlreadyExists when either
// file exists and `force` is false; NotFound when the CA files are missing.
absl::Status IssueDevClientCertificate(const std::string& dir, const DevClientRequest& request,
                                       bool force);

// For the daemon's embedded default: when `dir` has no CA yet, runs InitDevPki and issues an
// "admin" client certificate with the admin role. Returns true when it created the PKI, false
// when all four CA/server files were already there; an error when only some are.
absl::StatusOr<bool> EnsureDevPki(const std::string& dir);

}  // namespace gatehouse::security

#endif  // GATEHOUSE_SECURITY_DEV_PKI_H_
