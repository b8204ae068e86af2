// SPDX-License-Identifier: MIT
#include "uapi.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "crypto/crypto.h"
#include "util/addr.h"
#include "util/key.h"

int uapi_set_begin(struct uapi_set *s)
{
	memset(s, 0, sizeof(*s));
	s->cfg = wg_config_new();
	return s->cfg ? 0 : -ENOMEM;
}

int uapi_get_begin(struct uapi_set *s)
{
	int ret = uapi_set_begin(s);

	s->get = true;
	return ret;
}

__attribute__((format(printf, 3, 4))) static void fail(struct uapi_set *s, int err, const char *fmt, ...)
{
	va_list ap;

	s->error = err;
	va_start(ap, fmt);
	vsnprintf(s->msg, sizeof(s->msg), fmt, ap);
	va_end(ap);
}

/* Keys and numbers are quoted in errors, but secrets never are. */
static bool parse_key(struct uapi_set *s, const char *key, const char *value, uint8_t out[32], bool secret)
{
	if (key_from_hex(out, value))
		return true;
	if (secret)
		fail(s, -EINVAL, "%s: not a key (want 64 hex digits, got %zu characters)", key, strlen(value));
	else
		fail(s, -EINVAL, "%s: not a key (want 64 hex digits): \"%.80s\"", key, value);
	return false;
}

static bool parse_true(struct uapi_set *s, const char *key, const char *value)
{
	if (!strcmp(value, "true"))
		return true;
	fail(s, -EINVAL, "%s: the only accepted value is \"true\", not \"%.40s\"", key, value);
	return false;
}

static bool parse_num(struct uapi_set *s, const char *key, const char *value, uint64_t max, uint64_t *out)
{
	if (!addr_parse_u64(value, max, out))
		return true;
	fail(s, -EINVAL, "%s: \"%.40s\" is not a number from 0 to %llu", key, value, (unsigned long long)max);
	return false;
}

static void device_line(struct uapi_set *s, const char *key, const char *value)
{
	struct wg_config *cfg = s->cfg;
	uint64_t n;

	if (!strcmp(key, "private_key")) {
		if (parse_key(s, key, value, cfg->private_key, true))
			cfg->flags |= WG_DEV_HAS_PRIVATE_KEY;
	} else if (!strcmp(key, "listen_port")) {
		if (parse_num(s, key, value, 65535, &n)) {
			cfg->listen_port = (uint16_t)n;
			cfg->flags |= WG_DEV_HAS_LISTEN_PORT;
		}
	} else if (!strcmp(key, "fwmark")) {
		if (parse_num(s, key, value, UINT32_MAX, &n)) {
			cfg->fwmark = (uint32_t)n;
			cfg->flags |= WG_DEV_HAS_FWMARK;
		}
	} else if (!strcmp(key, "replace_peers") && !s->get) {
		if (parse_true(s, key, value))
			cfg->flags |= WG_DEV_REPLACE_PEERS;
	} else {
		fail(s, -EINVAL, "unknown device key \"%.40s\"", key);
	}
}

