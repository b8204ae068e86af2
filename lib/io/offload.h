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
	uint32_t pending; /* bytes of a super-packet in readbuf not yet cut */
};

/* Receive-side state: buffers for coalesced packets, owned by whoever
 * writes to the TUN (one thread). Zero-initialize; free when done. */
enum { OFFLOAD_GRO_ITEMS = 32 };

struct offload_rx {
	uint8_t *bufs[OFFLOAD_GRO_ITEMS];
	bool disabled; /* the kernel refused a coalesced write once */
};

void offload_rx_free(struct offload_rx *o);

int offload_tx_init(struct offload_tx *o, unsigned batch, bool vnet);
void offload_tx_free(struct offload_tx *o);

/* Reads what the TUN has (without blocking) into o->pkts, each packet at
 * data + WG_DATA_HEADER_LEN. Returns the count, or a negative errno when
 * the TUN itself failed. */
int offload_tun_read(struct tun *t, struct offload_tx *o);
/* Cuts one frame as read from a vnet-header TUN (virtio_net_hdr, then the
 * packet) into packets in slots n.. (TCP super-packets into MSS-sized
 * segments); returns the new count, unchanged if it does not fit. */
unsigned offload_split(struct offload_tx *o, unsigned n, const uint8_t *frame, uint32_t len);
/* Writes decrypted packets to the TUN (coalescing TCP for vnet TUNs). */
void offload_tun_write(struct tun *t, struct offload_rx *rx, const struct wg_buf *bufs, unsigned n);

void offload_udp_setup(struct udp_socks *s);
int offload_udp_send(const struct udp_socks *s, struct wg_endpoint *ep, const struct wg_buf *bufs, unsigned n);
int offload_udp_recv(int fd, struct wg_pkt *pkts, unsigned n);

#endif
