// SPDX-License-Identifier: MIT
/*
 * The gateway lease (/weft/gateway, docs/clusters.md): an admin's grant
 * of candidacy, a node's claim or renewal with the report of its
 * connections (checked here, fuzzed by fuzz/fuzz_federation.c), its
 * release, and the lease as stored.
 */
#include "cluster/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_gateway_candidate(const struct cluster_node *n)
{
	return !strcmp(cluster_node_label(n, CLUSTER_GATEWAY_LABEL) ?: "", "true");
}

static int grant_edit(struct cluster_node *n, void *ctx, char *err, size_t errlen)
{
	return cluster_node_set_label(n, CLUSTER_GATEWAY_LABEL, *(bool *)ctx ? "true" : NULL);
}

int cluster_gateway_grant(struct cluster *c, const char *name, bool allow, json_t **out, char *err, size_t errlen)
{
	*out = NULL;
	if (c->broker)
		return cluster_invalid(err, errlen, "a broker's nodes are clusters: their gateways are their own managers' to allow");
	return cluster_node_edit(c, name, grant_edit, &allow, out, err, errlen);
}

/* A small JSON scalar, or an array of at most 16 short strings (a
 * connection's subnets). */
static bool connection_field_valid(json_t *v)
{
	json_t *e;
	size_t i;

	if (json_is_array(v)) {
		if (json_array_size(v) > MAX_CLUSTER_CIDRS)
			return false;
		json_array_foreach(v, i, e)
			if (!json_is_string(e) || json_string_length(e) > 64)
				return false;
		return true;
	}
	return json_is_null(v) || json_is_number(v) || json_is_boolean(v) ||
	       (json_is_string(v) && json_string_length(v) <= 512);
}

/* The health of the gateway's connections, as `weft clusters` shows it:
 * flat objects, kept small as the lease is written every second. */
static int connections_valid(json_t *conns, char *err, size_t errlen)
{
	const char *key;
	json_t *c, *v;
	size_t i;

	if (!conns)
		return 0;
	if (!json_is_array(conns) || json_array_size(conns) > 256)
		return cluster_invalid(err, errlen, "connections: give an array of at most 256 connections");
	json_array_foreach(conns, i, c) {
		if (!json_is_object(c) || json_object_size(c) > 16)
			return cluster_invalid(err, errlen, "connections: entry %zu is not an object of at most 16 fields", i);
		json_object_foreach(c, key, v)
			if (strlen(key) > 64 || !connection_field_valid(v))
				return cluster_invalid(err, errlen, "connections: entry %zu, field \"%.64s\": give a string of at "
								    "most 512 characters, a number, a boolean, null, or at most "
								    "16 CIDRs", i, key);
	}
	return 0;
}

/* --- the lease as stored ----------------------------------------------------- */

int cluster_lease_parse(json_t *doc, struct cluster_lease *l, char *err, size_t errlen)
{
	json_t *node = json_object_get(doc, "node"), *since = json_object_get(doc, "since"),
	       *until = json_object_get(doc, "until"), *conns = json_object_get(doc, "connections");
	int ret;

	memset(l, 0, sizeof(*l));
	if (!json_is_object(doc))
		return cluster_invalid(err, errlen, "the lease is not a JSON object");
	if (!json_is_string(node) || !cluster_name_valid(json_string_value(node)))
		return cluster_invalid(err, errlen, "the lease's node: give a node name");
	if (!json_is_integer(since) || !json_is_integer(until) || json_integer_value(since) > json_integer_value(until))
		return cluster_invalid(err, errlen, "the lease's since and until: give Unix times, since first");
	if ((ret = connections_valid(conns, err, errlen)))
		return ret;
	snprintf(l->node, sizeof(l->node), "%s", json_string_value(node));
	l->since = json_integer_value(since);
	l->until = json_integer_value(until);
	l->connections = conns ? json_incref(conns) : json_array();
	return l->connections ? 0 : -ENOMEM;
}

json_t *cluster_lease_json(const struct cluster_lease *l)
{
	return json_pack("{s:s, s:I, s:I, s:O}", "node", l->node, "since", (json_int_t)l->since, "until",
			 (json_int_t)l->until, "connections", l->connections);
}

