// SPDX-License-Identifier: Apache-2.0
/*
 * Not loaded by mmsc: another tool's XDP program (passes everything), for the test that
 * the loader leaves a foreign program alone unless told to replace it.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int other_tool_xdp(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char _license[] SEC("license") = "Apache-2.0";
