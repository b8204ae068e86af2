// SPDX-License-Identifier: MIT
#include "offload.h"

#include <errno.h>
#include <linux/virtio_net.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "wg/messages.h"

enum { VNET_HDR_LEN = sizeof(struct virtio_net_hdr), MAX_PACKET = 65535 };

int offload_tx_init(struct offload_tx *o, unsigned batch, bool vnet)
{
	memset(o, 0, sizeof(*o));
	o->batch = batch;
	o->vnet = vnet;
	/* Room for the largest IP packet, the data header, padding and tag. */
	o->slot = (uint32_t)(wg_tx_room(MAX_PACKET) + 63) & ~63u;
	o->pkts = calloc(batch, sizeof(*o->pkts));
	o->arena = malloc((size_t)batch * o->slot);
	if (vnet)
		o->readbuf = malloc(VNET_HDR_LEN + MAX_PACKET);
	if (!o->pkts || !o->arena || (vnet && !o->readbuf)) {
		offload_tx_free(o);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < batch; ++i) {
		o->pkts[i].data = o->arena + (size_t)i * o->slot;
		o->pkts[i].cap = o->slot;
	}
	return 0;
}

void offload_tx_free(struct offload_tx *o)
{
	free(o->pkts);
	free(o->arena);
	free(o->readbuf);
	o->pkts = NULL;
	o->arena = o->readbuf = NULL;
}

int offload_tun_read(struct tun *t, struct offload_tx *o)
{
	unsigned n = 0;

	while (n < o->batch) {
		ssize_t r;

		if (o->vnet) {
			struct iovec iov[2] = {
				{ o->readbuf, VNET_HDR_LEN },
				{ o->pkts[n].data + WG_DATA_HEADER_LEN, MAX_PACKET },
			};

			r = readv(t->fd, iov, 2);
			if (r >= 0 && r < VNET_HDR_LEN)
				continue;
			r -= VNET_HDR_LEN;
		} else {
			r = read(t->fd, o->pkts[n].data + WG_DATA_HEADER_LEN, MAX_PACKET);
		}
		if (r < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				break;
			return n ? (int)n : -errno;
		}
		if (r == 0)
			continue;
		o->pkts[n].len = (uint32_t)r;
		o->pkts[n].cap = o->slot;
		++n;
	}
	return (int)n;
}

void offload_tun_write(struct tun *t, const struct wg_buf *bufs, unsigned n)
{
	static const struct virtio_net_hdr zero;

	for (unsigned i = 0; i < n; ++i) {
		if (t->vnet_hdr) {
			struct iovec iov[2] = { { (void *)&zero, VNET_HDR_LEN }, { bufs[i].data, bufs[i].len } };

			if (writev(t->fd, iov, 2) < 0) {
				/* A full or downed interface drops, as a kernel one would. */
			}
		} else if (write(t->fd, bufs[i].data, bufs[i].len) < 0) {
			/* likewise */
		}
	}
}

void offload_udp_setup(struct udp_socks *s)
{
}

int offload_udp_send(const struct udp_socks *s, struct wg_endpoint *ep, const struct wg_buf *bufs, unsigned n)
{
	return udp_send(s, ep, bufs, n);
}

int offload_udp_recv(int fd, struct wg_pkt *pkts, unsigned n)
{
	return udp_recv(fd, pkts, n);
}