void cluster_lease_free(struct cluster_lease *l)
{
	if (!l)
		return;
	json_decref(l->connections);
	memset(l, 0, sizeof(*l));
}

/* The stored lease, if any, and its revision (0 if none). One that does
 * not parse is none: it is replaced under the same compare-and-swap. */
static int lease_read(struct kv *kv, struct cluster_lease *l, int64_t *rev)
{
	struct kv_item it;
	json_t *doc;
	char err[200];
	int ret;

	memset(l, 0, sizeof(*l));
	*rev = 0;
	if ((ret = kv_get(kv, CLUSTER_GATEWAY, &it)))
		return ret == -ENOENT ? 0 : ret;
	*rev = it.mod_rev;
	doc = json_loadb(it.value, it.len, 0, NULL);
	kv_item_free(&it);
	if (doc && cluster_lease_parse(doc, l, err, sizeof(err)))
		memset(l, 0, sizeof(*l));
	json_decref(doc);
	return 0;
}

/* Each connection's status, {ID: "connected"|"connecting"|"error"}: into
 * the holder's record, where every node's `weft status` finds it. It
 * changes seldom, unlike the byte counts and handshake times. A later
 * connection to one cluster says more than an earlier one. */
static int connection_status(json_t *conns, struct cluster_gateway *gw)
{
	json_t *conn;
	size_t i;

	if (!(gw->status = calloc(json_array_size(conns) + 1, sizeof(*gw->status))))
		return -ENOMEM;
	json_array_foreach(conns, i, conn) {
		const char *id = json_string_value(json_object_get(conn, "cluster"));
		enum cluster_link link;
		size_t k;

		if (!id || !cluster_name_valid(id) ||
		    cluster_link_parse(json_string_value(json_object_get(conn, "status")), &link))
			continue;
		for (k = 0; k < gw->nstatus && strcmp(gw->status[k].id, id); ++k)
			;
		snprintf(gw->status[k].id, sizeof(gw->status[k].id), "%s", id);
		gw->status[k].link = link;
		if (k == gw->nstatus)
			++gw->nstatus;
	}
	return 0;
}

/* Copies what a gateway keeps from the last report: the clusters if this
 * one has none, the status if it has no connections. */
static int gateway_keep(struct cluster_gateway *to, const struct cluster_gateway *from, bool clusters, bool status)
{
	if (clusters && from->nclusters) {
		if (!(to->clusters = calloc(from->nclusters, sizeof(*to->clusters))))
			return -ENOMEM;
		memcpy(to->clusters, from->clusters, from->nclusters * sizeof(*to->clusters));
		to->nclusters = from->nclusters;
	}
	if (status && from->nstatus) {
		if (!(to->status = calloc(from->nstatus, sizeof(*to->status))))
			return -ENOMEM;
		memcpy(to->status, from->status, from->nstatus * sizeof(*to->status));
		to->nstatus = from->nstatus;
	}
	return 0;
}

/* The gateway's part of its record after this report: from since, the
 * clusters it routes to and each connection's status, into gw. */
static int gateway_after(const struct cluster_node *n, const struct cluster_gateway *report, json_t *conns,
			 int64_t since, struct cluster_gateway *gw)
{
	int ret;

	memset(gw, 0, sizeof(*gw));
	gw->since = since;
	if ((ret = gateway_keep(gw, report, true, false)) ||
	    (!report->clusters && (n->flags & NODE_HAS_GATEWAY) && (ret = gateway_keep(gw, &n->gateway, true, false))) ||
	    (conns && (ret = connection_status(conns, gw))) ||
	    (!conns && (n->flags & NODE_HAS_GATEWAY) && (ret = gateway_keep(gw, &n->gateway, false, true))))
		cluster_gateway_free(gw);
	return ret;
}

int cluster_gateway_claim(struct cluster *c, const char *name, json_t *report, int64_t now, int ttl,
			  struct cluster_lease *lease, char *err, size_t errlen)
{
	json_t *clusters = json_object_get(report, "clusters"), *conns = json_object_get(report, "connections");
	struct cluster_gateway reported = { 0 };
	char node_key[128], old_key[128];
	int ret = -ECANCELED;

