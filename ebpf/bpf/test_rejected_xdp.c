// SPDX-License-Identifier: Apache-2.0
/*
 * Not loaded by mmsc: a program the verifier must refuse (it reads the packet without
 * checking data_end), for the unit test that verifier rejections reach the caller with
 * the end of the verifier log.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int mmsc_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;

	return *(__u8 *)(data + 20) == 1 ? XDP_DROP : XDP_PASS;
}

char _license[] SEC("license") = "Apache-2.0";
