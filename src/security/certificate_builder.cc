#include "security/certificate_builder.h"

#include <arpa/inet.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <array>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "security/openssl_error.h"

namespace gatehouse::security {
namespace {

constexpr int kSerialBits = 159;  // RFC 5280: at most 20 octets, positive

absl::Status CheckDnsName(const std::string& name) {
  // The name is spliced into an OpenSSL extension string, so only hostname characters pass.
  if (name.empty() || name.size() > 253) {
    return absl::InvalidArgumentError(absl::StrCat("DNS name \"", name, "\" has a bad length"));
  }
  for (const char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') {
      return absl::InvalidArgumentError(absl::StrCat("DNS name \"", name, "\" is not a hostname"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckIpAddress(const std::string& ip) {
  std::array<unsigned char, sizeof(in6_addr)> address{};
  if (inet_pton(AF_INET, ip.c_str(), address.data()) != 1 &&
      inet_pton(AF_INET6, ip.c_str(), address.data()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("\"", ip, "\" is not an IP address"));
  }
  return absl::OkStatus();
}

absl::Status SetRandomSerial(X509* cert) {
  BignumPtr serial(BN_new());
  if (!serial || BN_rand(serial.get(), kSerialBits, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ODD) != 1) {
    return OpensslError(absl::StatusCode::kInternal, "generate serial number");
  }
  Asn1IntegerPtr asn1(BN_to_ASN1_INTEGER(serial.get(), nullptr));
  if (!asn1 || X509_set_serialNumber(cert, asn1.get()) != 1) {
    return OpensslError(absl::StatusCode::kInternal, "set serial number");
  }
  return absl::OkStatus();
}

absl::Status SetValidity(X509* cert, const CertificateRequest& request) {
  const auto to_time_t = [](std::chrono::system_clock::time_point t) {
    return std::chrono::system_clock::to_time_t(t);
  };
  Asn1TimePtr not_before(ASN1_TIME_set(nullptr, to_time_t(request.not_before)));
  Asn1TimePtr not_after(ASN1_TIME_set(nullptr, to_time_t(request.not_after)));
  if (!not_before || !not_after || X509_set1_notBefore(cert, not_before.get()) != 1 ||
      X509_set1_notAfter(cert, not_after.get()) != 1) {
    return OpensslError(absl::StatusCode::kInternal, "set validity");
  }
  return absl::OkStatus();
}

absl::Status SetSubject(X509* cert, const CertificateRequest& request) {
  X509_NAME* name = X509_get_subject_name(cert);
  const auto add = [name](int nid, const std::string& value) {
    return X509_NAME_add_entry_by_NID(name, nid, MBSTRING_UTF8,
                                      reinterpret_cast<const unsigned char*>(value.c_str()),
                                      static_cast<int>(value.size()), -1, 0) == 1;
  };
  for (const std::string& unit : request.organizational_units) {
    if (unit.empty() || !add(NID_organizationalUnitName, unit)) {
      return OpensslError(absl::StatusCode::kInvalidArgument,
                          absl::StrCat("set subject OU \"", unit, "\""));
    }
  }
  if (!add(NID_commonName, request.common_name)) {
    return OpensslError(absl::StatusCode::kInvalidArgument,
                        absl::StrCat("set subject CN \"", request.common_name, "\""));
  }
  return absl::OkStatus();
}

absl::Status AddExtension(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
  X509ExtensionPtr extension(X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str()));
  if (!extension || X509_add_ext(cert, extension.get(), -1) != 1) {
    return OpensslError(absl::StatusCode::kInvalidArgument,
                        absl::StrCat("add extension ", OBJ_nid2sn(nid), "=", value));
  }
  return absl::OkStatus();
}

std::string SubjectAltNames(const CertificateRequest& request) {
  std::vector<std::string> names;
  names.reserve(request.dns_names.size() + request.ip_addresses.size());
  for (const std::string& dns : request.dns_names) names.push_back("DNS:" + dns);
  for (const std::string& ip : request.ip_addresses) names.push_back("IP:" + ip);
  return absl::StrJoin(names, ",");
}

absl::Status AddExtendedKeyUsage(X509* cert, X509V3_CTX* ctx,
                                 const std::vector<std::string>& usages) {
  if (usages.empty()) return absl::OkStatus();
  for (const std::string& usage : usages) {
    if (usage != "serverAuth" && usage != "clientAuth") {
      return absl::InvalidArgumentError(absl::StrCat("unsupported extended key usage ", usage));
    }
  }
  return AddExtension(cert, ctx, NID_ext_key_usage, absl::StrJoin(usages, ","));
}

absl::Status AddExtensions(X509* cert, X509* issuer, const CertificateRequest& request) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  const bool is_ca = request.kind == CertificateKind::kAuthority;
  GH_RETURN_IF_ERROR(
      AddExtension(cert, &ctx, NID_basic_constraints,
                   is_ca ? absl::StrCat("critical,CA:TRUE,pathlen:", request.max_path_length)
                         : "critical,CA:FALSE"));
  GH_RETURN_IF_ERROR(
      AddExtension(cert, &ctx, NID_key_usage,
                   is_ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature"));
  GH_RETURN_IF_ERROR(AddExtension(cert, &ctx, NID_subject_key_identifier, "hash"));
  // Every certificate but a self-signed root names the key that signed it.
  if (issuer != cert) {
    GH_RETURN_IF_ERROR(AddExtension(cert, &ctx, NID_authority_key_identifier, "keyid:always"));
  }
  GH_RETURN_IF_ERROR(AddExtendedKeyUsage(cert, &ctx, request.extended_key_usages));
  const std::string alt_names = SubjectAltNames(request);
  if (alt_names.empty()) return absl::OkStatus();
  return AddExtension(cert, &ctx, NID_subject_alt_name, alt_names);
}

absl::Status CheckRequest(const CertificateRequest& request) {
  if (request.common_name.empty()) return absl::InvalidArgumentError("empty common name");
  if (request.not_after <= request.not_before) {
    return absl::InvalidArgumentError("certificate would expire before it becomes valid");
  }
  if (request.max_path_length < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("negative CA path length ", request.max_path_length));
  }
  for (const std::string& dns : request.dns_names) GH_RETURN_IF_ERROR(CheckDnsName(dns));
  for (const std::string& ip : request.ip_addresses) GH_RETURN_IF_ERROR(CheckIpAddress(ip));
  return absl::OkStatus();
}

// Builds and signs one certificate for `subject_key`. `issuer` is null for a self-signed CA.
absl::StatusOr<X509Ptr> BuildCertificate(const CertificateRequest& request, EVP_PKEY* subject_key,
                                         const KeyAndCertificate* issuer) {
  GH_RETURN_IF_ERROR(CheckRequest(request));
  X509Ptr cert(X509_new());
  if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1 ||
      X509_set_pubkey(cert.get(), subject_key) != 1) {
    return OpensslError(absl::StatusCode::kInternal, "create certificate");
  }
  GH_RETURN_IF_ERROR(SetRandomSerial(cert.get()));
  GH_RETURN_IF_ERROR(SetValidity(cert.get(), request));
  GH_RETURN_IF_ERROR(SetSubject(cert.get(), request));
  X509* issuer_cert = issuer != nullptr ? issuer->certificate.get() : cert.get();
  EVP_PKEY* signing_key = issuer != nullptr ? issuer->key.get() : subject_key;
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer_cert)) != 1) {
    return OpensslError(absl::StatusCode::kInternal, "set issuer name");
  }
  GH_RETURN_IF_ERROR(AddExtensions(cert.get(), issuer_cert, request));
  if (X509_sign(cert.get(), signing_key, EVP_sha256()) == 0) {
    return OpensslError(absl::StatusCode::kInternal, "sign certificate");
  }
  return cert;
}

absl::StatusOr<std::string> BioContents(BIO* bio) {
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio, &data);  // NOLINT(google-runtime-int): OpenSSL API
  if (length <= 0 || data == nullptr) {
    return OpensslError(absl::StatusCode::kInternal, "read PEM buffer");
  }
  return std::string(data, static_cast<size_t>(length));
}

}  // namespace

