// SPDX-License-Identifier: MIT
/*
 * External clients (client.h): machines that dial into the cluster's
 * WireGuard network. Each gets a host address in the clients' subnets and
 * is a peer of every node.
 *
 *   /weft/clients/NAME       its record: name, publicKey, addresses, created
 *   /weft/clientnet          {"subnets": [...]}: one node subnet of each
 *                            cluster CIDR, set aside for clients when the
 *                            first is added
 *   /weft/clientaddrs/INDEX  the client holding host INDEX of them
 *   /weft/keys/PUBKEY        "client:NAME": a client's key is no node's
 *   /weft/handshakes/NODE    {NAME: UNIXTIME}: the last handshake node NODE
 *                            saw from each client (not watched by agents)
 *
 * The clients' subnets are claimed from the node subnets in the store
 * (/weft/subnets/F/INDEX = {"node": "@clients"}, a name no node can have)
 * by the same compare-and-swap as a node's: a client's address can never
 * be in a node's subnet, whatever the number of managers. The subnets
 * stay set aside when the last client goes: they are few, and a node that
 * took one would leave clients' addresses routed to it on every node.
 * A client's address is free again as soon as it is removed: every node
 * drops the peer within seconds, and a client is no router whose routes
 * must drain.
 */
#include "cluster/internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/client.h"
#include "util/key.h"

#define CLIENTNET CLUSTER_PREFIX "clientnet"
#define CLIENTADDRS CLUSTER_PREFIX "clientaddrs/"
/* What the clients' subnets are held by: not a DNS label, so no node's. */
#define CLIENTS_HOLDER "@clients"

enum { MAX_CLIENTS = 1 << 16 };

static void key_path(char *buf, size_t len, const uint8_t key[32])
{
	struct cluster_node n = { .flags = NODE_HAS_KEY };

	memcpy(n.key, key, 32);
	cluster_key_path(buf, len, &n);
}

/* How many host addresses the clients' subnets give: in IPv4 all but the
 * network and broadcast addresses; an IPv6 /64 gives more than any
 * registry needs. Index 0 is never used. */
static uint64_t capacity(const struct cluster *c)
{
	uint64_t n = MAX_CLIENTS;

	for (int f = 0; f < 2; ++f) {
		unsigned host = (f ? 128 : 32) - c->pool[f].node_len;

		if (c->pool[f].count && host < 17) {
			uint64_t here = (1ULL << host) - (f ? 1 : 2);

			if (here < n)
				n = here;
		}
	}
	return n;
}

/* The index-th host of a subnet, as a /32 or /128. */
static void nth_host(const struct ipam_prefix *subnet, uint64_t index, struct ipam_prefix *out)
{
	uint8_t *b;
	int n;

	*out = *subnet;
	b = (uint8_t *)&out->addr;
	n = subnet->family == AF_INET ? 4 : 16;
	out->len = (uint8_t)(n * 8);
	for (int i = n - 1; i >= 0 && index; --i) {
		uint64_t sum = b[i] + (index & 0xff);

		b[i] = (uint8_t)sum;
		index = (index >> 8) + (sum >> 8);
	}
}

/* The clients' subnets as stored, if they are: 1 with subs filled, 0 if
 * none are set aside yet (*rev 0), or a negative errno. */
static int clientnet_read(struct cluster *c, struct ipam_prefix subs[2], int64_t *rev)
{
	struct kv_item it;
	json_t *doc, *v;
	size_t i;
	int ret;

	memset(subs, 0, 2 * sizeof(*subs));
	*rev = 0;
	if ((ret = kv_get(c->kv, CLIENTNET, &it)) == -ENOENT)
		return 0;
	if (ret)
		return ret;
	*rev = it.mod_rev;
	doc = json_loads(it.value, 0, NULL);
	kv_item_free(&it);
	ret = json_is_array(json_object_get(doc, "subnets")) ? 1 : -EIO;
	json_array_foreach(json_object_get(doc, "subnets"), i, v) {
		struct ipam_prefix p;

		if (!json_is_string(v) || ipam_prefix_parse(&p, json_string_value(v))) {
			ret = -EIO;
			break;
		}
		subs[p.family == AF_INET6] = p;
	}
	json_decref(doc);
	return ret;
}

