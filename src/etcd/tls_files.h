// TlsFiles: the PEM files an etcd client presents and trusts (mutual TLS). Part of the public API
// of `gatehouse::etcd`, kept in its own header so the transport can use it without the client.
#ifndef GATEHOUSE_ETCD_TLS_FILES_H_
#define GATEHOUSE_ETCD_TLS_FILES_H_

#include <string>

namespace gatehouse::etcd {

// All three are required: `ca_file` is the CA that signed etcd's server certificate (the peer and
// its host name are always verified); `cert_file` and `key_file` are this client's certificate
// chain and private key, which etcd started with `--client-cert-auth` checks.
struct TlsFiles {
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
};

}  // namespace gatehouse::etcd

#endif  // GATEHOUSE_ETCD_TLS_FILES_H_
