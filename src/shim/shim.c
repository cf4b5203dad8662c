/* See shim.h: thin exported wrappers around DPDK's static-inline functions. */
#include "shim.h"
#include <rte_errno.h>
#include <rte_lcore.h>

uint16_t shim_rte_eth_rx_burst(uint16_t port_id, uint16_t queue_id,
                               struct rte_mbuf **rx_pkts, uint16_t nb_pkts)
{
	return rte_eth_rx_burst(port_id, queue_id, rx_pkts, nb_pkts);
}

uint16_t shim_rte_eth_tx_burst(uint16_t port_id, uint16_t queue_id,
                               struct rte_mbuf **tx_pkts, uint16_t nb_pkts)
{
	return rte_eth_tx_burst(port_id, queue_id, tx_pkts, nb_pkts);
}

struct rte_mbuf *shim_rte_pktmbuf_alloc(struct rte_mempool *mp)
{
	return rte_pktmbuf_alloc(mp);
}

int shim_rte_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs,
                                unsigned int count)
{
	return rte_pktmbuf_alloc_bulk(mp, mbufs, count);
}

void shim_rte_pktmbuf_free(struct rte_mbuf *m)
{
	rte_pktmbuf_free(m);
}

char *shim_rte_pktmbuf_append(struct rte_mbuf *m, uint16_t len)
{
	return rte_pktmbuf_append(m, len);
}

char *shim_rte_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len)
{
	return rte_pktmbuf_prepend(m, len);
}

char *shim_rte_pktmbuf_adj(struct rte_mbuf *m, uint16_t len)
{
	return rte_pktmbuf_adj(m, len);
}

int shim_rte_pktmbuf_trim(struct rte_mbuf *m, uint16_t len)
{
	return rte_pktmbuf_trim(m, len);
}

uint16_t shim_rte_pktmbuf_headroom(const struct rte_mbuf *m)
{
	return rte_pktmbuf_headroom(m);
}

uint16_t shim_rte_pktmbuf_tailroom(const struct rte_mbuf *m)
{
	return rte_pktmbuf_tailroom(m);
}

int shim_rte_mempool_get_bulk(struct rte_mempool *mp, void **obj_table, unsigned int n)
{
	return rte_mempool_get_bulk(mp, obj_table, n);
}

void shim_rte_mempool_put_bulk(struct rte_mempool *mp, void *const *obj_table, unsigned int n)
{
	rte_mempool_put_bulk(mp, obj_table, n);
}

unsigned int shim_rte_ring_enqueue_burst(struct rte_ring *r, void *const *obj_table,
                                         unsigned int n, unsigned int *free_space)
{
	return rte_ring_enqueue_burst(r, obj_table, n, free_space);
}

unsigned int shim_rte_ring_dequeue_burst(struct rte_ring *r, void **obj_table,
                                         unsigned int n, unsigned int *available)
{
	return rte_ring_dequeue_burst(r, obj_table, n, available);
}

unsigned int shim_rte_lcore_id(void)
{
	return rte_lcore_id();
}

int shim_rte_errno(void)
{
	return rte_errno;
}

uint64_t shim_rss_hf_ip(void)
{
	return RTE_ETH_RSS_IP;
}

uint64_t shim_rss_hf_tcp(void)
{
	return RTE_ETH_RSS_TCP;
}

uint64_t shim_rss_hf_udp(void)
{
	return RTE_ETH_RSS_UDP;
}

uint64_t shim_rx_offload_vlan_filter(void)
{
	return RTE_ETH_RX_OFFLOAD_VLAN_FILTER;
}

uint16_t shim_restore_vlan_tags(struct rte_mbuf **pkts, uint16_t nb_pkts)
{
	uint16_t kept = 0;

	for (uint16_t i = 0; i < nb_pkts; i++) {
		struct rte_mbuf *m = pkts[i];

		if ((m->ol_flags & RTE_MBUF_F_RX_VLAN_STRIPPED) && rte_vlan_insert(&m) != 0) {
			rte_pktmbuf_free(m);
			continue;
		}
		pkts[kept++] = m;
	}
	return kept;
}

static uint16_t vlan_restore_callback(uint16_t port_id, uint16_t queue_id,
				      struct rte_mbuf **pkts, uint16_t nb_pkts,
				      uint16_t max_pkts, void *user_param)
{
	(void)port_id;
	(void)queue_id;
	(void)max_pkts;
	(void)user_param;
	return shim_restore_vlan_tags(pkts, nb_pkts);
}

const struct rte_eth_rxtx_callback *shim_add_vlan_restore_callback(uint16_t port_id,
								   uint16_t queue_id)
{
	return rte_eth_add_rx_callback(port_id, queue_id, vlan_restore_callback, NULL);
}
