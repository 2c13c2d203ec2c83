// ListenPorts: the listen ports the lb apps read so far have taken, so that a port that two
// entries share (a single port or one of a range) is an error that names the culprit.
//
// Hosts are compared by address, not by spelling ("[::1]" and "[0::1]" are one host). A range on
// a wildcard host (0.0.0.0 or ::) may not share a port with any listen address of its family:
// BPF steering looks a port up on its address and then on the wildcard, so the range would take
// the port from the more specific listener, which the kernel's own lookup prefers. (A wildcard
// single port next to a specific one is fine: both are plain listeners, and the kernel picks
// the specific one.) Not thread-safe; one per document.
#ifndef GATEHOUSE_CONFIG_INTERNAL_LISTEN_PORTS_H_
#define GATEHOUSE_CONFIG_INTERNAL_LISTEN_PORTS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "config/config.h"

namespace gatehouse::config::internal {

class ListenPorts {
 public:
  // Records that `app` listens on `listen`; InvalidArgument if another entry has one of its
  // ports, and then nothing is recorded.
  absl::Status Take(const Address& listen, const std::string& app);

 private:
  struct Owner {
    Address address;
    std::string app;
  };
  using Ports = std::map<uint16_t, Owner>;  // by first port; the entries never overlap

  // The entries of `ports` that share a port with `listen`.
  static std::vector<const Owner*> Overlapping(const Ports& ports, const Address& listen);

  std::map<std::string, Ports> by_host_;  // by canonical host text
};

}  // namespace gatehouse::config::internal

#endif  // GATEHOUSE_CONFIG_INTERNAL_LISTEN_PORTS_H_
