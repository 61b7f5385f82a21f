/*
 * mmsc's shim over DPDK's static-inline fast-path functions.
 *
 * DPDK implements rx/tx bursts, mbuf allocation and freeing, and the per-lcore variables
 * (rte_errno, the lcore id) as static inline functions and macros in its headers, which
 * bindgen cannot link against. Each function below is a real, exported function that calls
 * the inline one; build.rs compiles shim.c with the same flags as DPDK itself
 * (`pkg-config --cflags libdpdk`, including `-include rte_config.h` and `-march`), so the
 * struct layouts the inline code sees are DPDK's own.
 */
#ifndef MMSC_DPDK_SHIM_H
#define MMSC_DPDK_SHIM_H

#include <stdint.h>

struct rte_mbuf;
struct rte_mempool;

/* rte_errno of the calling thread (a per-lcore TLS variable behind a macro). */
int mmsc_rte_errno(void);
/* rte_lcore_id(): the calling thread's lcore id, or LCORE_ID_ANY (UINT32_MAX) for a thread
 * that is not an EAL thread and was not registered. */
unsigned int mmsc_rte_lcore_id(void);

/* rte_eth_rx_burst / rte_eth_tx_burst. The caller owns queue `queue_id` on this thread. */
uint16_t mmsc_rte_eth_rx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **rx_pkts,
                               uint16_t nb_pkts);
uint16_t mmsc_rte_eth_tx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **tx_pkts,
                               uint16_t nb_pkts);

/* rte_pktmbuf_alloc / rte_pktmbuf_alloc_bulk / rte_pktmbuf_free. */
struct rte_mbuf *mmsc_rte_pktmbuf_alloc(struct rte_mempool *mp);
int mmsc_rte_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs,
                                unsigned int count);
void mmsc_rte_pktmbuf_free(struct rte_mbuf *m);

/* rte_pktmbuf_mtod(m, void *): the first segment's data. */
void *mmsc_rte_pktmbuf_mtod(struct rte_mbuf *m);
/* The first segment's length (m->data_len) and the whole packet's (m->pkt_len). */
uint16_t mmsc_rte_pktmbuf_data_len(const struct rte_mbuf *m);
uint32_t mmsc_rte_pktmbuf_pkt_len(const struct rte_mbuf *m);
uint16_t mmsc_rte_pktmbuf_nb_segs(const struct rte_mbuf *m);
uint16_t mmsc_rte_pktmbuf_headroom(const struct rte_mbuf *m);
uint16_t mmsc_rte_pktmbuf_tailroom(const struct rte_mbuf *m);
/* rte_pktmbuf_append / rte_pktmbuf_prepend: NULL when the room is too small. */
char *mmsc_rte_pktmbuf_append(struct rte_mbuf *m, uint16_t len);
char *mmsc_rte_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len);
/* rte_pktmbuf_adj (remove from the front) / rte_pktmbuf_trim (from the back). */
char *mmsc_rte_pktmbuf_adj(struct rte_mbuf *m, uint16_t len);
int mmsc_rte_pktmbuf_trim(struct rte_mbuf *m, uint16_t len);
/* The mempool an mbuf belongs to (m->pool), its input port (m->port) and RSS hash. */
struct rte_mempool *mmsc_rte_mbuf_pool(const struct rte_mbuf *m);
uint16_t mmsc_rte_mbuf_port(const struct rte_mbuf *m);
uint32_t mmsc_rte_mbuf_rss_hash(const struct rte_mbuf *m);
/* The mbuf's reference count (1 unless someone cloned it). */
uint16_t mmsc_rte_mbuf_refcnt(const struct rte_mbuf *m);

/* rte_mempool_avail_count is a real function; the per-lcore cache flush is inline. */
void mmsc_rte_mempool_cache_flush(struct rte_mempool *mp);

/* Compile-time constants that are expressions bindgen cannot evaluate. */
uint16_t mmsc_rte_mbuf_default_buf_size(void);
uint16_t mmsc_rte_pktmbuf_headroom_default(void);
unsigned int mmsc_rte_max_lcore(void);
/* RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP: the RSS hash types spreading flows over
 * rx queues (a port keeps those its device supports). */
uint64_t mmsc_rte_eth_rss_ip_tcp_udp(void);

#endif
