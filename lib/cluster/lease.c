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

static bool is_gateway_candidate(json_t *rec)
{
	return !strcmp(cluster_gateway_label(json_object_get(rec, "labels")) ?: "", "true");
}

int cluster_gateway_grant(struct cluster *c, const char *name, bool allow, json_t **out, char *err, size_t errlen)
{
	char node_key[128];
	json_t *rec = NULL, *labels;
	int ret = -ECANCELED;

	*out = NULL;
	if (c->broker)
		return cluster_invalid(err, errlen, "a broker's nodes are clusters: their gateways are their own managers' to allow");
	snprintf(node_key, sizeof(node_key), CLUSTER_NODES "%s", name);
	for (int attempt = 0; attempt < RETRIES && ret == -ECANCELED; ++attempt) {
		struct kv_cond cond;
		struct kv_op op;
		int64_t rev;
		char *text;

		json_decref(rec);
		rec = NULL;
		if ((ret = cluster_node_read(c, name, &rec, &rev))) {
			snprintf(err, errlen, ret == -ENOENT ? "no node \"%s\"" : "%s", ret == -ENOENT ? name : kv_error());
			goto out;
		}
		labels = json_object_get(rec, "labels");
		if (!json_is_object(labels)) {
			labels = json_object();
			json_object_set_new(rec, "labels", labels);
		}
		if (allow)
			json_object_set_new(labels, CLUSTER_GATEWAY_LABEL, json_string("true"));
		else
			json_object_del(labels, CLUSTER_GATEWAY_LABEL);
		cond = (struct kv_cond){ node_key, rev };
		text = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
		op = (struct kv_op){ KV_PUT, node_key, text, strlen(text) };
		ret = kv_txn(c->kv, &cond, 1, &op, 1, NULL);
		free(text);
	}
	if (ret)
		snprintf(err, errlen, "%s", ret == -ECANCELED ? "the store is too busy; try again" : kv_error());
out:
	if (!ret)
		*out = rec;
	else
		json_decref(rec);
	return ret;
}

