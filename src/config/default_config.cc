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
  jobs:
    start:
      roles: [admin, dev]
)yaml";

}  // namespace

absl::string_view EmbeddedDefaultConfig() { return kDefaultConfig; }

}  // namespace gatehouse::config