/* The lowest host index no client holds, from 1. */
static int free_index(struct cluster *c, uint64_t *index)
{
	struct kv_list l;
	uint64_t want = 1, cap = capacity(c);
	bool *used;
	int ret;

	if ((ret = kv_range(c->kv, CLIENTADDRS, &l)))
		return ret;
	if (!(used = calloc(cap + 1, sizeof(*used)))) {
		kv_list_free(&l);
		return -ENOMEM;
	}
	for (size_t i = 0; i < l.n; ++i) {
		uint64_t at = strtoull(l.items[i].key + strlen(CLIENTADDRS), NULL, 10);

		if (at <= cap)
			used[at] = true;
	}
	kv_list_free(&l);
	while (want <= cap && used[want])
		++want;
	free(used);
	if (want > cap)
		return -ENOSPC;
	*index = want;
	return 0;
}

static int store_failed(char *err, size_t errlen, int ret)
{
	snprintf(err, errlen, "%s", ret == -ENOMEM ? "out of memory" : kv_error());
	return ret == -ENOMEM ? ret : -EIO;
}

int cluster_client_add(struct cluster *c, json_t *req, int64_t now, json_t **out, char *err, size_t errlen)
{
	const char *name = json_string_value(json_object_get(req, "name"));
	const char *pub = json_string_value(json_object_get(req, "publicKey"));
	char client_key[128], pub_key[128], addr_key[64], sub_key[2][64], holder[80], buf[64];
	struct cluster_client cl = { 0 };
	const char *field;
	json_t *v;
	int ret = -ECANCELED;

	*out = NULL;
	if (c->broker)
		return cluster_invalid(err, errlen, "a broker has no clients: add them to a cluster's manager");
	if (!json_is_object(req))
		return cluster_invalid(err, errlen, "give {\"name\", \"publicKey\"}");
	if (!name || !cluster_name_valid(name))
		return cluster_invalid(err, errlen,
				       "client name \"%.63s\": give a DNS label (1 to 63 of a-z, 0-9 and '-', not at "
				       "either end)", name ?: "(missing)");
	json_object_foreach(req, field, v)
		if (strcmp(field, "name") && strcmp(field, "publicKey"))
			return cluster_invalid(err, errlen, "client %s: unknown field \"%.60s\"; give only name and "
					       "publicKey", name, field);
	snprintf(cl.name, sizeof(cl.name), "%s", name);
	if (!pub || !key_from_base64(cl.key, pub))
		return cluster_invalid(err, errlen, "client %s: publicKey \"%.60s\" is not a base64 WireGuard key", name,
				       pub ?: "(missing)");
	cl.created = now;
	snprintf(client_key, sizeof(client_key), CLUSTER_PREFIX "clients/%s", name);
	key_path(pub_key, sizeof(pub_key), cl.key);
	snprintf(holder, sizeof(holder), "client:%s", name);

	pthread_mutex_lock(&c->register_lock);
	for (int attempt = 0; attempt < RETRIES && ret == -ECANCELED; ++attempt) {
		struct ipam_prefix subs[2];
		struct kv_cond conds[6];
		struct kv_op ops[6];
		char *text = NULL, *net_text = NULL, index_s[24];
		size_t nc = 0, no = 0;
		uint64_t index;
		int64_t net_rev;
		int have;

		if ((have = clientnet_read(c, subs, &net_rev)) < 0) {
			ret = have == -EIO ? -EIO : store_failed(err, errlen, have);
			if (have == -EIO)
				snprintf(err, errlen, "the store's %s does not parse: repair it", CLIENTNET);
			break;
		}
		conds[nc++] = (struct kv_cond){ CLIENTNET, net_rev };
		if (!have) {
			/* The first client: set its subnets aside, with it. */
			json_t *list = json_array();

			for (int f = 0; f < 2; ++f) {
				int64_t rev;

				if (!c->pool[f].count)
					continue;
				if ((ret = cluster_subnet_free(c, f, now, attempt > 0, &index, &rev))) {
					if (ret == -ENOSPC)
						snprintf(err, errlen, "no %s node subnet is left in %s to set aside for "
							 "clients: remove a node",
							 f ? "IPv6" : "IPv4",
							 ipam_prefix_str(&c->pool[f].cidr, buf, sizeof(buf)));
					else
						ret = store_failed(err, errlen, ret);
					break;
				}
				cluster_pool_nth(&c->pool[f], index, &subs[f]);
				json_array_append_new(list, json_string(ipam_prefix_str(&subs[f], buf, sizeof(buf))));
				cluster_subnet_path(sub_key[f], sizeof(sub_key[f]), f, index);
				conds[nc++] = (struct kv_cond){ sub_key[f], rev };
				ops[no++] = (struct kv_op){ KV_PUT, sub_key[f], "{\"node\":\"" CLIENTS_HOLDER "\"}",
							    strlen("{\"node\":\"" CLIENTS_HOLDER "\"}") };
			}
			if (ret) {
				json_decref(list);
				break;
			}
			{
				json_t *doc = json_pack("{s:o}", "subnets", list);

				net_text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
				json_decref(doc);
			}
			if (!net_text) {
				ret = -ENOMEM;
				snprintf(err, errlen, "out of memory");
				break;
			}
			ops[no++] = (struct kv_op){ KV_PUT, CLIENTNET, net_text, strlen(net_text) };
		}
		if ((ret = free_index(c, &index))) {
			if (ret == -ENOSPC)
				snprintf(err, errlen, "no client address is left (%llu in all): remove a client",
					 (unsigned long long)capacity(c));
			else
				ret = store_failed(err, errlen, ret);
			free(net_text);
			break;
		}
		cl.naddresses = 0;
		for (int f = 0; f < 2; ++f)
			if (subs[f].family)
				nth_host(&subs[f], index, &cl.addresses[cl.naddresses++]);
		snprintf(index_s, sizeof(index_s), "%llu", (unsigned long long)index);
		snprintf(addr_key, sizeof(addr_key), CLIENTADDRS "%s", index_s);
		{
			json_t *rec = cluster_client_json(&cl);

			text = rec ? json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
			json_decref(rec);
		}
		if (!text) {
			free(net_text);
			ret = -ENOMEM;
			snprintf(err, errlen, "out of memory");
			break;
		}
		conds[nc++] = (struct kv_cond){ client_key, 0 };
		conds[nc++] = (struct kv_cond){ pub_key, 0 };
		conds[nc++] = (struct kv_cond){ addr_key, 0 };
		ops[no++] = (struct kv_op){ KV_PUT, client_key, text, strlen(text) };
		ops[no++] = (struct kv_op){ KV_PUT, pub_key, holder, strlen(holder) };
		ops[no++] = (struct kv_op){ KV_PUT, addr_key, name, strlen(name) };
		ret = kv_txn(c->kv, conds, nc, ops, no, NULL);
		free(text);
		free(net_text);
		if (ret == -ECANCELED) {
			/* Lost a race: the name and the key are final, the rest is tried again. */
			struct kv_item it;

			if (!kv_get(c->kv, client_key, &it)) {
				kv_item_free(&it);
				snprintf(err, errlen, "client \"%s\" exists already: remove it first (weft client remove "
					 "%s), or pick another name", name, name);
				ret = -EEXIST;
			} else if (!kv_get(c->kv, pub_key, &it)) {
				snprintf(err, errlen, "public key %s belongs to %s%s already: each client needs its own "
					 "key", pub, strncmp(it.value, "client:", 7) ? "node " : "", it.value);
				kv_item_free(&it);
				ret = -EEXIST;
			}
		} else if (ret) {
			ret = store_failed(err, errlen, ret);
		}
	}
	pthread_mutex_unlock(&c->register_lock);
	if (ret == -ECANCELED)
		snprintf(err, errlen, "the store is too busy: %d tries lost a race; try again", RETRIES);
	else if (!ret && !(*out = cluster_client_json(&cl)))
		ret = -ENOMEM;
	return ret;
}

