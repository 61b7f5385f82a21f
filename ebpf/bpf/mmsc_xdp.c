// SPDX-License-Identifier: Apache-2.0
/*
 * mmsc XDP program: classifies each frame by the MMSC listener it is addressed to
 * (mmsc_classify::Class), drops MM4 packets from non-peers and SYNs beyond a per-source
 * token bucket, counts everything per class, and in redirect mode hands MM1/MM4 frames to
 * the AF_XDP socket of the receiving queue. The user-space twin is dataplane/classify.
 *
 * Every packet access is bounds-checked against data_end; anything truncated or malformed
 * is passed to the kernel as class Other. Fragments take the slow path (kernel, Other).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "mmsc_maps.h"

#define NS_PER_SEC 1000000000ULL
#define MAX_VLAN_TAGS 2
#define MAX_IPV6_EXT 8

#define IPV4_MF 0x2000
#define IPV4_OFFSET 0x1fff

#define NEXTHDR_HOP 0
#define NEXTHDR_ROUTING 43
#define NEXTHDR_FRAGMENT 44
#define NEXTHDR_DEST 60

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mmsc_config);
} mmsc_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MMSC_MAX_LISTENERS);
	__type(key, struct mmsc_listener_key);
	__type(value, __u32);
} mmsc_listeners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, MMSC_MAX_PEERS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct mmsc_lpm_v4);
	__type(value, __u32);
} mmsc_peers_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, MMSC_MAX_PEERS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct mmsc_lpm_v6);
	__type(value, __u32);
} mmsc_peers_v6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MMSC_MAX_SYN_SOURCES);
	__type(key, struct mmsc_addr);
	__type(value, struct mmsc_bucket);
} mmsc_syn_bkt SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MMSC_CLASS_COUNT);
	__type(key, __u32);
	__type(value, struct mmsc_counter);
} mmsc_classes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MMSC_STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} mmsc_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, MMSC_MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} mmsc_xsks SEC(".maps");

struct vlan_hdr {
	__be16 tci;
	__be16 encap_proto;
};

/* What the parser found. */
enum parse_result {
	PARSE_TCP,       /* a TCP segment: flow filled in */
	PARSE_NOT_TCP,   /* well-formed, not TCP (ARP, ICMP, UDP, ...) */
	PARSE_FRAGMENT,  /* IP fragment: slow path */
	PARSE_MALFORMED, /* truncated or invalid */
};

struct flow {
	struct mmsc_addr src; /* v4-mapped for IPv4 */
	__u8 dst[16];
	__u16 dport; /* host order */
	__u8 ipv4;
	__u8 syn; /* SYN without ACK */
};

static __always_inline void v4_mapped(__u8 *out, __be32 addr)
{
	__builtin_memset(out, 0, 10);
	out[10] = 0xff;
	out[11] = 0xff;
	__builtin_memcpy(out + 12, &addr, 4);
}

static __always_inline enum parse_result parse(void *data, void *data_end, struct flow *f)
{
	struct ethhdr *eth = data;
	void *cur;
	__be16 proto;
	__u8 l4;

	if ((void *)(eth + 1) > data_end)
		return PARSE_MALFORMED;
	proto = eth->h_proto;
	cur = eth + 1;

#pragma unroll
	for (int i = 0; i < MAX_VLAN_TAGS; i++) {
		struct vlan_hdr *vh = cur;

		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		if ((void *)(vh + 1) > data_end)
			return PARSE_MALFORMED;
		proto = vh->encap_proto;
		cur = vh + 1;
	}

	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = cur;
		__u32 hlen;

		if ((void *)(ip + 1) > data_end)
			return PARSE_MALFORMED;
		if (ip->version != 4 || ip->ihl < 5)
			return PARSE_MALFORMED;
		if (ip->frag_off & bpf_htons(IPV4_MF | IPV4_OFFSET))
			return PARSE_FRAGMENT;
		hlen = ip->ihl * 4;
		if (bpf_ntohs(ip->tot_len) < hlen)
			return PARSE_MALFORMED;
		l4 = ip->protocol;
		v4_mapped(f->src.addr, ip->saddr);
		v4_mapped(f->dst, ip->daddr);
		f->ipv4 = 1;
		cur = (void *)ip + hlen;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = cur;

		if ((void *)(ip6 + 1) > data_end)
			return PARSE_MALFORMED;
		if (ip6->version != 6)
			return PARSE_MALFORMED;
		l4 = ip6->nexthdr;
		__builtin_memcpy(f->src.addr, &ip6->saddr, 16);
		__builtin_memcpy(f->dst, &ip6->daddr, 16);
		f->ipv4 = 0;
		cur = ip6 + 1;

#pragma unroll
		for (int i = 0; i < MAX_IPV6_EXT; i++) {
			struct ipv6_opt_hdr *eh = cur;

			if (l4 == NEXTHDR_FRAGMENT)
				return PARSE_FRAGMENT;
			if (l4 != NEXTHDR_HOP && l4 != NEXTHDR_ROUTING && l4 != NEXTHDR_DEST)
				break;
			if ((void *)(eh + 1) > data_end)
				return PARSE_MALFORMED;
			l4 = eh->nexthdr;
			cur += ((__u32)eh->hdrlen + 1) * 8;
		}
		if (l4 == NEXTHDR_FRAGMENT)
			return PARSE_FRAGMENT;
		/* more extension headers than we walk: not classified */
		if (l4 == NEXTHDR_HOP || l4 == NEXTHDR_ROUTING || l4 == NEXTHDR_DEST)
			return PARSE_MALFORMED;
	} else {
		return PARSE_NOT_TCP;
	}

	if (l4 != IPPROTO_TCP)
		return PARSE_NOT_TCP;

	struct tcphdr *tcp = cur;

	if ((void *)(tcp + 1) > data_end)
		return PARSE_MALFORMED;
	if (tcp->doff < 5)
		return PARSE_MALFORMED;
	f->dport = bpf_ntohs(tcp->dest);
	f->syn = tcp->syn && !tcp->ack;
	return PARSE_TCP;
}

