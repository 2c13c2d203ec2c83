// SkLookupSteering: a BPF sk_lookup program attached to a network namespace that steers TCP
// connections for configured (address, port) pairs into listening sockets held in a SOCKMAP.
//
// With it one listening socket per worker serves a whole port range (RFD 0003 §4): the kernel
// runs the program on every new connection before its own listener lookup; a steered pair goes
// to a socket of its slots (spread by the client's address and port), anything else to the
// kernel's normal lookup (a plain listener, or a refusal).
//
// The program and maps belong to this object: they are detached and freed when it is destroyed
// (or the process exits), and never pinned. Needs CAP_BPF and CAP_NET_ADMIN (root) and a kernel
// with sk_lookup (5.9+); Attach says which is missing. Thread-compatible: one caller at a time.
#ifndef GATEHOUSE_STEER_SK_LOOKUP_STEERING_H_
#define GATEHOUSE_STEER_SK_LOOKUP_STEERING_H_

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "asio/ip/address.hpp"

struct gh_steer_bpf;

namespace gatehouse::steer {

class SkLookupSteering {
 public:
  // Slots of the SOCKMAP, and steered (address, port) pairs, all apps together.
  static const uint32_t kMaxSockets;
  static const uint32_t kMaxPorts;

  // Loads the program and attaches it to the network namespace of the calling thread.
  // PermissionDenied without CAP_BPF/CAP_NET_ADMIN, Unimplemented on a kernel without sk_lookup,
  // Internal otherwise; each message says what failed.
  static absl::StatusOr<std::unique_ptr<SkLookupSteering>> Attach();

  SkLookupSteering(const SkLookupSteering&) = delete;
  SkLookupSteering& operator=(const SkLookupSteering&) = delete;
  SkLookupSteering(SkLookupSteering&&) = delete;
  SkLookupSteering& operator=(SkLookupSteering&&) = delete;
  // Detaches the program; connections already steered stay in their sockets.
  ~SkLookupSteering();

  // Puts the listening TCP socket `fd` (borrowed: the map holds its own reference, which
  // ClearSocket or the socket's close drops) in `slot`.
  absl::Status SetSocket(uint32_t slot, int fd);
  absl::Status ClearSocket(uint32_t slot);

  // Steers connections to (address, port) into slots first_slot .. first_slot + slot_count - 1,
  // replacing where that pair went before in one step. An unspecified address (0.0.0.0, ::)
  // matches every local address of its family that has no entry of its own.
  absl::Status SteerPort(const asio::ip::address& address, uint16_t port, uint32_t first_slot,
                         uint32_t slot_count);
  // Stops steering (address, port); NotFound if it was not steered.
  absl::Status UnsteerPort(const asio::ip::address& address, uint16_t port);

 private:
  explicit SkLookupSteering(gh_steer_bpf* skeleton);

  gh_steer_bpf* const skeleton_;
};

}  // namespace gatehouse::steer

#endif  // GATEHOUSE_STEER_SK_LOOKUP_STEERING_H_
