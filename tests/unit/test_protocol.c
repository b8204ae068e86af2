// SPDX-License-Identifier: MIT
/* The protocol between device cores on the simulated network. */
#include "test.h"

#include <arpa/inet.h>
#include <stdlib.h>

#include "crypto/crypto.h"
#include "sim.h"
#include "util/key.h"
#include "wg/core.h"

static struct wg_peer *first_peer(struct sim_dev *d)
{
	return list_entry(d->dev->peers.next, struct wg_peer, link);
}

static struct wg_config_peer *get_peer(struct sim_dev *d, struct wg_config **cfg)
{
	*cfg = wg_device_get(d->dev);
	return *cfg ? (*cfg)->first_peer : NULL;
}

/* The Noise construction's starting point: Ci = HASH("Noise_IKpsk2_
 * 25519_ChaChaPoly_BLAKE2s"), Hi = HASH(Ci || "WireGuard v1 zx2c4
 * Jason@zx2c4.com"), as every implementation derives them. */
TEST(noise_construction_constants)
{
	uint8_t ck[32], h[32], want[32];

	wg_noise_get_constants(ck, h);
	test_unhex(want, 32, "60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36");
	CHECK_MEM(ck, want, 32);
	test_unhex(want, 32, "2211b361081ac566691243db458ad5322d9c6c662293e8b70ee19c65ba079ef3");
	CHECK_MEM(h, want, 32);
}

TEST(handshake_then_data_both_ways)
{
	struct sim_net *net = sim_new();
	struct sim_dev *a = sim_add(net), *b = sim_add(net);
	struct wg_config *cfg;
	struct wg_config_peer *p;

	sim_pair(a, "10.0.0.1/32", b, "10.0.0.2/32", true, true);
	sim_send_ip(a, "10.0.0.1", "10.0.0.2", 100);
	sim_run(net);
	CHECK(a->sent[WG_MSG_HANDSHAKE_INITIATION] == 1);
	CHECK(b->sent[WG_MSG_HANDSHAKE_RESPONSE] == 1);
	CHECK(b->delivered == 1);
	CHECK(b->last_delivered_len == 120);
	CHECK(b->last_delivered[20] == 0 && b->last_delivered[119] == 99);
	sim_send_ip(b, "10.0.0.2", "10.0.0.1", 10);
	sim_run(net);
	CHECK(a->delivered == 1);
	CHECK(b->sent[WG_MSG_HANDSHAKE_INITIATION] == 0);

	/* Counters are WireGuard message bytes: 148 + (120 padded to 128) + 32. */
	p = get_peer(a, &cfg);
	CHECK(p && p->tx_bytes == 148 + 128 + 32);
	CHECK(p && p->rx_bytes == 92 + 32 + 32);
	CHECK(p && p->last_handshake.tv_sec > 1700000000);
	wg_config_free(cfg);
	p = get_peer(b, &cfg);
	CHECK(p && p->rx_bytes == 148 + 128 + 32);
	wg_config_free(cfg);
	sim_free(net);
}

TEST(responder_learns_endpoint_and_peer_roams)
{
	struct sim_net *net = sim_new();
	struct sim_dev *a = sim_add(net), *b = sim_add(net);
	struct wg_config *cfg;
	struct wg_config_peer *p;

	sim_pair(a, "10.0.0.1/32", b, "10.0.0.2/32", true, false);
	sim_send_ip(a, "10.0.0.1", "10.0.0.2", 10);
	sim_run(net);
	CHECK(b->delivered == 1);
	p = get_peer(b, &cfg);
	CHECK(p && (p->flags & WG_PEER_HAS_ENDPOINT) && p->endpoint.in4.sin_port == htons(a->port));
	wg_config_free(cfg);

	/* a moves to another address and port; b follows the authenticated
	 * packets there. */
	a->addr.addr.in4.sin_addr.s_addr = htonl(0x0a6300fe);
	a->addr.addr.in4.sin_port = htons(40000);
	a->port = 40000;
	sim_send_ip(a, "10.0.0.1", "10.0.0.2", 10);
	sim_run(net);
	CHECK(b->delivered == 2);
	p = get_peer(b, &cfg);
	CHECK(p && p->endpoint.in4.sin_port == htons(40000) && p->endpoint.in4.sin_addr.s_addr == htonl(0x0a6300fe));
	wg_config_free(cfg);
	sim_send_ip(b, "10.0.0.2", "10.0.0.1", 10);
	sim_run(net);
	CHECK(a->delivered == 1);
	sim_free(net);
}

