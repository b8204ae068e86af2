// SPDX-License-Identifier: MIT
/*
 * Pods' egress (issue 15): what a pod sends outside weft's networks leaves
 * the node masqueraded to the node's own address, so the world can answer
 * it; what it sends to the cluster's subnets, or to other clusters, keeps
 * its pod address, since those route it back by that address (and another
 * cluster's gateway must see who sent it). lib/nft/masq.h keeps the table,
 * "table inet weft"; this decides what goes in it.
 *
 * It excludes every subnet weftd knows: the cluster's CIDRs (the
 * manager's full lists give them; they cover nodes not yet known and
 * external clients' addresses), its own pod subnets, every other node's subnets (d->cl.nodes,
 * whose prefixes include the other clusters' CIDRs on the gateway node's
 * peer: member.c's routed_subnets), and the other clusters' CIDRs as the
 * gateway's record reports them, and on the gateway node the clusters its
 * device peers with (d->gw.peers: the gateway is not among its own
 * peers, and its record reports them only at the next renewal). The table
 * follows each change the manager or the broker sends (member.c's take,
 * cable.c's broker_take): a node that joins is excluded as it becomes a
 * peer. Exclusions only grow while weftd runs (see collect).
 *
 * Two things hold whatever ipMasq says. Traffic from a pod to another
 * node's underlay address is always masqueraded (the nodes' endpoints,
 * from d->cl.nodes): it leaves by the underlay, not the tunnel, and a pod
 * address must never cross the underlay in the clear (docs/cni.md says
 * why masquerade and not the tunnel). And a pod of a network whose
 * conflist says "ipMasq": false is never masqueraded but to those nodes
 * (a->no_masq): its network routes the pod subnets itself.
 *
 * The table outlives weftd, as a kernel hub does: pods keep their egress
 * across a restart, which replaces the table whole. With ipMasq off and
 * no other node known there is nothing for it to do, and it is removed;
 * so it is when weftd stops with no pod left (masq_stop).
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

static int prefix_add(struct ipam_prefix **v, size_t *n, size_t *cap, const struct ipam_prefix *p)
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

/* Sorted, each once. */
static void prefix_sort(struct ipam_prefix *v, size_t *n)
{
	size_t w = 0;

	if (*n)
		qsort(v, *n, sizeof(*v), prefix_cmp);
	for (size_t i = 0; i < *n; ++i)
		if (!w || prefix_cmp(&v[w - 1], &v[i]))
			v[w++] = v[i];
	*n = w;
}

/* A list collected: sorted and handed over, or freed on failure. */
static int list_done(int ret, struct ipam_prefix *v, size_t n, struct ipam_prefix **out, size_t *nout)
{
	if (ret) {
		free(v);
		return ret;
	}
	prefix_sort(v, &n);
	*out = v;
	*nout = n;
	return 0;
}

static bool prefixes_equal(const struct ipam_prefix *a, size_t na, const struct ipam_prefix *b, size_t nb)
{
	return na == nb && (!na || !memcmp(a, b, na * sizeof(*a)));
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
	size_t n = 0, cap = 0;
	int ret = 0;

	for (size_t i = 0; !ret && i < d->masq.nkeep; ++i)
		ret = prefix_add(&v, &n, &cap, &d->masq.keep[i]);
	for (int f = 0; !ret && f < 2; ++f)
		if (d->ipam.pool[f].family)
			ret = prefix_add(&v, &n, &cap, &d->ipam.pool[f]);
	if (d->cl.enabled) {
		pthread_mutex_lock(&d->hub_lock);
		for (size_t i = 0; !ret && i < d->cl.nodes.n; ++i)
			for (size_t k = 0; !ret && k < d->cl.nodes.v[i].nprefixes; ++k)
				ret = prefix_add(&v, &n, &cap, &d->cl.nodes.v[i].prefixes[k]);
		pthread_mutex_unlock(&d->hub_lock);
		pthread_mutex_lock(&d->cl.lock);
		for (size_t i = 0; !ret && i < d->cl.ncidrs; ++i)
			ret = prefix_add(&v, &n, &cap, &d->cl.cidrs[i]);
		for (size_t i = 0; !ret && d->cl.has_gateway_seen && i < d->cl.gateway_seen.gateway.nclusters; ++i) {
			const struct cluster_remote *r = &d->cl.gateway_seen.gateway.clusters[i];

			/* Checked when the record came in; parsed again here. */
			for (size_t k = 0; !ret && k < r->ncidrs; ++k)
				if (!ipam_prefix_parse(&p, r->cidrs[k]))
					ret = prefix_add(&v, &n, &cap, &p);
		}
		pthread_mutex_unlock(&d->cl.lock);
	}
	if (d->gw.enabled) {
		/* On the gateway, the clusters it peers with, as soon as it
		 * does: its record reports them only at the next renewal. */
		pthread_mutex_lock(&d->gw.lock);
		for (size_t i = 0; !ret && i < d->gw.peers.n; ++i)
			for (size_t k = 0; !ret && k < d->gw.peers.v[i].nprefixes; ++k)
				ret = prefix_add(&v, &n, &cap, &d->gw.peers.v[i].prefixes[k]);
		pthread_mutex_unlock(&d->gw.lock);
	}
	return list_done(ret, v, n, out, nout);
}

