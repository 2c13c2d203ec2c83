#include "steer/sk_lookup_steering.h"

#include <bpf/libbpf.h>
#include <fcntl.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "base/unique_fd.h"
#include "steer/bpf/steer_maps.h"
#include "steer/sk_lookup.skel.h"

namespace gatehouse::steer {
namespace {

std::string ErrorText(int error) { return std::generic_category().message(error); }

// libbpf reports through errno (1.0 mode: failing calls return a negative errno or null).
absl::Status BpfError(int error, absl::string_view operation) {
  switch (error) {
    case EPERM:
    case EACCES:
      return absl::PermissionDeniedError(
          absl::StrCat(operation, ": ", ErrorText(error),
                       " (sk_lookup steering needs CAP_BPF and CAP_NET_ADMIN)"));
    case E2BIG:
    case ENOMEM:
      return absl::ResourceExhaustedError(absl::StrCat(operation, ": ", ErrorText(error)));
    default:
      return absl::InternalError(absl::StrCat(operation, ": ", ErrorText(error)));
  }
}

// Loading or attaching: a kernel without sk_lookup (or BPF) refuses with these.
absl::Status AttachError(int error, absl::string_view operation) {
  if (error == EINVAL || error == EOPNOTSUPP || error == ENOSYS) {
    return absl::UnimplementedError(
        absl::StrCat(operation, ": ", ErrorText(error),
                     " (sk_lookup steering needs Linux 5.9 or later with BPF)"));
  }
  return BpfError(error, operation);
}

gh_steer_key KeyOf(const asio::ip::address& address, uint16_t port) {
  gh_steer_key key{};
  key.port = port;
  if (address.is_v4()) {
    key.family = AF_INET;
    const std::array<unsigned char, 4> bytes = address.to_v4().to_bytes();
    std::memcpy(&key.addr[0], bytes.data(), bytes.size());
  } else {
    key.family = AF_INET6;
    const std::array<unsigned char, 16> bytes = address.to_v6().to_bytes();
    std::memcpy(key.addr, bytes.data(), bytes.size());
  }
  return key;
}

std::string PortName(const asio::ip::address& address, uint16_t port) {
  return address.is_v6() ? absl::StrCat("[", address.to_string(), "]:", port)
                         : absl::StrCat(address.to_string(), ":", port);
}

}  // namespace

const uint32_t SkLookupSteering::kMaxSockets = GH_STEER_MAX_SOCKETS;
const uint32_t SkLookupSteering::kMaxPorts = GH_STEER_MAX_PORTS;

absl::StatusOr<std::unique_ptr<SkLookupSteering>> SkLookupSteering::Attach() {
  // libbpf would print its diagnostics to stderr; a library reports through its status only.
  libbpf_set_print(nullptr);
  gh_steer_bpf* skeleton = gh_steer_bpf__open_and_load();
  if (skeleton == nullptr) return AttachError(errno, "load the sk_lookup program");
  std::unique_ptr<SkLookupSteering> steering(new SkLookupSteering(skeleton));
  // The thread's own namespace: a test may have moved just its thread into a new one.
  const base::UniqueFd netns(open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!netns.is_valid()) return BpfError(errno, "open /proc/thread-self/ns/net");
  bpf_link* link = bpf_program__attach_netns(skeleton->progs.gh_steer, netns.get());
  if (link == nullptr) {
    return AttachError(errno, "attach the sk_lookup program to the network namespace");
  }
  // Owned by the skeleton from here: destroy detaches it.
  skeleton->links.gh_steer = link;
  return steering;
}

SkLookupSteering::SkLookupSteering(gh_steer_bpf* skeleton) : skeleton_(skeleton) {}

SkLookupSteering::~SkLookupSteering() { gh_steer_bpf__destroy(skeleton_); }

absl::Status SkLookupSteering::SetSocket(uint32_t slot, int fd) {
  const auto value = static_cast<uint64_t>(fd);
  if (bpf_map__update_elem(skeleton_->maps.gh_sockets, &slot, sizeof(slot), &value, sizeof(value),
                           BPF_ANY) != 0) {
    return BpfError(errno, absl::StrCat("put socket fd ", fd, " in steering slot ", slot));
  }
  return absl::OkStatus();
}

absl::Status SkLookupSteering::ClearSocket(uint32_t slot) {
  if (bpf_map__delete_elem(skeleton_->maps.gh_sockets, &slot, sizeof(slot), 0) != 0 &&
      errno != ENOENT) {
    return BpfError(errno, absl::StrCat("clear steering slot ", slot));
  }
  return absl::OkStatus();
}

absl::Status SkLookupSteering::SteerPort(const asio::ip::address& address, uint16_t port,
                                         uint32_t first_slot, uint32_t slot_count) {
  if (slot_count == 0 || first_slot >= kMaxSockets || slot_count > kMaxSockets - first_slot) {
    return absl::InvalidArgumentError(absl::StrCat("steer ", PortName(address, port), ": slots ",
                                                   first_slot, "+", slot_count, " are outside 0-",
                                                   kMaxSockets - 1));
  }
  const gh_steer_key key = KeyOf(address, port);
  const gh_steer_target target{first_slot, slot_count};
  if (bpf_map__update_elem(skeleton_->maps.gh_ports, &key, sizeof(key), &target, sizeof(target),
                           BPF_ANY) != 0) {
    return BpfError(errno, absl::StrCat("steer ", PortName(address, port)));
  }
  return absl::OkStatus();
}

absl::Status SkLookupSteering::UnsteerPort(const asio::ip::address& address, uint16_t port) {
  const gh_steer_key key = KeyOf(address, port);
  if (bpf_map__delete_elem(skeleton_->maps.gh_ports, &key, sizeof(key), 0) != 0) {
    if (errno == ENOENT) {
      return absl::NotFoundError(absl::StrCat(PortName(address, port), " is not steered"));
    }
    return BpfError(errno, absl::StrCat("stop steering ", PortName(address, port)));
  }
  return absl::OkStatus();
}

}  // namespace gatehouse::steer