TEST(inner_source_outside_allowed_ips_is_dropped)
{
	struct sim_net *net = sim_new();
	struct sim_dev *a = sim_add(net), *b = sim_add(net);
	struct wg_device_stats st;

	sim_pair(a, "10.0.0.1/32", b, "10.0.0.2/32", true, true);
	sim_send_ip(a, "10.0.0.1", "10.0.0.2", 10);
	sim_run(net);
	CHECK(b->delivered == 1);
	sim_send_ip(a, "10.0.0.99", "10.0.0.2", 10);
	sim_run(net);
	CHECK(b->delivered == 1);
	wg_device_get_stats(b->dev, &st);
	CHECK(st.rx_errors == 1);
	/* Nor may a packet claim another peer's address. */
	sim_send_ip(a, "10.0.0.2", "10.0.0.2", 10);
	sim_run(net);
	CHECK(b->delivered == 1);
	sim_free(net);
}

TEST(no_route_and_no_endpoint_send_nothing)
{
	struct sim_net *net = sim_new();
	struct sim_dev *a = sim_add(net), *b = sim_add(net);

	sim_pair(a, "10.0.0.1/32", b, "10.0.0.2/32", false, false);
	sim_send_ip(a, "10.0.0.1", "10.0.0.3", 10); /* no peer has it */
	sim_send_ip(a, "10.0.0.1", "10.0.0.2", 10); /* peer without endpoint */
	sim_run(net);
	CHECK(a->sent[1] + a->sent[2] + a->sent[3] + a->sent[4] == 0);
	sim_free(net);
}

