#include "security/identity.h"

#include <openssl/objects.h>
#include <openssl/x509.h>

#include <cstdint>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "base/escape_for_log.h"
#include "security/openssl_ptr.h"

namespace gatehouse::security {
namespace {

// Decodes the UTF-8 sequence at the start of the non-empty `text` and advances past it. Empty
// for malformed input: a bad lead or continuation byte, a truncated sequence, an overlong form, a
// UTF-16 surrogate or a value above U+10FFFF (RFC 3629 section 3).
std::optional<char32_t> NextCodePoint(absl::string_view* text) {
  const auto lead = static_cast<unsigned char>(text->front());
  if (lead < 0x80) {
    text->remove_prefix(1);
    return lead;
  }
  size_t length = 0;
  char32_t value = 0;
  char32_t minimum = 0;
  if ((lead & 0xe0) == 0xc0) {
    length = 2;
    value = lead & 0x1f;
    minimum = 0x80;
  } else if ((lead & 0xf0) == 0xe0) {
    length = 3;
    value = lead & 0x0f;
    minimum = 0x800;
  } else if ((lead & 0xf8) == 0xf0) {
    length = 4;
    value = lead & 0x07;
    minimum = 0x10000;
  } else {
    return std::nullopt;
  }
  if (text->size() < length) return std::nullopt;
  for (size_t i = 1; i < length; ++i) {
    const auto byte = static_cast<unsigned char>((*text)[i]);
    if ((byte & 0xc0) != 0x80) return std::nullopt;
    value = (value << 6) | (byte & 0x3f);
  }
  if (value < minimum || value > 0x10ffff || (value >= 0xd800 && value <= 0xdfff)) {
    return std::nullopt;
  }
  text->remove_prefix(length);
  return value;
}

bool IsControl(char32_t c) {
  return c < 0x20 || (c >= 0x7f && c <= 0x9f);  // C0, DEL, C1 (U+009B is a terminal CSI)
}

// Characters that are valid Unicode but must not appear in a name used for authorization and
// logged: they are invisible, or reorder or break the text around them, so "admin" and
// "adm<U+200B>in" would look alike in a log, a policy file or a terminal (Unicode TR #36 and
// TR #9; CVE-2021-42574 "Trojan Source" for the bidi controls).
bool IsInvisibleOrBidi(char32_t c) {
  return c == 0x061c ||                   // ARABIC LETTER MARK (bidi)
         (c >= 0x200b && c <= 0x200f) ||  // zero-width space, (non-)joiner; LRM, RLM
         c == 0x2028 || c == 0x2029 ||    // line and paragraph separators
         (c >= 0x202a && c <= 0x202e) ||  // bidi embeddings and overrides
         c == 0x2060 ||                   // WORD JOINER
         (c >= 0x2066 && c <= 0x2069) ||  // bidi isolates
         c == 0xfeff;                     // ZERO WIDTH NO-BREAK SPACE (BOM)
}

// "U+202E": names the character without repeating the value, which must not reach a log raw.
std::string CodePointName(char32_t c) {
  return absl::StrCat(
      "U+",
      absl::AsciiStrToUpper(absl::StrCat(absl::Hex(static_cast<uint32_t>(c), absl::kZeroPad4))));
}

// Reads one name entry as UTF-8 and checks it is something we may put in logs, policy lookups
// and job ownership: non-empty, bounded, valid UTF-8, without control, invisible or bidi
// characters.
absl::StatusOr<std::string> ReadNameEntry(const X509_NAME_ENTRY* entry, absl::string_view field) {
  unsigned char* utf8 = nullptr;
  const int length = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(entry));
  if (length < 0) {
    return absl::InvalidArgumentError(absl::StrCat("certificate ", field, " is not valid text"));
  }
  const OpensslMemoryPtr<unsigned char> owned_utf8(utf8);
  std::string value(reinterpret_cast<const char*>(utf8), static_cast<size_t>(length));
  if (value.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("certificate ", field, " is empty"));
  }
  if (value.size() > kMaxIdentityFieldBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate ", field, " is longer than ", kMaxIdentityFieldBytes, " bytes"));
  }
  // OpenSSL validates a UTF8String as it converts it, but decoding here keeps the check
  // independent of which ASN.1 string type the CA chose.
  absl::string_view rest = value;
  while (!rest.empty()) {
    const std::optional<char32_t> c = NextCodePoint(&rest);
    if (!c.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat("certificate ", field, " is not valid UTF-8"));
    }
    if (IsControl(*c)) {
      return absl::InvalidArgumentError(
          absl::StrCat("certificate ", field, " contains control character ", CodePointName(*c)));
    }
    if (IsInvisibleOrBidi(*c)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "certificate ", field, " contains invisible or bidi character ", CodePointName(*c)));
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
  std::string out = absl::StrCat("\"", base::EscapeForLog(user), "\"");
  if (roles.empty()) return out;
  out += " (roles: ";
  for (size_t i = 0; i < roles.size(); ++i) {
    absl::StrAppend(&out, i == 0 ? "\"" : ", \"", base::EscapeForLog(roles[i]), "\"");
  }
  out += ")";
  return out;
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
      // Bounds the work per handshake and the size of every policy check and log line that
      // lists the roles.
      if (identity.roles.size() == kMaxIdentityRoles) {
        return absl::InvalidArgumentError(
            absl::StrCat("certificate subject has more than ", kMaxIdentityRoles, " OUs (roles)"));
      }
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
