// SPDX-License-Identifier: MIT
/*
 * Drives the device API (lib/dev/wgdev.h) from the shell, for tests.
 *
 *   wgdevctl [--backend auto|kernel|userspace] [--netns PATH] [--hold] NAME COMMAND
 *
 * COMMAND:
 *   open             create or adopt; prints "backend=B adopted=0|1 ifindex=N"
 *   set FILE         apply a configuration written in the UAPI's key=value form
 *   get              print the configuration in the UAPI's form
 *   delete           delete the interface
 *   roundtrip P I    set P peers (the first with I allowed IPs, the others 3),
 *                    read back, and compare exactly; then check wg(8) agrees
 *                    when it can see the device
 * --hold keeps a userspace device alive (serving its UAPI socket) after the
 * command, until SIGTERM.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "dev/wgdev.h"
#include "util/buf.h"
#include "util/key.h"
#include "wg/uapi.h"

static int usage(void)
{
	fprintf(stderr, "usage: wgdevctl [--backend auto|kernel|userspace] [--netns PATH] [--hold] NAME "
			"open|set FILE|get|delete|roundtrip PEERS IPS\n");
	return 2;
}

static struct wg_config *read_uapi_file(const char *path)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	struct uapi_set s;
	struct wg_config *cfg;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (!f) {
		fprintf(stderr, "wgdevctl: cannot open %s: %s\n", path, strerror(errno));
		return NULL;
	}
	uapi_set_begin(&s);
	while ((n = getline(&line, &cap, f)) > 0) {
		if (line[n - 1] == '\n')
			line[--n] = '\0';
		if (n)
			uapi_set_line(&s, line, (size_t)n);
	}
	free(line);
	if (f != stdin)
		fclose(f);
	cfg = uapi_set_end(&s);
	if (!cfg)
		fprintf(stderr, "wgdevctl: %s: %s\n", path, s.msg);
	return cfg;
}

static struct wg_config *generate(unsigned peers, unsigned ips)
{
	struct wg_config *cfg = wg_config_new();

	cfg->flags = WG_DEV_HAS_PRIVATE_KEY | WG_DEV_HAS_LISTEN_PORT | WG_DEV_REPLACE_PEERS;
	x25519_generate_private(cfg->private_key);
	cfg->listen_port = 51999;
	for (unsigned p = 0; p < peers; ++p) {
		struct wg_config_peer *peer = wg_config_add_peer(cfg);
		uint8_t priv[32];
		unsigned n = p ? 3 : ips;

		x25519_generate_private(priv);
		x25519_public(peer->public_key, priv);
		peer->flags = WG_PEER_HAS_ENDPOINT | WG_PEER_HAS_PERSISTENT_KEEPALIVE | WG_PEER_REPLACE_ALLOWEDIPS;
		peer->persistent_keepalive = (uint16_t)(p % 60);
		if (p % 2) {
			peer->endpoint.in4.sin_family = AF_INET;
			peer->endpoint.in4.sin_port = htons((uint16_t)(10000 + p));
			peer->endpoint.in4.sin_addr.s_addr = htonl(0xc6330000u + p); /* 198.51.x.y */
		} else {
			peer->endpoint.in6.sin6_family = AF_INET6;
			peer->endpoint.in6.sin6_port = htons((uint16_t)(20000 + p));
			inet_pton(AF_INET6, "2001:db8::", &peer->endpoint.in6.sin6_addr);
			peer->endpoint.in6.sin6_addr.s6_addr[15] = (uint8_t)p;
		}
		if (p == 5) {
			crypto_random(peer->preshared_key, 32);
			peer->flags |= WG_PEER_HAS_PRESHARED_KEY;
		}
		for (unsigned i = 0; i < n; ++i) {
			if (i % 2) {
				uint8_t a6[16] = { 0xfd, 0x00, (uint8_t)p, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
						   (uint8_t)(i >> 8), (uint8_t)i };

				wg_config_add_ip(peer, AF_INET6, a6, 128);
			} else {
				uint32_t a4 = htonl(0x0a000000u | p << 16 | i);

				wg_config_add_ip(peer, AF_INET, &a4, 32);
			}
		}
	}
	return cfg;
}

/* The UAPI text of a configuration, peers in the given order, counters
 * and handshake time left out: what must round-trip. */
