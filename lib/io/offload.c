// SPDX-License-Identifier: MIT
/*
 * Batching across the kernel boundary.
 *
 * TUN, read: with IFF_VNET_HDR and TUNSETOFFLOAD(CSUM|TSO4|TSO6) the kernel
 * hands us TCP segments of up to 64 KiB with a virtio_net_hdr in front; we
 * cut them into MSS-sized packets (each with correct IP and TCP headers and
 * checksums) straight into the transmit slots.
 *
 * TUN, write: consecutive decrypted segments of one TCP flow are coalesced
 * into one super-packet with a GSO header, so the receiving stack handles
 * one packet per 64 KiB instead of ~45. Like kernel WireGuard, which marks
 * decrypted packets CHECKSUM_UNNECESSARY, we do not re-verify inner
 * checksums: the AEAD tag already proved the bytes are the sender's.
 *
 * UDP segmentation offload on send lives in udp.c.
 */
#include "offload.h"

#include <endian.h>
#include <errno.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "wg/messages.h"

enum {
	VNET_HDR_LEN = sizeof(struct virtio_net_hdr),
	MAX_PACKET = 65535,
	TCP_FLAG_FIN = 0x01,
	TCP_FLAG_SYN = 0x02,
	TCP_FLAG_RST = 0x04,
	TCP_FLAG_PSH = 0x08,
	TCP_FLAG_ACK = 0x10,
};

/* --- one's complement sums (RFC 1071), in memory byte order ----------- */

static uint64_t csum_add(uint64_t acc, const uint8_t *p, size_t len)
{
	while (len >= 8) {
		uint64_t v;

		memcpy(&v, p, 8);
		acc += (v & 0xffffffffu) + (v >> 32);
		p += 8;
		len -= 8;
	}
	if (len >= 4) {
		uint32_t v;

		memcpy(&v, p, 4);
		acc += v;
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		uint16_t v;

		memcpy(&v, p, 2);
		acc += v;
		p += 2;
		len -= 2;
	}
	if (len) {
		/* A trailing byte is the first byte of a zero-padded word. */
		uint8_t w[2] = { p[0], 0 };
		uint16_t v;

		memcpy(&v, w, 2);
		acc += v;
	}
	return acc;
}

static uint16_t csum_fold(uint64_t acc)
{
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return (uint16_t)acc;
}

/* Sum of the TCP/UDP pseudo-header for a packet whose IP header is at ip. */
static uint64_t pseudo_sum(const uint8_t *ip, bool v6, uint8_t proto, uint32_t l4_len)
{
	uint8_t tail[4] = { 0, proto, (uint8_t)(l4_len >> 8), (uint8_t)l4_len };
	uint64_t acc = v6 ? csum_add(0, ip + 8, 32) : csum_add(0, ip + 12, 8);

	if (v6) {
		uint8_t len32[4] = { (uint8_t)(l4_len >> 24), (uint8_t)(l4_len >> 16), (uint8_t)(l4_len >> 8),
				     (uint8_t)l4_len };

		acc = csum_add(acc, len32, 4);
		tail[2] = tail[3] = 0;
	}
	return csum_add(acc, tail, 4);
}

static void put_csum(uint8_t *field, uint16_t v)
{
	memcpy(field, &v, 2);
}

static void ipv4_header_csum(uint8_t *ip)
{
	unsigned ihl = (ip[0] & 0xf) * 4u;

	ip[10] = ip[11] = 0;
	put_csum(ip + 10, (uint16_t)~csum_fold(csum_add(0, ip, ihl)));
}

static uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put_be16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* --- transmit side ---------------------------------------------------- */

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

static uint8_t *slot(struct offload_tx *o, unsigned i)
{
	o->pkts[i].data = o->arena + (size_t)i * o->slot;
	o->pkts[i].cap = o->slot;
	return o->pkts[i].data + WG_DATA_HEADER_LEN;
}

/* A non-GSO packet whose checksum the kernel left for us to finish. */
static void finish_csum(uint8_t *pkt, uint32_t len, uint16_t start, uint16_t off)
{
	uint16_t partial;

	if ((uint32_t)start + off + 2 > len)
		return;
	memcpy(&partial, pkt + start + off, 2);
	pkt[start + off] = pkt[start + off + 1] = 0;
	put_csum(pkt + start + off, (uint16_t)~csum_fold(csum_add(partial, pkt + start, len - start)));
}

/*
 * Cuts the TCP super-packet in pkt into segments of at most gso_size
 * payload bytes, in slots from *n on. Returns false if it is not a packet
 * we can cut (it is then dropped, as a kernel would drop a bad frame).
 */
