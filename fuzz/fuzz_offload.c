// SPDX-License-Identifier: MIT
/* Frames as a TUN hands them over (virtio_net_hdr + packet, the header
 * claiming anything), and decrypted packets from a peer going back to the
 * TUN through coalescing. */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io/offload.h"
#include "wg/messages.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct offload_tx o;
	static struct offload_rx rx;
	static struct tun t = { .vnet_hdr = true };
	static int sv[2] = { -1, -1 };
	struct wg_buf bufs[128];
	unsigned n;
	char drain[70000];

	if (sv[0] < 0) {
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv) || offload_tx_init(&o, 128, true))
			abort();
		t.fd = sv[0];
	}
	if (size > 65535 + 10)
		size = 65535 + 10;
	n = offload_split(&o, 0, data, (uint32_t)size);
	/* Everything split must stay inside its slot. */
	for (unsigned i = 0; i < n; ++i) {
		if (o.pkts[i].len + WG_DATA_HEADER_LEN > o.pkts[i].cap)
			abort();
		bufs[i].data = o.pkts[i].data + WG_DATA_HEADER_LEN;
		bufs[i].len = o.pkts[i].len;
	}
	/* The input itself, cut into packets, as a peer might send them. */
	for (size_t off = 10; off < size && n < 128;) {
		size_t len = data[off - 1] ? data[off - 1] * 8u : 40;

		if (len > size - off)
			len = size - off;
		bufs[n].data = (uint8_t *)data + off;
		bufs[n].len = (uint32_t)len;
		off += len + 1;
		++n;
	}
	offload_tun_write(&t, &rx, bufs, n);
	while (recv(sv[1], drain, sizeof(drain), MSG_DONTWAIT) > 0) {
	}
	return 0;
}
