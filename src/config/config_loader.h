// Strict loading of the `gatehoused` YAML config file into config::Config (config.h).
//
// Schema (every key optional unless noted; exactly one of `tls` and `dev_pki` must be set):
//
//   log:   {format: text|json, level: trace|debug|info|warn|error|critical|off}
//   tls:   {ca: PATH, cert: PATH, key: PATH, crl: PATH}   # ca, cert, key required
//   dev_pki: {dir: PATH}                                  # dir required
//   admin: {listen: ADDRESS}                              # "127.0.0.1:9901", "[::1]:9901"
//   authorization:
//     admin_role: NAME                                    # default "admin"
//     apps:                                               # app name -> who may use it
//       web: {users: [alice, "*"], roles: [dev]}
//     jobs:
//       start: {users: [...], roles: [...]}               # who may start jobs
//   lb: {...}                                             # see internal/lb_section.h
//   jobs: {...}                                           # see internal/jobs_section.h
//   global_rate_limits: {...}                             # see internal/cluster_sections.h
//   config_source: {etcd: {...}}                          # see internal/cluster_sections.h
//
// A file with `config_source` holds nothing else but `log`: the document it names (in etcd) is
// the config, parsed with ParseConfig, and may not have a `config_source` of its own. An app
// with `rate_limit: {scope: global}` needs `global_rate_limits`.
//
// docs/config.md documents every key with its type and default. Every key of
// `authorization.apps` must name an app of `lb.apps`; an app with `tls: none` admits only
// `users: ["*"]`. An lb app with a `launch` needs the `jobs` section: its limits may not exceed
// `jobs.max_limits`, and those it leaves out are filled from `jobs.default_limits`. LoadConfigFile
// resolves relative paths (tls files, dev_pki.dir) against the directory of the config file;
// ParseConfig leaves them as written (relative to the working directory), which is what the
// embedded default wants.
//
// Strict means a typo is an error, never a silently ignored setting: unknown and repeated keys,
// wrong node kinds, empty names and paths, repeated list entries, "*" as a role, a document that
// is empty or not a mapping, and more than one document are all rejected. Every error is
// InvalidArgument "<source>:<line>:<column>: <what>" (1-based) pointing at the offending node and
// naming its dotted path, e.g. `gh.yaml:4:3: unknown key "listn" in admin; expected one of:
// listen`. The loader checks form only: it does not open the PEM files or the PKI directory.
// Stateless and thread-safe.
#ifndef GATEHOUSE_CONFIG_CONFIG_LOADER_H_
#define GATEHOUSE_CONFIG_CONFIG_LOADER_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "config/config.h"

namespace gatehouse::config {

// Files larger than this are rejected before parsing: a config is a few KiB, and the limit
// keeps a wrong path (a log, a device) from being read whole into memory.
inline constexpr uint64_t kMaxConfigFileBytes = uint64_t{1} << 20;

// Reads the file at `path` whole, with the errors LoadConfigFile gives for it (the size limit
// included), without parsing it.
absl::StatusOr<std::string> ReadConfigFileText(const std::string& path);

// Reads and parses the file at `path`; errors carry `path` as their source name. A file that
// cannot be opened or read gives the errno-derived status (NotFound, PermissionDenied, ...)
// with a message naming `path`; a file larger than kMaxConfigFileBytes is InvalidArgument.
absl::StatusOr<Config> LoadConfigFile(const std::string& path);

// InvalidArgument naming the first relative file or directory path in `config`, which
// `source_name` starts: a document from etcd has no directory of its own to resolve them
// against, and the daemon's working directory differs between nodes.
absl::Status RequireAbsolutePaths(const Config& config, absl::string_view source_name);

// Parses YAML text. `source_name` (a path, or e.g. "<embedded default config>") starts every
// error message.
absl::StatusOr<Config> ParseConfig(absl::string_view yaml_text, absl::string_view source_name);

}  // namespace gatehouse::config

#endif  // GATEHOUSE_CONFIG_CONFIG_LOADER_H_