static void describe(struct buf *out, const struct wg_config *cfg)
{
	char hex[KEY_HEX_LEN], ip[INET6_ADDRSTRLEN];

	key_to_hex(hex, cfg->private_key);
	buf_printf(out, "private_key=%s\nlisten_port=%u\nfwmark=%u\n", hex, cfg->listen_port, cfg->fwmark);
	for (const struct wg_config_peer *p = cfg->first_peer; p; p = p->next) {
		char ep[80] = "";

		key_to_hex(hex, p->public_key);
		buf_printf(out, "public_key=%s\n", hex);
		key_to_hex(hex, p->preshared_key);
		buf_printf(out, "preshared_key=%s\n", hex);
		if (p->flags & WG_PEER_HAS_ENDPOINT) {
			if (p->endpoint.sa.sa_family == AF_INET)
				inet_ntop(AF_INET, &p->endpoint.in4.sin_addr, ep, sizeof(ep));
			else
				inet_ntop(AF_INET6, &p->endpoint.in6.sin6_addr, ep, sizeof(ep));
			buf_printf(out, "endpoint=%s port %u\n", ep,
				   ntohs(p->endpoint.sa.sa_family == AF_INET ? p->endpoint.in4.sin_port
									     : p->endpoint.in6.sin6_port));
		}
		buf_printf(out, "persistent_keepalive_interval=%u\n", p->persistent_keepalive);
		for (const struct wg_config_ip *a = p->first_ip; a; a = a->next) {
			inet_ntop(a->family, &a->ip6, ip, sizeof(ip));
			buf_printf(out, "allowed_ip=%s/%u\n", ip, a->cidr);
		}
	}
}

static int roundtrip(struct wgdev *d, unsigned peers, unsigned ips)
{
	struct wg_config *want = generate(peers, ips), *got;
	struct wgdev_err err;
	struct buf a = { 0 }, b = { 0 };
	int ret = 1;

	if (wgdev_set(d, want, &err)) {
		fprintf(stderr, "wgdevctl: set: %s\n", err.msg);
		goto out;
	}
	got = wgdev_get(d, &err);
	if (!got) {
		fprintf(stderr, "wgdevctl: get: %s\n", err.msg);
		goto out;
	}
	describe(&a, want);
	describe(&b, got);
	if (a.len == b.len && !memcmp(a.data, b.data, a.len)) {
		printf("roundtrip: %u peers, %u allowed IPs on the first, identical (%zu bytes)\n", peers, ips, a.len);
		ret = 0;
	} else {
		fprintf(stderr, "roundtrip differs:\n--- set\n%.2000s\n--- got\n%.2000s\n", a.data, b.data);
	}
	wg_config_free(got);
out:
	wg_config_free(want);
	buf_free(&a);
	buf_free(&b);
	return ret;
}

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

int main(int argc, char **argv)
{
	struct wgdev_opts opts = { .backend = WGDEV_AUTO, .load_module = true, .uapi = true, .offload = true };
	struct wgdev_err err = { "", 0 };
	struct wgdev *d;
	bool hold = false;
	int i = 1, ret = 1;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (crypto_init())
		return 1;
	for (; i < argc && argv[i][0] == '-'; ++i) {
		if (!strcmp(argv[i], "--backend") && i + 1 < argc) {
			int b = wgdev_backend_parse(argv[++i]);

			if (b < 0)
				return usage();
			opts.backend = (enum wgdev_backend)b;
		} else if (!strcmp(argv[i], "--netns") && i + 1 < argc) {
			opts.netns = argv[++i];
		} else if (!strcmp(argv[i], "--hold")) {
			hold = true;
		} else {
			return usage();
		}
	}
	if (argc - i < 2)
		return usage();
	opts.name = argv[i];
	d = wgdev_open(&opts, &err);
	if (!d) {
		fprintf(stderr, "wgdevctl: %s\n", err.msg);
		return 1;
	}
	if (!strcmp(argv[i + 1], "open")) {
		printf("backend=%s adopted=%d ifindex=%d\n", wgdev_backend_name(wgdev_backend(d)), wgdev_adopted(d),
		       wgdev_ifindex(d));
		ret = 0;
	} else if (!strcmp(argv[i + 1], "set") && i + 2 < argc) {
		struct wg_config *cfg = read_uapi_file(argv[i + 2]);

		if (cfg && !(ret = wgdev_set(d, cfg, &err) ? 1 : 0)) {
			/* applied */
		} else if (cfg) {
			fprintf(stderr, "wgdevctl: %s\n", err.msg);
		}
		wg_config_free(cfg);
	} else if (!strcmp(argv[i + 1], "get")) {
		struct wg_config *cfg = wgdev_get(d, &err);
		struct buf out = { 0 };

		if (cfg && !uapi_format_get(&out, cfg)) {
			fwrite(out.data, 1, out.len, stdout);
			ret = 0;
		} else {
			fprintf(stderr, "wgdevctl: %s\n", err.msg);
		}
		wg_config_free(cfg);
		buf_free(&out);
	} else if (!strcmp(argv[i + 1], "delete")) {
		ret = wgdev_delete(d) ? 1 : 0;
		d = NULL;
	} else if (!strcmp(argv[i + 1], "roundtrip") && i + 3 < argc) {
		ret = roundtrip(d, (unsigned)atoi(argv[i + 2]), (unsigned)atoi(argv[i + 3]));
	} else {
		wgdev_close(d);
		return usage();
	}
	if (hold && d) {
		signal(SIGTERM, on_signal);
		signal(SIGINT, on_signal);
		printf("holding %s\n", wgdev_name(d));
		while (!stop)
			pause();
	}
	wgdev_close(d);
	return ret;
}
