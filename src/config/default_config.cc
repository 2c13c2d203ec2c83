#include "config/default_config.h"

namespace gatehouse::config {
namespace {

constexpr absl::string_view kDefaultConfig =
    R"yaml(# Gatehouse embedded default: loopback only, dev PKI created on first start.
log:
  format: text
  level: info
dev_pki:
  dir: ./.gatehouse/pki
admin:
  listen: 127.0.0.1:9901
authorization:
  admin_role: admin
  apps:
    # Any certificate of this dev PKI with role dev, e.g. from
    # `gatehouse certs issue --dir .gatehouse/pki --name alice --role dev`.
    example:
      roles: [dev]
    notes:
      roles: [admin, dev]
  jobs:
    start:
      roles: [admin, dev]
lb:
  workers: 1
  apps:
    # mTLS on 127.0.0.1:8443, forwarded to whatever serves 127.0.0.1:8080
    # (try `python3 -m http.server 8080 --bind 127.0.0.1`).
    - name: example
      listen: [127.0.0.1:8443]
      upstreams: [127.0.0.1:8080]
      balancing: least_connections
    # Scale to zero (as root): the first connection to 127.0.0.1:8444 starts python3's
    # http.server as a job, in its own namespaces and cgroup, and forwards to it on the job's
    # own loopback; after 2 minutes without a connection the job is stopped. Try
    # `curl --cacert .gatehouse/pki/ca.pem --cert .gatehouse/pki/admin.pem
    #  --key .gatehouse/pki/admin.key https://localhost:8444/`, then `gatehouse ls`.
    - name: notes
      listen: [127.0.0.1:8444]
      launch:
        command: [/usr/bin/python3, -m, http.server, --bind, 127.0.0.1, "8080"]
        port: 8080
        limits: {cpu: 0.5, memory: 256MiB, pids: 64}
        working_dir: /usr/share/doc
        ready_timeout: 5s
        idle_timeout: 2m
jobs:
  # The job API (mutual TLS 1.3). After `make run`, in a second terminal:
  # `./build/release/bin/gatehouse run --follow -- uname -a` (the CLI finds the dev PKI's admin
  # certificate under ./.gatehouse/pki).
  listen: 127.0.0.1:7443
  state_dir: ./.gatehouse/state
)yaml";

}  // namespace

absl::string_view EmbeddedDefaultConfig() { return kDefaultConfig; }

}  // namespace gatehouse::config
