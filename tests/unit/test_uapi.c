// SPDX-License-Identifier: MIT
/* The UAPI text protocol: parsing, errors, formatting, and that a bad
 * request changes nothing. */
#include "test.h"

#include <arpa/inet.h>
#include <stdlib.h>

#include "sim.h"
#include "util/buf.h"
#include "util/key.h"
#include "wg/core.h"
#include "wg/uapi.h"

static const char *K1 = "e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a";
static const char *K2 = "b85996fecc9c7f1fc6d2572a76eda11d59bcd20be8e543b15ce4bd85a8e75a33";
static const char *K3 = "58402e695ba1772b1cc9309755f043251ea77fdcf10fbe63989ceb7e19321376";

/* Reads text as a set request, or (get) as a get reply. */
static int parse_as(bool get, const char *text, struct wg_config **out, char *msg, size_t msglen)
{
	struct uapi_set s;
	char *copy = strdup(text), *p = copy;

	CHECK((get ? uapi_get_begin(&s) : uapi_set_begin(&s)) == 0);
	while (*p) {
		char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		uapi_set_line(&s, p, len);
		p += len + (nl ? 1 : 0);
	}
	free(copy);
	*out = uapi_set_end(&s);
	if (msg)
		snprintf(msg, msglen, "%s", s.msg);
	return *out ? 0 : s.error;
}

static int parse(const char *text, struct wg_config **out, char *msg, size_t msglen)
{
	return parse_as(false, text, out, msg, msglen);
}

static int expect_error(const char *text, int err, const char *needle)
{
	struct wg_config *cfg;
	char msg[256];
	int ret = parse(text, &cfg, msg, sizeof(msg));

	CHECK(ret == err);
	CHECK(!cfg);
	if (needle && !strstr(msg, needle)) {
		fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", msg, needle);
		CHECK(!"error message");
	}
	return ret;
}

TEST(uapi_parse_full)
{
	char text[2048];
	struct wg_config *cfg;
	struct wg_config_peer *p;

	snprintf(text, sizeof(text),
		 "private_key=%s\nlisten_port=12912\nfwmark=0\nreplace_peers=true\n"
		 "public_key=%s\npreshared_key=%s\nreplace_allowed_ips=true\nallowed_ip=192.168.4.4/32\n"
		 "endpoint=[abcd:23::33%%2]:51820\npersistent_keepalive_interval=111\nprotocol_version=1\n"
		 "public_key=%s\nendpoint=182.122.22.19:3233\nallowed_ip=::/0\nupdate_only=true\n"
		 "public_key=%s\nremove=true\n",
		 K1, K2, K3, K3, K1);
	CHECK(parse(text, &cfg, NULL, 0) == 0);
	CHECK(cfg);
	if (!cfg)
		return;
	CHECK(cfg->flags == (WG_DEV_HAS_PRIVATE_KEY | WG_DEV_HAS_LISTEN_PORT | WG_DEV_HAS_FWMARK | WG_DEV_REPLACE_PEERS));
	CHECK(cfg->listen_port == 12912 && cfg->fwmark == 0);
	p = cfg->first_peer;
	CHECK(p && p->flags == (WG_PEER_HAS_PRESHARED_KEY | WG_PEER_REPLACE_ALLOWEDIPS | WG_PEER_HAS_ENDPOINT |
				WG_PEER_HAS_PERSISTENT_KEEPALIVE));
	CHECK(p->persistent_keepalive == 111);
	CHECK(p->endpoint.sa.sa_family == AF_INET6 && p->endpoint.in6.sin6_scope_id == 2 &&
	      p->endpoint.in6.sin6_port == htons(51820));
	CHECK(p->first_ip && p->first_ip->family == AF_INET && p->first_ip->cidr == 32);
	p = p->next;
	CHECK(p && p->flags == (WG_PEER_HAS_ENDPOINT | WG_PEER_UPDATE_ONLY));
	CHECK(p->first_ip && p->first_ip->family == AF_INET6 && p->first_ip->cidr == 0);
	p = p->next;
	CHECK(p && p->flags == WG_PEER_REMOVE_ME && !p->next);
	wg_config_free(cfg);
}