/* What a gateway reports of the other clusters: {ID: [CIDR, ...]}. */
static int remote_clusters(json_t *clusters, char *err, size_t errlen)
{
	const char *id;
	json_t *cidrs;

	if (!clusters)
		return 0;
	if (!json_is_object(clusters) || json_object_size(clusters) > 256)
		return cluster_invalid(err, errlen, "clusters: give an object of at most 256 cluster IDs, each with its CIDRs");
	json_object_foreach(clusters, id, cidrs) {
		struct ipam_prefix p[MAX_CLUSTER_CIDRS];
		json_t *tmp = json_object();
		size_t n;
		int ret;

		if (!cluster_name_valid(id)) {
			json_decref(tmp);
			return cluster_invalid(err, errlen, "clusters: \"%s\" is not a cluster ID (a DNS label)", id);
		}
		ret = cluster_cidrs(cidrs, tmp, p, &n, err, errlen);
		json_decref(tmp);
		if (ret)
			return ret;
	}
	return 0;
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

/* Each connection's status, {ID: "connected"|"connecting"|"error"}: into
 * the holder's record, where every node's `weft status` finds it. It
 * changes seldom, unlike the byte counts and handshake times. */
static json_t *connection_status(json_t *conns)
{
	json_t *out = json_object(), *conn;
	size_t i;

	json_array_foreach(conns, i, conn) {
		const char *id = json_string_value(json_object_get(conn, "cluster"));
		const char *st = json_string_value(json_object_get(conn, "status"));

		if (id && st && cluster_name_valid(id) &&
		    (!strcmp(st, "connected") || !strcmp(st, "connecting") || !strcmp(st, "error")))
			json_object_set_new(out, id, json_string(st));
	}
	return out;
}

int cluster_gateway_claim(struct cluster *c, const char *name, json_t *report, int64_t now, int ttl, json_t **lease,
			  char *err, size_t errlen)
{
	json_t *clusters = json_object_get(report, "clusters"), *conns = json_object_get(report, "connections");
	char node_key[128], old_key[128];
	int ret = -ECANCELED;

	*lease = NULL;
	if ((ret = remote_clusters(clusters, err, errlen)) || (ret = connections_valid(conns, err, errlen)))
		return ret;
	snprintf(node_key, sizeof(node_key), CLUSTER_NODES "%s", name);
	ret = -ECANCELED;
	for (int attempt = 0; attempt < RETRIES && ret == -ECANCELED; ++attempt) {
		struct kv_cond conds[3];
		struct kv_op ops[3];
		char *texts[3] = { NULL };
		size_t nc = 0, no = 0;
		json_t *rec = NULL, *old = NULL, *cur = NULL, *gw, *routed, *health;
		struct kv_item it;
		int64_t rev, lease_rev = 0, old_rev = 0, since = now;
		const char *holder = NULL;
		char held_by[64] = "";

		if ((ret = cluster_node_read(c, name, &rec, &rev))) {
			snprintf(err, errlen, ret == -ENOENT ? "no node \"%s\"" : "%s", ret == -ENOENT ? name : kv_error());
			return ret;
		}
		if (!is_gateway_candidate(rec)) {
			json_decref(rec);
			snprintf(err, errlen, "node \"%s\" is not allowed to be a gateway: an admin allows it with weft node "
					      "gateway %s --allow (label %s=true)",
				 name, name, CLUSTER_GATEWAY_LABEL);
			return -EPERM;
		}
		if ((ret = kv_get(c->kv, CLUSTER_GATEWAY, &it)) == 0) {
			lease_rev = it.mod_rev;
			cur = json_loads(it.value, 0, NULL);
			kv_item_free(&it);
			/* A copy: cur is replaced below. */
			snprintf(held_by, sizeof(held_by), "%s", json_string_value(json_object_get(cur, "node")) ?: "");
			holder = *held_by ? held_by : NULL;
		} else if (ret != -ENOENT) {
			json_decref(rec);
			snprintf(err, errlen, "%s", kv_error());
			return ret;
		}
		/* Held through the second it ends in: "until" is whole seconds,
		 * and a renewal stamped late in a second must still last the
		 * full ttl (lib/agent/lease.h counts on it). */
		if (holder && strcmp(holder, name) && json_integer_value(json_object_get(cur, "until")) >= now &&
		    !cluster_node_read(c, holder, &old, NULL)) {
			/* Held, by a node that still exists. */
			snprintf(err, errlen, "node \"%s\" is the gateway until %lld", holder,
				 (long long)json_integer_value(json_object_get(cur, "until")));
			*lease = cur;
			json_decref(rec);
			json_decref(old);
			return -EBUSY;
		}
		json_decref(old);
		old = NULL;
		if (holder && !strcmp(holder, name))
			since = json_integer_value(json_object_get(cur, "since"));
		/* The lease: who, since when, until when, and the health of the
		 * connections (not watched: renewals wake no agent). */
		json_decref(cur);
		cur = json_pack("{s:s, s:I, s:I, s:o}", "node", name, "since", (json_int_t)since, "until",
				(json_int_t)(now + ttl), "connections", conns ? json_incref(conns) : json_array());
		texts[0] = json_dumps(cur, JSON_COMPACT | JSON_SORT_KEYS);
		conds[nc++] = (struct kv_cond){ CLUSTER_GATEWAY, lease_rev };
		ops[no++] = (struct kv_op){ KV_PUT, CLUSTER_GATEWAY, texts[0], strlen(texts[0]) };
		/* The holder's record says it is the gateway, with the other
		 * clusters' CIDRs the nodes route to it: written only when that
		 * changes, as every agent hears of it. */
		routed = clusters ?: json_object_get(json_object_get(rec, "gateway"), "clusters");
		health = json_object_get(json_object_get(rec, "gateway"), "status");
		gw = json_pack("{s:I, s:o, s:o}", "since", (json_int_t)since, "clusters",
			       routed ? json_incref(routed) : json_object(), "status",
			       conns ? connection_status(conns) : health ? json_incref(health) : json_object());
		if (!json_equal(gw, json_object_get(rec, "gateway"))) {
			json_object_set(rec, "gateway", gw);
			texts[1] = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
			conds[nc++] = (struct kv_cond){ node_key, rev };
			ops[no++] = (struct kv_op){ KV_PUT, node_key, texts[1], strlen(texts[1]) };
		}
		json_decref(gw);
		/* A new holder: the old one's record stops saying so. */
		if (holder && strcmp(holder, name) && !cluster_node_read(c, holder, &old, &old_rev) &&
		    json_object_get(old, "gateway")) {
			json_object_del(old, "gateway");
			texts[2] = json_dumps(old, JSON_COMPACT | JSON_SORT_KEYS);
			snprintf(old_key, sizeof(old_key), CLUSTER_NODES "%s", holder);
			conds[nc++] = (struct kv_cond){ old_key, old_rev };
			ops[no++] = (struct kv_op){ KV_PUT, old_key, texts[2], strlen(texts[2]) };
		}
		json_decref(old);
		json_decref(rec);
		ret = kv_txn(c->kv, conds, nc, ops, no, NULL);
		for (int i = 0; i < 3; ++i)
			free(texts[i]);
		if (!ret)
			*lease = cur;
		else
			json_decref(cur);
	}
	if (ret)
		snprintf(err, errlen, "%s", ret == -ECANCELED ? "the store is too busy; try again" : kv_error());
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
		struct kv_item it;
		json_t *cur, *rec = NULL;
		int64_t rev;

		if ((ret = kv_get(c->kv, CLUSTER_GATEWAY, &it)) == -ENOENT)
			return 0;
		if (ret) {
			snprintf(err, errlen, "%s", kv_error());
			return ret;
		}
		cur = json_loads(it.value, 0, NULL);
		conds[nc++] = (struct kv_cond){ CLUSTER_GATEWAY, it.mod_rev };
		kv_item_free(&it);
		if (strcmp(json_string_value(json_object_get(cur, "node")) ?: "", name)) {
			json_decref(cur);
			return 0; /* not ours (any more) */
		}
		json_decref(cur);
		ops[no++] = (struct kv_op){ KV_DELETE, CLUSTER_GATEWAY, NULL, 0 };
		snprintf(node_key, sizeof(node_key), CLUSTER_NODES "%s", name);
		if (!cluster_node_read(c, name, &rec, &rev) && json_object_get(rec, "gateway")) {
			json_object_del(rec, "gateway");
			text = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
			conds[nc++] = (struct kv_cond){ node_key, rev };
			ops[no++] = (struct kv_op){ KV_PUT, node_key, text, strlen(text) };
		}
		json_decref(rec);
		ret = kv_txn(c->kv, conds, nc, ops, no, NULL);
		free(text);
	}
	if (ret)
		snprintf(err, errlen, "%s", ret == -ECANCELED ? "the store is too busy; try again" : kv_error());
	return ret;
}

int cluster_gateway_get(struct cluster *c, json_t **lease)
{
	struct kv_item it;
	int ret;

	*lease = NULL;
	if ((ret = kv_get(c->kv, CLUSTER_GATEWAY, &it)))
		return ret;
	*lease = json_loads(it.value, 0, NULL);
	kv_item_free(&it);
	return *lease ? 0 : -EIO;
}
