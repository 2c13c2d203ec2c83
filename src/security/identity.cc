#include "security/identity.h"

#include <openssl/objects.h>
#include <openssl/x509.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "security/openssl_ptr.h"

namespace gatehouse::security {
namespace {

constexpr size_t kMaxFieldBytes = 256;

// Reads one name entry as UTF-8 and checks it is something we may put in logs, policy lookups
// and job ownership: non-empty, bounded, and without control characters or NULs.
absl::StatusOr<std::string> ReadNameEntry(const X509_NAME_ENTRY* entry, absl::string_view field) {
  unsigned char* utf8 = nullptr;
  const int length = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(entry));
  if (length < 0) {
    return absl::InvalidArgumentError(absl::StrCat("certificate ", field, " is not valid text"));
  }
  std::string value(reinterpret_cast<const char*>(utf8), static_cast<size_t>(length));
  OPENSSL_free(utf8);
  if (value.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("certificate ", field, " is empty"));
  }
  if (value.size() > kMaxFieldBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate ", field, " is longer than ", kMaxFieldBytes, " bytes"));
  }
  for (const char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      return absl::InvalidArgumentError(
          absl::StrCat("certificate ", field, " contains a control character"));
    }
  }
  return value;
}

}  // namespace

bool Identity::HasRole(absl::string_view role) const {
  for (const std::string& r : roles) {
    if (r == role) return true;
  }
  return false;
}

std::string Identity::ToString() const {
  if (roles.empty()) return user;
  return absl::StrCat(user, " (roles: ", absl::StrJoin(roles, ", "), ")");
}

absl::StatusOr<Identity> IdentityFromCertificate(const X509* cert) {
  if (cert == nullptr) return absl::InvalidArgumentError("no peer certificate");
  const X509_NAME* subject = X509_get_subject_name(cert);
  Identity identity;
  int common_names = 0;
  for (int i = 0; i < X509_NAME_entry_count(subject); ++i) {
    const X509_NAME_ENTRY* entry = X509_NAME_get_entry(subject, i);
    const int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(entry));
    if (nid == NID_commonName) {
      ++common_names;
      auto value = ReadNameEntry(entry, "subject CN");
      if (!value.ok()) return value.status();
      identity.user = *std::move(value);
    } else if (nid == NID_organizationalUnitName) {
      auto value = ReadNameEntry(entry, "subject OU");
      if (!value.ok()) return value.status();
      identity.roles.push_back(*std::move(value));
    }
  }
  if (common_names != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "certificate subject must have exactly one CN (the user name), found ", common_names));
  }
  return identity;
}

}  // namespace gatehouse::security
