/*
 * Exported wrappers for DPDK functions and macros that are `static inline`
 * (or macros) in the headers, so Rust can call them.  Each wrapper has the
 * same contract as the DPDK function it names.
 */
#ifndef MULTIPLANE_SHIM_H
#define MULTIPLANE_SHIM_H
#include <stdint.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

uint16_t shim_rte_eth_rx_burst(uint16_t port_id, uint16_t queue_id,
                               struct rte_mbuf **rx_pkts, uint16_t nb_pkts);
uint16_t shim_rte_eth_tx_burst(uint16_t port_id, uint16_t queue_id,
                               struct rte_mbuf **tx_pkts, uint16_t nb_pkts);

struct rte_mbuf *shim_rte_pktmbuf_alloc(struct rte_mempool *mp);
int shim_rte_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs,
                                unsigned int count);
void shim_rte_pktmbuf_free(struct rte_mbuf *m);
char *shim_rte_pktmbuf_append(struct rte_mbuf *m, uint16_t len);
char *shim_rte_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len);
char *shim_rte_pktmbuf_adj(struct rte_mbuf *m, uint16_t len);
int shim_rte_pktmbuf_trim(struct rte_mbuf *m, uint16_t len);
uint16_t shim_rte_pktmbuf_headroom(const struct rte_mbuf *m);
uint16_t shim_rte_pktmbuf_tailroom(const struct rte_mbuf *m);

int shim_rte_mempool_get_bulk(struct rte_mempool *mp, void **obj_table, unsigned int n);
void shim_rte_mempool_put_bulk(struct rte_mempool *mp, void *const *obj_table, unsigned int n);

unsigned int shim_rte_ring_enqueue_burst(struct rte_ring *r, void *const *obj_table,
                                         unsigned int n, unsigned int *free_space);
unsigned int shim_rte_ring_dequeue_burst(struct rte_ring *r, void **obj_table,
                                         unsigned int n, unsigned int *available);

unsigned int shim_rte_lcore_id(void);
int shim_rte_errno(void);

/* RTE_ETH_RSS_* are composite macros bindgen cannot evaluate. */
uint64_t shim_rss_hf_ip(void);
uint64_t shim_rss_hf_tcp(void);
uint64_t shim_rss_hf_udp(void);

/* RTE_ETH_RX_OFFLOAD_VLAN_FILTER is a function-like macro bindgen cannot evaluate. */
uint64_t shim_rx_offload_vlan_filter(void);

/*
 * Puts the VLAN tag back into every frame of pkts whose tag the device stripped
 * (RTE_MBUF_F_RX_VLAN_STRIPPED, tag in vlan_tci), so the frame reads as it was on
 * the wire. Frames whose tag cannot be put back (shared mbuf, no headroom) are
 * freed. Returns how many frames remain, compacted to the front of pkts.
 */
uint16_t shim_restore_vlan_tags(struct rte_mbuf **pkts, uint16_t nb_pkts);

/*
 * Installs shim_restore_vlan_tags as an rx callback on one queue of a configured
 * port. Returns the callback handle (for rte_eth_remove_rx_callback and then
 * rte_free once nothing polls the queue), or NULL with rte_errno set.
 */
const struct rte_eth_rxtx_callback *shim_add_vlan_restore_callback(uint16_t port_id,
                                                                   uint16_t queue_id);
#endif