	memset(lease, 0, sizeof(*lease));
	if ((clusters && (ret = cluster_remotes_parse(clusters, &reported, err, errlen))) ||
	    (ret = connections_valid(conns, err, errlen)))
		goto out;
	snprintf(node_key, sizeof(node_key), CLUSTER_NODES "%s", name);
	ret = -ECANCELED;
	for (int attempt = 0; attempt < RETRIES && ret == -ECANCELED; ++attempt) {
		struct kv_cond conds[3];
		struct kv_op ops[3];
		char *texts[3] = { NULL };
		size_t nc = 0, no = 0;
		struct cluster_node n, old = { 0 };
		struct cluster_gateway gw;
		struct cluster_lease cur;
		json_t *doc;
		int64_t rev, lease_rev = 0, old_rev = 0, since = now;
		char held_by[CLUSTER_NAME_LEN];
		const char *holder;

		if ((ret = cluster_node_read(c->kv, name, &n, &rev))) {
			snprintf(err, errlen, ret == -ENOENT ? "no node \"%s\"" : "%s", ret == -ENOENT ? name : kv_error());
			goto out;
		}
		if (!is_gateway_candidate(&n)) {
			cluster_node_free(&n);
			snprintf(err, errlen, "node \"%s\" is not allowed to be a gateway: an admin allows it with weft node "
					      "gateway %s --allow (label %s=true)",
				 name, name, CLUSTER_GATEWAY_LABEL);
			ret = -EPERM;
			goto out;
		}
		if ((ret = lease_read(c->kv, &cur, &lease_rev))) {
			cluster_node_free(&n);
			snprintf(err, errlen, "%s", kv_error());
			goto out;
		}
		/* Held through the second it ends in: "until" is whole seconds,
		 * and a renewal stamped late in a second must still last the
		 * full ttl (lib/agent/lease.h counts on it). */
		if (cur.node[0] && strcmp(cur.node, name) && cur.until >= now &&
		    !cluster_node_read(c->kv, cur.node, &old, NULL)) {
			/* Held, by a node that still exists. */
			snprintf(err, errlen, "node \"%s\" is the gateway until %lld", cur.node, (long long)cur.until);
			*lease = cur;
			cluster_node_free(&n);
			cluster_node_free(&old);
			ret = -EBUSY;
			goto out;
		}
		cluster_node_free(&old);
		if (!strcmp(cur.node, name))
			since = cur.since;
		/* The lease: who, since when, until when, and the health of the
		 * connections (not watched: renewals wake no agent). The old
		 * holder's name stays in cur.node for below. */
		json_decref(cur.connections);
		cur.connections = conns ? json_incref(conns) : json_array();
		snprintf(held_by, sizeof(held_by), "%s", cur.node);
		holder = held_by[0] ? held_by : NULL;
		snprintf(cur.node, sizeof(cur.node), "%s", name);
		cur.since = since;
		cur.until = now + ttl;
		doc = cluster_lease_json(&cur);
		texts[0] = doc ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
		json_decref(doc);
		conds[nc++] = (struct kv_cond){ CLUSTER_GATEWAY, lease_rev };
		ops[no++] = (struct kv_op){ KV_PUT, CLUSTER_GATEWAY, texts[0], texts[0] ? strlen(texts[0]) : 0 };
		/* The holder's record says it is the gateway, with the other
		 * clusters' CIDRs the nodes route to it: written only when that
		 * changes, as every agent hears of it. */
		if ((ret = gateway_after(&n, &reported, conns, since, &gw)))
			goto next;
		if (!(n.flags & NODE_HAS_GATEWAY) || !cluster_gateway_equal(&gw, &n.gateway)) {
			cluster_gateway_free(&n.gateway);
			n.gateway = gw;
			n.flags |= NODE_HAS_GATEWAY;
			texts[1] = cluster_node_text(&n);
			conds[nc++] = (struct kv_cond){ node_key, rev };
			ops[no++] = (struct kv_op){ KV_PUT, node_key, texts[1], texts[1] ? strlen(texts[1]) : 0 };
		} else {
			cluster_gateway_free(&gw);
		}
		/* A new holder: the old one's record stops saying so. */
		if (holder && strcmp(holder, name) && !cluster_node_read(c->kv, holder, &old, &old_rev) &&
		    (old.flags & NODE_HAS_GATEWAY)) {
			old.flags &= ~NODE_HAS_GATEWAY;
			cluster_gateway_free(&old.gateway);
			texts[2] = cluster_node_text(&old);
			snprintf(old_key, sizeof(old_key), CLUSTER_NODES "%s", holder);
			conds[nc++] = (struct kv_cond){ old_key, old_rev };
			ops[no++] = (struct kv_op){ KV_PUT, old_key, texts[2], texts[2] ? strlen(texts[2]) : 0 };
		}
		ret = -ENOMEM; /* unless every text was made */
		for (size_t i = 0; i < no; ++i)
			if (!ops[i].value)
				goto next;
		ret = kv_txn(c->kv, conds, nc, ops, no, NULL);
next:
		cluster_node_free(&old);
		cluster_node_free(&n);
		for (int i = 0; i < 3; ++i)
			free(texts[i]);
		if (!ret)
			*lease = cur;
		else
			cluster_lease_free(&cur);
	}
	if (ret)
		snprintf(err, errlen, "%s", ret == -ECANCELED ? "the store is too busy; try again" : kv_error());
out:
	cluster_gateway_free(&reported);
	return ret;
}

