// SPDX-License-Identifier: Apache-2.0
/*
 * mmsc SK_REUSEPORT program: puts each new connection of a SO_REUSEPORT group on the
 * listener of the core that owns its flow. mmsc_rp_socks[i] is core i's listener;
 * index = the kernel's 4-tuple hash % cores. Any failure (no config, empty slot, socket
 * of another group) leaves the choice to the kernel.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "mmsc_maps.h"

struct {
	__uint(type, BPF_MAP_TYPE_REUSEPORT_SOCKARRAY);
	__uint(max_entries, MMSC_MAX_CORES);
	__type(key, __u32);
	__type(value, __u32);
} mmsc_rp_socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mmsc_rp_config);
} mmsc_rp_config SEC(".maps");

SEC("sk_reuseport")
int mmsc_reuseport(struct sk_reuseport_md *md)
{
	__u32 zero = 0;
	struct mmsc_rp_config *cfg = bpf_map_lookup_elem(&mmsc_rp_config, &zero);
	__u32 idx;

	if (!cfg || cfg->cores == 0)
		return SK_PASS;
	idx = md->hash % cfg->cores;
	/* on error no socket is selected and the kernel picks one by its own hash */
	bpf_sk_select_reuseport(md, &mmsc_rp_socks, &idx, 0);
	return SK_PASS;
}

char _license[] SEC("license") = "Apache-2.0";