static bool tso_split(struct offload_tx *o, unsigned *n, const uint8_t *pkt, uint32_t len,
		      const struct virtio_net_hdr *vh)
{
	bool v6 = vh->gso_type == VIRTIO_NET_HDR_GSO_TCPV6;
	uint32_t iph = le16toh(vh->csum_start), gso = le16toh(vh->gso_size), tcph, hdr, seq;
	uint16_t id;

	if (iph < (v6 ? 40u : 20u) || iph + 20 > len || !gso)
		return false;
	tcph = (pkt[iph + 12] >> 4) * 4u;
	hdr = iph + tcph;
	if (tcph < 20 || hdr > len || (pkt[0] >> 4) != (v6 ? 6 : 4))
		return false;
	seq = get_be32(pkt + iph + 4);
	id = get_be16(pkt + 4);
	for (uint32_t off = hdr, i = 0; off < len; off += gso, ++i) {
		uint32_t chunk = len - off < gso ? len - off : gso, total = hdr + chunk;
		uint8_t *seg = slot(o, *n), *tcp = seg + iph;
		bool last = off + chunk >= len;

		memcpy(seg, pkt, hdr);
		memcpy(seg + hdr, pkt + off, chunk);
		if (v6) {
			put_be16(seg + 4, total - 40);
		} else {
			put_be16(seg + 2, total);
			put_be16(seg + 4, (uint16_t)(id + i));
			ipv4_header_csum(seg);
		}
		put_be32(tcp + 4, seq + (off - hdr));
		if (!last)
			tcp[13] &= (uint8_t) ~(TCP_FLAG_FIN | TCP_FLAG_PSH);
		tcp[16] = tcp[17] = 0;
		put_csum(tcp + 16,
			 (uint16_t)~csum_fold(csum_add(pseudo_sum(seg, v6, IPPROTO_TCP, tcph + chunk), tcp, tcph + chunk)));
		o->pkts[*n].len = total;
		++*n;
	}
	return true;
}

/* Segments a super-packet would make, or 1. */
static unsigned segments_of(const struct virtio_net_hdr *vh, uint32_t len, const uint8_t *pkt)
{
	uint32_t iph = le16toh(vh->csum_start), gso = le16toh(vh->gso_size), hdr;

	if (vh->gso_type == VIRTIO_NET_HDR_GSO_NONE || !gso || iph + 20 > len)
		return 1;
	hdr = iph + (pkt[iph + 12] >> 4) * 4u;
	return hdr >= len ? 1 : (len - hdr + gso - 1) / gso;
}