TEST(uapi_errors_name_the_problem)
{
	char text[512];

	expect_error("listen_port", -EPROTO, "not key=value");
	expect_error("bogus=1", -EINVAL, "unknown device key \"bogus\"");
	expect_error("listen_port=65536", -EINVAL, "\"65536\" is not a number");
	expect_error("listen_port=-1", -EINVAL, "listen_port");
	expect_error("listen_port=", -EINVAL, "listen_port");
	expect_error("fwmark=4294967296", -EINVAL, "fwmark");
	expect_error("replace_peers=false", -EINVAL, "\"true\"");
	expect_error("private_key=abc", -EINVAL, "private_key: not a key");
	expect_error("private_key=", -EINVAL, "private_key");
	/* Secrets are never echoed back. */
	expect_error("private_key=zz4b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a", -EINVAL,
		     "got 64 characters");
	expect_error("public_key=nothex", -EINVAL, "\"nothex\"");
	snprintf(text, sizeof(text), "public_key=%s\nendpoint=example.com:51820", K1);
	expect_error(text, -EINVAL, "\"example.com:51820\"");
	snprintf(text, sizeof(text), "public_key=%s\nendpoint=::1:51820", K1);
	expect_error(text, -EINVAL, "endpoint");
	snprintf(text, sizeof(text), "public_key=%s\nendpoint=1.2.3.4:99999", K1);
	expect_error(text, -EINVAL, "endpoint");
	snprintf(text, sizeof(text), "public_key=%s\nallowed_ip=10.0.0.0", K1);
	expect_error(text, -EINVAL, "\"10.0.0.0\" is not an IP/cidr");
	snprintf(text, sizeof(text), "public_key=%s\nallowed_ip=10.0.0.0/33", K1);
	expect_error(text, -EINVAL, "allowed_ip");
	snprintf(text, sizeof(text), "public_key=%s\nallowed_ip=fd00::/129", K1);
	expect_error(text, -EINVAL, "allowed_ip");
	snprintf(text, sizeof(text), "public_key=%s\nprotocol_version=2", K1);
	expect_error(text, -EINVAL, "protocol_version");
	snprintf(text, sizeof(text), "public_key=%s\nlisten_port=1", K1);
	expect_error(text, -EINVAL, "unknown peer key \"listen_port\"");
	snprintf(text, sizeof(text), "public_key=%s\ntx_bytes=1", K1);
	expect_error(text, -EINVAL, "tx_bytes");
	snprintf(text, sizeof(text), "public_key=%s\nremove=1", K1);
	expect_error(text, -EINVAL, "remove");
	/* The first error wins; later lines do not override it. */
	expect_error("bogus=1\nlisten_port", -EINVAL, "bogus");
}

/* A request with a bad line anywhere changes nothing on the device. */
TEST(uapi_bad_request_leaves_device_unchanged)
{
	struct sim_net *net = sim_new();
	struct sim_dev *a = sim_add(net);
	struct buf before = { 0 }, after = { 0 };
	struct wg_config *cfg;
	char text[1024];

	snprintf(text, sizeof(text), "public_key=%s\nallowed_ip=10.0.0.0/8\nendpoint=1.2.3.4:5\n", K2);
	CHECK(sim_set(a, text) == 0);
	cfg = wg_device_get(a->dev);
	uapi_format_get(&before, cfg);
	wg_config_free(cfg);

	snprintf(text, sizeof(text),
		 "listen_port=4444\nfwmark=9\nreplace_peers=true\npublic_key=%s\nallowed_ip=10.9.0.0/16\n"
		 "public_key=%s\nallowed_ip=10.0.0.0/40\n",
		 K3, K1);
	CHECK(sim_set(a, text) == -EINVAL);
	cfg = wg_device_get(a->dev);
	uapi_format_get(&after, cfg);
	wg_config_free(cfg);
	CHECK(before.len == after.len && !memcmp(before.data, after.data, before.len));
	buf_free(&before);
	buf_free(&after);
	sim_free(net);
}