int cluster_client_get(struct cluster *c, const char *name, struct cluster_client *cl, int64_t *mod_rev)
{
	char key[128], err[300];
	struct kv_item it;
	json_t *doc;
	int ret;

	snprintf(key, sizeof(key), CLUSTER_PREFIX "clients/%s", name);
	if ((ret = kv_get(c->kv, key, &it)))
		return ret;
	if (mod_rev)
		*mod_rev = it.mod_rev;
	doc = json_loads(it.value, 0, NULL);
	kv_item_free(&it);
	ret = cluster_client_parse(doc, cl, err, sizeof(err)) ? -EIO : 0;
	json_decref(doc);
	return ret;
}

int cluster_client_remove(struct cluster *c, const char *name, char *err, size_t errlen)
{
	char client_key[128], pub_key[128], addr_key[64] = "";
	int ret = -ECANCELED;

	snprintf(client_key, sizeof(client_key), CLUSTER_PREFIX "clients/%s", name);
	for (int attempt = 0; attempt < RETRIES && ret == -ECANCELED; ++attempt) {
		struct cluster_client cl;
		struct kv_list l;
		struct kv_cond cond;
		struct kv_op ops[3];
		size_t no = 0;
		int64_t rev;

		if ((ret = cluster_client_get(c, name, &cl, &rev)) == -ENOENT) {
			snprintf(err, errlen, "no client \"%.63s\" (weft clients lists them)", name);
			return ret;
		}
		if (ret == -EIO) {
			/* Still removed: a record that does not parse is no use. */
			memset(&cl, 0, sizeof(cl));
		} else if (ret) {
			return store_failed(err, errlen, ret);
		}
		if ((ret = kv_range(c->kv, CLIENTADDRS, &l)))
			return store_failed(err, errlen, ret);
		for (size_t i = 0; i < l.n; ++i)
			if (!strcmp(l.items[i].value, name))
				snprintf(addr_key, sizeof(addr_key), "%s", l.items[i].key);
		kv_list_free(&l);
		cond = (struct kv_cond){ client_key, rev };
		ops[no++] = (struct kv_op){ KV_DELETE, client_key, NULL, 0 };
		if (addr_key[0])
			ops[no++] = (struct kv_op){ KV_DELETE, addr_key, NULL, 0 };
		if (cl.name[0]) {
			key_path(pub_key, sizeof(pub_key), cl.key);
			ops[no++] = (struct kv_op){ KV_DELETE, pub_key, NULL, 0 };
		}
		ret = kv_txn(c->kv, &cond, 1, ops, no, NULL);
		if (ret && ret != -ECANCELED)
			return store_failed(err, errlen, ret);
	}
	if (ret == -ECANCELED)
		snprintf(err, errlen, "the store is too busy: %d tries lost a race; try again", RETRIES);
	return ret;
}

