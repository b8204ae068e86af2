// SPDX-License-Identifier: MIT
/* TCP segmentation of TUN super-packets and coalescing on the way back,
 * checked against an independent, byte-by-byte checksum. */
#include "test.h"

#include <arpa/inet.h>
#include <linux/virtio_net.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io/offload.h"
#include "wg/messages.h"

/* RFC 1071, the slow and obvious way. */
static uint32_t sum16(const uint8_t *p, size_t len, uint32_t acc)
{
	for (size_t i = 0; i < len; i += 2)
		acc += (uint32_t)p[i] << 8 | (i + 1 < len ? p[i + 1] : 0);
	return acc;
}

static uint16_t fold(uint32_t acc)
{
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return (uint16_t)acc;
}

static bool ipv4_header_ok(const uint8_t *ip)
{
	return fold(sum16(ip, 20, 0)) == 0xffff;
}

/* The TCP pseudo-header's sum, for an IP header at ip and l4 TCP bytes. */
static uint32_t pseudo(const uint8_t *ip, bool v6, uint32_t l4)
{
	uint8_t ph[40] = { 0 };

	if (v6) {
		memcpy(ph, ip + 8, 32);
		ph[32] = (uint8_t)(l4 >> 24);
		ph[33] = (uint8_t)(l4 >> 16);
		ph[34] = (uint8_t)(l4 >> 8);
		ph[35] = (uint8_t)l4;
		ph[39] = 6;
		return sum16(ph, 40, 0);
	}
	memcpy(ph, ip + 12, 8);
	ph[9] = 6;
	ph[10] = (uint8_t)(l4 >> 8);
	ph[11] = (uint8_t)l4;
	return sum16(ph, 12, 0);
}

/* The TCP checksum over pseudo-header and segment verifies. */
static bool tcp_ok(const uint8_t *ip, uint32_t len)
{
	bool v6 = ip[0] >> 4 == 6;
	uint32_t iph = v6 ? 40 : 20;

	return fold(sum16(ip + iph, len - iph, pseudo(ip, v6, len - iph))) == 0xffff;
}

/* A TCP super-packet as the kernel hands it over: payload bytes i & 0xff,
 * the checksum field holding the pseudo-header partial sum. */
static uint32_t make_super(uint8_t *frame, bool v6, uint32_t payload, uint16_t mss, uint8_t flags)
{
	struct virtio_net_hdr vh = { 0 };
	uint8_t *ip = frame + sizeof(vh), *tcp;
	uint32_t iph = v6 ? 40 : 20, tcph = 32, len = iph + tcph + payload, l4 = tcph + payload;
	uint32_t acc;

	memset(ip, 0, iph + tcph);
	if (v6) {
		ip[0] = 0x60;
		ip[4] = (uint8_t)((len - 40) >> 8);
		ip[5] = (uint8_t)(len - 40);
		ip[6] = 6;
		ip[7] = 64;
		inet_pton(AF_INET6, "fd00::1", ip + 8);
		inet_pton(AF_INET6, "fd00::2", ip + 24);
	} else {
		ip[0] = 0x45;
		ip[2] = (uint8_t)(len >> 8);
		ip[3] = (uint8_t)len;
		ip[4] = 0x12;
		ip[5] = 0x34;
		ip[6] = 0x40; /* DF */
		ip[8] = 64;
		ip[9] = 6;
		inet_pton(AF_INET, "192.168.241.1", ip + 12);
		inet_pton(AF_INET, "192.168.241.2", ip + 16);
		acc = (uint16_t)~fold(sum16(ip, 20, 0));
		ip[10] = (uint8_t)(acc >> 8);
		ip[11] = (uint8_t)acc;
	}
	tcp = ip + iph;
	tcp[0] = 0x9c;
	tcp[1] = 0x40; /* 40000 */
	tcp[2] = 0x14;
	tcp[3] = 0x51; /* 5201 */
	tcp[4] = 0xff;
	tcp[5] = 0xff;
	tcp[6] = 0xf0;
	tcp[7] = 0x00; /* seq near wrap-around */
	tcp[8] = 0x01;
	tcp[11] = 0x02; /* ack */
	tcp[12] = (uint8_t)((tcph / 4) << 4);
	tcp[13] = flags;
	tcp[14] = 0x01;
	tcp[20] = 1;
	tcp[21] = 1;
	tcp[22] = 8;
	tcp[23] = 10; /* timestamp option */
	for (uint32_t i = 0; i < payload; ++i)
		ip[iph + tcph + i] = (uint8_t)i;
	acc = pseudo(ip, v6, l4);
	tcp[16] = (uint8_t)(fold(acc) >> 8);
	tcp[17] = (uint8_t)fold(acc);
	vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	vh.gso_type = v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
	vh.hdr_len = (uint16_t)(iph + tcph);
	vh.gso_size = mss;
	vh.csum_start = (uint16_t)iph;
	vh.csum_offset = 16;
	memcpy(frame, &vh, sizeof(vh));
	return (uint32_t)sizeof(vh) + len;
}