/* The other nodes' underlay addresses (their endpoints), sorted. */
static int collect_nodes(struct weftd *d, struct ipam_prefix **out, size_t *nout)
{
	struct ipam_prefix *v = NULL, p;
	size_t n = 0, cap = 0;
	int ret = 0;

	if (d->cl.enabled) {
		pthread_mutex_lock(&d->hub_lock);
		for (size_t i = 0; !ret && i < d->cl.nodes.n; ++i) {
			const struct peer_rec *r = &d->cl.nodes.v[i];

			if (!r->has_endpoint)
				continue;
			memset(&p, 0, sizeof(p));
			p.family = r->endpoint.sa.sa_family;
			if (p.family == AF_INET)
				p.addr.v4 = r->endpoint.in4.sin_addr;
			else if (p.family == AF_INET6)
				p.addr.v6 = r->endpoint.in6.sin6_addr;
			else
				continue;
			p.len = p.family == AF_INET ? 32 : 128;
			ret = prefix_add(&v, &n, &cap, &p);
		}
		pthread_mutex_unlock(&d->hub_lock);
	}
	return list_done(ret, v, n, out, nout);
}

/* The addresses of pods that asked for no masquerade, sorted. */
static int collect_direct(struct weftd *d, struct ipam_prefix **out, size_t *nout)
{
	struct ipam_prefix *v = NULL;
	size_t n = 0, cap = 0;
	struct list *pos;
	int ret = 0;

	pthread_mutex_lock(&d->lock);
	list_for_each(pos, &d->attachments) {
		struct attachment *a = list_entry(pos, struct attachment, link);
		struct ipam_lease lease;

		if (!a->no_masq || ipam_find(&d->ipam, a->id, a->ifname, &lease))
			continue;
		for (int f = 0; !ret && f < 2; ++f) {
			struct ipam_prefix host = lease.addr[f];

			if (!host.family)
				continue;
			host.len = host.family == AF_INET ? 32 : 128;
			ret = prefix_add(&v, &n, &cap, &host);
		}
		if (ret)
			break;
	}
	pthread_mutex_unlock(&d->lock);
	return list_done(ret, v, n, out, nout);
}

