#include "security/tls_context.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <ctime>
#include <system_error>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/escape_for_log.h"
#include "base/status_macros.h"
#include "base/unique_fd.h"
#include "security/openssl_error.h"
#include "spdlog/spdlog.h"

namespace gatehouse::security {
namespace {

constexpr char kCipherSuites[] =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
constexpr char kGroups[] = "X25519:P-256:P-384";
constexpr int kMaxChainDepth = 4;

// strerror is not thread-safe; std::error_code's message() is.
std::string ErrnoText(int error) {
  return std::error_code(error, std::system_category()).message();
}

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

struct PemBlock {
  std::string name;  // "CERTIFICATE", "X509 CRL", ...
  std::string der;
};

// Reads all of `path`; `what` ("CA", "CRL") names the file in errors.
absl::StatusOr<std::string> ReadWholeFile(absl::string_view what, const std::string& path) {
  base::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.is_valid()) {
    return absl::InvalidArgumentError(
        absl::StrCat("open ", what, " file ", path, ": ", ErrnoText(errno)));
  }
  std::string contents;
  std::array<char, 16384> buffer{};
  while (true) {
    const ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("read ", what, " file ", path, ": ", ErrnoText(errno)));
    }
    if (n == 0) return contents;
    // Bounds memory, and a path pointing at a device that never ends (/dev/zero) fails instead
    // of hanging a reload.
    if (contents.size() + static_cast<size_t>(n) > kMaxPemFileBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " file ", path, ": larger than ", kMaxPemFileBytes >> 20, " MiB"));
    }
    contents.append(buffer.data(), static_cast<size_t>(n));
  }
}

size_t CountLinesStartingWith(absl::string_view contents, absl::string_view prefix) {
  size_t count = 0;
  for (const absl::string_view line : absl::StrSplit(contents, '\n')) {
    if (absl::StartsWith(line, prefix)) ++count;
  }
  return count;
}

// Splits the file's `contents` into PEM blocks. Only a clean end counts as the end. A loop of
// PEM_read_bio_X509_CRL until it fails ends the same way at the end of the file and at a block
// that is cut short or damaged; and OpenSSL's reader skips lines it does not recognise, so a
// damaged BEGIN line hides its whole block, and text cut off before the next BEGIN line looks
// like a comment. Loading a prefix of a CRL file silently un-revokes every certificate listed
// after the cut. So: only PEM_R_NO_START_LINE ends the loop, every BEGIN and END line in the file
// must belong to a block that was read, and only whitespace may follow the last block. Text
// before a block is allowed (`openssl crl -text` writes it).
absl::StatusOr<std::vector<PemBlock>> SplitPemBlocks(absl::string_view what,
                                                     const std::string& path,
                                                     const std::string& contents) {
  const std::string context = absl::StrCat(what, " file ", path);
  // kMaxPemFileBytes keeps the size within int.
  BioPtr bio(BIO_new_mem_buf(contents.data(), static_cast<int>(contents.size())));
  if (!bio) return OpensslError(absl::StatusCode::kInternal, context + ": create memory BIO");
  std::vector<PemBlock> blocks;
  size_t end_of_last_block = 0;
  while (true) {
    char* name = nullptr;
    char* header = nullptr;
    unsigned char* data = nullptr;
    long length = 0;  // NOLINT(google-runtime-int): OpenSSL API
    ERR_clear_error();
    if (PEM_read_bio(bio.get(), &name, &header, &data, &length) != 1) {
      // Only "no BEGIN line before the end of input" is the end of the file.
      const unsigned long error = ERR_peek_last_error();  // NOLINT(google-runtime-int)
      if (ERR_GET_LIB(error) == ERR_LIB_PEM && ERR_GET_REASON(error) == PEM_R_NO_START_LINE) {
        ERR_clear_error();
        break;
      }
      return OpensslError(
          absl::StatusCode::kInvalidArgument,
          absl::StrCat(context, ": PEM block ", blocks.size() + 1, " is cut short or malformed"));
    }
    const OpensslMemoryPtr<char> owned_name(name);
    const OpensslMemoryPtr<char> owned_header(header);
    const OpensslMemoryPtr<unsigned char> owned_data(data);
    blocks.push_back(
        {name, std::string(reinterpret_cast<const char*>(data), static_cast<size_t>(length))});
    // A memory BIO's pending count is what is left unread.
    end_of_last_block = contents.size() - static_cast<size_t>(BIO_pending(bio.get()));
  }
  if (blocks.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(context, ": no PEM ", what, " found"));
  }
  const size_t begin_lines = CountLinesStartingWith(contents, "-----BEGIN ");
  const size_t end_lines = CountLinesStartingWith(contents, "-----END ");
  if (begin_lines != blocks.size() || end_lines != blocks.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(context, ": ", begin_lines, " BEGIN and ", end_lines, " END lines but only ",
                     blocks.size(), " readable PEM blocks; a block is damaged or cut short"));
  }
  if (!absl::StripAsciiWhitespace(absl::string_view(contents).substr(end_of_last_block)).empty()) {
    return absl::InvalidArgumentError(absl::StrCat(context, ": unexpected text after PEM block ",
                                                   blocks.size(),
                                                   "; the file is cut short or corrupt"));
  }
  return blocks;
}