static void peer_line(struct uapi_set *s, const char *key, const char *value)
{
	struct wg_config_peer *peer = s->peer;
	uint64_t n;

	if (!strcmp(key, "remove")) {
		if (parse_true(s, key, value))
			peer->flags |= WG_PEER_REMOVE_ME;
	} else if (!strcmp(key, "update_only")) {
		if (parse_true(s, key, value))
			peer->flags |= WG_PEER_UPDATE_ONLY;
	} else if (!strcmp(key, "preshared_key")) {
		if (parse_key(s, key, value, peer->preshared_key, true))
			peer->flags |= WG_PEER_HAS_PRESHARED_KEY;
	} else if (!strcmp(key, "endpoint")) {
		if (addr_parse_endpoint((union sockaddr_any *)&peer->endpoint, value))
			fail(s, -EINVAL, "endpoint: \"%.80s\" is not IPv4:port or [IPv6]:port", value);
		else
			peer->flags |= WG_PEER_HAS_ENDPOINT;
	} else if (!strcmp(key, "persistent_keepalive_interval")) {
		if (parse_num(s, key, value, 65535, &n)) {
			peer->persistent_keepalive = (uint16_t)n;
			peer->flags |= WG_PEER_HAS_PERSISTENT_KEEPALIVE;
		}
	} else if (!strcmp(key, "replace_allowed_ips")) {
		if (parse_true(s, key, value))
			peer->flags |= WG_PEER_REPLACE_ALLOWEDIPS;
	} else if (!strcmp(key, "allowed_ip")) {
		struct in6_addr addr;
		uint8_t cidr;
		int family;

		if (addr_parse_prefix(value, &family, &addr, &cidr))
			fail(s, -EINVAL, "allowed_ip: \"%.80s\" is not an IP/cidr prefix", value);
		else if (!wg_config_add_ip(peer, family, &addr, cidr))
			fail(s, -ENOMEM, "out of memory");
	} else if (!strcmp(key, "protocol_version")) {
		if (strcmp(value, "1"))
			fail(s, -EINVAL, "protocol_version: only 1 is supported, not \"%.20s\"", value);
	} else if (s->get && !strcmp(key, "last_handshake_time_sec")) {
		if (parse_num(s, key, value, INT64_MAX, &n))
			peer->last_handshake.tv_sec = (time_t)n;
	} else if (s->get && !strcmp(key, "last_handshake_time_nsec")) {
		if (parse_num(s, key, value, 999999999, &n))
			peer->last_handshake.tv_nsec = (long)n;
	} else if (s->get && !strcmp(key, "tx_bytes")) {
		parse_num(s, key, value, UINT64_MAX, &peer->tx_bytes);
	} else if (s->get && !strcmp(key, "rx_bytes")) {
		parse_num(s, key, value, UINT64_MAX, &peer->rx_bytes);
	} else {
		fail(s, -EINVAL, "unknown peer key \"%.40s\"", key);
	}
}

void uapi_set_line(struct uapi_set *s, char *line, size_t len)
{
	char *value;

	++s->line;
	if (s->error)
		return;
	if (memchr(line, '\0', len)) {
		fail(s, -EINVAL, "line %u holds a NUL byte", s->line);
		return;
	}
	line[len] = '\0';
	value = strchr(line, '=');
	if (!value) {
		fail(s, -EPROTO, "line %u is not key=value: \"%.60s\"", s->line, line);
		return;
	}
	*value++ = '\0';
	if (s->got_errno) {
		fail(s, -EPROTO, "line %u follows the errno line", s->line);
		return;
	}
	if (s->get && !strcmp(line, "errno")) {
		uint64_t n;

		/* wireguard-go and weft-wg answer a negative errno. */
		s->got_errno = true;
		if (parse_num(s, line, value + (*value == '-'), 4095, &n) && n)
			fail(s, -(int)n, "the device answered errno=%llu", (unsigned long long)n);
		return;
	}
	if (s->get && (!strcmp(line, "remove") || !strcmp(line, "update_only") ||
		       !strcmp(line, "replace_allowed_ips") || !strcmp(line, "replace_peers"))) {
		fail(s, -EPROTO, "line %u: \"%.40s\" belongs in a set request, not a get reply", s->line, line);
		return;
	}
	if (!strcmp(line, "public_key")) {
		struct wg_config_peer *peer = wg_config_add_peer(s->cfg);

		if (!peer) {
			fail(s, -ENOMEM, "out of memory");
			return;
		}
		s->peer = peer;
		parse_key(s, line, value, peer->public_key, false);
		return;
	}
	if (s->peer)
		peer_line(s, line, value);
	else
		device_line(s, line, value);
	/* The value may be a key: leave no copy of it in the line buffer. */
	crypto_wipe(value, strlen(value));
}

struct wg_config *uapi_set_end(struct uapi_set *s)
{
	struct wg_config *cfg = s->cfg;

	s->cfg = NULL;
	s->peer = NULL;
	if (!s->error && s->get && !s->got_errno)
		fail(s, -EPROTO, "the get reply ended without its errno line");
	if (s->error) {
		wg_config_free(cfg);
		return NULL;
	}
	if (s->get) {
		/* A snapshot: every device field is filled. */
		cfg->flags |= WG_DEV_HAS_LISTEN_PORT | WG_DEV_HAS_FWMARK;
		if (cfg->flags & WG_DEV_HAS_PRIVATE_KEY && x25519_public(cfg->public_key, cfg->private_key))
			cfg->flags |= WG_DEV_HAS_PUBLIC_KEY;
	}
	return cfg;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	return crypto_is_zero(p, n);
}

