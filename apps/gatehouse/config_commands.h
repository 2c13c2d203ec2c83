// `gatehouse config get` and `gatehouse config push`: the config document of a fleet of nodes
// that read it from etcd (`config_source.etcd`, RFD 0001 section 10).
//
//   gatehouse config get  --source NODE.yaml            # the document, to stdout
//   gatehouse config push --source NODE.yaml FILE [--expect-revision N]
//
// --source names a file with a `config_source.etcd` section (the one the nodes use, or the
// operator's own with their client certificate): it says where etcd is, the key and the TLS
// files. push checks FILE as the daemon's loader would (syntax, keys, values, references) and
// writes it with a compare-and-swap on the revision it read (or on --expect-revision, the one
// `config get` printed when the operator started editing): when someone else wrote the key in
// between, nothing is written and the command fails saying so.
#ifndef GATEHOUSE_APPS_GATEHOUSE_CONFIG_COMMANDS_H_
#define GATEHOUSE_APPS_GATEHOUSE_CONFIG_COMMANDS_H_

#include <cstdint>
#include <optional>
#include <string>

namespace gatehouse::cli {

struct ConfigFlags {
  std::string source_file;
  std::string document_file;               // push only
  std::optional<int64_t> expect_revision;  // push only
};

// Exit codes: 0 done, 1 the document is invalid or the compare-and-swap lost, 3 etcd could not
// be reached or refused us (cli/exit_codes.h).
int GetConfig(const ConfigFlags& flags);
int PushConfig(const ConfigFlags& flags);

}  // namespace gatehouse::cli

#endif  // GATEHOUSE_APPS_GATEHOUSE_CONFIG_COMMANDS_H_
