// SPDX-License-Identifier: Apache-2.0
/*
 * mmsc XDP program: classifies each frame by the MMSC listener it is addressed to
 * (mmsc_classify::Class), drops MM4 packets from non-peers and SYNs beyond a per-source
 * token bucket, counts everything, and in redirect mode hands MM1/MM4 frames to the AF_XDP
 * socket of the receiving queue, with the ARP, ICMP and ICMPv6 frames for the addresses the
 * user-space stack behind it owns (mmsc_owned).
 *
 * The rules are written once, in dataplane/classify/src/lib.rs ("The rule set"): the parse
 * order and its Slow reasons, listener keys (exact (family, address, port) before the
 * family wildcard, the first of duplicate listeners wins, IPv4 and IPv6 separate), the MM4
 * ACL, the SYN bucket arithmetic, the mode and the owned addresses, and the counters (mmsc_stats layout in
 * mmsc_maps.h). This program implements them exactly; the user-space twin is
 * mmsc_classify::Classifier, and ebpf/tests/xdp_netns.rs feeds both the same frames and
 * compares their counters frame by frame. When one changes, change the other.
 *
 * Every packet access is bounds-checked against data_end, and every length field against
 * the frame (IPv4 total length, IPv6 payload length) or the IP packet (extension headers,
 * TCP data offset); a frame that is not a complete TCP segment is passed to the kernel as
 * class Other and counted under its reason.
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
#define NEXTHDR_ICMPV6 58

#define ARP_LEN 28
#define ARP_TPA 24
#define ICMPV6_NS 135
#define NS_LEN 24

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
	__type(key, struct mmsc_syn_key);
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
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MMSC_MAX_OWNED);
	__type(key, struct mmsc_owned_key);
	__type(value, __u32);
} mmsc_owned SEC(".maps");

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

/* parse() returns an MMSC_SLOW_* reason, or this for a TCP segment (flow filled in). */
#define PARSE_TCP 0xff

struct flow {
	struct mmsc_syn_key src; /* v4-mapped address for IPv4; family set */
	__u8 dst[16];
	__u16 dport; /* host order */
	__u8 syn;    /* SYN without ACK */
	/*
	 * For a frame refused as NOT_IP or NOT_TCP that step 5's owned-address rule reads
	 * (mmsc_classify::control_frame): the addresses to look up in mmsc_owned, as keys
	 * (family set), cand[0] first; ncand of them (0, 1 or 2).
	 */
	__u8 ncand;
	struct mmsc_owned_key cand[2];
};

static __always_inline void v4_mapped(__u8 *out, __be32 addr)
{
	__builtin_memset(out, 0, 10);
	out[10] = 0xff;
	out[11] = 0xff;
	__builtin_memcpy(out + 12, &addr, 4);
}

/*
 * Step 1 of the rule set: mmsc_classify::parse, check for check and in the same order.
 * `len` is the frame length; the *_off values are offsets from the start of the frame,
 * compared as numbers against the lengths, while the pointers are checked against data_end
 * for the verifier.
 */
static __always_inline __u32 parse(void *data, void *data_end, __u64 len, struct flow *f)
{
	struct ethhdr *eth = data;
	void *cur;
	__u64 off, ip_end;
	__be16 proto;
	__u8 l4;

	if ((void *)(eth + 1) > data_end)
		return MMSC_SLOW_TRUNCATED;
	proto = eth->h_proto;
	cur = eth + 1;
	off = sizeof(*eth);

#pragma unroll
	for (int i = 0; i < MAX_VLAN_TAGS; i++) {
		struct vlan_hdr *vh = cur;

		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		if ((void *)(vh + 1) > data_end)
			return MMSC_SLOW_TRUNCATED;
		proto = vh->encap_proto;
		cur = vh + 1;
		off += sizeof(*vh);
	}
	/* a third tag: too many, whether or not it is complete */
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD))
		return MMSC_SLOW_TOO_MANY_VLANS;

	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = cur;
		__u32 hlen, tot;

		if ((void *)(ip + 1) > data_end)
			return MMSC_SLOW_TRUNCATED;
		hlen = ip->ihl * 4;
		tot = bpf_ntohs(ip->tot_len);
		if (ip->version != 4 || ip->ihl < 5 || tot < hlen)
			return MMSC_SLOW_BAD_IP_HEADER;
		ip_end = off + tot;
		if (ip_end > len)
			return MMSC_SLOW_TRUNCATED;
		if (ip->frag_off & bpf_htons(IPV4_MF | IPV4_OFFSET))
			return MMSC_SLOW_FRAGMENT;
		if (ip->protocol != IPPROTO_TCP) {
			if (ip->protocol == IPPROTO_ICMP) {
				v4_mapped(f->cand[0].addr, ip->daddr);
				f->cand[0].family = MMSC_FAMILY_V4;
				f->ncand = 1;
			}
			return MMSC_SLOW_NOT_TCP;
		}
		v4_mapped(f->src.addr, ip->saddr);
		v4_mapped(f->dst, ip->daddr);
		f->src.family = MMSC_FAMILY_V4;
		cur = (void *)ip + hlen;
		off += hlen;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = cur;

		if ((void *)(ip6 + 1) > data_end)
			return MMSC_SLOW_TRUNCATED;
		if (ip6->version != 6)
			return MMSC_SLOW_BAD_IP_HEADER;
		ip_end = off + sizeof(*ip6) + bpf_ntohs(ip6->payload_len);
		if (ip_end > len)
			return MMSC_SLOW_TRUNCATED;
		l4 = ip6->nexthdr;
		__builtin_memcpy(f->src.addr, &ip6->saddr, 16);
		__builtin_memcpy(f->dst, &ip6->daddr, 16);
		f->src.family = MMSC_FAMILY_V6;
		cur = ip6 + 1;
		off += sizeof(*ip6);

