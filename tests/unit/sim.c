// SPDX-License-Identifier: MIT
#include "sim.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "util/buf.h"
#include "util/key.h"
#include "wg/uapi.h"

/* The simulated epoch: far from zero, so no deadline arithmetic is near 0. */
#define SIM_START (1000 * NSEC_PER_SEC)

static uint64_t sim_now(void *io)
{
	return ((struct sim_dev *)io)->net->now;
}

static void sim_walltime(void *io, struct timespec *ts)
{
	uint64_t t = ((struct sim_dev *)io)->net->now + 1700000000ULL * NSEC_PER_SEC;

	ts->tv_sec = (time_t)(t / NSEC_PER_SEC);
	ts->tv_nsec = (long)(t % NSEC_PER_SEC);
}

static int sim_send(void *io, struct wg_endpoint *ep, const struct wg_buf *bufs, unsigned n)
{
	struct sim_dev *d = io;
	struct sim_net *net = d->net;

	for (unsigned i = 0; i < n; ++i) {
		struct sim_datagram *g;

		if (bufs[i].data[0] >= 1 && bufs[i].data[0] <= 4)
			++d->sent[bufs[i].data[0]];
		if (d->mute || !d->bound || net->nwire == SIM_MAX_WIRE || bufs[i].len > sizeof(g->data)) {
			++net->dropped;
			continue;
		}
		g = &net->wire[net->nwire++];
		g->src = d->addr;
		g->dst = *ep;
		g->len = bufs[i].len;
		memcpy(g->data, bufs[i].data, bufs[i].len);
	}
	return 0;
}

static void sim_deliver(void *io, const struct wg_buf *bufs, unsigned n)
{
	struct sim_dev *d = io;

	for (unsigned i = 0; i < n; ++i) {
		++d->delivered;
		d->last_delivered_len = bufs[i].len < 2048 ? bufs[i].len : 2048;
		memcpy(d->last_delivered, bufs[i].data, d->last_delivered_len);
	}
}

static void sim_wake(void *io)
{
	((struct sim_dev *)io)->next_deadline = 0;
}

static int sim_bind(void *io, uint16_t *port, uint32_t fwmark)
{
	struct sim_dev *d = io;

	if (!*port)
		*port = d->port;
	d->port = *port;
	d->addr.addr.in4.sin_port = htons(*port);
	d->bound = true;
	return 0;
}

static void sim_unbind(void *io)
{
	((struct sim_dev *)io)->bound = false;
}

static void sim_log(void *io, enum wg_log_level level, const char *msg)
{
	if (getenv("SIM_LOG"))
		fprintf(stderr, "  [dev%u %.3f] %s\n", (unsigned)(((struct sim_dev *)io) - ((struct sim_dev *)io)->net->devs),
			(double)(((struct sim_dev *)io)->net->now - SIM_START) / 1e9, msg);
}

static const struct wg_device_ops sim_ops = {
	.now = sim_now,
	.walltime = sim_walltime,
	.send = sim_send,
	.deliver = sim_deliver,
	.wake = sim_wake,
	.bind = sim_bind,
	.unbind = sim_unbind,
	.log = sim_log,
};

struct sim_net *sim_new(void)
{
	struct sim_net *net = calloc(1, sizeof(*net));

	net->wire = calloc(SIM_MAX_WIRE, sizeof(*net->wire));
	net->now = SIM_START;
	return net;
}

void sim_free(struct sim_net *net)
{
	for (unsigned i = 0; i < net->ndevs; ++i)
		wg_device_free(net->devs[i].dev);
	free(net->wire);
	free(net);
}

int sim_set(struct sim_dev *d, const char *uapi)
{
	struct uapi_set s;
	struct wg_config *cfg;
	char *copy = strdup(uapi), *line, *save = NULL;
	int ret;

	uapi_set_begin(&s);
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		uapi_set_line(&s, line, strlen(line));
	free(copy);
	cfg = uapi_set_end(&s);
	if (!cfg)
		return s.error;
	ret = wg_device_set(d->dev, cfg);
	wg_config_free(cfg);
	return ret;
}

struct sim_dev *sim_add(struct sim_net *net)
{
	struct sim_dev *d = &net->devs[net->ndevs];
	char hex[KEY_HEX_LEN], cmd[256];
	unsigned n = ++net->ndevs;

	d->net = net;
	d->port = (uint16_t)(50000 + n);
	d->addr.addr.in4.sin_family = AF_INET;
	d->addr.addr.in4.sin_addr.s_addr = htonl(0x0a630000 + n);
	d->addr.addr.in4.sin_port = htons(d->port);
	d->dev = wg_device_new(&sim_ops, d);
	if (getenv("SIM_LOG"))
		wg_device_set_log_level(d->dev, WG_LOG_VERBOSE);
	x25519_generate_private(d->priv);
	x25519_public(d->pub, d->priv);
	key_to_hex(hex, d->priv);
	snprintf(cmd, sizeof(cmd), "private_key=%s\nlisten_port=%u\n", hex, d->port);
	sim_set(d, cmd);
	wg_device_up(d->dev);
	d->next_deadline = 0;
	return d;
}

