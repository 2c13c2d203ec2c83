#include "security/tls_context.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include <array>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "security/openssl_error.h"

namespace gatehouse::security {
namespace {

constexpr char kCipherSuites[] =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
constexpr char kGroups[] = "X25519:P-256:P-384";
constexpr int kMaxChainDepth = 4;

// Runs after OpenSSL's own chain checks. At depth 0 (the peer's leaf) it insists that the
// extendedKeyUsage extension exists and lists `RequiredUsage`.
template <uint32_t RequiredUsage>
int VerifyLeafExtendedKeyUsage(int preverify_ok, X509_STORE_CTX* store) {
  if (preverify_ok != 1 || X509_STORE_CTX_get_error_depth(store) != 0) return preverify_ok;
  X509* leaf = X509_STORE_CTX_get_current_cert(store);
  const bool has_eku = (X509_get_extension_flags(leaf) & EXFLAG_XKUSAGE) != 0;
  if (!has_eku || (X509_get_extended_key_usage(leaf) & RequiredUsage) == 0) {
    X509_STORE_CTX_set_error(store, X509_V_ERR_INVALID_PURPOSE);
    return 0;
  }
  return 1;
}

absl::Status LoadCrl(SSL_CTX* ctx, const std::string& crl_file) {
  BioPtr bio(BIO_new_file(crl_file.c_str(), "r"));
  if (!bio) return OpensslError(absl::StatusCode::kInvalidArgument, "open CRL " + crl_file);
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  int loaded = 0;
  while (X509CrlPtr crl{PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr)}) {
    if (X509_STORE_add_crl(store, crl.get()) != 1) {
      return OpensslError(absl::StatusCode::kInvalidArgument, "add CRL from " + crl_file);
    }
    ++loaded;
  }
  // The loop ends on end-of-file, which OpenSSL reports as an error to be cleared.
  ERR_clear_error();
  if (loaded == 0) {
    return absl::InvalidArgumentError(absl::StrCat("CRL file ", crl_file, ": no PEM CRL found"));
  }
  X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
  return absl::OkStatus();
}

absl::Status ApplyProtocolPolicy(SSL_CTX* ctx) {
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1) {
    return OpensslError(absl::StatusCode::kInternal, "restrict protocol to TLS 1.3");
  }
  if (SSL_CTX_set_ciphersuites(ctx, kCipherSuites) != 1) {
    return OpensslError(absl::StatusCode::kInternal, "set TLS 1.3 cipher suites");
  }
  if (SSL_CTX_set1_groups_list(ctx, kGroups) != 1) {
    return OpensslError(absl::StatusCode::kInternal, "set key exchange groups");
  }
  // Idle connections give their read/write buffers back; matters with many idle TLS clients.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  return absl::OkStatus();
}

absl::Status LoadOwnCertificate(SSL_CTX* ctx, const TlsFiles& files) {
  if (SSL_CTX_use_certificate_chain_file(ctx, files.cert_file.c_str()) != 1) {
    return OpensslError(absl::StatusCode::kInvalidArgument,
                        "load certificate chain " + files.cert_file);
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, files.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    return OpensslError(absl::StatusCode::kInvalidArgument, "load private key " + files.key_file);
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return OpensslError(absl::StatusCode::kInvalidArgument,
                        absl::StrCat("private key ", files.key_file, " does not match certificate ",
                                     files.cert_file));
  }
  return absl::OkStatus();
}

absl::Status LoadTrust(SSL_CTX* ctx, TlsRole role, const TlsFiles& files) {
  if (SSL_CTX_load_verify_locations(ctx, files.ca_file.c_str(), nullptr) != 1) {
    return OpensslError(absl::StatusCode::kInvalidArgument, "load CA " + files.ca_file);
  }
  if (role == TlsRole::kServer) {
    // Tells clients which CA we accept, so one holding several certificates picks the right one.
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(files.ca_file.c_str());
    if (names == nullptr) {
      return OpensslError(absl::StatusCode::kInvalidArgument, "read CA names " + files.ca_file);
    }
    SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                       VerifyLeafExtendedKeyUsage<XKU_SSL_CLIENT>);
    SSL_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, VerifyLeafExtendedKeyUsage<XKU_SSL_SERVER>);
    SSL_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
  }
  SSL_CTX_set_verify_depth(ctx, kMaxChainDepth);
  if (!files.crl_file.empty()) GH_RETURN_IF_ERROR(LoadCrl(ctx, files.crl_file));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SslCtxPtr> BuildTlsContext(TlsRole role, const TlsFiles& files) {
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(role == TlsRole::kServer ? TLS_server_method() : TLS_client_method()));
  if (!ctx) return OpensslError(absl::StatusCode::kInternal, "create TLS context");
  GH_RETURN_IF_ERROR(ApplyProtocolPolicy(ctx.get()));
  // A client may go without a certificate of its own (for servers that ask for none); a server
  // never does.
  if (role == TlsRole::kServer || !files.cert_file.empty() || !files.key_file.empty()) {
    GH_RETURN_IF_ERROR(LoadOwnCertificate(ctx.get(), files));
  }
  GH_RETURN_IF_ERROR(LoadTrust(ctx.get(), role, files));
  if (role == TlsRole::kServer) {
    SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx.get(), SSL_OP_NO_TICKET);
    if (SSL_CTX_set_num_tickets(ctx.get(), 0) != 1) {
      return OpensslError(absl::StatusCode::kInternal, "disable session tickets");
    }
  }
  return ctx;
}

absl::Status ExpectServerName(SSL* ssl, absl::string_view host) {
  const std::string name(host);
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  std::array<unsigned char, sizeof(in6_addr)> address{};
  const bool is_ip = inet_pton(AF_INET, name.c_str(), address.data()) == 1 ||
                     inet_pton(AF_INET6, name.c_str(), address.data()) == 1;
  if (is_ip) {
    if (X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str()) != 1) {
      return OpensslError(absl::StatusCode::kInvalidArgument, "expect server IP " + name);
    }
    return absl::OkStatus();
  }
  if (SSL_set1_host(ssl, name.c_str()) != 1) {
    return OpensslError(absl::StatusCode::kInvalidArgument, "expect server name " + name);
  }
  // SNI lets a server holding several certificates present the right one.
  // SSL_set_tlsext_host_name is a macro with a C cast; this is its expansion.
  if (SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
               const_cast<char*>(name.c_str())) != 1) {
    return OpensslError(absl::StatusCode::kInvalidArgument, "set SNI " + name);
  }
  return absl::OkStatus();
}

}  // namespace gatehouse::security
