// EtcdServer: a single-member etcd 3.4 (/usr/bin/etcd) for integration tests, serving clients on
// https://127.0.0.1:PORT with mutual TLS (--client-cert-auth) and peers on plain loopback HTTP,
// with its data in a private temporary directory. It can be stopped, killed and started again on
// the same ports and data, to test clients across an etcd restart. Thread-compatible.
#ifndef GATEHOUSE_TESTS_TESTING_ETCD_SERVER_H_
#define GATEHOUSE_TESTS_TESTING_ETCD_SERVER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "security/tls_context.h"
#include "testing/subprocess.h"
#include "testing/temp_dir.h"
#include "testing/test_pki.h"

namespace gatehouse::testing {

class EtcdServer {
 public:
  // Starts etcd with certificates from `pki` (borrowed: it must outlive the server) and waits
  // until it serves clients; fails the current test if it does not (see `running()`).
  explicit EtcdServer(TestPki& pki);
  // The same with a TestPki of its own.
  EtcdServer();
  EtcdServer(const EtcdServer&) = delete;
  EtcdServer& operator=(const EtcdServer&) = delete;
  EtcdServer(EtcdServer&&) = delete;
  EtcdServer& operator=(EtcdServer&&) = delete;
  // Kills it if still running.
  ~EtcdServer();

  // "https://127.0.0.1:PORT".
  std::string endpoint() const;
  uint16_t client_port() const { return client_port_; }
  const std::string& ca_file() const { return pki_.ca_file(); }
  // A client certificate that etcd accepts (issued once by the PKI).
  const security::TlsFiles& client_files() const { return client_files_; }
  TestPki& pki() { return pki_; }
  bool running() const { return process_ != nullptr; }

  // Starts etcd again on the same ports and data dir and waits until it serves; fails the current
  // test if it does not. No-op when running.
  void Start();
  // SIGTERM, then waits for it to exit (SIGKILL after 10 s).
  void Stop();
  // SIGKILL and reap.
  void Kill();

  // Runs etcdctl against this server with the client certificate (e.g. {"compact", "5"}).
  ProcessResult Etcdctl(const std::vector<std::string>& args) const;

 private:
  // Issues the certificates and starts etcd on free ports.
  void Init();
  // Starts etcd and waits until ready; false (output in `last_output_`) if it did not come up.
  bool Launch();

  std::unique_ptr<TestPki> own_pki_;  // Declared before `pki_`, which may refer to it.
  TestPki& pki_;
  TempDir dir_;
  security::TlsFiles server_files_;
  security::TlsFiles client_files_;
  uint16_t client_port_ = 0;
  uint16_t peer_port_ = 0;
  std::unique_ptr<ChildProcess> process_;
  std::string last_output_;
};

}  // namespace gatehouse::testing

#endif  // GATEHOUSE_TESTS_TESTING_ETCD_SERVER_H_
