// SPDX-License-Identifier: MIT
/*
 * The node registry (see cluster.h): node names, the settings a store is
 * bound to, the store's keys for a node, and a node's life after its
 * registration (register.c): reads, edits (one compare-and-swap loop for
 * all of them), updates, removal, heartbeats and expiry. A record is
 * parsed from the store once, here (node.c checks it).
 */
#include "cluster/internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/key.h"

bool cluster_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (!n || n > 63 || name[0] == '-' || name[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; ++i)
		if (!(islower((unsigned char)name[i]) || isdigit((unsigned char)name[i]) || name[i] == '-'))
			return false;
	return true;
}

static json_t *settings_json(const struct cluster *c)
{
	json_t *o = json_object();
	char buf[64];

	if (c->broker)
		json_object_set_new(o, "role", json_string("broker"));
	for (int f = 0; f < 2; ++f) {
		if (!c->pool[f].count)
			continue;
		json_object_set_new(o, f ? "cidr6" : "cidr4",
				    json_string(ipam_prefix_str(&c->pool[f].cidr, buf, sizeof(buf))));
		json_object_set_new(o, f ? "nodeLen6" : "nodeLen4", json_integer(c->pool[f].node_len));
	}
	return o;
}

/* The first manager on a store writes its settings; later ones must agree
 * (a different CIDR would re-number a running cluster, and a broker's
 * store is not a cluster's). */
int cluster_bind_settings(struct cluster *c, char *err, size_t errlen)
{
	struct kv_item have;
	json_t *want;
	char *text;
	int ret;

	want = settings_json(c);
	text = json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS);
	ret = kv_create(c->kv, CLUSTER_PREFIX "config", text, strlen(text), NULL);
	if (ret == -ECANCELED && !(ret = kv_get(c->kv, CLUSTER_PREFIX "config", &have))) {
		if (strcmp(have.value, text)) {
			snprintf(err, errlen,
				 "the store's settings are %s, not %s: a cluster's CIDRs and subnet sizes (and a broker's "
				 "role) cannot change under it; start with the same settings, or with a new store",
				 have.value, text);
			ret = -EEXIST;
		}
		kv_item_free(&have);
	} else if (ret) {
		snprintf(err, errlen, "%s", kv_error());
	}
	free(text);
	json_decref(want);
	return ret;
}

int cluster_init(struct cluster *c, struct kv *kv, const char *cidr4, unsigned len4, const char *cidr6, unsigned len6,
		 int64_t reuse_after, char *err, size_t errlen)
{
	int ret;

	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->register_lock, NULL);
	c->kv = kv;
	c->reuse_after = reuse_after;
	if (!cidr4 && !cidr6) {
		snprintf(err, errlen, "no cluster CIDR: give an IPv4 one, an IPv6 one, or both");
		return -EINVAL;
	}
	if ((cidr4 && (ret = cluster_pool_init(&c->pool[0], cidr4, len4, err, errlen))) ||
	    (cidr6 && (ret = cluster_pool_init(&c->pool[1], cidr6, len6, err, errlen))))
		return ret;
	if ((cidr4 && c->pool[0].cidr.family != AF_INET) || (cidr6 && c->pool[1].cidr.family != AF_INET6)) {
		snprintf(err, errlen, "cluster CIDR %s: the IPv4 CIDR must be IPv4 and the IPv6 one IPv6",
			 cidr4 && c->pool[0].cidr.family != AF_INET ? cidr4 : cidr6);
		return -EINVAL;
	}
	return cluster_bind_settings(c, err, errlen);
}

/* --- a node's fields and keys ------------------------------------------- */

void cluster_key_path(char *buf, size_t len, const struct cluster_node *n)
{
	char pub[KEY_B64_LEN];

	/* base64 has '/': the store's keys read better without it. */
	snprintf(buf, len, CLUSTER_PREFIX "keys/");
	if (!(n->flags & NODE_HAS_KEY)) /* a cluster at the broker before its first gateway */
		return;
	key_to_base64(pub, n->key);
	for (size_t at = strlen(buf), i = 0; pub[i] && at + 1 < len; ++i)
		buf[at++] = pub[i] == '/' ? '_' : pub[i], buf[at] = '\0';
}

void cluster_subnet_path(char *buf, size_t len, int f, uint64_t index)
{
	snprintf(buf, len, CLUSTER_PREFIX "subnets/%d/%08llu", f ? 6 : 4, (unsigned long long)index);
}


