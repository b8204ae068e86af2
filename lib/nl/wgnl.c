// SPDX-License-Identifier: MIT
/*
 * The kernel's WireGuard configuration interface: generic netlink family
 * "wireguard" (include/uapi/linux/wireguard.h). A get is a dump that may
 * span several messages, a peer's allowed IPs continuing in the next; a
 * large set is cut into several messages the same way.
 */
#include "wgnl.h"

#include <errno.h>
#include <linux/genetlink.h>
#include <linux/time_types.h>
#include <linux/wireguard.h>
#include <stdio.h>
#include <string.h>

#include "crypto/crypto.h"

/* A set message is kept to this size, as wg(8) does; bigger configurations
 * go in several. */
enum { SET_MSG_MAX = 8192 };

static struct nlmsghdr *genl_msg(char *buf, uint16_t family, uint8_t cmd, uint16_t flags)
{
	struct nlmsghdr *nlh = nl_msg(buf, family, flags);
	struct genlmsghdr *g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));

	g->cmd = cmd;
	g->version = WG_GENL_VERSION;
	return nlh;
}

static int family_attr_cb(const struct nlattr *attr, void *data)
{
	if (mnl_attr_get_type(attr) == CTRL_ATTR_FAMILY_ID && mnl_attr_validate(attr, MNL_TYPE_U16) >= 0)
		*(uint16_t *)data = mnl_attr_get_u16(attr);
	return MNL_CB_OK;
}

static int family_cb(const struct nlmsghdr *nlh, void *data)
{
	mnl_attr_parse(nlh, sizeof(struct genlmsghdr), family_attr_cb, data);
	return MNL_CB_OK;
}

int wgnl_family(struct nl *nl)
{
	char buf[NL_BUF];
	struct nlmsghdr *nlh;
	uint16_t id = 0;
	int ret;

	if (nl->wg_family)
		return 0;
	nlh = nl_msg(buf, GENL_ID_CTRL, 0);
	struct genlmsghdr *g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));

	g->cmd = CTRL_CMD_GETFAMILY;
	g->version = 1;
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, WG_GENL_NAME);
	ret = nl_request(nl, nlh, family_cb, &id);
	if (ret)
		return ret == -ENOENT ? -EPROTONOSUPPORT : ret;
	if (!id)
		return -EPROTONOSUPPORT;
	nl->wg_family = id;
	return 0;
}

/* --- get ----------------------------------------------------------------- */

struct get_ctx {
	struct wg_config *cfg;
	struct wg_config_peer *peer;
	bool failed;
};

static int allowedip_cb(const struct nlattr *attr, void *data)
{
	struct nlattr **tb = data;
	uint16_t type = mnl_attr_get_type(attr);

	if (type <= WGALLOWEDIP_A_MAX)
		tb[type] = (struct nlattr *)attr;
	return MNL_CB_OK;
}

static int allowedips_cb(const struct nlattr *attr, void *data)
{
	struct get_ctx *ctx = data;
	struct nlattr *tb[WGALLOWEDIP_A_MAX + 1] = { 0 };
	uint16_t family;
	uint8_t cidr;
	size_t len;

	if (mnl_attr_parse_nested(attr, allowedip_cb, tb) < 0 || !tb[WGALLOWEDIP_A_FAMILY] ||
	    !tb[WGALLOWEDIP_A_IPADDR] || !tb[WGALLOWEDIP_A_CIDR_MASK])
		return MNL_CB_OK;
	family = mnl_attr_get_u16(tb[WGALLOWEDIP_A_FAMILY]);
	cidr = mnl_attr_get_u8(tb[WGALLOWEDIP_A_CIDR_MASK]);
	len = family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
	if (!len || mnl_attr_get_payload_len(tb[WGALLOWEDIP_A_IPADDR]) != len)
		return MNL_CB_OK;
	if (!wg_config_add_ip(ctx->peer, family, mnl_attr_get_payload(tb[WGALLOWEDIP_A_IPADDR]), cidr))
		ctx->failed = true;
	return MNL_CB_OK;
}

static int peer_attr_cb(const struct nlattr *attr, void *data)
{
	struct nlattr **tb = data;
	uint16_t type = mnl_attr_get_type(attr);

	if (type <= WGPEER_A_MAX)
		tb[type] = (struct nlattr *)attr;
	return MNL_CB_OK;
}

