// PeerIdentities: who is on the other end of each gRPC connection of the job API.
//
// The job API's TLS is terminated by TlsFront with the security core (gRPC 1.51 cannot be told
// to speak TLS 1.3 only, see RFD 0001 section 4), which hands each authenticated connection to
// the in-process gRPC server as one end of a socketpair. gRPC names such a connection's peer
// "fd:N"; this registry maps that name to the identity the client certificate gave. The front
// registers a connection before gRPC can see it, and replaces an entry when the kernel reuses a
// descriptor number, which it can only do once gRPC has closed the previous connection on it.
//
// Thread-safe.
#ifndef GATEHOUSE_API_PEER_IDENTITIES_H_
#define GATEHOUSE_API_PEER_IDENTITIES_H_

#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "base/mutex.h"
#include "security/identity.h"

namespace gatehouse::api {

class PeerIdentities {
 public:
  // The peer name gRPC gives a connection added from descriptor `fd`.
  static std::string PeerNameOfFd(int fd);

  void Register(const std::string& peer, security::Identity identity);
  // The identity of `peer` (ServerContext::peer()); empty for a peer nobody registered.
  std::optional<security::Identity> Find(const std::string& peer) const;
  size_t size() const;

 private:
  mutable base::Mutex mu_;
  absl::flat_hash_map<std::string, security::Identity> identities_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gatehouse::api

#endif  // GATEHOUSE_API_PEER_IDENTITIES_H_