#pragma unroll
		for (int i = 0; i < MAX_IPV6_EXT; i++) {
			struct ipv6_opt_hdr *eh = cur;
			__u32 elen;

			if (l4 != NEXTHDR_HOP && l4 != NEXTHDR_ROUTING && l4 != NEXTHDR_DEST)
				break;
			if (off + sizeof(*eh) > ip_end || (void *)(eh + 1) > data_end)
				return MMSC_SLOW_TRUNCATED;
			elen = ((__u32)eh->hdrlen + 1) * 8;
			if (off + elen > ip_end)
				return MMSC_SLOW_TRUNCATED;
			l4 = eh->nexthdr;
			cur += elen;
			off += elen;
		}
		/* a ninth extension header (the fragment header is not counted) */
		if (l4 == NEXTHDR_HOP || l4 == NEXTHDR_ROUTING || l4 == NEXTHDR_DEST)
			return MMSC_SLOW_TOO_MANY_EXT_HEADERS;
		if (l4 == NEXTHDR_FRAGMENT)
			return MMSC_SLOW_FRAGMENT;
		if (l4 != IPPROTO_TCP) {
			if (l4 == NEXTHDR_ICMPV6) {
				__u8 *icmp = cur;

				__builtin_memcpy(f->cand[0].addr, &ip6->daddr, 16);
				f->cand[0].family = MMSC_FAMILY_V6;
				f->ncand = 1;
				/* a Neighbor Solicitation: its target too */
				if (off + NS_LEN <= ip_end && (void *)(icmp + NS_LEN) <= data_end &&
				    icmp[0] == ICMPV6_NS) {
					__builtin_memcpy(f->cand[1].addr, icmp + 8, 16);
					f->cand[1].family = MMSC_FAMILY_V6;
					f->ncand = 2;
				}
			}
			return MMSC_SLOW_NOT_TCP;
		}
	} else {
		/* ARP for IPv4 over Ethernet: the target protocol address */
		__u8 *arp = cur;

		if (proto == bpf_htons(ETH_P_ARP) && (void *)(arp + ARP_LEN) <= data_end &&
		    arp[2] == 0x08 && arp[3] == 0x00 && arp[4] == 6 && arp[5] == 4) {
			__builtin_memset(f->cand[0].addr, 0, 10);
			f->cand[0].addr[10] = 0xff;
			f->cand[0].addr[11] = 0xff;
			__builtin_memcpy(f->cand[0].addr + 12, arp + ARP_TPA, 4);
			f->cand[0].family = MMSC_FAMILY_V4;
			f->ncand = 1;
		}
		return MMSC_SLOW_NOT_IP;
	}

	/* TCP, within the IP packet (what follows ip_end is Ethernet padding) */
	struct tcphdr *tcp = cur;

	if (off + sizeof(*tcp) > ip_end || (void *)(tcp + 1) > data_end)
		return MMSC_SLOW_TRUNCATED;
	if (tcp->doff < 5 || off + tcp->doff * 4 > ip_end)
		return MMSC_SLOW_BAD_TCP_HEADER;
	f->dport = bpf_ntohs(tcp->dest);
	f->syn = tcp->syn && !tcp->ack;
	return PARSE_TCP;
}

/* Step 2: the exact key of the destination, then the wildcard of its family. */
static __always_inline __u32 listener_class(const struct flow *f)
{
	struct mmsc_listener_key key = {};
	__u32 *cls;

	__builtin_memcpy(key.addr, f->dst, 16);
	key.port = f->dport;
	key.family = f->src.family;
	cls = bpf_map_lookup_elem(&mmsc_listeners, &key);
	if (cls)
		return *cls;

	__builtin_memset(key.addr, 0, 16);
	if (f->src.family == MMSC_FAMILY_V4) {
		key.addr[10] = 0xff;
		key.addr[11] = 0xff;
	}
	cls = bpf_map_lookup_elem(&mmsc_listeners, &key);
	if (cls)
		return *cls;
	return MMSC_CLASS_OTHER;
}

