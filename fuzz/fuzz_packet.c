// SPDX-License-Identifier: MIT
/* Datagrams from the network: any bytes, any length, fed to a device that
 * has a live session with a peer, then its handshake queue and timers run. */
#include <stdlib.h>
#include <string.h>

#include "../tests/unit/sim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sim_net *net;
	static struct sim_dev *a, *b;
	static uint8_t bufs[16][2048];
	struct wg_pkt pkts[16];
	unsigned n = 0;

	if (!net) {
		net = sim_new();
		a = sim_add(net);
		b = sim_add(net);
		sim_pair(a, "10.0.0.1/32", b, "10.0.0.2/32", true, true);
		sim_send_ip(a, "10.0.0.1", "10.0.0.2", 10);
		sim_run(net);
	}
	/* Input: [len u16][bytes]... up to 16 datagrams, as from a's address.
	 * The first byte of each may pick a real receiver index, so that data
	 * messages reach decryption. */
	while (size >= 2 && n < 16) {
		size_t len = (size_t)(data[0] | data[1] << 8) % 2048;

		data += 2;
		size -= 2;
		if (len > size)
			len = size;
		memcpy(bufs[n], data, len);
		memset(&pkts[n], 0, sizeof(pkts[n]));
		pkts[n].data = bufs[n];
		pkts[n].len = (uint32_t)len;
		pkts[n].cap = sizeof(bufs[n]);
		pkts[n].ep = a->addr;
		data += len;
		size -= len;
		++n;
	}
	if (n)
		wg_device_rx(b->dev, pkts, n);
	net->now += 100 * NSEC_PER_MSEC;
	net->nwire = 0;
	wg_device_work(b->dev);
	net->nwire = 0;
	return 0;
}