TEST(uapi_format_get_order_and_masking)
{
	struct sim_net *net = sim_new();
	struct sim_dev *a = sim_add(net);
	struct buf out = { 0 };
	struct wg_config *cfg;
	char text[1024], want[2048], hex[KEY_HEX_LEN];

	snprintf(text, sizeof(text),
		 "fwmark=7\npublic_key=%s\nallowed_ip=10.1.2.3/24\nallowed_ip=2001:db8::5/64\n"
		 "endpoint=[2001:db8::1]:51820\npersistent_keepalive_interval=25\n"
		 "public_key=%s\nallowed_ip=10.1.2.0/24\nallowed_ip=0.0.0.0/0\n",
		 K2, K3);
	CHECK(sim_set(a, text) == 0);
	cfg = wg_device_get(a->dev);
	CHECK(uapi_format_get(&out, cfg) == 0);
	wg_config_free(cfg);
	key_to_hex(hex, a->priv);
	/* The prefix moved to the second peer; host bits are masked. Turning
	 * on the keepalive started a handshake: 148 bytes sent. */
	snprintf(want, sizeof(want),
		 "private_key=%s\nlisten_port=%u\nfwmark=7\n"
		 "public_key=%s\npreshared_key=%064d\nprotocol_version=1\nendpoint=[2001:db8::1]:51820\n"
		 "last_handshake_time_sec=0\nlast_handshake_time_nsec=0\ntx_bytes=148\nrx_bytes=0\n"
		 "persistent_keepalive_interval=25\nallowed_ip=2001:db8::/64\n"
		 "public_key=%s\npreshared_key=%064d\nprotocol_version=1\n"
		 "last_handshake_time_sec=0\nlast_handshake_time_nsec=0\ntx_bytes=0\nrx_bytes=0\n"
		 "persistent_keepalive_interval=0\nallowed_ip=10.1.2.0/24\nallowed_ip=0.0.0.0/0\n",
		 hex, a->port, K2, 0, K3, 0);
	if (strcmp(out.data, want)) {
		fprintf(stderr, "got:\n%s\nwant:\n%s\n", out.data, want);
		CHECK(!"get output");
	}
	buf_free(&out);
	sim_free(net);
}

/* Semantics of the peer flags, and of a peer with the device's own key. */
TEST(uapi_peer_flags)
{
	struct sim_net *net = sim_new();
	struct sim_dev *a = sim_add(net);
	char text[512], own[KEY_HEX_LEN];

	snprintf(text, sizeof(text), "public_key=%s\nupdate_only=true\nallowed_ip=10.0.0.0/8\n", K2);
	CHECK(sim_set(a, text) == 0);
	CHECK(a->dev->npeers == 0);
	snprintf(text, sizeof(text), "public_key=%s\nremove=true\n", K2);
	CHECK(sim_set(a, text) == 0);
	key_to_hex(own, a->pub);
	snprintf(text, sizeof(text), "public_key=%s\nallowed_ip=10.0.0.0/8\n", own);
	CHECK(sim_set(a, text) == 0);
	CHECK(a->dev->npeers == 0);
	snprintf(text, sizeof(text), "public_key=%s\nallowed_ip=10.0.0.0/8\npublic_key=%s\n", K2, K3);
	CHECK(sim_set(a, text) == 0);
	CHECK(a->dev->npeers == 2);
	snprintf(text, sizeof(text), "public_key=%s\nupdate_only=true\nreplace_allowed_ips=true\n", K2);
	CHECK(sim_set(a, text) == 0);
	CHECK(a->dev->allowedips.count == 0);
	CHECK(sim_set(a, "replace_peers=true\n") == 0);
	CHECK(a->dev->npeers == 0);
	sim_free(net);
}

/* A client of another process's device: a get reply read into a snapshot. */
static struct wg_config *parse_reply(const char *text, int *err, char *msg, size_t msglen)
{
	struct wg_config *cfg;

	*err = parse_as(true, text, &cfg, msg, msglen);
	return cfg;
}