static int peer_cb(const struct nlattr *attr, void *data)
{
	struct get_ctx *ctx = data;
	struct nlattr *tb[WGPEER_A_MAX + 1] = { 0 };
	struct wg_config_peer *p;
	const uint8_t *key;

	if (mnl_attr_parse_nested(attr, peer_attr_cb, tb) < 0 || !tb[WGPEER_A_PUBLIC_KEY] ||
	    mnl_attr_get_payload_len(tb[WGPEER_A_PUBLIC_KEY]) != WG_KEY_LEN)
		return MNL_CB_OK;
	key = mnl_attr_get_payload(tb[WGPEER_A_PUBLIC_KEY]);
	/* A peer cut across messages continues under the same key. */
	if (ctx->peer && !memcmp(ctx->peer->public_key, key, WG_KEY_LEN)) {
		p = ctx->peer;
	} else {
		p = wg_config_add_peer(ctx->cfg);
		if (!p) {
			ctx->failed = true;
			return MNL_CB_OK;
		}
		memcpy(p->public_key, key, WG_KEY_LEN);
		ctx->peer = p;
	}
	if (tb[WGPEER_A_PRESHARED_KEY] && mnl_attr_get_payload_len(tb[WGPEER_A_PRESHARED_KEY]) == WG_KEY_LEN) {
		memcpy(p->preshared_key, mnl_attr_get_payload(tb[WGPEER_A_PRESHARED_KEY]), WG_KEY_LEN);
		p->flags |= WG_PEER_HAS_PRESHARED_KEY;
	}
	if (tb[WGPEER_A_ENDPOINT]) {
		size_t len = mnl_attr_get_payload_len(tb[WGPEER_A_ENDPOINT]);
		const struct sockaddr *sa = mnl_attr_get_payload(tb[WGPEER_A_ENDPOINT]);

		if ((len == sizeof(struct sockaddr_in) && sa->sa_family == AF_INET) ||
		    (len == sizeof(struct sockaddr_in6) && sa->sa_family == AF_INET6)) {
			memcpy(&p->endpoint, sa, len);
			p->flags |= WG_PEER_HAS_ENDPOINT;
		}
	}
	if (tb[WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL]) {
		p->persistent_keepalive = mnl_attr_get_u16(tb[WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL]);
		p->flags |= WG_PEER_HAS_PERSISTENT_KEEPALIVE;
	}
	if (tb[WGPEER_A_LAST_HANDSHAKE_TIME] &&
	    mnl_attr_get_payload_len(tb[WGPEER_A_LAST_HANDSHAKE_TIME]) == sizeof(struct __kernel_timespec)) {
		struct __kernel_timespec ts;

		memcpy(&ts, mnl_attr_get_payload(tb[WGPEER_A_LAST_HANDSHAKE_TIME]), sizeof(ts));
		p->last_handshake.tv_sec = (time_t)ts.tv_sec;
		p->last_handshake.tv_nsec = (long)ts.tv_nsec;
	}
	if (tb[WGPEER_A_RX_BYTES])
		p->rx_bytes = mnl_attr_get_u64(tb[WGPEER_A_RX_BYTES]);
	if (tb[WGPEER_A_TX_BYTES])
		p->tx_bytes = mnl_attr_get_u64(tb[WGPEER_A_TX_BYTES]);
	if (tb[WGPEER_A_ALLOWEDIPS])
		mnl_attr_parse_nested(tb[WGPEER_A_ALLOWEDIPS], allowedips_cb, ctx);
	return MNL_CB_OK;
}