/* The latest handshake each client made with a node, as the nodes report
 * it: {NAME: {"time", "node"}}. */
static json_t *handshakes(struct cluster *c)
{
	const char *prefix = CLUSTER_PREFIX "handshakes/";
	json_t *out = json_object(), *doc, *t;
	const char *client;
	struct kv_list l;

	if (kv_range(c->kv, prefix, &l))
		return out;
	for (size_t i = 0; i < l.n; ++i) {
		if (!(doc = json_loads(l.items[i].value, 0, NULL)))
			continue;
		json_object_foreach(doc, client, t) {
			json_t *had = json_object_get(out, client);

			if (!json_is_integer(t) || json_integer_value(t) <= 0 ||
			    json_integer_value(json_object_get(had, "time")) >= json_integer_value(t))
				continue;
			json_object_set_new(out, client, json_pack("{s:I, s:s}", "time", json_integer_value(t), "node",
								   l.items[i].key + strlen(prefix)));
		}
		json_decref(doc);
	}
	kv_list_free(&l);
	return out;
}

int cluster_clients(struct cluster *c, json_t **out, int64_t *rev)
{
	const char *prefix = CLUSTER_PREFIX "clients/";
	struct kv_list l;
	json_t *seen;
	int ret;

	*out = NULL;
	if ((ret = kv_range(c->kv, prefix, &l)))
		return ret;
	*out = json_array();
	seen = handshakes(c);
	for (size_t i = 0; i < l.n; ++i) {
		json_t *doc = json_loads(l.items[i].value, 0, NULL), *rec, *hs;
		struct cluster_client cl;
		char err[300];

		if (cluster_client_parse(doc, &cl, err, sizeof(err))) {
			json_decref(doc);
			continue; /* left out: the manager says so when asked for it */
		}
		json_decref(doc);
		rec = cluster_client_json(&cl);
		if ((hs = json_object_get(seen, cl.name)))
			json_object_set(rec, "lastHandshake", hs);
		json_array_append_new(*out, rec);
	}
	json_decref(seen);
	if (rev)
		*rev = l.rev;
	kv_list_free(&l);
	return 0;
}

int cluster_client_handshakes(struct cluster *c, const char *node, json_t *report, char *err, size_t errlen)
{
	char key[128], *text;
	const char *client;
	json_t *t;
	struct kv_op op;
	int ret;

	if (!json_is_object(report) || json_object_size(report) > MAX_CLIENTS)
		return cluster_invalid(err, errlen, "clients: give {NAME: UNIXTIME}, each client's last handshake");
	json_object_foreach(report, client, t)
		if (!cluster_name_valid(client) || !json_is_integer(t) || json_integer_value(t) < 0)
			return cluster_invalid(err, errlen, "clients: \"%.63s\": give a client's name and its last "
					       "handshake's Unix time", client);
	snprintf(key, sizeof(key), CLUSTER_PREFIX "handshakes/%s", node);
	if (!(text = json_dumps(report, JSON_COMPACT | JSON_SORT_KEYS)))
		return -ENOMEM;
	op = (struct kv_op){ KV_PUT, key, text, strlen(text) };
	if ((ret = kv_txn(c->kv, NULL, 0, &op, 1, NULL)))
		ret = store_failed(err, errlen, ret);
	free(text);
	return ret;
}
