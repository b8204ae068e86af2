// SPDX-License-Identifier: MIT
/*
 * Pods' egress (issue 15): what a pod sends outside weft's networks leaves
 * the node masqueraded to the node's own address, so the world can answer
 * it; what it sends to the cluster's subnets, or to other clusters, keeps
 * its pod address, since those route it back by that address (and another
 * cluster's gateway must see who sent it). lib/nft/masq.h keeps the table,
 * "table inet weft"; this decides what goes in it.
 *
 * weftd is not told the cluster's CIDRs, so it excludes every subnet it
 * knows: its own pod subnets, every other node's subnets (d->cl.nodes,
 * whose prefixes include the other clusters' CIDRs on the gateway node's
 * peer: member.c's routed_subnets), and the other clusters' CIDRs as the
 * gateway's record reports them, and on the gateway node the clusters its
 * device peers with (d->gw.peers: the gateway is not among its own
 * peers, and its record reports them only at the next renewal). The table
 * follows each change the manager or the broker sends (member.c's take,
 * cable.c's broker_take): a node that joins is excluded as it becomes a
 * peer. Exclusions only grow while weftd runs (see collect).
 *
 * The table outlives weftd, as a kernel hub does: pods keep their egress
 * across a restart, which replaces the table whole. Turning ipMasq off
 * removes it at the next start.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nft/masq.h"
#include "weftd.h"

static int prefix_cmp(const void *pa, const void *pb)
{
	const struct ipam_prefix *a = pa, *b = pb;
	int c;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	if ((c = memcmp(&a->addr, &b->addr, a->family == AF_INET ? 4 : 16)))
		return c;
	return a->len - b->len;
}

static int keep_add(struct ipam_prefix **v, size_t *n, size_t *cap, const struct ipam_prefix *p)
{
	if (*n == *cap) {
		size_t next = *cap ? *cap * 2 : 32;
		struct ipam_prefix *grown = realloc(*v, next * sizeof(**v));

		if (!grown)
			return -ENOMEM;
		*v = grown;
		*cap = next;
	}
	/* Whole, so that two lists compare with prefix_cmp alone. */
	memset(&(*v)[*n], 0, sizeof(**v));
	(*v)[*n].family = p->family;
	(*v)[*n].addr = p->addr;
	(*v)[(*n)++].len = p->len;
	return 0;
}

/*
 * Every subnet weftd knows, and every one it excluded before, sorted, each
 * once: an exclusion is never dropped while weftd runs. In a gateway's
 * failover the other clusters' CIDRs leave the records for a few seconds
 * (the old gateway's record stops routing them before the new one's
 * starts); a flow a pod began then would be masqueraded, and conntrack
 * keeps a flow's NAT for as long as it lives. A subnet that really went
 * (a node removed, a cluster gone) stays excluded until the next start:
 * traffic to it keeps its pod address, which costs nothing for what was
 * the cluster's own address space. With d->masq.lock held.
 */
static int collect(struct weftd *d, struct ipam_prefix **out, size_t *nout)
{
	struct ipam_prefix *v = NULL, p;
	size_t n = 0, cap = 0, w;
	int ret = 0;

	for (size_t i = 0; !ret && i < d->masq.nkeep; ++i)
		ret = keep_add(&v, &n, &cap, &d->masq.keep[i]);
	for (int f = 0; !ret && f < 2; ++f)
		if (d->ipam.pool[f].family)
			ret = keep_add(&v, &n, &cap, &d->ipam.pool[f]);
	if (d->cl.enabled) {
		pthread_mutex_lock(&d->hub_lock);
		for (size_t i = 0; !ret && i < d->cl.nodes.n; ++i)
			for (size_t k = 0; !ret && k < d->cl.nodes.v[i].nprefixes; ++k)
				ret = keep_add(&v, &n, &cap, &d->cl.nodes.v[i].prefixes[k]);
		pthread_mutex_unlock(&d->hub_lock);
		pthread_mutex_lock(&d->cl.lock);
		for (size_t i = 0; !ret && d->cl.has_gateway_seen && i < d->cl.gateway_seen.gateway.nclusters; ++i) {
			const struct cluster_remote *r = &d->cl.gateway_seen.gateway.clusters[i];

			/* Checked when the record came in; parsed again here. */
			for (size_t k = 0; !ret && k < r->ncidrs; ++k)
				if (!ipam_prefix_parse(&p, r->cidrs[k]))
					ret = keep_add(&v, &n, &cap, &p);
		}
		pthread_mutex_unlock(&d->cl.lock);
	}
	if (d->gw.enabled) {
		/* On the gateway, the clusters it peers with, as soon as it
		 * does: its record reports them only at the next renewal. */
		pthread_mutex_lock(&d->gw.lock);
		for (size_t i = 0; !ret && i < d->gw.peers.n; ++i)
			for (size_t k = 0; !ret && k < d->gw.peers.v[i].nprefixes; ++k)
				ret = keep_add(&v, &n, &cap, &d->gw.peers.v[i].prefixes[k]);
		pthread_mutex_unlock(&d->gw.lock);
	}
	if (ret) {
		free(v);
		return ret;
	}
	if (n)
		qsort(v, n, sizeof(*v), prefix_cmp);
	for (size_t i = w = 0; i < n; ++i)
		if (!w || prefix_cmp(&v[w - 1], &v[i]))
			v[w++] = v[i];
	*out = v;
	*nout = w;
	return 0;
}