/* A peer whose key is a point of low order gets no handshake and no packet. */
TEST(low_order_peer_key_gets_nothing)
{
	struct sim_net *net = sim_new();
	struct sim_dev *a = sim_add(net);
	const char *low[] = {
		"0000000000000000000000000000000000000000000000000000000000000000",
		"0100000000000000000000000000000000000000000000000000000000000000",
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
		"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	};
	char cmd[256];

	for (unsigned i = 0; i < 5; ++i) {
		snprintf(cmd, sizeof(cmd), "replace_peers=true\npublic_key=%s\nendpoint=10.99.0.9:9\nallowed_ip=10.0.0.0/8\n",
			 low[i]);
		CHECK(sim_set(a, cmd) == 0);
		sim_send_ip(a, "10.0.0.1", "10.0.0.2", 10);
		sim_advance(net, 30 * NSEC_PER_SEC);
		CHECK(a->sent[WG_MSG_HANDSHAKE_INITIATION] == 0 && a->sent[WG_MSG_DATA] == 0);
	}
	sim_free(net);
}

static struct sim_datagram captured[8];
static unsigned ncaptured;

static bool capture_initiations(struct sim_net *net, struct sim_datagram *d)
{
	if (d->data[0] == WG_MSG_HANDSHAKE_INITIATION && ncaptured < 8)
		captured[ncaptured++] = *d;
	return true;
}

static bool capture_data(struct sim_net *net, struct sim_datagram *d)
{
	if (d->data[0] == WG_MSG_DATA && ncaptured < 8)
		captured[ncaptured++] = *d;
	return true;
}

static bool capture_and_drop_initiations(struct sim_net *net, struct sim_datagram *d)
{
	if (d->data[0] != WG_MSG_HANDSHAKE_INITIATION)
		return true;
	if (ncaptured < 8)
		captured[ncaptured++] = *d;
	return false;
}

static bool drop_cookies(struct sim_net *net, struct sim_datagram *d)
{
	return d->data[0] != WG_MSG_HANDSHAKE_COOKIE;
}

static void inject(struct sim_dev *to, struct sim_datagram *d, unsigned copies)
{
	struct wg_pkt *pkts = calloc(copies, sizeof(*pkts));
	uint8_t *bufs = malloc((size_t)copies * d->len);

	for (unsigned i = 0; i < copies; ++i) {
		memcpy(bufs + (size_t)i * d->len, d->data, d->len);
		pkts[i].data = bufs + (size_t)i * d->len;
		pkts[i].len = d->len;
		pkts[i].cap = d->len;
		pkts[i].ep = d->src;
	}
	wg_device_rx(to->dev, pkts, copies);
	free(pkts);
	free(bufs);
}

TEST(replayed_initiation_and_data_are_refused)
{
	struct sim_net *net = sim_new();
	struct sim_dev *a = sim_add(net), *b = sim_add(net);

	sim_pair(a, "10.0.0.1/32", b, "10.0.0.2/32", true, true);
	ncaptured = 0;
	net->filter = capture_initiations;
	sim_send_ip(a, "10.0.0.1", "10.0.0.2", 10);
	sim_run(net);
	CHECK(ncaptured == 1 && b->sent[WG_MSG_HANDSHAKE_RESPONSE] == 1);
	net->now += 2 * NSEC_PER_SEC;
	inject(b, &captured[0], 1);
	sim_run(net);
	CHECK(b->sent[WG_MSG_HANDSHAKE_RESPONSE] == 1);

	ncaptured = 0;
	net->filter = capture_data;
	sim_send_ip(a, "10.0.0.1", "10.0.0.2", 10);
	sim_run(net);
	CHECK(ncaptured == 1 && b->delivered == 2);
	inject(b, &captured[0], 3);
	sim_run(net);
	CHECK(b->delivered == 2);
	/* A flipped bit anywhere fails authentication. */
	captured[0].data[captured[0].len - 1] ^= 1;
	inject(b, &captured[0], 1);
	sim_run(net);
	CHECK(b->delivered == 2);
	sim_free(net);
}

/* Under load (a deep handshake queue) the responder answers initiations
 * without a valid mac2 with a cookie; the initiator's next attempt carries
 * mac2 and gets through even then. */
TEST(cookie_reply_under_load)
{
	struct sim_net *net = sim_new();
	struct sim_dev *a = sim_add(net), *b = sim_add(net);
	struct sim_datagram first;
	static const uint8_t zero[16];

	sim_pair(a, "10.0.0.1/32", b, "10.0.0.2/32", true, true);
	ncaptured = 0;
	net->filter = capture_and_drop_initiations;
	sim_send_ip(a, "10.0.0.1", "10.0.0.2", 10);
	sim_run(net);
	CHECK(ncaptured == 1);
	first = captured[0];
	CHECK(!memcmp(first.data + 148 - 16, zero, 16)); /* no cookie yet: no mac2 */

	inject(b, &first, 600);
	sim_run(net);
	CHECK(b->sent[WG_MSG_HANDSHAKE_RESPONSE] == 0);
	CHECK(b->sent[WG_MSG_HANDSHAKE_COOKIE] > 0);
	CHECK(first_peer(a)->cookie.cookie_valid);

	/* a retries after REKEY_TIMEOUT, now with mac2. */
	ncaptured = 0;
	sim_advance(net, 6 * NSEC_PER_SEC);
	CHECK(ncaptured >= 1);
	CHECK(memcmp(captured[0].data + 148 - 16, zero, 16) != 0);
	{
		struct sim_datagram second = captured[0];
		struct wg_pkt pkts[601];
		static uint8_t bufs[601][148];

		memcpy(bufs[0], second.data, 148);
		for (int i = 1; i < 601; ++i)
			memcpy(bufs[i], first.data, 148);
		for (int i = 0; i < 601; ++i) {
			memset(&pkts[i], 0, sizeof(pkts[i]));
			pkts[i].data = bufs[i];
			pkts[i].len = 148;
			pkts[i].cap = 148;
			pkts[i].ep = second.src;
		}
		wg_device_rx(b->dev, pkts, 601);
	}
	/* b answers the 600 stale copies with cookies too; keep those from
	 * putting a under load in turn. */
	net->filter = drop_cookies;
	sim_run(net);
	CHECK(b->sent[WG_MSG_HANDSHAKE_RESPONSE] == 1);
	CHECK(b->delivered == 1);
	sim_free(net);
}

TEST(ratelimiter_burst_then_rate)
{
	struct wg_ratelimiter rl;
	struct sockaddr_in a = { .sin_family = AF_INET }, b = { .sin_family = AF_INET };
	struct sockaddr_in6 c = { .sin6_family = AF_INET6 }, d = { .sin6_family = AF_INET6 };
	uint64_t now = 1000 * NSEC_PER_SEC;
	int allowed = 0;

	CHECK(wg_ratelimiter_init(&rl) == 0);
	inet_pton(AF_INET, "192.0.2.1", &a.sin_addr);
	inet_pton(AF_INET, "192.0.2.2", &b.sin_addr);
	for (int i = 0; i < 10; ++i)
		allowed += wg_ratelimiter_allow(&rl, (struct sockaddr *)&a, now);
	CHECK(allowed == 5);
	CHECK(wg_ratelimiter_allow(&rl, (struct sockaddr *)&b, now));
	/* 20 per second: one more every 50 ms. */
	CHECK(!wg_ratelimiter_allow(&rl, (struct sockaddr *)&a, now + 40 * NSEC_PER_MSEC));
	CHECK(wg_ratelimiter_allow(&rl, (struct sockaddr *)&a, now + 60 * NSEC_PER_MSEC));
	/* IPv6 sources share a bucket per /64. */
	inet_pton(AF_INET6, "2001:db8:1:2::1", &c.sin6_addr);
	inet_pton(AF_INET6, "2001:db8:1:2::99", &d.sin6_addr);
	allowed = 0;
	for (int i = 0; i < 5; ++i)
		allowed += wg_ratelimiter_allow(&rl, (struct sockaddr *)&c, now);
	CHECK(allowed == 5);
	CHECK(!wg_ratelimiter_allow(&rl, (struct sockaddr *)&d, now));
	/* Idle entries are collected. */
	CHECK(wg_ratelimiter_allow(&rl, (struct sockaddr *)&a, now + 5 * NSEC_PER_SEC));
	CHECK(wg_ratelimiter_count(&rl) == 1);
	wg_ratelimiter_free(&rl);
}

TEST(preshared_key_must_match)
{
	struct sim_net *net = sim_new();
	struct sim_dev *a = sim_add(net), *b = sim_add(net);
	char hex[KEY_HEX_LEN], cmd[256];

	sim_pair(a, "10.0.0.1/32", b, "10.0.0.2/32", true, true);
	key_to_hex(hex, b->pub);
	snprintf(cmd, sizeof(cmd), "public_key=%s\npreshared_key=%s\n", hex,
		 "1111111111111111111111111111111111111111111111111111111111111111");
	CHECK(sim_set(a, cmd) == 0);
	sim_send_ip(a, "10.0.0.1", "10.0.0.2", 10);
	sim_run(net);
	CHECK(b->sent[WG_MSG_HANDSHAKE_RESPONSE] == 1 && b->delivered == 0);
	key_to_hex(hex, a->pub);
	snprintf(cmd, sizeof(cmd), "public_key=%s\npreshared_key=%s\n", hex,
		 "1111111111111111111111111111111111111111111111111111111111111111");
	CHECK(sim_set(b, cmd) == 0);
	sim_advance(net, 6 * NSEC_PER_SEC);
	CHECK(b->delivered == 1);
	sim_free(net);
}

TEST(private_key_change_drops_sessions)
{
	struct sim_net *net = sim_new();
	struct sim_dev *a = sim_add(net), *b = sim_add(net);
	char hex[KEY_HEX_LEN], cmd[256];
	uint8_t priv[32], pub[32];

	sim_pair(a, "10.0.0.1/32", b, "10.0.0.2/32", true, true);
	sim_send_ip(a, "10.0.0.1", "10.0.0.2", 10);
	sim_run(net);
	CHECK(b->delivered == 1);
	/* b gets a new key: a's sessions are with the old one and fail. */
	x25519_generate_private(priv);
	x25519_public(pub, priv);
	key_to_hex(hex, priv);
	snprintf(cmd, sizeof(cmd), "private_key=%s\n", hex);
	CHECK(sim_set(b, cmd) == 0);
	CHECK(first_peer(b)->current == NULL || !atomic_load(&first_peer(b)->current->send_valid));
	/* b can no longer send under the old session, and a refuses the
	 * handshake made with b's new key. */
	sim_advance(net, 6 * NSEC_PER_SEC);
	sim_send_ip(b, "10.0.0.2", "10.0.0.1", 10);
	sim_run(net);
	CHECK(b->sent[WG_MSG_HANDSHAKE_INITIATION] == 1);
	CHECK(a->sent[WG_MSG_HANDSHAKE_RESPONSE] == 0);
	CHECK(a->delivered == 0);
	/* Once a knows the new key, traffic flows again. */
	memcpy(b->pub, pub, 32);
	key_to_hex(hex, b->pub);
	snprintf(cmd, sizeof(cmd), "replace_peers=true\npublic_key=%s\nendpoint=10.99.0.2:%u\nallowed_ip=10.0.0.2/32\n",
		 hex, b->port);
	CHECK(sim_set(a, cmd) == 0);
	sim_advance(net, 1 * NSEC_PER_SEC);
	sim_send_ip(a, "10.0.0.1", "10.0.0.2", 10);
	sim_run(net);
	CHECK(b->delivered == 2);
	/* b's packet staged since its refused handshake went out once the new
	 * session was confirmed; this one follows it. */
	sim_send_ip(b, "10.0.0.2", "10.0.0.1", 10);
	sim_run(net);
	CHECK(a->delivered == 2);
	sim_free(net);
}

TEST(removing_a_peer_stops_traffic)
{
	struct sim_net *net = sim_new();
	struct sim_dev *a = sim_add(net), *b = sim_add(net);
	char hex[KEY_HEX_LEN], cmd[256];

	sim_pair(a, "10.0.0.1/32", b, "10.0.0.2/32", true, true);
	sim_send_ip(a, "10.0.0.1", "10.0.0.2", 10);
	sim_run(net);
	CHECK(b->delivered == 1);
	key_to_hex(hex, a->pub);
	snprintf(cmd, sizeof(cmd), "public_key=%s\nremove=true\n", hex);
	CHECK(sim_set(b, cmd) == 0);
	CHECK(b->dev->npeers == 0 && b->dev->nindices == 0);
	sim_send_ip(a, "10.0.0.1", "10.0.0.2", 10);
	sim_advance(net, 30 * NSEC_PER_SEC);
	CHECK(b->delivered == 1);
	CHECK(b->sent[WG_MSG_HANDSHAKE_RESPONSE] == 1);
	sim_free(net);
}

/* Many peers, each reached through its own allowed IPs. */
TEST(many_peers_route_by_allowed_ips)
{
	struct sim_net *net = sim_new();
	struct sim_dev *hub = sim_add(net), *spokes[5];
	char ip[32], src[32];

	for (int i = 0; i < 5; ++i) {
		spokes[i] = sim_add(net);
		snprintf(ip, sizeof(ip), "10.1.%d.0/24", i);
		sim_pair(hub, "10.0.0.1/32", spokes[i], ip, true, true);
	}
	for (int i = 0; i < 5; ++i) {
		snprintf(ip, sizeof(ip), "10.1.%d.7", i);
		sim_send_ip(hub, "10.0.0.1", ip, 10 + i);
	}
	sim_run(net);
	for (int i = 0; i < 5; ++i) {
		CHECK(spokes[i]->delivered == 1);
		CHECK(spokes[i]->last_delivered_len == 30u + (unsigned)i);
		snprintf(src, sizeof(src), "10.1.%d.7", i);
		sim_send_ip(spokes[i], src, "10.0.0.1", 10);
	}
	sim_run(net);
	CHECK(hub->delivered == 5);
	sim_free(net);
}
