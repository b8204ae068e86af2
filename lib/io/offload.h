/* SPDX-License-Identifier: MIT */
/*
 * Moving packets between the TUN, the device core and the UDP sockets in
 * batches. With a vnet-header TUN, reads may be TCP "super-packets" (up to
 * 64 KiB, from the kernel's segmentation offload) which are cut here into
 * MTU-sized packets, and writes coalesce consecutive TCP segments of one
 * flow back into super-packets, so the kernel's TCP stack sees a few large
 * packets instead of many small ones.
 */
#ifndef WEFT_OFFLOAD_H
#define WEFT_OFFLOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "tun.h"
#include "udp.h"
#include "wg/device.h"

struct offload_tx {
	struct wg_pkt *pkts;
	uint8_t *arena;
	unsigned batch;
	uint32_t slot;
	bool vnet;
	uint8_t *readbuf; /* one super-packet, for vnet TUNs */
};

int offload_tx_init(struct offload_tx *o, unsigned batch, bool vnet);
void offload_tx_free(struct offload_tx *o);

/* Reads what the TUN has (without blocking) into o->pkts, each packet at
 * data + WG_DATA_HEADER_LEN. Returns the count, or a negative errno when
 * the TUN itself failed. */
int offload_tun_read(struct tun *t, struct offload_tx *o);
/* Writes decrypted packets to the TUN. */
void offload_tun_write(struct tun *t, const struct wg_buf *bufs, unsigned n);

void offload_udp_setup(struct udp_socks *s);
int offload_udp_send(const struct udp_socks *s, struct wg_endpoint *ep, const struct wg_buf *bufs, unsigned n);
int offload_udp_recv(int fd, struct wg_pkt *pkts, unsigned n);

#endif
