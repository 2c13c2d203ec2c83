#include "api/peer_identities.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace gatehouse::api {

std::string PeerIdentities::PeerNameOfFd(int fd) { return absl::StrCat("fd:", fd); }

void PeerIdentities::Register(const std::string& peer, security::Identity identity) {
  base::MutexLock lock(&mu_);
  identities_[peer] = std::move(identity);
}

std::optional<security::Identity> PeerIdentities::Find(const std::string& peer) const {
  base::MutexLock lock(&mu_);
  const auto it = identities_.find(peer);
  if (it == identities_.end()) return std::nullopt;
  return it->second;
}

size_t PeerIdentities::size() const {
  base::MutexLock lock(&mu_);
  return identities_.size();
}

}  // namespace gatehouse::api