void masq_update(struct weftd *d)
{
	struct ipam_prefix pods[2], *keep = NULL, *nodes = NULL, *direct = NULL;
	size_t npods = 0, nkeep = 0, nnodes = 0, ndirect = 0;
	char err[sizeof(d->masq.error)];
	struct nft_masq m;
	int ret;

	if (!d->ipam_open || !atomic_load(&d->masq.started))
		return;
	for (int f = 0; f < 2; ++f)
		if (d->ipam.pool[f].family)
			pods[npods++] = d->ipam.pool[f];
	/* Collected under the lock: of two updates at once, the later one
	 * must not apply what it read before the earlier one. */
	pthread_mutex_lock(&d->masq.lock);
	if ((d->masq.enabled && (ret = collect(d, &keep, &nkeep))) || (ret = collect_nodes(d, &nodes, &nnodes)) ||
	    (d->masq.enabled && (ret = collect_direct(d, &direct, &ndirect)))) {
		pthread_mutex_unlock(&d->masq.lock);
		weftd_log(d, WG_LOG_ERROR, "masquerade: out of memory listing the subnets to exclude");
		goto out;
	}
	if (d->masq.applied && prefixes_equal(keep, nkeep, d->masq.keep, d->masq.nkeep) &&
	    prefixes_equal(nodes, nnodes, d->masq.nodes, d->masq.nnodes) &&
	    prefixes_equal(direct, ndirect, d->masq.direct, d->masq.ndirect)) {
		pthread_mutex_unlock(&d->masq.lock);
		goto out;
	}
	m = (struct nft_masq){ pods, npods, nodes, nnodes, d->masq.enabled, keep, nkeep, direct, ndirect };
	if (!d->masq.enabled && !nnodes) {
		/* Nothing to do: no table. Without nftables there is none to
		 * remove, hence verbose, and no error to show. */
		if ((ret = nft_masq_remove(err, sizeof(err))))
			weftd_log(d, WG_LOG_VERBOSE, "masquerade: off; %s", err);
	} else if ((ret = nft_masq_apply(&m, err, sizeof(err)))) {
		/* Logged once per new error: the next change tries again. */
		if (strcmp(err, d->masq.error))
			weftd_log(d, WG_LOG_ERROR, "masquerade: %s; pods reach only the cluster", err);
		snprintf(d->masq.error, sizeof(d->masq.error), "%s", err);
	}
	if (!ret) {
		if (d->masq.enabled)
			weftd_log(d, WG_LOG_INFO, "masquerade: pods' egress leaves with the node's address, except to "
				  "%zu subnet%s of the cluster and of other clusters, and from %zu pod address%s", nkeep,
				  nkeep == 1 ? "" : "s", ndirect, ndirect == 1 ? "" : "es");
		else if (nnodes)
			weftd_log(d, WG_LOG_INFO, "masquerade: off, but to the cluster's %zu node address%s", nnodes,
				  nnodes == 1 ? "" : "es");
		d->masq.error[0] = '\0';
		free(d->masq.keep);
		free(d->masq.nodes);
		free(d->masq.direct);
		d->masq.keep = keep;
		d->masq.nkeep = nkeep;
		d->masq.nodes = nodes;
		d->masq.nnodes = nnodes;
		d->masq.direct = direct;
		d->masq.ndirect = ndirect;
		keep = nodes = direct = NULL;
	}
	d->masq.applied = !ret;
	pthread_mutex_unlock(&d->masq.lock);
out:
	free(keep);
	free(nodes);
	free(direct);
}

void masq_start(struct weftd *d)
{
	/* Off, a table an earlier run made goes, unless other nodes are
	 * known (their addresses are masqueraded whatever ipMasq says). */
	atomic_store(&d->masq.started, true);
	masq_update(d);
}

static json_t *prefixes_json(const struct ipam_prefix *v, size_t n)
{
	json_t *a = json_array();
	char buf[64];

	for (size_t i = 0; a && i < n; ++i)
		json_array_append_new(a, json_string(ipam_prefix_str(&v[i], buf, sizeof(buf))));
	return a;
}

void masq_describe(struct weftd *d, json_t *out)
{
	struct ipam_prefix pods[2];
	size_t npods = 0;
	json_t *m;

	for (int f = 0; d->ipam_open && f < 2; ++f)
		if (d->ipam.pool[f].family)
			pods[npods++] = d->ipam.pool[f];
	pthread_mutex_lock(&d->masq.lock);
	m = json_pack("{s:b, s:b, s:s, s:o, s:o, s:o, s:o, s:s?}", "enabled", d->masq.enabled, "applied",
		      d->masq.applied, "table", NFT_MASQ_TABLE, "podSubnets", prefixes_json(pods, npods), "excluded", prefixes_json(d->masq.keep, d->masq.nkeep), "nodes",
		      prefixes_json(d->masq.nodes, d->masq.nnodes), "direct",
		      prefixes_json(d->masq.direct, d->masq.ndirect), "error", d->masq.error[0] ? d->masq.error : NULL);
	pthread_mutex_unlock(&d->masq.lock);
	json_object_set_new(out, "masquerade", m);
}

void masq_stop(struct weftd *d)
{
	char err[sizeof(d->masq.error)];
	bool pods;

	/* No pod left to keep its egress across the restart: the node is
	 * being taken out of service (or was never used), and leaves no
	 * rule of ours behind. */
	pthread_mutex_lock(&d->lock);
	pods = !list_empty(&d->attachments);
	pthread_mutex_unlock(&d->lock);
	pthread_mutex_lock(&d->masq.lock);
	if (!pods && atomic_load(&d->masq.started) && nft_masq_remove(err, sizeof(err)))
		weftd_log(d, WG_LOG_VERBOSE, "masquerade: %s", err);
	free(d->masq.keep);
	free(d->masq.nodes);
	free(d->masq.direct);
	d->masq.keep = d->masq.nodes = d->masq.direct = NULL;
	d->masq.nkeep = d->masq.nnodes = d->masq.ndirect = 0;
	pthread_mutex_unlock(&d->masq.lock);
}
