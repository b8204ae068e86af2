// SPDX-License-Identifier: MIT
/*
 * A container's WireGuard interface described in CNI configuration (seed
 * 002's keys): parsing, and the link's addresses and routes. Shared by
 * weft-cni, which applies it with kernel WireGuard, and weftd, which hosts
 * the userspace ones.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "wgcfg.h"
#include "util/addr.h"
#include "util/key.h"
#include "util/netns.h"
#include "nl/nl.h"
#include <unistd.h>

/* Reads a key from a file (base64, surrounding whitespace allowed). */
static int key_file(struct cni_error *err, const char *field, const char *path, uint8_t key[32])
{
	char buf[128];
	FILE *f = fopen(path, "re");
	size_t n;
	bool ok;

	if (!f)
		return cni_fail(err, CNI_ERR_INVALID_CONFIG, "invalid network configuration", "%s: cannot read %s: %s",
				field, path, strerror(errno));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' ' || buf[n - 1] == '\r' || buf[n - 1] == '\t'))
		buf[--n] = '\0';
	ok = key_from_base64(key, buf);
	crypto_wipe(buf, sizeof(buf));
	if (!ok)
		return cni_fail(err, CNI_ERR_INVALID_CONFIG, "invalid network configuration",
				"%s: %s does not hold a base64 WireGuard key", field, path);
	return 0;
}

/* "privateKey" or "privateKeyFile" (and the same for presharedKey). */
static int read_key(struct cni_error *err, json_t *obj, const char *prefix, const char *key_name,
		    const char *file_name, uint8_t key[32], bool required, bool *found)
{
	json_t *k = json_object_get(obj, key_name), *f = json_object_get(obj, file_name);
	char field[96];

	*found = false;
	if (k && f)
		return cni_fail(err, CNI_ERR_INVALID_CONFIG, "invalid network configuration",
				"%s%s and %s%s: give one, not both", prefix, key_name, prefix, file_name);
	if (k) {
		snprintf(field, sizeof(field), "%s%s", prefix, key_name);
		if (!json_is_string(k) || !key_from_base64(key, json_string_value(k)))
			return cni_fail(err, CNI_ERR_INVALID_CONFIG, "invalid network configuration",
					"%s: not a base64 WireGuard key (44 characters ending in '=')", field);
		*found = true;
		return 0;
	}
	if (f) {
		snprintf(field, sizeof(field), "%s%s", prefix, file_name);
		if (!json_is_string(f))
			return cni_fail(err, CNI_ERR_INVALID_CONFIG, "invalid network configuration", "%s: must be a path",
					field);
		*found = true;
		return key_file(err, field, json_string_value(f), key);
	}
	if (required)
		return cni_fail(err, CNI_ERR_INVALID_CONFIG, "invalid network configuration",
				"%s%s or %s%s is required", prefix, key_name, prefix, file_name);
	return 0;
}

/* "25s", "1m", "0" or 25 (seconds). */
static int keepalive(struct cni_error *err, json_t *v, const char *field, uint16_t *out)
{
	long long n;
	char *end;

	if (json_is_integer(v)) {
		n = json_integer_value(v);
	} else if (json_is_string(v)) {
		n = strtoll(json_string_value(v), &end, 10);
		if (end == json_string_value(v) || (*end && strcmp(end, "s") && strcmp(end, "m")))
			n = -1;
		else if (!strcmp(end, "m"))
			n *= 60;
	} else {
		n = -1;
	}
	if (n < 0 || n > 65535)
		return cni_fail(err, CNI_ERR_INVALID_CONFIG, "invalid network configuration",
				"%s: give seconds as a number (25) or a duration (\"25s\", \"1m\"), at most 65535 s", field);
	*out = (uint16_t)n;
	return 0;
}

/* "1.2.3.4:51820", "[2001:db8::1]:51820" or "host.example:51820", resolved
 * here, in the node's namespace. */
static int endpoint(struct cni_error *err, const char *s, const char *field, struct wg_config_peer *peer)
{
	char host[256];
	const char *colon = strrchr(s, ':');
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM }, *res = NULL;
	uint64_t port;
	int gai;

	if (!addr_parse_endpoint((union sockaddr_any *)&peer->endpoint, s))
		return 0;
	if (!colon || colon == s || s[0] == '[' || (size_t)(colon - s) >= sizeof(host) ||
	    addr_parse_u64(colon + 1, 65535, &port))
		return cni_fail(err, CNI_ERR_INVALID_CONFIG, "invalid network configuration",
				"%s: \"%.100s\" is not IPv4:port, [IPv6]:port or name:port", field, s);
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	gai = getaddrinfo(host, NULL, &hints, &res);
	if (gai || !res)
		return cni_fail(err, CNI_ERR_INVALID_CONFIG, "invalid network configuration", "%s: cannot resolve %s: %s",
				field, host, gai_strerror(gai));
	memcpy(&peer->endpoint, res->ai_addr, res->ai_addrlen);
	if (res->ai_family == AF_INET)
		peer->endpoint.in4.sin_port = htons((uint16_t)port);
	else
		peer->endpoint.in6.sin6_port = htons((uint16_t)port);
	freeaddrinfo(res);
	return 0;
}