int cluster_gateway_release(struct cluster *c, const char *name, char *err, size_t errlen)
{
	int ret = -ECANCELED;

	for (int attempt = 0; attempt < RETRIES && ret == -ECANCELED; ++attempt) {
		struct kv_cond conds[2];
		struct kv_op ops[2];
		size_t nc = 0, no = 0;
		char node_key[128], *text = NULL;
		struct cluster_node n;
		struct cluster_lease cur;
		int64_t rev, lease_rev;

		if ((ret = lease_read(c->kv, &cur, &lease_rev))) {
			snprintf(err, errlen, "%s", kv_error());
			return ret;
		}
		ret = strcmp(cur.node, name);
		cluster_lease_free(&cur);
		if (ret)
			return 0; /* not ours (any more), or none */
		conds[nc++] = (struct kv_cond){ CLUSTER_GATEWAY, lease_rev };
		ops[no++] = (struct kv_op){ KV_DELETE, CLUSTER_GATEWAY, NULL, 0 };
		snprintf(node_key, sizeof(node_key), CLUSTER_NODES "%s", name);
		if (!cluster_node_read(c->kv, name, &n, &rev) && (n.flags & NODE_HAS_GATEWAY)) {
			n.flags &= ~NODE_HAS_GATEWAY;
			cluster_gateway_free(&n.gateway);
			if (!(text = cluster_node_text(&n))) {
				cluster_node_free(&n);
				return -ENOMEM;
			}
			conds[nc++] = (struct kv_cond){ node_key, rev };
			ops[no++] = (struct kv_op){ KV_PUT, node_key, text, strlen(text) };
		}
		cluster_node_free(&n);
		ret = kv_txn(c->kv, conds, nc, ops, no, NULL);
		free(text);
	}
	if (ret)
		snprintf(err, errlen, "%s", ret == -ECANCELED ? "the store is too busy; try again" : kv_error());
	return ret;
}

int cluster_gateway_get(struct cluster *c, struct cluster_lease *lease)
{
	struct kv_item it;
	char err[200];
	json_t *doc;
	int ret;

	memset(lease, 0, sizeof(*lease));
	if ((ret = kv_get(c->kv, CLUSTER_GATEWAY, &it)))
		return ret;
	doc = json_loadb(it.value, it.len, 0, NULL);
	kv_item_free(&it);
	ret = doc ? cluster_lease_parse(doc, lease, err, sizeof(err)) : -EINVAL;
	json_decref(doc);
	return ret ? -EIO : 0;
}
