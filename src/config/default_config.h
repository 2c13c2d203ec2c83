// The config `gatehoused` runs with when it is given no config file: loopback only, with a
// development PKI created on first start. It is YAML in the file format (config_loader.h), so
// it goes through the same strict loader as any user file and doubles as a minimal example.
// It is not meant for production: the dev PKI's keys sit in a local directory.
#ifndef GATEHOUSE_CONFIG_DEFAULT_CONFIG_H_
#define GATEHOUSE_CONFIG_DEFAULT_CONFIG_H_

#include "absl/strings/string_view.h"

namespace gatehouse::config {

// Source name to pass to ParseConfig with EmbeddedDefaultConfig(), so errors point at it.
inline constexpr absl::string_view kEmbeddedDefaultConfigName = "<embedded default config>";

// The YAML text of the embedded default. Static storage; thread-safe.
absl::string_view EmbeddedDefaultConfig();

}  // namespace gatehouse::config

#endif  // GATEHOUSE_CONFIG_DEFAULT_CONFIG_H_