int uapi_format_get(struct buf *out, const struct wg_config *cfg)
{
	char hex[KEY_HEX_LEN], ep[ADDR_STRLEN], ip[INET6_ADDRSTRLEN];
	int ret = 0;

	if (cfg->flags & WG_DEV_HAS_PRIVATE_KEY && !all_zero(cfg->private_key, 32)) {
		key_to_hex(hex, cfg->private_key);
		ret |= buf_printf(out, "private_key=%s\n", hex);
	}
	if (cfg->listen_port)
		ret |= buf_printf(out, "listen_port=%u\n", cfg->listen_port);
	if (cfg->fwmark)
		ret |= buf_printf(out, "fwmark=%u\n", cfg->fwmark);
	for (const struct wg_config_peer *p = cfg->first_peer; p; p = p->next) {
		key_to_hex(hex, p->public_key);
		ret |= buf_printf(out, "public_key=%s\n", hex);
		key_to_hex(hex, p->preshared_key);
		ret |= buf_printf(out, "preshared_key=%s\nprotocol_version=1\n", hex);
		if (p->flags & WG_PEER_HAS_ENDPOINT)
			ret |= buf_printf(out, "endpoint=%s\n", addr_format_endpoint(ep, &p->endpoint.sa));
		ret |= buf_printf(out,
				  "last_handshake_time_sec=%lld\nlast_handshake_time_nsec=%ld\n"
				  "tx_bytes=%llu\nrx_bytes=%llu\npersistent_keepalive_interval=%u\n",
				  (long long)p->last_handshake.tv_sec, (long)p->last_handshake.tv_nsec,
				  (unsigned long long)p->tx_bytes, (unsigned long long)p->rx_bytes,
				  p->persistent_keepalive);
		for (const struct wg_config_ip *a = p->first_ip; a; a = a->next) {
			inet_ntop(a->family, &a->ip6, ip, sizeof(ip));
			ret |= buf_printf(out, "allowed_ip=%s/%u\n", ip, a->cidr);
		}
	}
	crypto_wipe(hex, sizeof(hex));
	return ret ? -ENOMEM : 0;
}

int uapi_format_set(struct buf *out, const struct wg_config *cfg)
{
	char hex[KEY_HEX_LEN], ep[ADDR_STRLEN], ip[INET6_ADDRSTRLEN];
	int ret = 0;

	if (cfg->flags & WG_DEV_HAS_PRIVATE_KEY) {
		key_to_hex(hex, cfg->private_key);
		ret |= buf_printf(out, "private_key=%s\n", hex);
	}
	if (cfg->flags & WG_DEV_HAS_LISTEN_PORT)
		ret |= buf_printf(out, "listen_port=%u\n", cfg->listen_port);
	if (cfg->flags & WG_DEV_HAS_FWMARK)
		ret |= buf_printf(out, "fwmark=%u\n", cfg->fwmark);
	if (cfg->flags & WG_DEV_REPLACE_PEERS)
		ret |= buf_printf(out, "replace_peers=true\n");
	for (const struct wg_config_peer *p = cfg->first_peer; p; p = p->next) {
		key_to_hex(hex, p->public_key);
		ret |= buf_printf(out, "public_key=%s\n", hex);
		if (p->flags & WG_PEER_REMOVE_ME) {
			ret |= buf_printf(out, "remove=true\n");
			continue;
		}
		if (p->flags & WG_PEER_UPDATE_ONLY)
			ret |= buf_printf(out, "update_only=true\n");
		if (p->flags & WG_PEER_HAS_PRESHARED_KEY) {
			key_to_hex(hex, p->preshared_key);
			ret |= buf_printf(out, "preshared_key=%s\n", hex);
		}
		if (p->flags & WG_PEER_HAS_ENDPOINT)
			ret |= buf_printf(out, "endpoint=%s\n", addr_format_endpoint(ep, &p->endpoint.sa));
		if (p->flags & WG_PEER_HAS_PERSISTENT_KEEPALIVE)
			ret |= buf_printf(out, "persistent_keepalive_interval=%u\n", p->persistent_keepalive);
		if (p->flags & WG_PEER_REPLACE_ALLOWEDIPS)
			ret |= buf_printf(out, "replace_allowed_ips=true\n");
		for (const struct wg_config_ip *a = p->first_ip; a; a = a->next) {
			inet_ntop(a->family, &a->ip6, ip, sizeof(ip));
			ret |= buf_printf(out, "allowed_ip=%s/%u\n", ip, a->cidr);
		}
	}
	crypto_wipe(hex, sizeof(hex));
	return ret ? -ENOMEM : 0;
}