static int prefix(struct cni_error *err, json_t *v, const char *field, struct cni_prefix *out)
{
	if (!json_is_string(v) || addr_parse_prefix(json_string_value(v), &out->family, &out->addr, &out->len))
		return cni_fail(err, CNI_ERR_INVALID_CONFIG, "invalid network configuration",
				"%s: \"%.80s\" is not an address with its prefix length (10.0.0.2/24, fd00::2/64)", field,
				json_is_string(v) ? json_string_value(v) : "(not a string)");
	return 0;
}

int cni_wgcfg_parse(struct cni_wgcfg *p, json_t *root, struct cni_error *err)
{
	json_t *v, *peers, *peer;
	struct wg_config *cfg;
	size_t i;
	bool found;
	int ret;

	cfg = p->wg = wg_config_new();
	if (!cfg)
		return cni_fail(err, CNI_ERR_IO, "out of memory", NULL);
	cfg->flags = WG_DEV_HAS_PRIVATE_KEY | WG_DEV_REPLACE_PEERS;
	if ((ret = read_key(err, root, "", "privateKey", "privateKeyFile", cfg->private_key, true, &found)))
		return ret;
	if ((v = json_object_get(root, "listenPort"))) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 65535)
			return cni_fail(err, CNI_ERR_INVALID_CONFIG, "invalid network configuration",
					"listenPort: a number from 0 to 65535");
		cfg->listen_port = (uint16_t)json_integer_value(v);
		cfg->flags |= WG_DEV_HAS_LISTEN_PORT;
	}
	if ((v = json_object_get(root, "address")) && (ret = prefix(err, v, "address", &p->addrs[p->naddrs++])))
		return ret;
	json_array_foreach(json_object_get(root, "addresses"), i, v) {
		char field[48];

		snprintf(field, sizeof(field), "addresses[%zu]", i);
		if (p->naddrs == CNI_MAX_ADDRS)
			return cni_fail(err, CNI_ERR_INVALID_CONFIG, "invalid network configuration", "too many addresses");
		if ((ret = prefix(err, v, field, &p->addrs[p->naddrs++])))
			return ret;
	}
	if (!p->naddrs)
		return cni_fail(err, CNI_ERR_INVALID_CONFIG, "invalid network configuration",
				"address (or addresses) is required: the container's address on the tunnel");
	peers = json_object_get(root, "peers");
	if (peers && !json_is_array(peers))
		return cni_fail(err, CNI_ERR_INVALID_CONFIG, "invalid network configuration", "peers: must be a list");
	json_array_foreach(peers, i, peer) {
		struct wg_config_peer *c = wg_config_add_peer(cfg);
		char field[64], pre[32];
		json_t *ips;
		size_t k;

		snprintf(pre, sizeof(pre), "peers[%zu].", i);
		if (!c)
			return cni_fail(err, CNI_ERR_IO, "out of memory", NULL);
		v = json_object_get(peer, "publicKey");
		if (!json_is_string(v) || !key_from_base64(c->public_key, json_string_value(v)))
			return cni_fail(err, CNI_ERR_INVALID_CONFIG, "invalid network configuration",
					"%spublicKey: \"%.60s\" is not a base64 WireGuard key", pre,
					json_is_string(v) ? json_string_value(v) : "(missing)");
		if ((ret = read_key(err, peer, pre, "presharedKey", "presharedKeyFile", c->preshared_key, false, &found)))
			return ret;
		if (found)
			c->flags |= WG_PEER_HAS_PRESHARED_KEY;
		if ((v = json_object_get(peer, "endpoint"))) {
			snprintf(field, sizeof(field), "%sendpoint", pre);
			if (!json_is_string(v))
				return cni_fail(err, CNI_ERR_INVALID_CONFIG, "invalid network configuration", "%s: a string",
						field);
			if ((ret = endpoint(err, json_string_value(v), field, c)))
				return ret;
			c->flags |= WG_PEER_HAS_ENDPOINT;
		}
		if ((v = json_object_get(peer, "persistentKeepalive"))) {
			snprintf(field, sizeof(field), "%spersistentKeepalive", pre);
			if ((ret = keepalive(err, v, field, &c->persistent_keepalive)))
				return ret;
			c->flags |= WG_PEER_HAS_PERSISTENT_KEEPALIVE;
		}
		ips = json_object_get(peer, "allowedIPs");
		json_array_foreach(ips, k, v) {
			struct cni_prefix pp;

			snprintf(field, sizeof(field), "%sallowedIPs[%zu]", pre, k);
			if ((ret = prefix(err, v, field, &pp)))
				return ret;
			wg_config_add_ip(c, pp.family, &pp.addr, pp.len);
			/* wg-quick's way: a route for each allowed IP through the
			 * interface, unless the configuration lists routes. */
			if (p->nroutes < CNI_MAX_ROUTES) {
				p->routes[p->nroutes].dst = pp;
				p->routes[p->nroutes++].via_gw = false;
			}
		}
	}
	if ((v = json_object_get(root, "routes"))) {
		if (!json_is_array(v))
			return cni_fail(err, CNI_ERR_INVALID_CONFIG, "invalid network configuration", "routes: must be a list");
		p->nroutes = 0;
		json_t *r;

		json_array_foreach(v, i, r) {
			char field[48];

			snprintf(field, sizeof(field), "routes[%zu].dst", i);
			if (p->nroutes == CNI_MAX_ROUTES)
				return cni_fail(err, CNI_ERR_INVALID_CONFIG, "invalid network configuration", "too many routes");
			if ((ret = prefix(err, json_object_get(r, "dst"), field, &p->routes[p->nroutes].dst)))
				return ret;
			p->routes[p->nroutes++].via_gw = false;
		}
	}
	return 0;
}