// Decodes the DER of `block` with `decode` (a d2i function), which must use all of it.
template <typename Ptr, typename Decode>
absl::StatusOr<Ptr> DecodeBlock(const PemBlock& block, Decode decode, absl::string_view context) {
  const auto* begin = reinterpret_cast<const unsigned char*>(block.der.data());
  const unsigned char* next = begin;
  // NOLINTNEXTLINE(google-runtime-int): the d2i functions take a long length.
  Ptr decoded(decode(nullptr, &next, static_cast<long>(block.der.size())));
  if (!decoded) return OpensslError(absl::StatusCode::kInvalidArgument, context);
  if (next != begin + block.der.size()) {
    return absl::InvalidArgumentError(absl::StrCat(context, ": trailing bytes after the DER"));
  }
  return decoded;
}

// OpenSSL decodes a certificate's extensions lazily, on its first use in a verification, and
// writes them into the shared X509 object. Two handshakes verifying against a fresh context at
// once (the first ones after a reload) then race: the writer holds the certificate's lock, the
// reader of an already-flagged field does not (seen under ThreadSanitizer with OpenSSL 3.0.19).
// Decoding them here, before any worker sees the context, leaves nothing to write later, and
// refuses a certificate whose extensions do not decode.
absl::Status CacheExtensions(X509* certificate, absl::string_view context) {
  if (X509_check_purpose(certificate, -1, 0) != 1) {
    return OpensslError(absl::StatusCode::kInvalidArgument,
                        absl::StrCat(context, ": its extensions do not decode"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<X509Ptr>> ReadCaFile(const std::string& path) {
  GH_ASSIGN_OR_RETURN(const std::string contents, ReadWholeFile("CA", path));
  GH_ASSIGN_OR_RETURN(const std::vector<PemBlock> blocks, SplitPemBlocks("CA", path, contents));
  std::vector<X509Ptr> certificates;
  for (size_t i = 0; i < blocks.size(); ++i) {
    const std::string context = absl::StrCat("CA file ", path, ": PEM block ", i + 1);
    const PemBlock& block = blocks[i];
    X509Ptr certificate;
    if (block.name == PEM_STRING_X509 || block.name == PEM_STRING_X509_OLD) {
      GH_ASSIGN_OR_RETURN(certificate, DecodeBlock<X509Ptr>(block, d2i_X509, context));
    } else if (block.name == PEM_STRING_X509_TRUSTED) {
      GH_ASSIGN_OR_RETURN(certificate, DecodeBlock<X509Ptr>(block, d2i_X509_AUX, context));
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          context, " is a \"", base::EscapeForLog(block.name), "\", not a CERTIFICATE"));
    }
    GH_RETURN_IF_ERROR(CacheExtensions(certificate.get(), context));
    certificates.push_back(std::move(certificate));
  }
  return certificates;
}

absl::StatusOr<std::vector<X509CrlPtr>> ReadCrlFile(const std::string& path) {
  GH_ASSIGN_OR_RETURN(const std::string contents, ReadWholeFile("CRL", path));
  GH_ASSIGN_OR_RETURN(const std::vector<PemBlock> blocks, SplitPemBlocks("CRL", path, contents));
  std::vector<X509CrlPtr> crls;
  for (size_t i = 0; i < blocks.size(); ++i) {
    const std::string context = absl::StrCat("CRL file ", path, ": PEM block ", i + 1);
    if (blocks[i].name != PEM_STRING_X509_CRL) {
      return absl::InvalidArgumentError(absl::StrCat(
          context, " is a \"", base::EscapeForLog(blocks[i].name), "\", not an X509 CRL"));
    }
    GH_ASSIGN_OR_RETURN(X509CrlPtr crl, DecodeBlock<X509CrlPtr>(blocks[i], d2i_X509_CRL, context));
    crls.push_back(std::move(crl));
  }
  return crls;
}

std::string NameText(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) return "?";
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);  // NOLINT(google-runtime-int)
  return base::EscapeForLog(absl::string_view(data, static_cast<size_t>(length)));
}