static void split_and_check(bool v6)
{
	static uint8_t frame[70000];
	struct offload_tx o;
	uint32_t payload = 10000, iph = v6 ? 40 : 20, off = 0;
	uint32_t len = make_super(frame, v6, payload, 1380, 0x18 /* ACK|PSH */);
	unsigned n;

	CHECK(offload_tx_init(&o, 128, true) == 0);
	n = offload_split(&o, 0, frame, len);
	CHECK(n == 8); /* 7 x 1380 + 340 */
	for (unsigned i = 0; i < n; ++i) {
		const uint8_t *ip = o.pkts[i].data + WG_DATA_HEADER_LEN, *tcp = ip + iph;
		uint32_t l = o.pkts[i].len, chunk = l - iph - 32, seq;

		CHECK(chunk == (i < 7 ? 1380u : 340u));
		if (v6) {
			CHECK(((uint32_t)ip[4] << 8 | ip[5]) == l - 40);
		} else {
			CHECK(((uint32_t)ip[2] << 8 | ip[3]) == l);
			CHECK(((uint32_t)ip[4] << 8 | ip[5]) == 0x1234 + i); /* IDs count up */
			CHECK(ipv4_header_ok(ip));
		}
		CHECK(tcp_ok(ip, l));
		seq = (uint32_t)tcp[4] << 24 | (uint32_t)tcp[5] << 16 | (uint32_t)tcp[6] << 8 | tcp[7];
		CHECK(seq == 0xfffff000u + off); /* and wraps */
		CHECK((tcp[13] & 0x08) == (i == n - 1 ? 0x08 : 0)); /* PSH on the last only */
		for (uint32_t k = 0; k < chunk; ++k)
			if (ip[iph + 32 + k] != (uint8_t)(off + k)) {
				CHECK(!"payload moved");
				break;
			}
		off += chunk;
	}
	CHECK(off == payload);

	/* What does not fit the slots left is refused whole. */
	CHECK(offload_split(&o, 125, frame, len) == 125);
	offload_tx_free(&o);
}

TEST(offload_split_tcp4)
{
	split_and_check(false);
}

TEST(offload_split_tcp6)
{
	split_and_check(true);
}

TEST(offload_plain_packet_checksum_finished)
{
	static uint8_t frame[2000];
	struct offload_tx o;
	struct virtio_net_hdr vh;
	uint32_t len = make_super(frame, false, 600, 1380, 0x18);

	/* The same packet, as one the kernel did not segment. */
	memcpy(&vh, frame, sizeof(vh));
	vh.gso_type = VIRTIO_NET_HDR_GSO_NONE;
	vh.gso_size = 0;
	memcpy(frame, &vh, sizeof(vh));
	CHECK(offload_tx_init(&o, 4, true) == 0);
	CHECK(offload_split(&o, 0, frame, len) == 1);
	CHECK(o.pkts[0].len == len - sizeof(vh));
	CHECK(tcp_ok(o.pkts[0].data + WG_DATA_HEADER_LEN, o.pkts[0].len));
	offload_tx_free(&o);
}

