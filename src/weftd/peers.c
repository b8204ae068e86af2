// SPDX-License-Identifier: MIT
/*
 * What weftd's member (member.c), gateway cable (cable.c) and hub's pods
 * (hub.c) share to keep a device: a plan from lib/agent/reconcile carried out on the device and in
 * the routing table, its events logged, and small files read.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/rtnetlink.h>

#include "crypto/crypto.h"
#include "nl/nl.h"
#include "weftd.h"

/* A small file's text (a credential, a token): NULL if absent. */
char *weftd_read_secret(const char *path)
{
	char buf[4096];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;
	char *s;

	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return NULL;
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	s = strdup(buf);
	crypto_wipe(buf, sizeof(buf));
	return s;
}

static int route(struct nl *nl, struct wgdev *dev, const struct ipam_prefix *p, bool add)
{
	struct nl_route r = { 0 };
	int ret;

	r.family = p->family;
	memcpy(&r.dst, &p->addr, p->family == AF_INET ? 4 : 16);
	r.dst_len = p->len;
	r.oif = wgdev_ifindex(dev);
	r.scope = RT_SCOPE_LINK;
	ret = add ? nl_route_add(nl, &r, true) : nl_route_del(nl, &r);
	return ret == -ESRCH || ret == -ENOENT ? 0 : ret;
}

/* A route for prefix into dev (a WireGuard device: its peers' allowed IPs
 * pick the peer). */
int weftd_route(struct wgdev *dev, const char *prefix, bool add)
{
	struct ipam_prefix p;
	struct nl nl;
	int ret;

	if (ipam_prefix_parse(&p, prefix) || !dev)
		return -EINVAL;
	if ((ret = nl_open(&nl, NETLINK_ROUTE, -1)))
		return ret;
	ret = route(&nl, dev, &p, add);
	nl_close(&nl);
	return ret;
}

int weftd_plan_apply(struct weftd *d, struct wgdev *dev, const struct plan *p, const char *who,
		     struct wgdev_err *werr)
{
	struct wgdev_err local = { "", 0 };
	char pfx[64];
	struct nl nl;
	int ret;

	if (!dev)
		return -ENODEV;
	if (!werr)
		werr = &local;
	if (p->cfg->first_peer && wgdev_set(dev, p->cfg, werr)) {
		weftd_log(d, WG_LOG_ERROR, "%s: cannot set the peers of %s: %s", who, wgdev_name(dev), werr->msg);
		return -EIO;
	}
	if (!p->nroute_del && !p->nroute_add)
		return 0;
	if ((ret = nl_open(&nl, NETLINK_ROUTE, -1))) {
		weftd_log(d, WG_LOG_ERROR, "%s: no rtnetlink for routes: %s", who, strerror(-ret));
		return 0; /* the peers are set: the next full list tries again */
	}
	for (size_t i = 0; i < p->nroute_del; ++i)
		route(&nl, dev, &p->route_del[i], false);
	for (size_t i = 0; i < p->nroute_add; ++i)
		if ((ret = route(&nl, dev, &p->route_add[i], true)))
			weftd_log(d, WG_LOG_ERROR, "%s: no route for %s into %s: %s", who,
				  ipam_prefix_str(&p->route_add[i], pfx, sizeof(pfx)), wgdev_name(dev), strerror(-ret));
	nl_close(&nl);
	return 0;
}

void weftd_plan_log(struct weftd *d, const struct plan *p, const struct peer_set *want, const char *who,
		    const char *noun, enum wg_log_level level)
{
	size_t strays = 0;

	for (size_t i = 0; i < p->nevents; ++i) {
		const struct peer_event *e = &p->events[i];
		const struct peer_rec *r = peer_set_find(want, e->name);
		char ep[ADDR_STRLEN] = "no endpoint", pfx[64] = "";

		if (e->kind == PEER_STRAY) {
			++strays;
			continue;
		}
		if (r && r->has_endpoint)
			addr_format_endpoint(ep, &r->endpoint.sa);
		if (r && r->nprefixes)
			ipam_prefix_str(&r->prefixes[0], pfx, sizeof(pfx));
		if (e->kind == PEER_LEFT)
			weftd_log(d, level, "%s: %s %s left", who, noun, e->name);
		else
			weftd_log(d, level, "%s: %s %s %s: %s, %s%s", who, noun, e->name, peer_event_name(e->kind), ep,
				  pfx[0] ? pfx : "no prefixes", r && r->nprefixes > 1 ? " and more" : "");
	}
	if (strays)
		weftd_log(d, level, "%s: removed %zu peer%s that no %s holds", who, strays, strays == 1 ? "" : "s",
			  noun);
}

int weftd_device_keys(struct wgdev *dev, uint8_t (**out)[32], size_t *n)
{
	struct wgdev_err werr = { "", 0 };
	struct wg_config *got = wgdev_get(dev, &werr);
	size_t count = 0;

	*out = NULL;
	*n = 0;
	if (!got)
		return -EIO;
	for (struct wg_config_peer *p = got->first_peer; p; p = p->next)
		++count;
	if (!(*out = calloc(count ?: 1, 32))) {
		wg_config_free(got);
		return -ENOMEM;
	}
	for (struct wg_config_peer *p = got->first_peer; p; p = p->next)
		memcpy((*out)[(*n)++], p->public_key, 32);
	wg_config_free(got);
	return 0;
}