unsigned offload_split(struct offload_tx *o, unsigned n, const uint8_t *frame, uint32_t len)
{
	struct virtio_net_hdr vh;
	const uint8_t *pkt = frame + VNET_HDR_LEN;

	if (len <= VNET_HDR_LEN)
		return n;
	memcpy(&vh, frame, VNET_HDR_LEN);
	len -= VNET_HDR_LEN;
	if (n + segments_of(&vh, len, pkt) > o->batch)
		return n;
	if (vh.gso_type == VIRTIO_NET_HDR_GSO_NONE) {
		uint8_t *dst = slot(o, n);

		memcpy(dst, pkt, len);
		if (vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)
			finish_csum(dst, len, le16toh(vh.csum_start), le16toh(vh.csum_offset));
		o->pkts[n++].len = len;
	} else if ((vh.gso_type & ~VIRTIO_NET_HDR_GSO_ECN) == VIRTIO_NET_HDR_GSO_TCPV4 ||
		   (vh.gso_type & ~VIRTIO_NET_HDR_GSO_ECN) == VIRTIO_NET_HDR_GSO_TCPV6) {
		vh.gso_type &= (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
		tso_split(o, &n, pkt, len, &vh);
	}
	/* Anything else (UDP GSO we never asked for) is dropped. */
	return n;
}

int offload_tun_read(struct tun *t, struct offload_tx *o)
{
	unsigned n = 0;

	while (n < o->batch) {
		struct virtio_net_hdr vh;
		const uint8_t *pkt;
		ssize_t r;

		if (!o->vnet) {
			r = read(t->fd, slot(o, n), MAX_PACKET);
			if (r < 0)
				goto error;
			if (r > 0)
				o->pkts[n++].len = (uint32_t)r;
			continue;
		}
		/* A super-packet that did not fit the last batch goes first. */
		if (!o->pending) {
			r = read(t->fd, o->readbuf, VNET_HDR_LEN + MAX_PACKET);
			if (r < 0)
				goto error;
			if (r <= VNET_HDR_LEN)
				continue;
			o->pending = (uint32_t)r - VNET_HDR_LEN;
		}
		memcpy(&vh, o->readbuf, VNET_HDR_LEN);
		pkt = o->readbuf + VNET_HDR_LEN;
		if (n && n + segments_of(&vh, o->pending, pkt) > o->batch)
			break;
		n = offload_split(o, n, o->readbuf, o->pending + VNET_HDR_LEN);
		o->pending = 0;
	}
	return (int)n;
error:
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return (int)n;
	return n ? (int)n : -errno;
}

/* --- receive side: coalescing TCP for the TUN ------------------------- */

struct gro_item {
	const uint8_t *head; /* the first segment, as received */
	uint32_t head_len;
	uint32_t iph, tcph;
	uint32_t gso;        /* payload of the first segment */
	uint32_t total;      /* length of the coalesced packet */
	uint32_t next_seq;
	unsigned count;
	bool closed;         /* a short or PSH segment ended it */
	bool psh;
	uint8_t *out;        /* the coalesced packet, once count > 1 */
};

void offload_rx_free(struct offload_rx *o)
{
	for (unsigned i = 0; i < OFFLOAD_GRO_ITEMS; ++i) {
		free(o->bufs[i]);
		o->bufs[i] = NULL;
	}
}

static bool is_gro_candidate(const uint8_t *p, uint32_t len, uint32_t *iph, uint32_t *tcph, bool *v6)
{
	uint32_t payload;

	if (len < 40)
		return false;
	if (p[0] >> 4 == 4) {
		if ((p[0] & 0xf) != 5 || p[9] != IPPROTO_TCP || get_be16(p + 2) != len ||
		    (get_be16(p + 6) & 0x3fff))
			return false;
		*iph = 20;
		*v6 = false;
	} else if (p[0] >> 4 == 6) {
		if (len < 60 || p[6] != IPPROTO_TCP || get_be16(p + 4) + 40u != len)
			return false;
		*iph = 40;
		*v6 = true;
	} else {
		return false;
	}
	*tcph = (p[*iph + 12] >> 4) * 4u;
	if (*tcph < 20 || *iph + *tcph > len)
		return false;
	/* Only plain data: ACK, maybe PSH; nothing that changes state. */
	if ((p[*iph + 13] & ~TCP_FLAG_PSH) != TCP_FLAG_ACK)
		return false;
	payload = len - *iph - *tcph;
	return payload > 0;
}

/* Same flow, same ACK, same options and compatible IP headers. */
static bool same_flow(const struct gro_item *it, const uint8_t *p, uint32_t iph, uint32_t tcph)
{
	const uint8_t *h = it->head;

	if (iph != it->iph || tcph != it->tcph)
		return false;
	if (iph == 20) {
		if (h[1] != p[1] || h[8] != p[8] || (h[6] & 0xe0) != (p[6] & 0xe0) || memcmp(h + 12, p + 12, 8))
			return false;
	} else {
		if (h[0] != p[0] || (h[1] & 0xf0) != (p[1] & 0xf0) || h[7] != p[7] || memcmp(h + 8, p + 8, 32))
			return false;
	}
	/* ports, ACK number; then the options byte for byte */
	return !memcmp(h + iph, p + iph, 4) && !memcmp(h + iph + 8, p + iph + 8, 4) &&
	       !memcmp(h + iph + 20, p + iph + 20, tcph - 20);
}

/* Appends a segment to an item whose packet is being built in it->out. */
static bool gro_append(struct gro_item *it, const uint8_t *p, uint32_t len)
{
	uint32_t hdr = it->iph + it->tcph, payload = len - hdr;

	if (it->closed || get_be32(p + it->iph + 4) != it->next_seq || payload > it->gso ||
	    it->total + payload > MAX_PACKET)
		return false;
	memcpy(it->out + VNET_HDR_LEN + it->total, p + hdr, payload);
	it->total += payload;
	it->next_seq += payload;
	++it->count;
	/* Segments are equal but for a shorter last; PSH ends the run. */
	if (payload < it->gso || (p[it->iph + 13] & TCP_FLAG_PSH)) {
		it->closed = true;
		it->psh = p[it->iph + 13] & TCP_FLAG_PSH;
	}
	return true;
}

static void write_plain(struct tun *t, const uint8_t *p, uint32_t len)
{
	static const struct virtio_net_hdr zero;
	struct iovec iov[2] = { { (void *)&zero, VNET_HDR_LEN }, { (void *)p, len } };

	if (writev(t->fd, iov, 2) < 0) {
		/* A full or downed interface drops, as a kernel one would. */
	}
}

static void write_item(struct tun *t, struct offload_rx *rx, struct gro_item *it)
{
	struct virtio_net_hdr vh = { 0 };
	uint8_t *p, *tcp;
	bool v6 = it->iph == 40;
	ssize_t r;

	if (it->count == 1) {
		write_plain(t, it->head, it->head_len);
		return;
	}
	p = it->out + VNET_HDR_LEN;
	tcp = p + it->iph;
	if (v6) {
		put_be16(p + 4, it->total - 40);
	} else {
		put_be16(p + 2, it->total);
		ipv4_header_csum(p);
	}
	if (it->psh)
		tcp[13] |= TCP_FLAG_PSH;
	/* CHECKSUM_PARTIAL: the field holds the pseudo-header sum, not
	 * inverted; the kernel completes it if it ever needs it. */
	tcp[16] = tcp[17] = 0;
	put_csum(tcp + 16, csum_fold(pseudo_sum(p, v6, IPPROTO_TCP, it->total - it->iph)));
	vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	vh.gso_type = v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
	vh.hdr_len = htole16((uint16_t)(it->iph + it->tcph));
	vh.gso_size = htole16((uint16_t)it->gso);
	vh.csum_start = htole16((uint16_t)it->iph);
	vh.csum_offset = htole16(16);
	memcpy(it->out, &vh, VNET_HDR_LEN);
	r = write(t->fd, it->out, VNET_HDR_LEN + it->total);
	if (r < 0 && errno == EINVAL) {
		/* Some kernels (6.6.44/45, a few vendor ones) refuse coalesced
		 * writes: stop coalescing. This one packet is lost; TCP resends. */
		rx->disabled = true;
	}
}

void offload_tun_write(struct tun *t, struct offload_rx *rx, const struct wg_buf *bufs, unsigned n)
{
	struct gro_item items[OFFLOAD_GRO_ITEMS];
	unsigned nitems = 0, used_bufs = 0;

	if (!t->vnet_hdr) {
		for (unsigned i = 0; i < n; ++i)
			if (write(t->fd, bufs[i].data, bufs[i].len) < 0) {
				/* dropped, as by a full queue */
			}
		return;
	}
	for (unsigned i = 0; i < n; ++i) {
		const uint8_t *p = bufs[i].data;
		uint32_t len = bufs[i].len, iph, tcph;
		bool v6, merged = false;

		if (rx->disabled || !is_gro_candidate(p, len, &iph, &tcph, &v6)) {
			/* Keep order: flush what came before it. */
			for (unsigned k = 0; k < nitems; ++k)
				write_item(t, rx, &items[k]);
			nitems = used_bufs = 0;
			write_plain(t, p, len);
			continue;
		}
		for (unsigned k = nitems; k-- > 0;) {
			struct gro_item *it = &items[k];

			if (!same_flow(it, p, iph, tcph))
				continue;
			if (!it->out && !it->closed) {
				/* The second segment: start building the packet. */
				if (used_bufs == OFFLOAD_GRO_ITEMS ||
				    (!rx->bufs[used_bufs] &&
				     !(rx->bufs[used_bufs] = malloc(VNET_HDR_LEN + MAX_PACKET))))
					break;
				it->out = rx->bufs[used_bufs++];
				memcpy(it->out + VNET_HDR_LEN, it->head, it->head_len);
			}
			if (it->out)
				merged = gro_append(it, p, len);
			break;
		}
		if (merged)
			continue;
		if (nitems == OFFLOAD_GRO_ITEMS) {
			for (unsigned k = 0; k < nitems; ++k)
				write_item(t, rx, &items[k]);
			nitems = used_bufs = 0;
		}
		items[nitems++] = (struct gro_item){
			.head = p,
			.head_len = len,
			.iph = iph,
			.tcph = tcph,
			.gso = len - iph - tcph,
			.total = len,
			.next_seq = get_be32(p + iph + 4) + (len - iph - tcph),
			.count = 1,
			.closed = (p[iph + 13] & TCP_FLAG_PSH) != 0,
			.psh = (p[iph + 13] & TCP_FLAG_PSH) != 0,
		};
	}
	for (unsigned k = 0; k < nitems; ++k)
		write_item(t, rx, &items[k]);
}

/* --- UDP -------------------------------------------------------------- */

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