void masq_update(struct weftd *d)
{
	struct ipam_prefix pods[2], *keep = NULL;
	size_t npods = 0, nkeep = 0;
	char err[sizeof(d->masq.error)];
	int ret;

	if (!d->masq.enabled || !d->ipam_open || !atomic_load(&d->masq.started))
		return;
	for (int f = 0; f < 2; ++f)
		if (d->ipam.pool[f].family)
			pods[npods++] = d->ipam.pool[f];
	/* Collected under the lock: of two updates at once, the later one
	 * must not apply what it read before the earlier one. */
	pthread_mutex_lock(&d->masq.lock);
	if ((ret = collect(d, &keep, &nkeep))) {
		pthread_mutex_unlock(&d->masq.lock);
		weftd_log(d, WG_LOG_ERROR, "masquerade: out of memory listing the subnets to exclude");
		return;
	}
	if (d->masq.applied && nkeep == d->masq.nkeep &&
	    (!nkeep || !memcmp(keep, d->masq.keep, nkeep * sizeof(*keep)))) {
		pthread_mutex_unlock(&d->masq.lock);
		free(keep);
		return;
	}
	if ((ret = nft_masq_apply(pods, npods, keep, nkeep, err, sizeof(err)))) {
		/* Logged once per new error: the next change tries again. */
		if (strcmp(err, d->masq.error))
			weftd_log(d, WG_LOG_ERROR, "masquerade: %s; pods reach only the cluster", err);
		snprintf(d->masq.error, sizeof(d->masq.error), "%s", err);
		free(keep);
	} else {
		weftd_log(d, WG_LOG_INFO, "masquerade: pods' egress leaves with the node's address, except to %zu "
			  "subnet%s of the cluster and of other clusters", nkeep, nkeep == 1 ? "" : "s");
		d->masq.error[0] = '\0';
		free(d->masq.keep);
		d->masq.keep = keep;
		d->masq.nkeep = nkeep;
	}
	d->masq.applied = !ret;
	pthread_mutex_unlock(&d->masq.lock);
}

void masq_start(struct weftd *d)
{
	char err[sizeof(d->masq.error)];

	atomic_store(&d->masq.started, true);
	if (d->masq.enabled) {
		masq_update(d);
		return;
	}
	/* Off: a table an earlier run made goes. Without nftables there is
	 * nothing to remove, hence verbose. */
	if (nft_masq_remove(err, sizeof(err)))
		weftd_log(d, WG_LOG_VERBOSE, "masquerade: off; %s", err);
}

void masq_describe(struct weftd *d, json_t *out)
{
	json_t *m, *pods = json_array(), *keep = json_array();
	char buf[64];

	for (int f = 0; d->ipam_open && f < 2; ++f)
		if (d->ipam.pool[f].family)
			json_array_append_new(pods, json_string(ipam_prefix_str(&d->ipam.pool[f], buf, sizeof(buf))));
	pthread_mutex_lock(&d->masq.lock);
	for (size_t i = 0; i < d->masq.nkeep; ++i)
		json_array_append_new(keep, json_string(ipam_prefix_str(&d->masq.keep[i], buf, sizeof(buf))));
	m = json_pack("{s:b, s:b, s:s, s:o, s:o, s:s?}", "enabled", d->masq.enabled, "applied", d->masq.applied,
		      "table", NFT_MASQ_TABLE, "podSubnets", pods, "excluded", keep, "error",
		      d->masq.error[0] ? d->masq.error : NULL);
	pthread_mutex_unlock(&d->masq.lock);
	json_object_set_new(out, "masquerade", m);
}

void masq_stop(struct weftd *d)
{
	pthread_mutex_lock(&d->masq.lock);
	free(d->masq.keep);
	d->masq.keep = NULL;
	d->masq.nkeep = 0;
	pthread_mutex_unlock(&d->masq.lock);
}