/* Reads what offload_tun_write sent to a packet socket standing in for the TUN. */
static ssize_t read_frame(int fd, uint8_t *buf, size_t cap)
{
	return recv(fd, buf, cap, MSG_DONTWAIT);
}

static void coalesce_and_check(bool v6)
{
	static uint8_t frame[70000], out[70000];
	struct offload_tx o;
	struct wg_buf bufs[10];
	struct tun t = { .vnet_hdr = true };
	struct offload_rx rx = { 0 };
	struct virtio_net_hdr vh;
	int sv[2];
	uint32_t iph = v6 ? 40 : 20, len = make_super(frame, v6, 10000, 1380, 0x18);
	unsigned n;
	ssize_t r;

	CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv) == 0);
	t.fd = sv[0];
	CHECK(offload_tx_init(&o, 128, true) == 0);
	n = offload_split(&o, 0, frame, len);
	/* The segments, then a UDP packet that must come after them. */
	for (unsigned i = 0; i < n; ++i) {
		bufs[i].data = o.pkts[i].data + WG_DATA_HEADER_LEN;
		bufs[i].len = o.pkts[i].len;
	}
	static uint8_t udp[28] = { 0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17 };
	bufs[n].data = udp;
	bufs[n].len = sizeof(udp);
	offload_tun_write(&t, &rx, bufs, n + 1);

	r = read_frame(sv[1], out, sizeof(out));
	CHECK(r == (ssize_t)len);
	memcpy(&vh, out, sizeof(vh));
	CHECK(vh.gso_type == (v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4));
	CHECK(vh.flags == VIRTIO_NET_HDR_F_NEEDS_CSUM);
	CHECK(vh.gso_size == 1380 && vh.csum_start == iph && vh.csum_offset == 16 && vh.hdr_len == iph + 32);
	/* Byte for byte the super-packet we started from, PSH included,
	 * checksum field holding the partial sum again. */
	CHECK(!memcmp(out + sizeof(vh), frame + sizeof(vh), len - sizeof(vh)));
	r = read_frame(sv[1], out, sizeof(out));
	CHECK(r == (ssize_t)(sizeof(vh) + sizeof(udp)));
	memcpy(&vh, out, sizeof(vh));
	CHECK(vh.gso_type == VIRTIO_NET_HDR_GSO_NONE && vh.flags == 0);
	CHECK(read_frame(sv[1], out, sizeof(out)) < 0);

	/* Out of order: the second segment first. Nothing is merged wrongly:
	 * every byte arrives once, each packet still verifies. */
	bufs[0].data = o.pkts[1].data + WG_DATA_HEADER_LEN;
	bufs[0].len = o.pkts[1].len;
	bufs[1].data = o.pkts[0].data + WG_DATA_HEADER_LEN;
	bufs[1].len = o.pkts[0].len;
	offload_tun_write(&t, &rx, bufs, 2);
	unsigned total = 0, frames = 0;

	while ((r = read_frame(sv[1], out, sizeof(out))) > 0) {
		memcpy(&vh, out, sizeof(vh));
		if (vh.gso_type == VIRTIO_NET_HDR_GSO_NONE)
			CHECK(tcp_ok(out + sizeof(vh), (uint32_t)r - sizeof(vh)));
		total += (unsigned)r - sizeof(vh) - iph - 32;
		++frames;
	}
	CHECK(total == 2 * 1380 && frames == 2);
	offload_tx_free(&o);
	offload_rx_free(&rx);
	close(sv[0]);
	close(sv[1]);
}

TEST(offload_coalesce_tcp4)
{
	coalesce_and_check(false);
}

TEST(offload_coalesce_tcp6)
{
	coalesce_and_check(true);
}
