// TlsCredentials: the live TLS context of a server or client, reloadable without restart.
//
// Current() hands out the context to use for the next connection. Reload() builds a complete
// new context from the files; only when that succeeds does it replace the current one. A reload
// with a bad file keeps the old context and returns why. Connections already made keep the
// context they started with (each SSL holds its own reference).
// Thread-safe: Current() and Reload() may race; the lock covers only a pointer swap, never I/O.
#ifndef GATEHOUSE_SECURITY_TLS_CREDENTIALS_H_
#define GATEHOUSE_SECURITY_TLS_CREDENTIALS_H_

#include <chrono>
#include <memory>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "base/mutex.h"
#include "security/tls_context.h"

namespace gatehouse::security {

class TlsCredentials {
 public:
  // Builds the first context. Fails as BuildTlsContext does.
  static absl::StatusOr<std::unique_ptr<TlsCredentials>> Load(TlsRole role, TlsFiles files);

  TlsCredentials(const TlsCredentials&) = delete;
  TlsCredentials& operator=(const TlsCredentials&) = delete;
  TlsCredentials(TlsCredentials&&) = delete;
  TlsCredentials& operator=(TlsCredentials&&) = delete;
  ~TlsCredentials() = default;

  // The context for new connections. Never null.
  std::shared_ptr<SSL_CTX> Current() const;

  // CrlNextUpdate() of the current context: when its CRLs stop being usable. Empty without a
  // CRL file or when no CRL carries a nextUpdate. Past this instant OpenSSL refuses every peer
  // whose chain an expired CRL covers, until Reload() loads a newer CRL; for /metrics, e.g. as
  // `gatehouse_tls_crl_next_update_seconds` (Unix seconds) so an alert can fire before it.
  std::optional<std::chrono::system_clock::time_point> CrlNextUpdate() const;
  // True when the current context has a CRL whose nextUpdate is at or before `now`, that is when
  // handshakes are failing with X509_V_ERR_CRL_HAS_EXPIRED.
  bool IsCrlExpired(std::chrono::system_clock::time_point now) const;

  // Re-reads the same files.
  absl::Status Reload();
  // Reads `files` instead (a config reload may move them); on success they become the files.
  absl::Status Reload(TlsFiles files);

 private:
  TlsCredentials(TlsRole role, TlsFiles files, std::shared_ptr<SSL_CTX> ctx);

  const TlsRole role_;
  mutable base::Mutex mu_;
  TlsFiles files_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<SSL_CTX> current_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gatehouse::security

#endif  // GATEHOUSE_SECURITY_TLS_CREDENTIALS_H_