std::optional<std::chrono::system_clock::time_point> ToTimePoint(const ASN1_TIME* time) {
  std::tm parts{};
  if (time == nullptr || ASN1_TIME_to_tm(time, &parts) != 1) return std::nullopt;
  return std::chrono::system_clock::from_time_t(::timegm(&parts));
}

// "2025-03-01T12:00:00Z".
std::string FormatUtc(std::chrono::system_clock::time_point time) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(time);
  std::tm parts{};
  ::gmtime_r(&seconds, &parts);
  std::array<char, 32> text{};
  const size_t length = std::strftime(text.data(), text.size(), "%Y-%m-%dT%H:%M:%SZ", &parts);
  return {text.data(), length};
}

// With CRL_CHECK_ALL, OpenSSL checks each chain certificate, the trust anchor included, against
// a CRL from its issuer, and refuses the peer when there is none. So a CA in `ca_file` without a
// CRL would refuse every peer it issued, at handshake time and with nothing in our logs; here it
// is a load error that names the CA. A CRL with a CA's name but another key's signature would
// fail every handshake the same way (X509_V_ERR_CRL_SIGNATURE_FAILURE). A CRL whose issuer is not
// in `ca_file` passes: it may belong to an intermediate that peers send with their certificate.
absl::Status CheckEveryCaHasCrl(const std::vector<X509Ptr>& cas,
                                const std::vector<X509CrlPtr>& crls, const TlsFiles& files) {
  for (const X509CrlPtr& crl : crls) {
    const X509_NAME* issuer = X509_CRL_get_issuer(crl.get());
    bool has_named_ca = false;
    bool is_signed_by_it = false;
    for (const X509Ptr& ca : cas) {
      if (X509_NAME_cmp(issuer, X509_get_subject_name(ca.get())) != 0) continue;
      has_named_ca = true;
      EVP_PKEY* key = X509_get0_pubkey(ca.get());
      if (key != nullptr && X509_CRL_verify(crl.get(), key) == 1) is_signed_by_it = true;
    }
    ERR_clear_error();  // X509_CRL_verify failures for a same-named CA with another key.
    if (has_named_ca && !is_signed_by_it) {
      return absl::InvalidArgumentError(
          absl::StrCat("CRL file ", files.crl_file, ": the CRL from \"", NameText(issuer),
                       "\" is not signed by that CA's key in ", files.ca_file));
    }
  }
  for (const X509Ptr& ca : cas) {
    const X509_NAME* subject = X509_get_subject_name(ca.get());
    bool has_crl = false;
    for (const X509CrlPtr& crl : crls) {
      if (X509_NAME_cmp(X509_CRL_get_issuer(crl.get()), subject) == 0) has_crl = true;
    }
    if (!has_crl) {
      return absl::InvalidArgumentError(
          absl::StrCat("CRL file ", files.crl_file, ": no CRL from CA \"", NameText(subject),
                       "\" of ", files.ca_file,
                       "; revocation is checked for every certificate in a chain, so every CA "
                       "needs a CRL (concatenate them in one file)"));
    }
  }
  return absl::OkStatus();
}