void sim_pair(struct sim_dev *a, const char *a_ips, struct sim_dev *b, const char *b_ips, bool a_knows_b,
	      bool b_knows_a)
{
	char hex[KEY_HEX_LEN], cmd[512], ep[64];

	/* On a: peer b, with b's allowed IPs. */
	key_to_hex(hex, b->pub);
	snprintf(ep, sizeof(ep), "endpoint=10.99.0.%u:%u\n", (unsigned)(b - b->net->devs) + 1, b->port);
	snprintf(cmd, sizeof(cmd), "public_key=%s\n%sallowed_ip=%s\n", hex, a_knows_b ? ep : "", b_ips);
	sim_set(a, cmd);
	key_to_hex(hex, a->pub);
	snprintf(ep, sizeof(ep), "endpoint=10.99.0.%u:%u\n", (unsigned)(a - a->net->devs) + 1, a->port);
	snprintf(cmd, sizeof(cmd), "public_key=%s\n%sallowed_ip=%s\n", hex, b_knows_a ? ep : "", a_ips);
	sim_set(b, cmd);
}

void sim_send_ip(struct sim_dev *d, const char *src, const char *dst, unsigned payload)
{
	static uint8_t buf[2048 + 64];
	struct wg_pkt pkt;
	uint32_t len = 20 + payload;

	memset(buf, 0, sizeof(buf));
	buf[16 + 0] = 0x45;
	buf[16 + 2] = (uint8_t)(len >> 8);
	buf[16 + 3] = (uint8_t)len;
	buf[16 + 8] = 64;
	buf[16 + 9] = 17;
	inet_pton(AF_INET, src, buf + 16 + 12);
	inet_pton(AF_INET, dst, buf + 16 + 16);
	for (unsigned i = 0; i < payload; ++i)
		buf[16 + 20 + i] = (uint8_t)i;
	memset(&pkt, 0, sizeof(pkt));
	pkt.data = buf;
	pkt.len = len;
	pkt.cap = sizeof(buf);
	wg_device_tx(d->dev, &pkt, 1);
}

static struct sim_dev *find(struct sim_net *net, const struct wg_endpoint *ep)
{
	for (unsigned i = 0; i < net->ndevs; ++i) {
		struct sim_dev *d = &net->devs[i];

		if (d->bound && d->addr.addr.in4.sin_addr.s_addr == ep->addr.in4.sin_addr.s_addr &&
		    d->addr.addr.in4.sin_port == ep->addr.in4.sin_port)
			return d;
	}
	return NULL;
}

static void work_all(struct sim_net *net, bool force)
{
	for (unsigned i = 0; i < net->ndevs; ++i)
		if (force || net->devs[i].next_deadline <= net->now)
			net->devs[i].next_deadline = wg_device_work(net->devs[i].dev);
}

void sim_run(struct sim_net *net)
{
	static struct sim_datagram batch[SIM_MAX_WIRE];

	for (int round = 0; round < 1000; ++round) {
		unsigned n;

		work_all(net, false);
		n = net->nwire;
		if (!n)
			break;
		memcpy(batch, net->wire, n * sizeof(*batch));
		net->nwire = 0;
		for (unsigned i = 0; i < n; ++i) {
			struct sim_datagram *g = &batch[i];
			struct sim_dev *to = find(net, &g->dst);
			struct wg_pkt pkt;

			if (!to || (net->filter && !net->filter(net, g))) {
				++net->dropped;
				continue;
			}
			memset(&pkt, 0, sizeof(pkt));
			pkt.data = g->data;
			pkt.len = g->len;
			pkt.cap = sizeof(g->data);
			pkt.ep = g->src;
			wg_device_rx(to->dev, &pkt, 1);
		}
	}
	work_all(net, false);
}

void sim_advance(struct sim_net *net, uint64_t ns)
{
	uint64_t target = net->now + ns;

	sim_run(net);
	for (;;) {
		uint64_t next = UINT64_MAX;

		for (unsigned i = 0; i < net->ndevs; ++i)
			if (net->devs[i].next_deadline < next)
				next = net->devs[i].next_deadline;
		if (next > target)
			break;
		if (next > net->now)
			net->now = next;
		sim_run(net);
	}
	net->now = target;
	sim_run(net);
}

void sim_reset_counts(struct sim_net *net)
{
	for (unsigned i = 0; i < net->ndevs; ++i) {
		memset(net->devs[i].sent, 0, sizeof(net->devs[i].sent));
		net->devs[i].delivered = 0;
	}
}
