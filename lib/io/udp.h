/* SPDX-License-Identifier: MIT */
/* The UDP side of a userspace device: one socket per address family on
 * one port, batched I/O, and replies sent from the address a peer used. */
#ifndef WEFT_UDP_H
#define WEFT_UDP_H

#include <stdint.h>

#include "wg/device.h"

struct udp_socks {
	int fd4, fd6;
	uint16_t port;
};

/* Binds both families to *port (0: any free one, written back), with
 * fwmark, inside namespace ns_fd (-1: this thread's). IPv6 is skipped when
 * the host has none. Returns 0 or a negative errno. */
int udp_bind(struct udp_socks *s, uint16_t *port, uint32_t fwmark, int ns_fd);
void udp_close(struct udp_socks *s);
int udp_set_fwmark(struct udp_socks *s, uint32_t fwmark);

/* Sends n datagrams to ep; clears ep's source address if it no longer
 * works and retries. Returns 0 or a negative errno. */
int udp_send(const struct udp_socks *s, struct wg_endpoint *ep, const struct wg_buf *bufs, unsigned n);

/* Receives up to n datagrams from fd into pkts (data and cap preset).
 * Returns how many, 0 when none are waiting, or a negative errno. */
int udp_recv(int fd, struct wg_pkt *pkts, unsigned n);

#endif