static int device_attr_cb(const struct nlattr *attr, void *data)
{
	struct get_ctx *ctx = data;
	struct wg_config *cfg = ctx->cfg;

	switch (mnl_attr_get_type(attr)) {
	case WGDEVICE_A_IFINDEX:
		cfg->ifindex = mnl_attr_get_u32(attr);
		break;
	case WGDEVICE_A_IFNAME:
		if (mnl_attr_validate(attr, MNL_TYPE_STRING) >= 0)
			snprintf(cfg->name, sizeof(cfg->name), "%s", mnl_attr_get_str(attr));
		break;
	case WGDEVICE_A_PRIVATE_KEY:
		if (mnl_attr_get_payload_len(attr) == WG_KEY_LEN) {
			memcpy(cfg->private_key, mnl_attr_get_payload(attr), WG_KEY_LEN);
			cfg->flags |= WG_DEV_HAS_PRIVATE_KEY;
		}
		break;
	case WGDEVICE_A_PUBLIC_KEY:
		if (mnl_attr_get_payload_len(attr) == WG_KEY_LEN) {
			memcpy(cfg->public_key, mnl_attr_get_payload(attr), WG_KEY_LEN);
			cfg->flags |= WG_DEV_HAS_PUBLIC_KEY;
		}
		break;
	case WGDEVICE_A_LISTEN_PORT:
		cfg->listen_port = mnl_attr_get_u16(attr);
		cfg->flags |= WG_DEV_HAS_LISTEN_PORT;
		break;
	case WGDEVICE_A_FWMARK:
		cfg->fwmark = mnl_attr_get_u32(attr);
		cfg->flags |= WG_DEV_HAS_FWMARK;
		break;
	case WGDEVICE_A_PEERS:
		mnl_attr_parse_nested(attr, peer_cb, ctx);
		break;
	}
	return MNL_CB_OK;
}

static int device_cb(const struct nlmsghdr *nlh, void *data)
{
	mnl_attr_parse(nlh, sizeof(struct genlmsghdr), device_attr_cb, data);
	return MNL_CB_OK;
}

int wgnl_get(struct nl *nl, const char *ifname, struct wg_config **out)
{
	char buf[NL_BUF];
	struct nlmsghdr *nlh;
	struct get_ctx ctx = { 0 };
	int ret;

	*out = NULL;
	ret = wgnl_family(nl);
	if (ret)
		return ret;
	ctx.cfg = wg_config_new();
	if (!ctx.cfg)
		return -ENOMEM;
	nlh = genl_msg(buf, nl->wg_family, WG_CMD_GET_DEVICE, NLM_F_DUMP);
	mnl_attr_put_strz(nlh, WGDEVICE_A_IFNAME, ifname);
	ret = nl_request(nl, nlh, device_cb, &ctx);
	if (!ret && ctx.failed)
		ret = -ENOMEM;
	if (ret) {
		wg_config_free(ctx.cfg);
		return ret;
	}
	*out = ctx.cfg;
	return 0;
}

/* --- set ----------------------------------------------------------------- */

static bool put_device(struct nlmsghdr *nlh, const struct wg_config *cfg)
{
	if (cfg->flags & WG_DEV_REPLACE_PEERS &&
	    !mnl_attr_put_u32_check(nlh, SET_MSG_MAX, WGDEVICE_A_FLAGS, WGDEVICE_F_REPLACE_PEERS))
		return false;
	if (cfg->flags & WG_DEV_HAS_PRIVATE_KEY &&
	    !mnl_attr_put_check(nlh, SET_MSG_MAX, WGDEVICE_A_PRIVATE_KEY, WG_KEY_LEN, cfg->private_key))
		return false;
	if (cfg->flags & WG_DEV_HAS_LISTEN_PORT &&
	    !mnl_attr_put_u16_check(nlh, SET_MSG_MAX, WGDEVICE_A_LISTEN_PORT, cfg->listen_port))
		return false;
	if (cfg->flags & WG_DEV_HAS_FWMARK && !mnl_attr_put_u32_check(nlh, SET_MSG_MAX, WGDEVICE_A_FWMARK, cfg->fwmark))
		return false;
	return true;
}

