// SPDX-License-Identifier: MIT
/*
 * The node registry (see cluster.h): node names, the settings a store is
 * bound to, the fields a node sets and the store's keys for them, and a
 * node's life after its registration (register.c): reads, updates,
 * removal, heartbeats and expiry.
 */
#include "cluster/internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/addr.h"
#include "util/key.h"

enum {
	MAX_ENDPOINTS = 8,
	MAX_LABELS = 64,
};

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

/* Checks the fields a node may set; builds them into rec. */
int cluster_node_fields(json_t *req, json_t *rec, bool partial, char *err, size_t errlen)
{
	json_t *key = json_object_get(req, "publicKey"), *eps = json_object_get(req, "endpoints"),
	       *labels = json_object_get(req, "labels"), *v;
	const char *name;
	uint8_t raw[32];
	size_t i;

	json_object_foreach(req, name, v)
		if (strcmp(name, "name") && strcmp(name, "publicKey") && strcmp(name, "endpoints") &&
		    strcmp(name, "labels") && (partial || strcmp(name, "subnets")))
			return cluster_invalid(err, errlen, "unknown field \"%s\": a node sets name, publicKey, endpoints, labels%s",
					       name, partial ? "" : ", subnets");
	if (key || !partial) {
		if (!json_is_string(key) || !key_from_base64(raw, json_string_value(key)))
			return cluster_invalid(err, errlen, "publicKey %s: give a WireGuard public key (44 characters of base64)",
					       json_is_string(key) ? json_string_value(key) : "(missing)");
		json_object_set(rec, "publicKey", key);
	}
	if (eps || !partial) {
		if (!json_is_array(eps) || !json_array_size(eps) || json_array_size(eps) > MAX_ENDPOINTS)
			return cluster_invalid(err, errlen, "endpoints%s: give 1 to 8 of \"IP:PORT\" or \"[IPv6]:PORT\"",
					       eps ? "" : " (missing)");
		json_array_foreach(eps, i, v) {
			union sockaddr_any sa;

			if (!json_is_string(v) || addr_parse_endpoint(&sa, json_string_value(v)))
				return cluster_invalid(err, errlen, "endpoint %s: give \"IP:PORT\" or \"[IPv6]:PORT\"",
						       json_is_string(v) ? json_string_value(v) : "(not a string)");
		}
		json_object_set(rec, "endpoints", eps);
	}
	if (labels) {
		const char *lk;

		if (!json_is_object(labels) || json_object_size(labels) > MAX_LABELS)
			return cluster_invalid(err, errlen, "labels: give an object of at most 64 strings");
		json_object_foreach(labels, lk, v)
			if (!*lk || strlen(lk) > 253 || !json_is_string(v) || strlen(json_string_value(v)) > 253)
				return cluster_invalid(err, errlen, "label \"%s\": keys and values are strings of 1 to 253 characters",
						       lk);
		json_object_set(rec, "labels", labels);
	} else if (!partial) {
		json_object_set_new(rec, "labels", json_object());
	}
	return 0;
}

void cluster_key_path(char *buf, size_t len, const char *pub)
{
	/* base64 has '/': the store's keys read better without it. */
	snprintf(buf, len, CLUSTER_PREFIX "keys/");
	if (!pub) /* a cluster at the broker before its first gateway */
		return;
	for (size_t n = strlen(buf), i = 0; pub[i] && n + 1 < len; ++i)
		buf[n++] = pub[i] == '/' ? '_' : pub[i], buf[n] = '\0';
}

void cluster_subnet_path(char *buf, size_t len, int f, uint64_t index)
{
	snprintf(buf, len, CLUSTER_PREFIX "subnets/%d/%08llu", f ? 6 : 4, (unsigned long long)index);
}

/* --- the rest of a node's life ------------------------------------------ */

