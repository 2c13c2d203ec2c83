#include "security/tls_credentials.h"

#include <utility>

namespace gatehouse::security {
namespace {

std::shared_ptr<SSL_CTX> Share(SslCtxPtr ctx) {
  return {ctx.release(), OpensslDeleter<SSL_CTX_free>()};
}

}  // namespace

TlsCredentials::TlsCredentials(TlsRole role, TlsFiles files, std::shared_ptr<SSL_CTX> ctx)
    : role_(role), files_(std::move(files)), current_(std::move(ctx)) {}

absl::StatusOr<std::unique_ptr<TlsCredentials>> TlsCredentials::Load(TlsRole role, TlsFiles files) {
  auto ctx = BuildTlsContext(role, files);
  if (!ctx.ok()) return ctx.status();
  return std::unique_ptr<TlsCredentials>(
      new TlsCredentials(role, std::move(files), Share(*std::move(ctx))));
}

std::shared_ptr<SSL_CTX> TlsCredentials::Current() const {
  base::MutexLock lock(&mu_);
  return current_;
}

std::optional<std::chrono::system_clock::time_point> TlsCredentials::CrlNextUpdate() const {
  // Read from a reference taken under the lock; the walk over the CRLs happens outside it.
  const std::shared_ptr<SSL_CTX> current = Current();
  return security::CrlNextUpdate(current.get());
}

bool TlsCredentials::IsCrlExpired(std::chrono::system_clock::time_point now) const {
  // OpenSSL counts a nextUpdate equal to the verification time as expired (X509_cmp_time).
  const auto next_update = CrlNextUpdate();
  return next_update.has_value() && *next_update <= now;
}

absl::Status TlsCredentials::Reload() {
  TlsFiles files;
  {
    base::MutexLock lock(&mu_);
    files = files_;
  }
  return Reload(std::move(files));
}

absl::Status TlsCredentials::Reload(TlsFiles files) {
  // Built outside the lock: reading files is I/O, and Current() must not wait on it.
  auto ctx = BuildTlsContext(role_, files);
  if (!ctx.ok()) return ctx.status();
  std::shared_ptr<SSL_CTX> fresh = Share(*std::move(ctx));
  base::MutexLock lock(&mu_);
  files_ = std::move(files);
  current_.swap(fresh);
  // `fresh` now holds the old context; it is freed after the lock, when the last user lets go.
  return absl::OkStatus();
}

}  // namespace gatehouse::security
