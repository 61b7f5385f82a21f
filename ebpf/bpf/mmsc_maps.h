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

/*
 * Indices of mmsc_stats: the counters of mmsc_classify::Counters at fixed places (the rule
 * set, step 6, in dataplane/classify/src/lib.rs). Do not renumber.
 */
#define MMSC_STAT_NOT_PEER 0           /* DropReason::NotPeer: MM4 from a non-peer, dropped */
#define MMSC_STAT_SYN_RATE 1           /* DropReason::SynRate: SYN beyond the bucket, dropped */
/* 2, 3: room for new drop reasons */
#define MMSC_STAT_REDIRECTED 4         /* handed to the AF_XDP socket of the rx queue */
#define MMSC_STAT_REDIRECT_NO_SOCKET 5 /* to be redirected, no socket on the queue: passed */
#define MMSC_STAT_REDIRECTED_OWNED 6   /* of 4 and 5: ARP/ICMP/ICMPv6 for an owned address */
/* 7: unused */
#define MMSC_STAT_SLOW_BASE 8          /* 8 + MMSC_SLOW_*: not classified, passed (class Other) */
#define MMSC_STAT_COUNT 16

/* Why a frame is not a classifiable TCP segment: mmsc_classify::Slow. Do not renumber. */
#define MMSC_SLOW_NOT_IP 0
#define MMSC_SLOW_TOO_MANY_VLANS 1
#define MMSC_SLOW_FRAGMENT 2
#define MMSC_SLOW_NOT_TCP 3
#define MMSC_SLOW_TOO_MANY_EXT_HEADERS 4
#define MMSC_SLOW_TRUNCATED 5
#define MMSC_SLOW_BAD_IP_HEADER 6
#define MMSC_SLOW_BAD_TCP_HEADER 7
#define MMSC_SLOW_COUNT 8

/* Address families in map keys (IPv4 and IPv6 never share a key). */
#define MMSC_FAMILY_V4 4
#define MMSC_FAMILY_V6 6

#define MMSC_MODE_PASS 0
#define MMSC_MODE_REDIRECT 1

#define MMSC_MAX_LISTENERS 256
#define MMSC_MAX_PEERS 4096
#define MMSC_MAX_SYN_SOURCES 65536
#define MMSC_MAX_QUEUES 64
#define MMSC_MAX_CORES 64
#define MMSC_MAX_OWNED 64

/* mmsc_config[0] */
struct mmsc_config {
	__u32 mode;      /* MMSC_MODE_* */
	__u32 syn_rate;  /* SYNs per second per source, 0 = no limit */
	__u32 syn_burst; /* bucket capacity (>= 1) */
	__u32 _pad;
};

/*
 * mmsc_listeners key: (family, address, port). addr: the IPv6 address, or for IPv4 the
 * v4-mapped form ::ffff:a.b.c.d; family tells them apart, so an IPv6 packet to
 * ::ffff:a.b.c.d (family 6) never matches an IPv4 listener (family 4). Wildcards: the
 * unspecified address of the family (::ffff:0.0.0.0 with family 4, :: with family 6).
 * port in host byte order. Value: __u32 class (MMSC_CLASS_*). Lookup: the exact key of the
 * destination, then the wildcard of its family.
 */
struct mmsc_listener_key {
	__u8 addr[16];
	__u16 port;
	__u8 family; /* MMSC_FAMILY_* */
	__u8 _pad;
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

/* mmsc_syn_bkt key: (family, source address), the address as in mmsc_listener_key. */
struct mmsc_syn_key {
	__u8 addr[16];
	__u8 family; /* MMSC_FAMILY_* */
	__u8 _pad[3];
};

/*
 * mmsc_owned key: an address the user-space stack behind the AF_XDP sockets owns (the
 * "owned addresses" of the rule set, step 5), as in mmsc_listener_key: (family, address),
 * IPv4 v4-mapped. Value: __u32 1.
 */
struct mmsc_owned_key {
	__u8 addr[16];
	__u8 family; /* MMSC_FAMILY_* */
	__u8 _pad[3];
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
_Static_assert(sizeof(struct mmsc_syn_key) == 20, "mmsc_syn_key");
_Static_assert(sizeof(struct mmsc_owned_key) == 20, "mmsc_owned_key");
_Static_assert(MMSC_STAT_SLOW_BASE + MMSC_SLOW_COUNT <= MMSC_STAT_COUNT, "mmsc_stats");
_Static_assert(sizeof(struct mmsc_bucket) == 16, "mmsc_bucket");
_Static_assert(sizeof(struct mmsc_counter) == 16, "mmsc_counter");
_Static_assert(sizeof(struct mmsc_rp_config) == 8, "mmsc_rp_config");

#endif