/* --- the rest of a node's life ------------------------------------------ */

/* The record stored at CLUSTER_NODES name, parsed; -EIO with kv_error()
 * saying why if it is refused: half a record is never used. */
static int node_from_text(const char *name, const char *text, struct cluster_node *n)
{
	char err[256];
	json_t *doc = json_loads(text, 0, NULL);
	int ret;

	if (!doc)
		return kv_fail(-EIO, "node %s: its record in the store is not JSON", name);
	ret = cluster_node_parse(doc, n, err, sizeof(err));
	json_decref(doc);
	if (ret == -EINVAL)
		return kv_fail(-EIO, "node %s: its record in the store is refused: %s", name, err);
	if (!ret && strcmp(n->name, name)) {
		kv_fail(-EIO, "node %s: its record in the store names node \"%s\"", name, n->name);
		cluster_node_free(n);
		return -EIO;
	}
	return ret;
}

int cluster_node_read(struct kv *kv, const char *name, struct cluster_node *n, int64_t *mod_rev)
{
	char key[128];
	struct kv_item it;
	int ret;

	memset(n, 0, sizeof(*n));
	if (!cluster_name_valid(name))
		return -ENOENT;
	snprintf(key, sizeof(key), CLUSTER_NODES "%s", name);
	if ((ret = kv_get(kv, key, &it)))
		return ret;
	ret = node_from_text(name, it.value, n);
	if (mod_rev)
		*mod_rev = it.mod_rev;
	kv_item_free(&it);
	return ret;
}

int cluster_node_list(struct kv *kv, bool strict, struct cluster_node **out, size_t *count, int64_t *rev)
{
	struct cluster_node *nodes;
	struct kv_list l;
	int ret;

	*out = NULL;
	*count = 0;
	if ((ret = kv_range(kv, CLUSTER_NODES, &l)))
		return ret;
	if (!(nodes = calloc(l.n + 1, sizeof(*nodes)))) {
		kv_list_free(&l);
		return -ENOMEM;
	}
	for (size_t i = 0; i < l.n; ++i) {
		ret = node_from_text(l.items[i].key + strlen(CLUSTER_NODES), l.items[i].value, &nodes[*count]);
		if (!ret)
			++*count;
		else if (strict || ret != -EIO)
			break;
		ret = 0;
	}
	if (rev)
		*rev = l.rev;
	kv_list_free(&l);
	if (ret)
		cluster_node_list_free(nodes, *count), *count = 0;
	else
		*out = nodes;
	return ret;
}

void cluster_node_list_free(struct cluster_node *nodes, size_t count)
{
	for (size_t i = 0; i < count; ++i)
		cluster_node_free(&nodes[i]);
	free(nodes);
}

int cluster_node_get(struct cluster *c, const char *name, json_t **out)
{
	struct cluster_node n;
	int ret = cluster_node_read(c->kv, name, &n, NULL);

	*out = NULL;
	if (!ret && !(*out = cluster_node_json(&n)))
		ret = -ENOMEM;
	cluster_node_free(&n);
	return ret;
}