// OpenSSL refuses every chain a CRL covers while the CRL is not yet valid or has expired, and
// says so only in each handshake's verify result. A warning when the file is loaded is the first
// sign an operator gets; CrlNextUpdate() lets the daemon export the deadline.
void WarnAboutCrlValidity(const std::vector<X509CrlPtr>& crls, const std::string& crl_file) {
  const auto now = std::chrono::system_clock::now();
  for (const X509CrlPtr& crl : crls) {
    const std::string issuer = NameText(X509_CRL_get_issuer(crl.get()));
    const auto last_update = ToTimePoint(X509_CRL_get0_lastUpdate(crl.get()));
    if (last_update.has_value() && *last_update > now) {
      spdlog::warn(
          "CRL file {}: the CRL from \"{}\" is not valid until {}; until then every peer whose "
          "chain it covers is refused",
          crl_file, issuer, FormatUtc(*last_update));
    }
    const auto next_update = ToTimePoint(X509_CRL_get0_nextUpdate(crl.get()));
    if (!next_update.has_value()) continue;
    if (*next_update <= now) {
      spdlog::warn(
          "CRL file {}: the CRL from \"{}\" expired at {} (nextUpdate); every peer whose chain "
          "it covers is refused until a current CRL is loaded",
          crl_file, issuer, FormatUtc(*next_update));
    } else if (*next_update - now < kCrlExpiryWarning) {
      spdlog::warn(
          "CRL file {}: the CRL from \"{}\" expires at {} (nextUpdate), in less than {} hours; "
          "after that every peer whose chain it covers is refused until a current CRL is loaded",
          crl_file, issuer, FormatUtc(*next_update), kCrlExpiryWarning.count());
    }
  }
}

absl::Status LoadCrls(SSL_CTX* ctx, const std::vector<X509Ptr>& cas, const TlsFiles& files) {
  GH_ASSIGN_OR_RETURN(const std::vector<X509CrlPtr> crls, ReadCrlFile(files.crl_file));
  for (const X509CrlPtr& crl : crls) {
    // X509_CRL_get0_nextUpdate may be absent (the CRL never expires), but a field that is there
    // must parse, or OpenSSL refuses every peer with X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD.
    const ASN1_TIME* next_update = X509_CRL_get0_nextUpdate(crl.get());
    if (!ToTimePoint(X509_CRL_get0_lastUpdate(crl.get())).has_value() ||
        (next_update != nullptr && !ToTimePoint(next_update).has_value())) {
      return absl::InvalidArgumentError(
          absl::StrCat("CRL file ", files.crl_file, ": the CRL from \"",
                       NameText(X509_CRL_get_issuer(crl.get())), "\" has a malformed date"));
    }
  }
  GH_RETURN_IF_ERROR(CheckEveryCaHasCrl(cas, crls, files));
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  for (const X509CrlPtr& crl : crls) {
    if (X509_STORE_add_crl(store, crl.get()) != 1) {
      return OpensslError(absl::StatusCode::kInvalidArgument, "add CRL from " + files.crl_file);
    }
  }
  WarnAboutCrlValidity(crls, files.crl_file);
  X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
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

// Without a chain of its own, OpenSSL builds the one it sends on every handshake, verifying our
// certificate against the trust store each time (a signature check per handshake). Building it
// once here fixes it: the file's intermediates, completed from the trust store where they fall
// short, without the root the peer already holds. A certificate whose issuers are nowhere to be
// found keeps what the file gave, as the per-handshake build would.
absl::Status FixOwnChain(SSL_CTX* ctx, const TlsFiles& files) {
  const std::string context = "certificate chain " + files.cert_file;
  if (SSL_CTX_build_cert_chain(ctx, SSL_BUILD_CHAIN_FLAG_UNTRUSTED | SSL_BUILD_CHAIN_FLAG_NO_ROOT |
                                        SSL_BUILD_CHAIN_FLAG_IGNORE_ERROR |
                                        SSL_BUILD_CHAIN_FLAG_CLEAR_ERROR) == 0) {
    return OpensslError(absl::StatusCode::kInvalidArgument, "build " + context);
  }
  GH_RETURN_IF_ERROR(CacheExtensions(SSL_CTX_get0_certificate(ctx), context));
  STACK_OF(X509)* chain = nullptr;
  SSL_CTX_get0_chain_certs(ctx, &chain);
  for (int i = 0; i < sk_X509_num(chain); ++i) {
    GH_RETURN_IF_ERROR(CacheExtensions(sk_X509_value(chain, i), context));
  }
  return absl::OkStatus();
}

absl::Status LoadTrust(SSL_CTX* ctx, TlsRole role, const TlsFiles& files) {
  // One read of the CA file serves the trust store, the CA names sent to clients and the CRL
  // check, so a file replaced during a reload cannot give them different contents.
  GH_ASSIGN_OR_RETURN(const std::vector<X509Ptr> cas, ReadCaFile(files.ca_file));
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  for (const X509Ptr& ca : cas) {
    if (X509_STORE_add_cert(store, ca.get()) != 1) {
      return OpensslError(absl::StatusCode::kInvalidArgument, "add CA from " + files.ca_file);
    }
  }
  if (role == TlsRole::kServer) {
    // Tells clients which CA we accept, so one holding several certificates picks the right one.
    for (const X509Ptr& ca : cas) {
      if (SSL_CTX_add_client_CA(ctx, ca.get()) != 1) {
        return OpensslError(absl::StatusCode::kInvalidArgument,
                            "add CA name from " + files.ca_file);
      }
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                       VerifyLeafExtendedKeyUsage<XKU_SSL_CLIENT>);
    SSL_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, VerifyLeafExtendedKeyUsage<XKU_SSL_SERVER>);
    SSL_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
  }
  SSL_CTX_set_verify_depth(ctx, kMaxChainDepth);
  if (!files.crl_file.empty()) GH_RETURN_IF_ERROR(LoadCrls(ctx, cas, files));
  return absl::OkStatus();
}