static __always_inline __u32 listener_class(const struct flow *f)
{
	struct mmsc_listener_key key = {};
	__u32 *cls;

	__builtin_memcpy(key.addr, f->dst, 16);
	key.port = f->dport;
	cls = bpf_map_lookup_elem(&mmsc_listeners, &key);
	if (cls)
		return *cls;

	/* the wildcard of the packet's family */
	__builtin_memset(key.addr, 0, 16);
	if (f->ipv4) {
		key.addr[10] = 0xff;
		key.addr[11] = 0xff;
	}
	cls = bpf_map_lookup_elem(&mmsc_listeners, &key);
	if (cls)
		return *cls;
	return MMSC_CLASS_OTHER;
}

static __always_inline int is_peer(const struct flow *f)
{
	if (f->ipv4) {
		struct mmsc_lpm_v4 key = {.prefixlen = 32};

		__builtin_memcpy(key.addr, f->src.addr + 12, 4);
		return bpf_map_lookup_elem(&mmsc_peers_v4, &key) != NULL;
	}
	struct mmsc_lpm_v6 key6 = {.prefixlen = 128};

	__builtin_memcpy(key6.addr, f->src.addr, 16);
	return bpf_map_lookup_elem(&mmsc_peers_v6, &key6) != NULL;
}

/* Per-source token bucket; 1 = the SYN may pass (and took a token), 0 = drop. */
static __always_inline int syn_allowed(const struct flow *f, const struct mmsc_config *cfg)
{
	__u64 now = bpf_ktime_get_ns();
	__u64 rate = cfg->syn_rate;
	__u64 burst = cfg->syn_burst ? cfg->syn_burst : 1;
	__u64 cap = burst * NS_PER_SEC;
	__u64 elapsed, fill_ns, tokens;
	struct mmsc_bucket *b;

	b = bpf_map_lookup_elem(&mmsc_syn_bkt, &f->src);
	if (!b) {
		/* a new source starts with a full bucket, minus this SYN */
		struct mmsc_bucket nb = {.tokens = cap - NS_PER_SEC, .last_ns = now};

		bpf_map_update_elem(&mmsc_syn_bkt, &f->src, &nb, BPF_NOEXIST);
		return 1;
	}

	/* time to fill an empty bucket: elapsed is capped there so elapsed * rate <= cap */
	fill_ns = cap / rate;
	elapsed = now > b->last_ns ? now - b->last_ns : 0;
	if (elapsed > fill_ns)
		elapsed = fill_ns;
	tokens = b->tokens + elapsed * rate;
	if (tokens > cap)
		tokens = cap;
	b->last_ns = now;
	if (tokens < NS_PER_SEC) {
		b->tokens = tokens;
		return 0;
	}
	b->tokens = tokens - NS_PER_SEC;
	return 1;
}

static __always_inline void count_stat(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&mmsc_stats, &idx);

	if (v)
		*v += 1;
}

static __always_inline void count_class(__u32 cls, __u64 bytes)
{
	struct mmsc_counter *c = bpf_map_lookup_elem(&mmsc_classes, &cls);

	if (c) {
		c->packets += 1;
		c->bytes += bytes;
	}
}

SEC("xdp")
int mmsc_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u64 len = data_end - data;
	struct flow f = {};
	__u32 zero = 0;
	__u32 cls = MMSC_CLASS_OTHER;
	struct mmsc_config *cfg;
	enum parse_result r;

	r = parse(data, data_end, &f);
	if (r == PARSE_TCP)
		cls = listener_class(&f);
	if (cls >= MMSC_CLASS_COUNT)
		cls = MMSC_CLASS_OTHER;
	count_class(cls, len);

	if (r == PARSE_FRAGMENT) {
		count_stat(MMSC_STAT_SLOW_PATH);
		return XDP_PASS;
	}
	if (r == PARSE_MALFORMED) {
		count_stat(MMSC_STAT_MALFORMED);
		return XDP_PASS;
	}
	if (cls == MMSC_CLASS_OTHER)
		return XDP_PASS;

	/* ACL before rate limit: a non-peer's SYN never takes a token */
	if (cls == MMSC_CLASS_MM4 && !is_peer(&f)) {
		count_stat(MMSC_STAT_NOT_PEER);
		return XDP_DROP;
	}

	cfg = bpf_map_lookup_elem(&mmsc_config, &zero);
	if (!cfg)
		return XDP_PASS;

	if (f.syn && cfg->syn_rate && !syn_allowed(&f, cfg)) {
		count_stat(MMSC_STAT_SYN_RATE);
		return XDP_DROP;
	}

	if (cfg->mode == MMSC_MODE_REDIRECT && (cls == MMSC_CLASS_MM1 || cls == MMSC_CLASS_MM4)) {
		/* no socket on this queue: XDP_PASS (the flags' low bits are the default action) */
		long act = bpf_redirect_map(&mmsc_xsks, ctx->rx_queue_index, XDP_PASS);

		if (act == XDP_REDIRECT)
			count_stat(MMSC_STAT_REDIRECTED);
		return act;
	}
	return XDP_PASS;
}

char _license[] SEC("license") = "Apache-2.0";
