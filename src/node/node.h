// Node: one running `gatehoused`: the services its Config asks for, wired together, and their
// reload and shutdown. apps/gatehoused parses flags and signals and drives a Node; everything
// else the daemon does is here, where tests can reach it.
//
// What a Node owns: the server TLS credentials (from `tls`, or a dev PKI it creates on first
// start), the authorization policy, the metrics registry, the admin endpoint and, when the
// config has an `lb` section, the load balancer service (lbserver::LbServer). The job service
// hooks into Start, Reload and Stop when it arrives.
//
// Thread-safe: Reload and Stop may be called from any thread; policy() may race with Reload.
#ifndef GATEHOUSE_NODE_NODE_H_
#define GATEHOUSE_NODE_NODE_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "admin/admin_server.h"
#include "api/job_api.h"
#include "base/metrics.h"
#include "base/mutex.h"
#include "config/config.h"
#include "lbserver/lb_server.h"
#include "security/policy.h"
#include "security/tls_credentials.h"
#include "upgrade/handoff.h"

namespace gatehouse::node {

// The server TLS files a config names: `tls` as given, or the dev PKI's CA and server files.
security::TlsFiles ServerTlsFiles(const config::Config& config);

// Checks everything Start would need without starting anything or writing files: the policy
// and, for `tls`, that the certificate files load. (A dev PKI is checked only if it exists.)
absl::Status Validate(const config::Config& config);

// How a node starts: afresh, or as the successor of a binary upgrade (RFD 0003 section 5).
struct StartContext {
  // Listening sockets the predecessor handed over, by the names ListenerDescriptors gives.
  upgrade::ListenerSockets inherited;
  // The predecessor still runs, with its jobs: the job runner leaves their cgroups alone.
  bool is_successor = false;
};

class Node {
 public:
  // Creates the dev PKI if the config asks for one and it does not exist yet, loads TLS
  // credentials, builds the policy and starts the admin endpoint. On any error nothing keeps
  // running and the status says what failed.
  static absl::StatusOr<std::unique_ptr<Node>> Start(const config::Config& config,
                                                     StartContext context = {});

  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  Node(Node&&) = delete;
  Node& operator=(Node&&) = delete;
  ~Node();

  // Applies a freshly loaded config to what can change live (TLS files and their contents,
  // policy, the load balancer's apps, listeners and limits). `loaded` is the result of loading it,
  // so that a file that did not even parse is counted as a failed reload too. Either all of it
  // applies or, on error, none of it: the running config stays and the error says why. Settings
  // that need a restart (admin.listen) are logged as not applied.
  absl::Status Reload(const absl::StatusOr<config::Config>& loaded);

  // Stops serving: /readyz answers 503 first, the load balancer stops accepting and drains its
  // connections for up to lb.drain_timeout, then everything shuts down. Idempotent.
  void Stop();

  // Every listening socket (borrowed), by name: "admin", "jobs", and "lb:" + the load
  // balancer's listener key; for a binary upgrade's successor. Call on the thread that reloads.
  std::map<std::string, std::vector<int>> ListenerDescriptors() const;
  // Stop, once a binary upgrade's successor serves the same sockets: the admin endpoint and the
  // job API stop accepting at once (the successor answers there now), then Stop().
  void StopAfterHandover();

  uint16_t admin_port() const { return admin_->port(); }
  std::shared_ptr<const security::AuthorizationPolicy> policy() const;
  const security::TlsCredentials& server_credentials() const { return *credentials_; }
  base::MetricsRegistry& metrics() { return metrics_; }
  // The load balancer service; null when the config has no `lb` section.
  lbserver::LbServer* lb() const { return lb_.get(); }
  // The job worker service; null without a `jobs` section (or when not root, see Start).
  api::JobApi* jobs() const { return jobs_.get(); }

 private:
  Node() = default;

  base::MetricsRegistry metrics_;
  std::unique_ptr<security::TlsCredentials> credentials_;
  std::unique_ptr<admin::AdminServer> admin_;
  std::unique_ptr<lbserver::LbServer> lb_;
  std::unique_ptr<api::JobApi> jobs_;
  config::JobsConfig jobs_started_with_;  // what the running job service was started with
  std::chrono::nanoseconds drain_timeout_{0};
  config::Address admin_listen_;
  std::atomic<bool> is_ready_{false};
  std::atomic<bool> is_stopped_{false};
  // Publishes the CRL's nextUpdate and whether it has passed, at every scrape.
  std::shared_ptr<const std::function<void()>> crl_collector_;
  base::Counter* reloads_ok_ = nullptr;
  base::Counter* reloads_failed_ = nullptr;

  mutable base::Mutex mu_;
  std::shared_ptr<const security::AuthorizationPolicy> policy_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gatehouse::node

#endif  // GATEHOUSE_NODE_NODE_H_