// ALPN for an HTTP/2 server: "h2" or nothing.
int SelectHttp2(SSL* /*ssl*/, const unsigned char** out, unsigned char* out_length,
                const unsigned char* offered, unsigned int offered_length, void* /*arg*/) {
  static constexpr unsigned char kHttp2[] = {2, 'h', '2'};
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, out_length, kHttp2, sizeof(kHttp2), offered,
                            offered_length) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace

absl::StatusOr<SslCtxPtr> BuildTlsContext(TlsRole role, const TlsFiles& files) {
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(role == TlsRole::kServer ? TLS_server_method() : TLS_client_method()));
  if (!ctx) return OpensslError(absl::StatusCode::kInternal, "create TLS context");
  GH_RETURN_IF_ERROR(ApplyProtocolPolicy(ctx.get()));
  // A client may go without a certificate of its own (for servers that ask for none); a server
  // never does.
  const bool has_own_certificate =
      role == TlsRole::kServer || !files.cert_file.empty() || !files.key_file.empty();
  if (has_own_certificate) GH_RETURN_IF_ERROR(LoadOwnCertificate(ctx.get(), files));
  GH_RETURN_IF_ERROR(LoadTrust(ctx.get(), role, files));
  if (has_own_certificate) GH_RETURN_IF_ERROR(FixOwnChain(ctx.get(), files));
  if (role == TlsRole::kServer && files.alpn_h2) {
    SSL_CTX_set_alpn_select_cb(ctx.get(), SelectHttp2, nullptr);
  }
  if (role == TlsRole::kServer) {
    SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx.get(), SSL_OP_NO_TICKET);
    if (SSL_CTX_set_num_tickets(ctx.get(), 0) != 1) {
      return OpensslError(absl::StatusCode::kInternal, "disable session tickets");
    }
  }
  return ctx;
}

std::optional<std::chrono::system_clock::time_point> CrlNextUpdate(const SSL_CTX* ctx) {
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  if (store == nullptr) return std::nullopt;
  std::optional<std::chrono::system_clock::time_point> earliest;
  // The store is not changed after BuildTlsContext (no lookup methods that would cache into it),
  // but its lock is what OpenSSL's own readers take, so take it too.
  X509_STORE_lock(store);
  const STACK_OF(X509_OBJECT)* objects = X509_STORE_get0_objects(store);
  for (int i = 0; i < sk_X509_OBJECT_num(objects); ++i) {
    const X509_OBJECT* object = sk_X509_OBJECT_value(objects, i);
    if (X509_OBJECT_get_type(object) != X509_LU_CRL) continue;
    const auto next_update =
        ToTimePoint(X509_CRL_get0_nextUpdate(X509_OBJECT_get0_X509_CRL(object)));
    if (next_update.has_value() && (!earliest.has_value() || *next_update < *earliest)) {
      earliest = next_update;
    }
  }
  X509_STORE_unlock(store);
  return earliest;
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