int cluster_node_edit(struct cluster *c, const char *name, cluster_edit_fn edit, void *ctx, json_t **out, char *err,
		      size_t errlen)
{
	char node_key[128], old_pub[128], new_pub[128], pub[KEY_B64_LEN];
	struct cluster_node n = { 0 };
	int ret = -ECANCELED;

	*out = NULL;
	snprintf(node_key, sizeof(node_key), CLUSTER_NODES "%s", name);
	for (int attempt = 0; attempt < RETRIES && ret == -ECANCELED; ++attempt) {
		struct kv_cond conds[2];
		struct kv_op ops[3];
		size_t nc = 0, no = 0;
		struct kv_item it;
		int64_t rev;
		char *text;

		cluster_node_free(&n);
		if ((ret = cluster_node_read(c->kv, name, &n, &rev))) {
			snprintf(err, errlen, ret == -ENOENT ? "no node \"%s\"" : "%s", ret == -ENOENT ? name : kv_error());
			goto out;
		}
		cluster_key_path(old_pub, sizeof(old_pub), &n);
		/* Edited afresh each round: a grant or a denial in between
		 * is never undone. */
		if ((ret = edit(&n, ctx, err, errlen)))
			goto out;
		cluster_key_path(new_pub, sizeof(new_pub), &n);
		if (!(text = cluster_node_text(&n))) {
			snprintf(err, errlen, "out of memory");
			ret = -ENOMEM;
			goto out;
		}
		conds[nc++] = (struct kv_cond){ node_key, rev };
		ops[no++] = (struct kv_op){ KV_PUT, node_key, text, strlen(text) };
		/* A new key: its index moves with it, if no other node has it. */
		if (strcmp(old_pub, new_pub)) {
			conds[nc++] = (struct kv_cond){ new_pub, 0 };
			ops[no++] = (struct kv_op){ KV_DELETE, old_pub, NULL, 0 };
			ops[no++] = (struct kv_op){ KV_PUT, new_pub, name, strlen(name) };
		}
		ret = kv_txn(c->kv, conds, nc, ops, no, NULL);
		free(text);
		if (ret == -ECANCELED && strcmp(old_pub, new_pub) && !kv_get(c->kv, new_pub, &it)) {
			key_to_base64(pub, n.key);
			snprintf(err, errlen, "public key %s belongs to node \"%s\"", pub, it.value);
			kv_item_free(&it);
			ret = -EEXIST;
			goto out;
		}
	}
	if (ret)
		snprintf(err, errlen, "%s", ret == -ECANCELED ? "the store is too busy; try again" : kv_error());
out:
	if (!ret && !(*out = cluster_node_json(&n))) {
		snprintf(err, errlen, "out of memory");
		ret = -ENOMEM;
	}
	cluster_node_free(&n);
	return ret;
}

struct update {
	json_t *req;
	bool may_grant;
	const char *name;
};

static int update_edit(struct cluster_node *n, void *ctx, char *err, size_t errlen)
{
	const struct update *u = ctx;
	json_t *asked = json_object_get(u->req, "labels");
	const char *want = json_string_value(json_object_get(asked, CLUSTER_GATEWAY_LABEL));
	char *had;
	int ret;

	if (u->may_grant)
		return cluster_node_fields(u->req, n, true, err, errlen);
	had = (char *)cluster_node_label(n, CLUSTER_GATEWAY_LABEL);
	if (json_object_get(asked, CLUSTER_GATEWAY_LABEL) && (!want || !had || strcmp(want, had))) {
		snprintf(err, errlen, "label %s: an admin allows a node to be a gateway (weft node gateway %s --allow)",
			 CLUSTER_GATEWAY_LABEL, u->name);
		return -EPERM;
	}
	/* Labels sent without it keep it: copied, as they replace all. */
	if (had && !(had = strdup(had)))
		return -ENOMEM;
	ret = cluster_node_fields(u->req, n, true, err, errlen);
	if (!ret && had && json_is_object(asked))
		ret = cluster_node_set_label(n, CLUSTER_GATEWAY_LABEL, had);
	free(had);
	return ret;
}

int cluster_node_update(struct cluster *c, const char *name, json_t *req, bool may_grant, json_t **out, char *err,
			size_t errlen)
{
	struct update u = { req, may_grant, name };
	json_t *n = json_object_get(req, "name");

	*out = NULL;
	if (n && (!json_is_string(n) || strcmp(json_string_value(n), name)))
		return cluster_invalid(err, errlen, "name %s: a node's name cannot change; remove it and register anew",
				       json_is_string(n) ? json_string_value(n) : "(not a string)");
	return cluster_node_edit(c, name, update_edit, &u, out, err, errlen);
}

