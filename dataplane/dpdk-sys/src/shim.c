/* See shim.h. Compiled by build.rs with `pkg-config --cflags libdpdk`. */
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "shim.h"

int mmsc_rte_errno(void) { return rte_errno; }

unsigned int mmsc_rte_lcore_id(void) { return rte_lcore_id(); }

uint16_t mmsc_rte_eth_rx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **rx_pkts,
                               uint16_t nb_pkts) {
    return rte_eth_rx_burst(port_id, queue_id, rx_pkts, nb_pkts);
}

uint16_t mmsc_rte_eth_tx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **tx_pkts,
                               uint16_t nb_pkts) {
    return rte_eth_tx_burst(port_id, queue_id, tx_pkts, nb_pkts);
}

struct rte_mbuf *mmsc_rte_pktmbuf_alloc(struct rte_mempool *mp) { return rte_pktmbuf_alloc(mp); }

int mmsc_rte_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs,
                                unsigned int count) {
    return rte_pktmbuf_alloc_bulk(mp, mbufs, count);
}

void mmsc_rte_pktmbuf_free(struct rte_mbuf *m) { rte_pktmbuf_free(m); }

void *mmsc_rte_pktmbuf_mtod(struct rte_mbuf *m) { return rte_pktmbuf_mtod(m, void *); }

uint16_t mmsc_rte_pktmbuf_data_len(const struct rte_mbuf *m) { return rte_pktmbuf_data_len(m); }

uint32_t mmsc_rte_pktmbuf_pkt_len(const struct rte_mbuf *m) { return rte_pktmbuf_pkt_len(m); }

uint16_t mmsc_rte_pktmbuf_nb_segs(const struct rte_mbuf *m) { return m->nb_segs; }

uint16_t mmsc_rte_pktmbuf_headroom(const struct rte_mbuf *m) { return rte_pktmbuf_headroom(m); }

uint16_t mmsc_rte_pktmbuf_tailroom(const struct rte_mbuf *m) { return rte_pktmbuf_tailroom(m); }

char *mmsc_rte_pktmbuf_append(struct rte_mbuf *m, uint16_t len) {
    return rte_pktmbuf_append(m, len);
}

char *mmsc_rte_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len) {
    return rte_pktmbuf_prepend(m, len);
}

char *mmsc_rte_pktmbuf_adj(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_adj(m, len); }

int mmsc_rte_pktmbuf_trim(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_trim(m, len); }

struct rte_mempool *mmsc_rte_mbuf_pool(const struct rte_mbuf *m) { return m->pool; }

uint16_t mmsc_rte_mbuf_port(const struct rte_mbuf *m) { return m->port; }

uint32_t mmsc_rte_mbuf_rss_hash(const struct rte_mbuf *m) { return m->hash.rss; }

uint16_t mmsc_rte_mbuf_refcnt(const struct rte_mbuf *m) { return rte_mbuf_refcnt_read(m); }

void mmsc_rte_mempool_cache_flush(struct rte_mempool *mp) {
    struct rte_mempool_cache *cache = rte_mempool_default_cache(mp, rte_lcore_id());
    if (cache != NULL)
        rte_mempool_cache_flush(cache, mp);
}

uint16_t mmsc_rte_mbuf_default_buf_size(void) { return RTE_MBUF_DEFAULT_BUF_SIZE; }

uint16_t mmsc_rte_pktmbuf_headroom_default(void) { return RTE_PKTMBUF_HEADROOM; }

unsigned int mmsc_rte_max_lcore(void) { return RTE_MAX_LCORE; }

uint64_t mmsc_rte_eth_rss_ip_tcp_udp(void) {
    return RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP;
}