const char *cni_prefix_str(const struct cni_prefix *pp, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	inet_ntop(pp->family, &pp->addr, ip, sizeof(ip));
	snprintf(buf, len, "%s/%u", ip, pp->len);
	return buf;
}

static void mask_prefix(struct cni_prefix *pp)
{
	uint8_t *b = (uint8_t *)&pp->addr;
	unsigned bytes = pp->family == AF_INET ? 4 : 16;

	for (unsigned i = 0; i < bytes; ++i) {
		unsigned keep = pp->len > 8 * i ? pp->len - 8 * i : 0;

		if (keep < 8)
			b[i] &= (uint8_t)(0xff << (8 - keep));
	}
}

/* Addresses, MTU, link up and routes, inside the container. */
int cni_wgcfg_apply_link(const struct cni_wgcfg *p, const char *netns, int ifindex, struct cni_error *err)
{
	struct nl nl;
	char buf[64];
	int ns = netns_open(netns), ret;

	if (ns < 0)
		return cni_fail(err, CNI_ERR_UNKNOWN_CONTAINER, "cannot open the container's network namespace",
				"%s: %s", netns, strerror(-ns));
	ret = nl_open(&nl, NETLINK_ROUTE, ns);
	close(ns);
	if (ret)
		return cni_fail(err, CNI_ERR_IO, "cannot open netlink in the container", "%s", strerror(-ret));
	if (p->mtu && (ret = nl_link_set_mtu(&nl, ifindex, p->mtu))) {
		cni_fail(err, CNI_ERR_INVALID_CONFIG, "invalid network configuration", "mtu %u refused: %s %s", p->mtu,
			 strerror(-ret), nl.err);
		goto out;
	}
	/* An address already there (an adopted interface) is as good as one added. */
	for (unsigned i = 0; i < p->naddrs; ++i)
		if ((ret = nl_addr_add(&nl, ifindex, p->addrs[i].family, &p->addrs[i].addr, p->addrs[i].len)) &&
		    ret != -EEXIST) {
			cni_fail(err, CNI_ERR_PLUGIN, "cannot add address", "%s: %s %s",
				 cni_prefix_str(&p->addrs[i], buf, sizeof(buf)), strerror(-ret), nl.err);
			goto out;
		}
	if ((ret = nl_link_set_up(&nl, ifindex, true))) {
		cni_fail(err, CNI_ERR_PLUGIN, "cannot bring the interface up", "%s", strerror(-ret));
		goto out;
	}
	for (unsigned i = 0; i < p->nroutes; ++i) {
		struct cni_prefix dst = p->routes[i].dst;
		struct nl_route r = { .family = dst.family, .dst_len = dst.len, .oif = ifindex };

		mask_prefix(&dst);
		memcpy(&r.dst, &dst.addr, dst.family == AF_INET ? 4 : 16);
		ret = nl_route_add(&nl, &r, false);
		/* An address's own subnet is routed already. */
		if (ret && ret != -EEXIST) {
			cni_fail(err, CNI_ERR_PLUGIN, "cannot add route", "%s: %s %s", cni_prefix_str(&dst, buf, sizeof(buf)),
				 strerror(-ret), nl.err);
			goto out;
		}
		ret = 0;
	}
out:
	nl_close(&nl);
	return ret ? (err->code ? err->code : CNI_ERR_PLUGIN) : 0;
}

void cni_wgcfg_result(const struct cni_wgcfg *p, json_t *res, const char *ifname, const char *netns)
{
	char buf[64];
	int idx = cni_result_add_interface(res, ifname, NULL, netns, p->mtu);

	for (unsigned i = 0; i < p->naddrs; ++i)
		cni_result_add_ip(res, cni_prefix_str(&p->addrs[i], buf, sizeof(buf)), NULL, idx);
	for (unsigned i = 0; i < p->nroutes; ++i)
		cni_result_add_route(res, cni_prefix_str(&p->routes[i].dst, buf, sizeof(buf)), NULL);
}

void cni_wgcfg_free(struct cni_wgcfg *p)
{
	wg_config_free(p->wg);
	p->wg = NULL;
}