int cluster_node_remove(struct cluster *c, const char *name, int64_t now, char *err, size_t errlen)
{
	char node_key[128], pub_key[128], cred_key[128], hb_key[128], hs_key[128], sub_key[2][64];
	int ret = -ECANCELED;

	snprintf(node_key, sizeof(node_key), CLUSTER_NODES "%s", name);
	snprintf(cred_key, sizeof(cred_key), CLUSTER_PREFIX "credentials/%s", name);
	snprintf(hb_key, sizeof(hb_key), CLUSTER_PREFIX "heartbeats/%s", name);
	snprintf(hs_key, sizeof(hs_key), CLUSTER_PREFIX "handshakes/%s", name);
	for (int attempt = 0; attempt < RETRIES && ret == -ECANCELED; ++attempt) {
		struct kv_cond conds[3];
		struct kv_op ops[7];
		size_t nc = 0, no = 0;
		struct cluster_node n;
		char released[128];
		int64_t rev;

		if ((ret = cluster_node_read(c->kv, name, &n, &rev))) {
			snprintf(err, errlen, ret == -ENOENT ? "no node \"%s\"" : "%s", ret == -ENOENT ? name : kv_error());
			return ret;
		}
		snprintf(released, sizeof(released), "{\"node\":\"%s\",\"released\":%lld}", name, (long long)now);
		conds[nc++] = (struct kv_cond){ node_key, rev };
		cluster_key_path(pub_key, sizeof(pub_key), &n);
		/* A node has at most one subnet a family; a broker's cluster
		 * has none from a pool. */
		for (size_t i = 0; i < n.nsubnets && i < 2; ++i) {
			const struct ipam_prefix *sub = &n.subnets[i];
			int f = sub->family == AF_INET6;
			int64_t index;

			if ((index = cluster_pool_index(&c->pool[f], sub)) < 0)
				continue; /* not from this pool: nothing to give back */
			cluster_subnet_path(sub_key[i], sizeof(sub_key[i]), f, (uint64_t)index);
			ops[no++] = (struct kv_op){ KV_PUT, sub_key[i], released, strlen(released) };
		}
		ops[no++] = (struct kv_op){ KV_DELETE, node_key, NULL, 0 };
		ops[no++] = (struct kv_op){ KV_DELETE, pub_key, NULL, 0 };
		ops[no++] = (struct kv_op){ KV_DELETE, cred_key, NULL, 0 };
		ops[no++] = (struct kv_op){ KV_DELETE, hb_key, NULL, 0 };
		/* What it saw of external clients goes with it (clients.c). */
		ops[no++] = (struct kv_op){ KV_DELETE, hs_key, NULL, 0 };
		ret = kv_txn(c->kv, conds, nc, ops, no, NULL);
		cluster_node_free(&n);
	}
	if (ret)
		snprintf(err, errlen, "%s", ret == -ECANCELED ? "the store is too busy; try again" : kv_error());
	return ret;
}

int cluster_nodes(struct cluster *c, json_t **out, int64_t *rev)
{
	struct cluster_node *nodes;
	size_t count;
	int ret;

	*out = NULL;
	if ((ret = cluster_node_list(c->kv, true, &nodes, &count, rev)))
		return ret;
	*out = json_array();
	for (size_t i = 0; i < count && !ret; ++i)
		if (json_array_append_new(*out, cluster_node_json(&nodes[i])))
			ret = -ENOMEM;
	cluster_node_list_free(nodes, count);
	if (ret) {
		json_decref(*out);
		*out = NULL;
	}
	return ret;
}

int cluster_heartbeat(struct cluster *c, const char *name, int64_t now)
{
	char key[128], node_key[128], text[32];
	struct kv_cond cond;
	struct kv_op op;
	struct kv_item it;
	int ret;

	snprintf(node_key, sizeof(node_key), CLUSTER_NODES "%s", name);
	if ((ret = kv_get(c->kv, node_key, &it)))
		return ret;
	/* Only for a node that still exists: a removed one stays removed. */
	cond = (struct kv_cond){ node_key, it.mod_rev };
	kv_item_free(&it);
	snprintf(key, sizeof(key), CLUSTER_PREFIX "heartbeats/%s", name);
	snprintf(text, sizeof(text), "%lld", (long long)now);
	op = (struct kv_op){ KV_PUT, key, text, strlen(text) };
	return kv_txn(c->kv, &cond, 1, &op, 1, NULL);
}

int cluster_expire(struct cluster *c, int64_t now, int64_t expire)
{
	struct cluster_node *nodes;
	size_t count;
	int n = 0, ret;
	char err[256];

	/* A record the store holds but that is refused is left out: removing
	 * it would need its key and subnets, which it does not say for sure.
	 * The node list (cluster_nodes) reports it. */
	if ((ret = cluster_node_list(c->kv, false, &nodes, &count, NULL)))
		return ret;
	for (size_t i = 0; i < count; ++i) {
		const char *name = nodes[i].name;
		int64_t last = nodes[i].created;
		char key[128];
		struct kv_item it;

		snprintf(key, sizeof(key), CLUSTER_PREFIX "heartbeats/%s", name);
		if (!kv_get(c->kv, key, &it)) {
			last = strtoll(it.value, NULL, 10);
			kv_item_free(&it);
		}
		if (last + expire <= now && !cluster_node_remove(c, name, last + expire, err, sizeof(err)))
			++n;
	}
	cluster_node_list_free(nodes, count);
	return n;
}
