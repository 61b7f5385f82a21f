/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Layouts shared by the BPF programs and the aya loader (ebpf/src/maps.rs declares the same
 * structs with #[repr(C)] and asserts their sizes; keep both in step).
 */
#ifndef MMSC_MAPS_H
#define MMSC_MAPS_H

#include <linux/types.h>

/* Counter indices of mmsc_classes: mmsc_classify::Class. Do not renumber. */
#define MMSC_CLASS_OTHER 0
#define MMSC_CLASS_MM1 1
#define MMSC_CLASS_MM4 2
#define MMSC_CLASS_MM7 3
#define MMSC_CLASS_MM3 4
#define MMSC_CLASS_COUNT 5

/* Indices of mmsc_stats. */
#define MMSC_STAT_NOT_PEER 0   /* MM4 packet from a source outside the peer prefixes: dropped */
#define MMSC_STAT_SYN_RATE 1   /* SYN beyond the per-source token bucket: dropped */
#define MMSC_STAT_SLOW_PATH 2  /* IPv4/IPv6 fragment: passed to the kernel unclassified */
#define MMSC_STAT_MALFORMED 3  /* truncated or invalid header: passed to the kernel */
#define MMSC_STAT_REDIRECTED 4 /* handed to an AF_XDP socket */
#define MMSC_STAT_COUNT 8

#define MMSC_MODE_PASS 0
#define MMSC_MODE_REDIRECT 1

#define MMSC_MAX_LISTENERS 256
#define MMSC_MAX_PEERS 4096
#define MMSC_MAX_SYN_SOURCES 65536
#define MMSC_MAX_QUEUES 64
#define MMSC_MAX_CORES 64

/* mmsc_config[0] */
struct mmsc_config {
	__u32 mode;      /* MMSC_MODE_* */
	__u32 syn_rate;  /* SYNs per second per source, 0 = no limit */
	__u32 syn_burst; /* bucket capacity (>= 1) */
	__u32 _pad;
};

/*
 * mmsc_listeners key. addr: IPv6 address, or IPv4 as v4-mapped (::ffff:a.b.c.d).
 * Wildcards: ::ffff:0.0.0.0 = any IPv4 destination, :: = any IPv6 destination.
 * port in host byte order. Value: __u32 class (MMSC_CLASS_*).
 */
struct mmsc_listener_key {
	__u8 addr[16];
	__u16 port;
	__u16 _pad;
};

/* mmsc_peers_v4 / mmsc_peers_v6 keys (LPM trie: prefix length first). Value: __u32 1. */
struct mmsc_lpm_v4 {
	__u32 prefixlen;
	__u8 addr[4];
};

struct mmsc_lpm_v6 {
	__u32 prefixlen;
	__u8 addr[16];
};

/* mmsc_syn_bkt key: source address as in mmsc_listener_key.addr. */
struct mmsc_addr {
	__u8 addr[16];
};

/* mmsc_syn_bkt value: tokens scaled by 1e9 (one SYN = 1e9), last refill time. */
struct mmsc_bucket {
	__u64 tokens;
	__u64 last_ns;
};

/* mmsc_classes value (per CPU). bytes = frame length seen by XDP. */
struct mmsc_counter {
	__u64 packets;
	__u64 bytes;
};

/* mmsc_rp_config[0] of the SK_REUSEPORT program. */
struct mmsc_rp_config {
	__u32 cores; /* number of filled entries of mmsc_rp_socks; 0 = kernel's choice */
	__u32 _pad;
};

_Static_assert(sizeof(struct mmsc_config) == 16, "mmsc_config");
_Static_assert(sizeof(struct mmsc_listener_key) == 20, "mmsc_listener_key");
_Static_assert(sizeof(struct mmsc_lpm_v4) == 8, "mmsc_lpm_v4");
_Static_assert(sizeof(struct mmsc_lpm_v6) == 20, "mmsc_lpm_v6");
_Static_assert(sizeof(struct mmsc_addr) == 16, "mmsc_addr");
_Static_assert(sizeof(struct mmsc_bucket) == 16, "mmsc_bucket");
_Static_assert(sizeof(struct mmsc_counter) == 16, "mmsc_counter");
_Static_assert(sizeof(struct mmsc_rp_config) == 8, "mmsc_rp_config");

#endif