/* The peer's own attributes, sent in the first message that has it. */
static bool put_peer_head(struct nlmsghdr *nlh, const struct wg_config_peer *p)
{
	uint32_t flags = 0;

	if (p->flags & WG_PEER_REMOVE_ME)
		flags |= WGPEER_F_REMOVE_ME;
	if (p->flags & WG_PEER_REPLACE_ALLOWEDIPS)
		flags |= WGPEER_F_REPLACE_ALLOWEDIPS;
	if (p->flags & WG_PEER_UPDATE_ONLY)
		flags |= WGPEER_F_UPDATE_ONLY;
	if (flags && !mnl_attr_put_u32_check(nlh, SET_MSG_MAX, WGPEER_A_FLAGS, flags))
		return false;
	if (p->flags & WG_PEER_HAS_PRESHARED_KEY &&
	    !mnl_attr_put_check(nlh, SET_MSG_MAX, WGPEER_A_PRESHARED_KEY, WG_KEY_LEN, p->preshared_key))
		return false;
	if (p->flags & WG_PEER_HAS_ENDPOINT &&
	    !mnl_attr_put_check(nlh, SET_MSG_MAX, WGPEER_A_ENDPOINT,
				p->endpoint.sa.sa_family == AF_INET ? sizeof(p->endpoint.in4) : sizeof(p->endpoint.in6),
				&p->endpoint))
		return false;
	if (p->flags & WG_PEER_HAS_PERSISTENT_KEEPALIVE &&
	    !mnl_attr_put_u16_check(nlh, SET_MSG_MAX, WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, p->persistent_keepalive))
		return false;
	return true;
}

static bool put_ip(struct nlmsghdr *nlh, const struct wg_config_ip *ip)
{
	struct nlattr *nest = mnl_attr_nest_start_check(nlh, SET_MSG_MAX, 0);

	if (!nest)
		return false;
	if (!mnl_attr_put_u16_check(nlh, SET_MSG_MAX, WGALLOWEDIP_A_FAMILY, ip->family) ||
	    !mnl_attr_put_check(nlh, SET_MSG_MAX, WGALLOWEDIP_A_IPADDR, ip->family == AF_INET ? 4 : 16, &ip->ip6) ||
	    !mnl_attr_put_u8_check(nlh, SET_MSG_MAX, WGALLOWEDIP_A_CIDR_MASK, ip->cidr)) {
		mnl_attr_nest_cancel(nlh, nest);
		return false;
	}
	mnl_attr_nest_end(nlh, nest);
	return true;
}

int wgnl_set(struct nl *nl, const char *ifname, const struct wg_config *cfg, unsigned *messages)
{
	char buf[NL_BUF];
	const struct wg_config_peer *peer = cfg->first_peer;
	const struct wg_config_ip *ip = NULL; /* where an unfinished peer resumes */
	bool first = true;
	unsigned sent = 0;
	int ret;

	ret = wgnl_family(nl);
	if (ret)
		return ret;
	while (first || peer) {
		struct nlmsghdr *nlh = genl_msg(buf, nl->wg_family, WG_CMD_SET_DEVICE, 0);
		struct nlattr *peers = NULL;
		unsigned progress = 0;

		mnl_attr_put_strz(nlh, WGDEVICE_A_IFNAME, ifname);
		if (first && !put_device(nlh, cfg))
			return -EMSGSIZE;
		if (peer && !(peers = mnl_attr_nest_start_check(nlh, SET_MSG_MAX, WGDEVICE_A_PEERS)))
			return -EMSGSIZE;
		while (peer) {
			struct nlattr *p = mnl_attr_nest_start_check(nlh, SET_MSG_MAX, 0), *ips;

			if (!p || !mnl_attr_put_check(nlh, SET_MSG_MAX, WGPEER_A_PUBLIC_KEY, WG_KEY_LEN, peer->public_key) ||
			    (!ip && !put_peer_head(nlh, peer))) {
				if (p)
					mnl_attr_nest_cancel(nlh, p);
				break;
			}
			if (!ip)
				ip = peer->first_ip;
			if (ip) {
				ips = mnl_attr_nest_start_check(nlh, SET_MSG_MAX, WGPEER_A_ALLOWEDIPS);
				if (!ips) {
					mnl_attr_nest_cancel(nlh, p);
					break;
				}
				for (; ip; ip = ip->next, ++progress)
					if (!put_ip(nlh, ip))
						break;
				mnl_attr_nest_end(nlh, ips);
			}
			mnl_attr_nest_end(nlh, p);
			++progress;
			if (ip)
				break; /* the rest of this peer's IPs go in the next message */
			peer = peer->next;
		}
		if (peers)
			mnl_attr_nest_end(nlh, peers);
		if (!first && !progress)
			return -EMSGSIZE; /* nothing fits in a message: cannot happen */
		ret = nl_request(nl, nlh, NULL, NULL);
		if (ret)
			break;
		++sent;
		first = false;
	}
	crypto_wipe(buf, sizeof(buf));
	if (messages)
		*messages = sent;
	return ret;
}