TEST(uapi_get_reply_read_back)
{
	struct sim_net *net = sim_new();
	struct sim_dev *a = sim_add(net);
	struct buf out = { 0 }, again = { 0 };
	struct wg_config *cfg, *back;
	uint8_t pub[32];
	char text[1024], msg[256];
	int err;

	snprintf(text, sizeof(text),
		 "fwmark=7\npublic_key=%s\nallowed_ip=10.1.2.0/24\nendpoint=192.0.2.1:51820\n"
		 "persistent_keepalive_interval=25\n",
		 K2);
	CHECK(sim_set(a, text) == 0);
	cfg = wg_device_get(a->dev);
	CHECK(uapi_format_get(&out, cfg) == 0);
	CHECK(buf_printf(&out, "errno=0\n") == 0);
	back = parse_reply(out.data, &err, msg, sizeof(msg));
	CHECK(back && !err);
	/* Every field, state included, and the public key derived. */
	CHECK(back->listen_port == a->port && back->fwmark == 7);
	CHECK_MEM(back->private_key, a->priv, 32);
	CHECK(back->flags & WG_DEV_HAS_PUBLIC_KEY);
	CHECK_MEM(back->public_key, cfg->public_key, 32);
	CHECK(back->first_peer && !back->first_peer->next);
	CHECK(key_from_hex(pub, K2));
	CHECK_MEM(back->first_peer->public_key, pub, 32);
	CHECK(back->first_peer->tx_bytes == cfg->first_peer->tx_bytes && back->first_peer->tx_bytes == 148);
	CHECK(back->first_peer->persistent_keepalive == 25);
	CHECK(back->first_peer->first_ip && back->first_peer->first_ip->cidr == 24);
	CHECK(uapi_format_get(&again, back) == 0);
	CHECK(buf_printf(&again, "errno=0\n") == 0);
	CHECK(again.len == out.len && !memcmp(again.data, out.data, out.len));
	wg_config_free(cfg);
	wg_config_free(back);
	buf_free(&out);
	buf_free(&again);
	sim_free(net);
}

TEST(uapi_get_reply_errors)
{
	static const struct {
		const char *text;
		int err;
		const char *needle;
	} cases[] = {
		{ "listen_port=51820\nerrno=-98\n", -98, "errno=98" }, /* as wireguard-go answers */
		{ "errno=5\n", -5, "errno=5" },
		{ "listen_port=51820\n", -EPROTO, "without its errno line" },
		{ "errno=0\nlisten_port=1\n", -EPROTO, "follows the errno line" },
		{ "replace_peers=true\nerrno=0\n", -EPROTO, "belongs in a set request" },
		{ "errno=x\n", -EINVAL, "errno" },
		{ "last_handshake_time_sec=1\nerrno=0\n", -EINVAL, "unknown device key" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); ++i) {
		char msg[256];
		int err;
		struct wg_config *cfg = parse_reply(cases[i].text, &err, msg, sizeof(msg));

		if (cfg || err != cases[i].err || !strstr(msg, cases[i].needle)) {
			fprintf(stderr, "  %zu: err %d, \"%s\"\n", i, err, msg);
			CHECK(!"get reply refused as it should be");
		}
		wg_config_free(cfg);
	}
	/* A set request is not a reply: the state lines are refused there. */
	expect_error("public_key=e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a\ntx_bytes=1\n",
		     -EINVAL, "unknown peer key");
}

TEST(uapi_format_set_round_trip)
{
	struct wg_config *cfg, *back;
	struct buf out = { 0 }, again = { 0 };
	char text[1024];

	snprintf(text, sizeof(text),
		 "private_key=%s\nlisten_port=4500\nfwmark=0\nreplace_peers=true\n"
		 "public_key=%s\npreshared_key=%s\nendpoint=[2001:db8::1]:4500\npersistent_keepalive_interval=10\n"
		 "replace_allowed_ips=true\nallowed_ip=10.92.0.0/16\nallowed_ip=fd92::/48\n"
		 "public_key=%s\nremove=true\n"
		 "public_key=%s\nupdate_only=true\n",
		 K1, K2, K3, K3, K1);
	CHECK(parse(text, &cfg, NULL, 0) == 0);
	CHECK(uapi_format_set(&out, cfg) == 0);
	/* Written back in the order it was given. */
	if (strcmp(out.data, text)) {
		fprintf(stderr, "got:\n%s\nwant:\n%s\n", out.data, text);
		CHECK(!"set request");
	}
	CHECK(parse(out.data, &back, NULL, 0) == 0);
	CHECK(uapi_format_set(&again, back) == 0);
	CHECK(again.len == out.len && !memcmp(again.data, out.data, out.len));
	wg_config_free(cfg);
	wg_config_free(back);
	buf_free(&out);
	buf_free(&again);
}
