/* The maps shared by the sk_lookup program (sk_lookup.bpf.c) and the daemon
 * (sk_lookup_steering.cc): C, so that clang -target bpf and the C++ build read one layout. */
#ifndef GATEHOUSE_STEER_BPF_STEER_MAPS_H_
#define GATEHOUSE_STEER_BPF_STEER_MAPS_H_

#include <linux/types.h>

/* Sockets an app's ports may be steered to: slots of the SOCKMAP. */
#define GH_STEER_MAX_SOCKETS 4096
/* (address, port) entries steered, all apps together. */
#define GH_STEER_MAX_PORTS (1 << 20)
/* The hash holds twice that: a reload inserts its new entries before it deletes the old ones.
 * It is not preallocated: an entry costs kernel memory only once it is inserted. */
#define GH_STEER_MAP_ENTRIES (2 * GH_STEER_MAX_PORTS)

/* A local (address, port) a connection arrives at. IPv4 addresses fill addr[0]; the rest is
 * zero. An all-zero addr is the wildcard (0.0.0.0 or ::) entry of that port. Network byte order
 * for the address, host byte order for the port (as struct bpf_sk_lookup has them). */
/* NOLINTNEXTLINE(readability-identifier-naming): a C struct, named as C names them */
struct gh_steer_key {
  __u32 addr[4];
  __u16 port;
  __u16 family; /* AF_INET or AF_INET6 */
};

/* The slots holding the sockets of the app that owns the key: one per worker. */
/* NOLINTNEXTLINE(readability-identifier-naming): a C struct, named as C names them */
struct gh_steer_target {
  __u32 first_slot;
  __u32 slot_count;
};

#endif /* GATEHOUSE_STEER_BPF_STEER_MAPS_H_ */