int cluster_node_read(struct cluster *c, const char *name, json_t **rec, int64_t *mod_rev)
{
	char key[128];
	struct kv_item it;
	int ret;

	if (!cluster_name_valid(name))
		return -ENOENT;
	snprintf(key, sizeof(key), CLUSTER_NODES "%s", name);
	if ((ret = kv_get(c->kv, key, &it)))
		return ret;
	*rec = json_loads(it.value, 0, NULL);
	if (mod_rev)
		*mod_rev = it.mod_rev;
	kv_item_free(&it);
	return *rec ? 0 : kv_fail(-EIO, "node %s: its record is not JSON", name);
}

int cluster_node_get(struct cluster *c, const char *name, json_t **out)
{
	return cluster_node_read(c, name, out, NULL);
}

/* The gateway label of a record or a request's labels, or NULL. */
const char *cluster_gateway_label(json_t *labels)
{
	return json_string_value(json_object_get(labels, CLUSTER_GATEWAY_LABEL));
}

int cluster_node_update(struct cluster *c, const char *name, json_t *req, bool may_grant, json_t **out, char *err,
			size_t errlen)
{
	char node_key[128], old_pub[128], new_pub[128];
	json_t *rec = NULL, *n = json_object_get(req, "name");
	int ret = -ECANCELED;

	*out = NULL;
	if (n && (!json_is_string(n) || strcmp(json_string_value(n), name)))
		return cluster_invalid(err, errlen, "name %s: a node's name cannot change; remove it and register anew",
				       json_is_string(n) ? json_string_value(n) : "(not a string)");
	snprintf(node_key, sizeof(node_key), CLUSTER_NODES "%s", name);
	for (int attempt = 0; attempt < RETRIES && ret == -ECANCELED; ++attempt) {
		struct kv_cond conds[2];
		struct kv_op ops[3];
		size_t nc = 0, no = 0;
		int64_t rev;
		char *text;

		json_decref(rec);
		rec = NULL;
		if ((ret = cluster_node_read(c, name, &rec, &rev))) {
			snprintf(err, errlen, ret == -ENOENT ? "no node \"%s\"" : "%s", ret == -ENOENT ? name : kv_error());
			goto out;
		}
		cluster_key_path(old_pub, sizeof(old_pub), json_string_value(json_object_get(rec, "publicKey")));
		if (!may_grant) {
			json_t *asked = json_object_get(req, "labels");
			const char *had = cluster_gateway_label(json_object_get(rec, "labels")), *want = cluster_gateway_label(asked);

			/* Read here, inside the transaction: an admin's grant
			 * or denial in between is never undone. */
			if (json_object_get(asked, CLUSTER_GATEWAY_LABEL) && (!want || !had || strcmp(want, had))) {
				snprintf(err, errlen,
					 "label %s: an admin allows a node to be a gateway (weft node gateway %s --allow)",
					 CLUSTER_GATEWAY_LABEL, name);
				ret = -EPERM;
				goto out;
			}
			if (had)
				had = strdup(had);
			ret = cluster_node_fields(req, rec, true, err, errlen);
			if (!ret && had && json_is_object(asked))
				json_object_set_new(json_object_get(rec, "labels"), CLUSTER_GATEWAY_LABEL, json_string(had));
			free((char *)had);
		} else {
			ret = cluster_node_fields(req, rec, true, err, errlen);
		}
		if (ret)
			goto out;
		cluster_key_path(new_pub, sizeof(new_pub), json_string_value(json_object_get(rec, "publicKey")));
		conds[nc++] = (struct kv_cond){ node_key, rev };
		text = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
		ops[no++] = (struct kv_op){ KV_PUT, node_key, text, strlen(text) };
		if (strcmp(old_pub, new_pub)) {
			conds[nc++] = (struct kv_cond){ new_pub, 0 };
			ops[no++] = (struct kv_op){ KV_DELETE, old_pub, NULL, 0 };
			ops[no++] = (struct kv_op){ KV_PUT, new_pub, name, strlen(name) };
		}
		ret = kv_txn(c->kv, conds, nc, ops, no, NULL);
		free(text);
		if (ret == -ECANCELED && strcmp(old_pub, new_pub)) {
			struct kv_item it;

			if (!kv_get(c->kv, new_pub, &it)) {
				snprintf(err, errlen, "public key %s belongs to node \"%s\"",
					 json_string_value(json_object_get(req, "publicKey")), it.value);
				kv_item_free(&it);
				ret = -EEXIST;
				goto out;
			}
		}
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

int cluster_node_remove(struct cluster *c, const char *name, int64_t now, char *err, size_t errlen)
{
	char node_key[128], pub_key[128], cred_key[128], hb_key[128], sub_key[2][64];
	int ret = -ECANCELED;

	snprintf(node_key, sizeof(node_key), CLUSTER_NODES "%s", name);
	snprintf(cred_key, sizeof(cred_key), CLUSTER_PREFIX "credentials/%s", name);
	snprintf(hb_key, sizeof(hb_key), CLUSTER_PREFIX "heartbeats/%s", name);
	for (int attempt = 0; attempt < RETRIES && ret == -ECANCELED; ++attempt) {
		struct kv_cond conds[3];
		struct kv_op ops[6];
		size_t nc = 0, no = 0;
		json_t *rec, *v;
		char released[128];
		int64_t rev;
		size_t i;

		if ((ret = cluster_node_read(c, name, &rec, &rev))) {
			snprintf(err, errlen, ret == -ENOENT ? "no node \"%s\"" : "%s", ret == -ENOENT ? name : kv_error());
			return ret;
		}
		snprintf(released, sizeof(released), "{\"node\":\"%s\",\"released\":%lld}", name, (long long)now);
		conds[nc++] = (struct kv_cond){ node_key, rev };
		cluster_key_path(pub_key, sizeof(pub_key), json_string_value(json_object_get(rec, "publicKey")));
		json_array_foreach(json_object_get(rec, "subnets"), i, v) {
			struct ipam_prefix sub;
			int64_t index;
			int f;

			if (i >= 2 || ipam_prefix_parse(&sub, json_string_value(v)))
				continue;
			f = sub.family == AF_INET6;
			if ((index = cluster_pool_index(&c->pool[f], &sub)) < 0)
				continue; /* not from this pool: nothing to give back */
			cluster_subnet_path(sub_key[i], sizeof(sub_key[i]), f, (uint64_t)index);
			ops[no++] = (struct kv_op){ KV_PUT, sub_key[i], released, strlen(released) };
		}
		ops[no++] = (struct kv_op){ KV_DELETE, node_key, NULL, 0 };
		ops[no++] = (struct kv_op){ KV_DELETE, pub_key, NULL, 0 };
		ops[no++] = (struct kv_op){ KV_DELETE, cred_key, NULL, 0 };
		ops[no++] = (struct kv_op){ KV_DELETE, hb_key, NULL, 0 };
		ret = kv_txn(c->kv, conds, nc, ops, no, NULL);
		json_decref(rec);
	}
	if (ret)
		snprintf(err, errlen, "%s", ret == -ECANCELED ? "the store is too busy; try again" : kv_error());
	return ret;
}

int cluster_nodes(struct cluster *c, json_t **out, int64_t *rev)
{
	struct kv_list l;
	int ret = kv_range(c->kv, CLUSTER_NODES, &l);

	*out = NULL;
	if (ret)
		return ret;
	*out = json_array();
	for (size_t i = 0; i < l.n; ++i) {
		json_t *rec = json_loads(l.items[i].value, 0, NULL);

		if (rec)
			json_array_append_new(*out, rec);
	}
	if (rev)
		*rev = l.rev;
	kv_list_free(&l);
	return 0;
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
	json_t *nodes, *rec;
	size_t i;
	int n = 0, ret;
	char err[256];

	if ((ret = cluster_nodes(c, &nodes, NULL)))
		return ret;
	json_array_foreach(nodes, i, rec) {
		const char *name = json_string_value(json_object_get(rec, "name"));
		int64_t last = json_integer_value(json_object_get(rec, "created"));
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
	json_decref(nodes);
	return n;
}