absl::StatusOr<EvpPkeyPtr> GenerateP256Key() {
  EvpPkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return OpensslError(absl::StatusCode::kInternal, "generate P-256 key");
  return key;
}

absl::StatusOr<KeyAndCertificate> CreateCertificateAuthority(const CertificateRequest& request) {
  if (request.kind != CertificateKind::kAuthority) {
    return absl::InvalidArgumentError("CreateCertificateAuthority needs kind kAuthority");
  }
  GH_ASSIGN_OR_RETURN(EvpPkeyPtr key, GenerateP256Key());
  GH_ASSIGN_OR_RETURN(X509Ptr cert, BuildCertificate(request, key.get(), nullptr));
  return KeyAndCertificate{std::move(key), std::move(cert)};
}

absl::StatusOr<KeyAndCertificate> IssueCertificate(const KeyAndCertificate& issuer,
                                                   const CertificateRequest& request) {
  GH_ASSIGN_OR_RETURN(EvpPkeyPtr key, GenerateP256Key());
  GH_ASSIGN_OR_RETURN(X509Ptr cert, BuildCertificate(request, key.get(), &issuer));
  return KeyAndCertificate{std::move(key), std::move(cert)};
}

absl::StatusOr<std::string> CertificateToPem(const X509* certificate) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), certificate) != 1) {
    return OpensslError(absl::StatusCode::kInternal, "encode certificate");
  }
  return BioContents(bio.get());
}

absl::StatusOr<std::string> PrivateKeyToPem(const EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return OpensslError(absl::StatusCode::kInternal, "encode private key");
  }
  return BioContents(bio.get());
}

absl::StatusOr<X509Ptr> ReadCertificateFile(const std::string& path) {
  BioPtr bio(BIO_new_file(path.c_str(), "r"));
  if (!bio) return OpensslError(absl::StatusCode::kNotFound, "open " + path);
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return OpensslError(absl::StatusCode::kInvalidArgument, "read certificate " + path);
  return cert;
}

absl::StatusOr<EvpPkeyPtr> ReadPrivateKeyFile(const std::string& path) {
  BioPtr bio(BIO_new_file(path.c_str(), "r"));
  if (!bio) return OpensslError(absl::StatusCode::kNotFound, "open " + path);
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return OpensslError(absl::StatusCode::kInvalidArgument, "read private key " + path);
  return key;
}

}  // namespace gatehouse::security