/* Step 3: the source against the prefixes of its own family. */
static __always_inline int is_peer(const struct flow *f)
{
	if (f->src.family == MMSC_FAMILY_V4) {
		struct mmsc_lpm_v4 key = {.prefixlen = 32};

		__builtin_memcpy(key.addr, f->src.addr + 12, 4);
		return bpf_map_lookup_elem(&mmsc_peers_v4, &key) != NULL;
	}
	struct mmsc_lpm_v6 key6 = {.prefixlen = 128};

	__builtin_memcpy(key6.addr, f->src.addr, 16);
	return bpf_map_lookup_elem(&mmsc_peers_v6, &key6) != NULL;
}

/*
 * Step 4: the per-(family, source) token bucket, with the arithmetic of
 * mmsc_classify::syn::TokenBucket::take (tokens in units of 1e-9 SYN). 1 = the SYN may pass
 * (and took a token), 0 = drop.
 */
static __always_inline int syn_allowed(const struct flow *f, const struct mmsc_config *cfg)
{
	__u64 now = bpf_ktime_get_ns();
	__u64 rate = cfg->syn_rate;
	__u64 burst = cfg->syn_burst ? cfg->syn_burst : 1;
	__u64 cap = burst * NS_PER_SEC;
	__u64 elapsed, tokens;
	struct mmsc_bucket *b;

	b = bpf_map_lookup_elem(&mmsc_syn_bkt, &f->src);
	if (!b) {
		/* a new source starts with a full bucket, minus this SYN */
		struct mmsc_bucket nb = {.tokens = cap - NS_PER_SEC, .last_ns = now};

		bpf_map_update_elem(&mmsc_syn_bkt, &f->src, &nb, BPF_NOEXIST);
		return 1;
	}

	/* a clock going back adds nothing and does not move last_ns back */
	elapsed = now > b->last_ns ? now - b->last_ns : 0;
	tokens = b->tokens < cap ? b->tokens : cap;
	/*
	 * Long enough to fill the bucket: full. Not (cap / rate) * rate, which falls short of
	 * cap when rate does not divide it (rate 3, burst 1: 999999999, and a drained source's
	 * next SYN after any pause would be dropped). Otherwise elapsed * rate <= cap: no
	 * overflow.
	 */
	if (elapsed > cap / rate) {
		tokens = cap;
	} else {
		tokens += elapsed * rate;
		if (tokens > cap)
			tokens = cap;
	}
	if (now > b->last_ns)
		b->last_ns = now;
	if (tokens < NS_PER_SEC) {
		b->tokens = tokens;
		return 0;
	}
	b->tokens = tokens - NS_PER_SEC;
	return 1;
}

/* Step 5, owned addresses: one of the frame's candidates is in mmsc_owned. */
static __always_inline int for_owned(const struct flow *f)
{
	if (f->ncand >= 1 && bpf_map_lookup_elem(&mmsc_owned, &f->cand[0]))
		return 1;
	if (f->ncand >= 2 && bpf_map_lookup_elem(&mmsc_owned, &f->cand[1]))
		return 1;
	return 0;
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
	__u32 r;

	r = parse(data, data_end, len, &f);
	if (r == PARSE_TCP)
		cls = listener_class(&f);
	if (cls >= MMSC_CLASS_COUNT)
		cls = MMSC_CLASS_OTHER;
	/* step 6: every frame in its class, dropped ones included */
	count_class(cls, len);

	if (r != PARSE_TCP) {
		if (r < MMSC_SLOW_COUNT)
			count_stat(MMSC_STAT_SLOW_BASE + r);
		/* step 5: ARP, ICMP and ICMPv6 for an owned address, in redirect mode */
		if (f.ncand) {
			cfg = bpf_map_lookup_elem(&mmsc_config, &zero);
			if (cfg && cfg->mode == MMSC_MODE_REDIRECT && for_owned(&f)) {
				long act = bpf_redirect_map(&mmsc_xsks, ctx->rx_queue_index, XDP_PASS);

				count_stat(act == XDP_REDIRECT ? MMSC_STAT_REDIRECTED
							       : MMSC_STAT_REDIRECT_NO_SOCKET);
				count_stat(MMSC_STAT_REDIRECTED_OWNED);
				return act;
			}
		}
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

	/* step 5 */
	if (cfg->mode == MMSC_MODE_REDIRECT && (cls == MMSC_CLASS_MM1 || cls == MMSC_CLASS_MM4)) {
		/* no socket on this queue: XDP_PASS (the flags' low bits are the default action) */
		long act = bpf_redirect_map(&mmsc_xsks, ctx->rx_queue_index, XDP_PASS);

		count_stat(act == XDP_REDIRECT ? MMSC_STAT_REDIRECTED : MMSC_STAT_REDIRECT_NO_SOCKET);
		return act;
	}
	return XDP_PASS;
}

char _license[] SEC("license") = "Apache-2.0";
