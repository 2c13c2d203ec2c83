#include "testing/etcd_server.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <csignal>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/unique_fd.h"
#include "gtest/gtest.h"
#include "testing/loopback.h"

namespace gatehouse::testing {
namespace {

constexpr char kEtcd[] = "/usr/bin/etcd";
constexpr char kEtcdctl[] = "/usr/bin/etcdctl";
constexpr char kReady[] = "ready to serve client requests";
// Sanitizer builds under load are slow: a deadline for a broken etcd, not a wait.
constexpr std::chrono::seconds kStartTimeout(30);

// A port that was free a moment ago: bind port 0, read it, close. Another process may take it
// before etcd binds it, so the first start retries with new ports.
uint16_t PickFreePort() {
  const base::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.is_valid()) return 0;
  sockaddr_in address = LoopbackAddress(0);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) return 0;
  socklen_t length = sizeof(address);
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0) return 0;
  return ntohs(address.sin_port);
}

}  // namespace

EtcdServer::EtcdServer() : own_pki_(std::make_unique<TestPki>()), pki_(*own_pki_) { Init(); }

EtcdServer::EtcdServer(TestPki& pki) : pki_(pki) { Init(); }

void EtcdServer::Init() {
  // etcd's JSON gateway dials etcd's own gRPC port presenting the server certificate as a client
  // certificate, so with --client-cert-auth that certificate needs clientAuth too.
  TestCertOptions server;
  server.extended_key_usages = {"serverAuth", "clientAuth"};
  server.dns_names = {"localhost"};
  server.ip_addresses = {"127.0.0.1", "::1"};
  server_files_ = pki_.IssueServer("etcd-server", server);
  client_files_ = pki_.IssueClient("etcd-client");
  for (int attempt = 0; attempt < 5; ++attempt) {
    client_port_ = PickFreePort();
    peer_port_ = PickFreePort();
    if (client_port_ == 0 || peer_port_ == 0 || client_port_ == peer_port_) continue;
    if (Launch()) return;
    // Only a lost race for a port is worth another try.
    if (last_output_.find("address already in use") == std::string::npos) break;
  }
  ADD_FAILURE() << "etcd did not start:\n" << last_output_;
}

EtcdServer::~EtcdServer() { Kill(); }

std::string EtcdServer::endpoint() const {
  return absl::StrCat("https://127.0.0.1:", client_port_);
}

bool EtcdServer::Launch() {
  const std::string client_url = endpoint();
  const std::string peer_url = absl::StrCat("http://127.0.0.1:", peer_port_);
  const std::vector<std::string> argv = {
      kEtcd,
      "--name=test",
      "--data-dir=" + dir_.File("data"),
      "--listen-client-urls=" + client_url,
      "--advertise-client-urls=" + client_url,
      "--listen-peer-urls=" + peer_url,
      "--initial-advertise-peer-urls=" + peer_url,
      "--initial-cluster=test=" + peer_url,
      "--client-cert-auth",
      "--trusted-ca-file=" + pki_.ca_file(),
      "--cert-file=" + server_files_.cert_file,
      "--key-file=" + server_files_.key_file,
      // A lone member elects itself after one election timeout (1 s by default); short timers
      // make starts and restarts quick. Loopback has no latency to tolerate.
      "--heartbeat-interval=10",
      "--election-timeout=100",
  };
  process_ = std::make_unique<ChildProcess>(argv, dir_.path().string());
  if (process_->WaitForOutput(kReady, kStartTimeout)) return true;
  last_output_ = process_->output();
  process_.reset();  // Kills and reaps.
  return false;
}

void EtcdServer::Start() {
  if (running()) return;
  if (!Launch()) ADD_FAILURE() << "etcd did not start again:\n" << last_output_;
}

void EtcdServer::Stop() {
  if (!running()) return;
  process_->Signal(SIGTERM);
  const ProcessResult result = process_->WaitForExit(std::chrono::seconds(10));
  if (result.timed_out) {
    process_->Signal(SIGKILL);
    static_cast<void>(process_->WaitForExit(std::chrono::seconds(10)));
  }
  process_.reset();
}

void EtcdServer::Kill() {
  if (!running()) return;
  process_->Signal(SIGKILL);
  static_cast<void>(process_->WaitForExit(std::chrono::seconds(10)));
  process_.reset();
}

ProcessResult EtcdServer::Etcdctl(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {kEtcdctl,
                                   "--endpoints=" + endpoint(),
                                   "--cacert=" + pki_.ca_file(),
                                   "--cert=" + client_files_.cert_file,
                                   "--key=" + client_files_.key_file,
                                   "--command-timeout=5s"};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunProcess(argv, "", std::chrono::seconds(15));
}

}  // namespace gatehouse::testing
