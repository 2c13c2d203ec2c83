/* BPF sk_lookup program: steers a TCP connection for a configured (address, port) into the
 * listening socket of the app that owns it, so that one socket per worker serves any number of
 * ports. Built at build time with clang -target bpf and loaded through a bpftool skeleton. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "steer_maps.h"

/* uapi values, spelled out because the libc headers that define them do not build for BPF. */
#define GH_AF_INET 2
#define GH_AF_INET6 10
#define GH_IPPROTO_TCP 6

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, GH_STEER_MAP_ENTRIES);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct gh_steer_key);
  __type(value, struct gh_steer_target);
} gh_ports SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_SOCKMAP);
  __uint(max_entries, GH_STEER_MAX_SOCKETS);
  __type(key, __u32);
  __type(value, __u64);
} gh_sockets SEC(".maps");

/* Spreads one app's connections over its workers' sockets by the client's address and port,
 * as SO_REUSEPORT does for plain listeners. */
static __u32 client_hash(const struct bpf_sk_lookup *ctx) {
  __u32 hash = ctx->remote_ip4 ^ ctx->remote_ip6[0] ^ ctx->remote_ip6[1] ^ ctx->remote_ip6[2] ^
               ctx->remote_ip6[3];
  hash ^= (__u32)ctx->remote_port << 16;
  hash *= 0x9e3779b1u; /* Fibonacci hashing: the high bits depend on every input bit */
  return hash >> 16;
}

SEC("sk_lookup")
int gh_steer(struct bpf_sk_lookup *ctx) {
  struct gh_steer_key key = {};
  struct gh_steer_target *target;
  struct bpf_sock *sk;
  __u32 slot;

  if (ctx->protocol != GH_IPPROTO_TCP) return SK_PASS;
  key.port = (__u16)ctx->local_port;
  key.family = (__u16)ctx->family;
  if (ctx->family == GH_AF_INET) {
    key.addr[0] = ctx->local_ip4;
  } else if (ctx->family == GH_AF_INET6) {
    key.addr[0] = ctx->local_ip6[0];
    key.addr[1] = ctx->local_ip6[1];
    key.addr[2] = ctx->local_ip6[2];
    key.addr[3] = ctx->local_ip6[3];
  } else {
    return SK_PASS;
  }
  target = bpf_map_lookup_elem(&gh_ports, &key);
  if (!target) {
    key.addr[0] = key.addr[1] = key.addr[2] = key.addr[3] = 0;
    target = bpf_map_lookup_elem(&gh_ports, &key);
  }
  /* No entry: the kernel's own lookup applies (a plain listener, or a refusal). */
  if (!target || target->slot_count == 0) return SK_PASS;
  slot = target->first_slot + client_hash(ctx) % target->slot_count;
  sk = bpf_map_lookup_elem(&gh_sockets, &slot);
  if (!sk) return SK_PASS;
  /* NO_REUSEPORT: the slot picked is the socket, never another of a reuseport group. */
  bpf_sk_assign(ctx, sk, BPF_SK_LOOKUP_F_NO_REUSEPORT);
  bpf_sk_release(sk);
  return SK_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
