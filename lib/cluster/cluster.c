// SPDX-License-Identifier: MIT
/* The cluster's IPAM and node registry on the store (see cluster.h). */
#include "cluster/cluster.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "util/addr.h"
#include "util/key.h"

enum {
	RETRIES = 50,		/* compare-and-swap rounds before giving up */
	MAX_SUBNETS = 1 << 20,	/* per family: a registry, not an address plan */
	MAX_ENDPOINTS = 8,
	MAX_LABELS = 64,
};

int cluster_pool_init(struct cluster_pool *p, const char *cidr, unsigned node_len, char *err, size_t errlen)
{
	unsigned bits;

	memset(p, 0, sizeof(*p));
	if (ipam_prefix_parse(&p->cidr, cidr)) {
		snprintf(err, errlen, "cluster CIDR \"%s\": not a prefix (10.244.0.0/16, fd00:244::/56)", cidr);
		return -EINVAL;
	}
	bits = p->cidr.family == AF_INET ? 32 : 128;
	if (node_len < p->cidr.len || node_len > bits - 2) {
		snprintf(err, errlen, "node subnet size /%u for %s: give a length from /%u to /%u", node_len, cidr,
			 p->cidr.len, bits - 2);
		return -EINVAL;
	}
	if (node_len - p->cidr.len > 20) {
		snprintf(err, errlen, "node subnet size /%u for %s: more than %u subnets; give at most /%u", node_len,
			 cidr, MAX_SUBNETS, p->cidr.len + 20);
		return -EINVAL;
	}
	p->node_len = (uint8_t)node_len;
	p->count = 1ULL << (node_len - p->cidr.len);
	return 0;
}

static unsigned __int128 to_u128(const struct ipam_prefix *p)
{
	unsigned __int128 v = 0;
	const uint8_t *b = (const uint8_t *)&p->addr;
	int n = p->family == AF_INET ? 4 : 16;

	for (int i = 0; i < n; ++i)
		v = (v << 8) | b[i];
	return v;
}

static void from_u128(struct ipam_prefix *p, unsigned __int128 v)
{
	uint8_t *b = (uint8_t *)&p->addr;
	int n = p->family == AF_INET ? 4 : 16;

	for (int i = n - 1; i >= 0; --i, v >>= 8)
		b[i] = (uint8_t)v;
}

void cluster_pool_nth(const struct cluster_pool *p, uint64_t index, struct ipam_prefix *out)
{
	unsigned bits = p->cidr.family == AF_INET ? 32 : 128;

	*out = p->cidr;
	out->len = p->node_len;
	from_u128(out, to_u128(&p->cidr) + ((unsigned __int128)index << (bits - p->node_len)));
}

int64_t cluster_pool_index(const struct cluster_pool *p, const struct ipam_prefix *subnet)
{
	unsigned bits = p->cidr.family == AF_INET ? 32 : 128;
	unsigned __int128 base = to_u128(&p->cidr), v;

	if (!p->count || subnet->family != p->cidr.family || subnet->len != p->node_len)
		return -1;
	v = to_u128(subnet);
	if (v < base || v & ((((unsigned __int128)1) << (bits - p->node_len)) - 1))
		return -1;
	v = (v - base) >> (bits - p->node_len);
	return v < p->count ? (int64_t)v : -1;
}

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
static int bind_settings(struct cluster *c, char *err, size_t errlen)
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
	return bind_settings(c, err, errlen);
}

int cluster_init_broker(struct cluster *c, struct kv *kv, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->register_lock, NULL);
	c->kv = kv;
	c->broker = true;
	return bind_settings(c, err, errlen);
}

/* --- registration ------------------------------------------------------ */

static int invalid(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int invalid(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Checks the fields a node may set; builds them into rec. */
static int node_fields(json_t *req, json_t *rec, bool partial, char *err, size_t errlen)
{
	json_t *key = json_object_get(req, "publicKey"), *eps = json_object_get(req, "endpoints"),
	       *labels = json_object_get(req, "labels"), *v;
	const char *name;
	uint8_t raw[32];
	size_t i;

	json_object_foreach(req, name, v)
		if (strcmp(name, "name") && strcmp(name, "publicKey") && strcmp(name, "endpoints") &&
		    strcmp(name, "labels") && (partial || strcmp(name, "subnets")))
			return invalid(err, errlen, "unknown field \"%s\": a node sets name, publicKey, endpoints, labels%s",
				       name, partial ? "" : ", subnets");
	if (key || !partial) {
		if (!json_is_string(key) || !key_from_base64(raw, json_string_value(key)))
			return invalid(err, errlen, "publicKey %s: give a WireGuard public key (44 characters of base64)",
				       json_is_string(key) ? json_string_value(key) : "(missing)");
		json_object_set(rec, "publicKey", key);
	}
	if (eps || !partial) {
		if (!json_is_array(eps) || !json_array_size(eps) || json_array_size(eps) > MAX_ENDPOINTS)
			return invalid(err, errlen, "endpoints%s: give 1 to 8 of \"IP:PORT\" or \"[IPv6]:PORT\"",
				       eps ? "" : " (missing)");
		json_array_foreach(eps, i, v) {
			union sockaddr_any sa;

			if (!json_is_string(v) || addr_parse_endpoint(&sa, json_string_value(v)))
				return invalid(err, errlen, "endpoint %s: give \"IP:PORT\" or \"[IPv6]:PORT\"",
					       json_is_string(v) ? json_string_value(v) : "(not a string)");
		}
		json_object_set(rec, "endpoints", eps);
	}
	if (labels) {
		const char *lk;

		if (!json_is_object(labels) || json_object_size(labels) > MAX_LABELS)
			return invalid(err, errlen, "labels: give an object of at most 64 strings");
		json_object_foreach(labels, lk, v)
			if (!*lk || strlen(lk) > 253 || !json_is_string(v) || strlen(json_string_value(v)) > 253)
				return invalid(err, errlen, "label \"%s\": keys and values are strings of 1 to 253 characters",
					       lk);
		json_object_set(rec, "labels", labels);
	} else if (!partial) {
		json_object_set_new(rec, "labels", json_object());
	}
	return 0;
}

static void key_path(char *buf, size_t len, const char *pub)
{
	/* base64 has '/': the store's keys read better without it. */
	snprintf(buf, len, CLUSTER_PREFIX "keys/");
	if (!pub) /* a cluster at the broker before its first gateway */
		return;
	for (size_t n = strlen(buf), i = 0; pub[i] && n + 1 < len; ++i)
		buf[n++] = pub[i] == '/' ? '_' : pub[i], buf[n] = '\0';
}

static void subnet_path(char *buf, size_t len, int f, uint64_t index)
{
	snprintf(buf, len, CLUSTER_PREFIX "subnets/%d/%08llu", f ? 6 : 4, (unsigned long long)index);
}

/* A free subnet of a family: never handed out, or released at least
 * reuse_after ago. *mod_rev is what the claim must compare with. The first
 * try takes the lowest; after a lost race (spread), one of the lowest few at
 * random, so that managers racing do not all chase the same one again. */
static int free_subnet(struct cluster *c, int f, int64_t now, bool spread, uint64_t *index, int64_t *mod_rev)
{
	enum { CANDIDATES = 8 };
	const struct cluster_pool *p = &c->pool[f];
	struct {
		uint64_t index;
		int64_t mod_rev;
	} cand[CANDIDATES];
	char prefix[64];
	struct kv_list l;
	uint64_t expect = 0;
	size_t nc = 0, pick;
	int ret;

	snprintf(prefix, sizeof(prefix), CLUSTER_PREFIX "subnets/%d/", f ? 6 : 4);
	if ((ret = kv_range(c->kv, prefix, &l)))
		return ret;
	for (size_t i = 0; i <= l.n && nc < CANDIDATES; ++i) {
		uint64_t at = i < l.n ? strtoull(l.items[i].key + strlen(prefix), NULL, 10) : p->count;
		json_t *v;

		while (expect < at && expect < p->count && nc < CANDIDATES) { /* a gap: never used */
			cand[nc].index = expect++;
			cand[nc++].mod_rev = 0;
		}
		if (i == l.n || nc == CANDIDATES || at >= p->count)
			break;
		/* Most subnets are held: parse only the released ones. */
		v = strstr(l.items[i].value, "\"released\"") ? json_loads(l.items[i].value, 0, NULL) : NULL;
		if (json_is_integer(json_object_get(v, "released")) &&
		    json_integer_value(json_object_get(v, "released")) + c->reuse_after <= now) {
			cand[nc].index = at;
			cand[nc++].mod_rev = l.items[i].mod_rev;
		}
		json_decref(v);
		expect = at + 1;
	}
	kv_list_free(&l);
	if (!nc)
		return -ENOSPC;
	pick = spread ? randombytes_uniform((uint32_t)nc) : 0;
	*index = cand[pick].index;
	*mod_rev = cand[pick].mod_rev;
	return 0;
}

/* The subnets a registration asks for by name ("subnets": a node coming
 * back after its record was removed): each must be a node subnet of a
 * cluster CIDR, at most one per family. want[f] is its index or -1. */
static int wanted_subnets(struct cluster *c, json_t *req, int64_t want[2], char *err, size_t errlen)
{
	json_t *subs = json_object_get(req, "subnets"), *v;
	char buf[2][64];
	size_t i;

	want[0] = want[1] = -1;
	if (!subs)
		return 0;
	if (!json_is_array(subs) || json_array_size(subs) > 2)
		return invalid(err, errlen, "subnets: give at most one IPv4 and one IPv6 node subnet, as strings");
	json_array_foreach(subs, i, v) {
		struct ipam_prefix sub;
		int f;

		if (!json_is_string(v) || ipam_prefix_parse(&sub, json_string_value(v)))
			return invalid(err, errlen, "subnet %s: not a prefix (10.244.3.0/24)",
				       json_is_string(v) ? json_string_value(v) : "(not a string)");
		f = sub.family == AF_INET6;
		if (!c->pool[f].count)
			return invalid(err, errlen, "subnet %s: the cluster has no %s CIDR", json_string_value(v),
				       f ? "IPv6" : "IPv4");
		if (want[f] >= 0)
			return invalid(err, errlen, "subnets: two %s subnets; give at most one per family",
				       f ? "IPv6" : "IPv4");
		if ((want[f] = cluster_pool_index(&c->pool[f], &sub)) < 0)
			return invalid(err, errlen, "subnet %s is not a node subnet of the cluster CIDR %s (/%u each)",
				       json_string_value(v), ipam_prefix_str(&c->pool[f].cidr, buf[0], sizeof(buf[0])),
				       c->pool[f].node_len);
	}
	return 0;
}

/* May a registration of node `name` take subnet `index` by name? Yes if it
 * was never handed out, if `name` itself released it, or if it has rested. */
static int claim_subnet(struct cluster *c, int f, uint64_t index, const char *name, int64_t now, int64_t *mod_rev,
			char *err, size_t errlen)
{
	char key[64], buf[64];
	struct ipam_prefix sub;
	struct kv_item it;
	json_t *v, *rel;
	int ret;

	subnet_path(key, sizeof(key), f, index);
	cluster_pool_nth(&c->pool[f], index, &sub);
	ipam_prefix_str(&sub, buf, sizeof(buf));
	if ((ret = kv_get(c->kv, key, &it)) == -ENOENT) {
		*mod_rev = 0;
		return 0;
	} else if (ret) {
		snprintf(err, errlen, "%s", kv_error());
		return ret;
	}
	*mod_rev = it.mod_rev;
	v = json_loads(it.value, 0, NULL);
	kv_item_free(&it);
	rel = json_object_get(v, "released");
	if (!json_is_integer(rel)) {
		snprintf(err, errlen, "subnet %s belongs to node \"%s\": ask for none to get a free one", buf,
			 json_string_value(json_object_get(v, "node")) ?: "?");
		ret = -EEXIST;
	} else if (json_integer_value(rel) + c->reuse_after > now &&
		   strcmp(json_string_value(json_object_get(v, "node")) ?: "", name)) {
		snprintf(err, errlen, "subnet %s was released %llds ago by another node and rests %llds before reuse",
			 buf, (long long)(now - json_integer_value(rel)), (long long)c->reuse_after);
		ret = -EEXIST;
	}
	json_decref(v);
	return ret;
}

/* The node's own address in its subnet: the first host, as the agent
 * gives its gateway (lib/ipam). */
static void tunnel_address(const struct ipam_prefix *subnet, struct ipam_prefix *out)
{
	*out = *subnet;
	from_u128(out, to_u128(subnet) + 1);
	out->len = subnet->family == AF_INET ? 32 : 128;
}

static int broker_register(struct cluster *c, json_t *req, const char *cred_hash, int64_t now, json_t **out,
			   char *err, size_t errlen);

int cluster_node_register(struct cluster *c, json_t *req, const char *cred_hash, int64_t now, json_t **out, char *err,
			  size_t errlen)
{
	const char *name = json_string_value(json_object_get(req, "name"));
	char node_key[128], pub_key[128], cred_key[128], sub_key[2][64], buf[64];
	json_t *rec = NULL;
	int64_t want[2];
	int ret;

	*out = NULL;
	if (!name || !cluster_name_valid(name))
		return invalid(err, errlen,
			       "name \"%s\": give a DNS label (1 to 63 of a-z, 0-9 and '-', not at either end)",
			       name ? name : "(missing)");
	if (c->broker)
		return broker_register(c, req, cred_hash, now, out, err, errlen);
	snprintf(node_key, sizeof(node_key), CLUSTER_NODES "%s", name);
	snprintf(cred_key, sizeof(cred_key), CLUSTER_PREFIX "credentials/%s", name);
	if ((ret = wanted_subnets(c, req, want, err, errlen)))
		return ret;
	pthread_mutex_lock(&c->register_lock);
	for (int attempt = 0; attempt < RETRIES; ++attempt) {
		struct kv_cond conds[4];
		struct kv_op ops[5];
		char *texts[4] = { NULL };
		size_t nc = 0, no = 0;
		json_t *subnets, *tunnel;

		json_decref(rec);
		rec = json_object();
		json_object_set_new(rec, "name", json_string(name));
		if ((ret = node_fields(req, rec, false, err, errlen)))
			goto out;
		key_path(pub_key, sizeof(pub_key), json_string_value(json_object_get(rec, "publicKey")));
		subnets = json_array();
		tunnel = json_array();
		json_object_set_new(rec, "subnets", subnets);
		json_object_set_new(rec, "tunnelAddresses", tunnel);
		json_object_set_new(rec, "created", json_integer(now));
		conds[nc++] = (struct kv_cond){ node_key, 0 };
		conds[nc++] = (struct kv_cond){ pub_key, 0 };
		for (int f = 0; f < 2; ++f) {
			struct ipam_prefix sub, host;
			uint64_t index;
			int64_t rev;

			if (!c->pool[f].count)
				continue;
			if (want[f] >= 0) {
				index = (uint64_t)want[f];
				if ((ret = claim_subnet(c, f, index, name, now, &rev, err, errlen))) {
					free(texts[0]);
					goto out;
				}
			} else if ((ret = free_subnet(c, f, now, attempt > 0, &index, &rev))) {
				if (ret == -ENOSPC)
					snprintf(err, errlen, "no %s node subnet left in %s (%llu in all): remove a node",
						 f ? "IPv6" : "IPv4", ipam_prefix_str(&c->pool[f].cidr, buf, sizeof(buf)),
						 (unsigned long long)c->pool[f].count);
				else
					snprintf(err, errlen, "%s", kv_error());
				free(texts[0]);
				goto out;
			}
			cluster_pool_nth(&c->pool[f], index, &sub);
			json_array_append_new(subnets, json_string(ipam_prefix_str(&sub, buf, sizeof(buf))));
			tunnel_address(&sub, &host);
			json_array_append_new(tunnel, json_string(ipam_prefix_str(&host, buf, sizeof(buf))));
			subnet_path(sub_key[f], sizeof(sub_key[f]), f, index);
			conds[nc++] = (struct kv_cond){ sub_key[f], rev };
			if (asprintf(&texts[f], "{\"node\":\"%s\"}", name) < 0) { /* a valid name needs no escaping */
				free(texts[0]);
				ret = -ENOMEM;
				goto out;
			}
			ops[no++] = (struct kv_op){ KV_PUT, sub_key[f], texts[f], strlen(texts[f]) };
		}
		texts[2] = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
		ops[no++] = (struct kv_op){ KV_PUT, node_key, texts[2], strlen(texts[2]) };
		ops[no++] = (struct kv_op){ KV_PUT, pub_key, name, strlen(name) };
		ops[no++] = (struct kv_op){ KV_PUT, cred_key, cred_hash, strlen(cred_hash) };
		ret = kv_txn(c->kv, conds, nc, ops, no, NULL);
		for (int i = 0; i < 4; ++i)
			free(texts[i]);
		if (ret != -ECANCELED)
			break;
		/* Lost a race: for the name, the key, or a subnet. The first two are final. */
		{
			struct kv_item it;

			if (!kv_get(c->kv, node_key, &it)) {
				kv_item_free(&it);
				snprintf(err, errlen, "node \"%s\" is registered already: remove it first, or pick another name",
					 name);
				ret = -EEXIST;
				goto out;
			}
			if (!kv_get(c->kv, pub_key, &it)) {
				snprintf(err, errlen, "public key %s belongs to node \"%s\": each node needs its own key",
					 json_string_value(json_object_get(rec, "publicKey")), it.value);
				kv_item_free(&it);
				ret = -EEXIST;
				goto out;
			}
		}
	}
	if (ret == -ECANCELED)
		snprintf(err, errlen, "the store is too busy: %d tries lost a race for a subnet; try again", RETRIES);
	else if (ret)
		snprintf(err, errlen, "%s", kv_error());
out:
	pthread_mutex_unlock(&c->register_lock);
	if (!ret)
		*out = rec;
	else
		json_decref(rec);
	return ret;
}

/* --- the rest of a node's life ------------------------------------------ */

static int node_read(struct cluster *c, const char *name, json_t **rec, int64_t *mod_rev)
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
	return node_read(c, name, out, NULL);
}

/* The gateway label of a record or a request's labels, or NULL. */
static const char *gateway_label(json_t *labels)
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
		return invalid(err, errlen, "name %s: a node's name cannot change; remove it and register anew",
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
		if ((ret = node_read(c, name, &rec, &rev))) {
			snprintf(err, errlen, ret == -ENOENT ? "no node \"%s\"" : "%s", ret == -ENOENT ? name : kv_error());
			goto out;
		}
		key_path(old_pub, sizeof(old_pub), json_string_value(json_object_get(rec, "publicKey")));
		if (!may_grant) {
			json_t *asked = json_object_get(req, "labels");
			const char *had = gateway_label(json_object_get(rec, "labels")), *want = gateway_label(asked);

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
			ret = node_fields(req, rec, true, err, errlen);
			if (!ret && had && json_is_object(asked))
				json_object_set_new(json_object_get(rec, "labels"), CLUSTER_GATEWAY_LABEL, json_string(had));
			free((char *)had);
		} else {
			ret = node_fields(req, rec, true, err, errlen);
		}
		if (ret)
			goto out;
		key_path(new_pub, sizeof(new_pub), json_string_value(json_object_get(rec, "publicKey")));
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

		if ((ret = node_read(c, name, &rec, &rev))) {
			snprintf(err, errlen, ret == -ENOENT ? "no node \"%s\"" : "%s", ret == -ENOENT ? name : kv_error());
			return ret;
		}
		snprintf(released, sizeof(released), "{\"node\":\"%s\",\"released\":%lld}", name, (long long)now);
		conds[nc++] = (struct kv_cond){ node_key, rev };
		key_path(pub_key, sizeof(pub_key), json_string_value(json_object_get(rec, "publicKey")));
		json_array_foreach(json_object_get(rec, "subnets"), i, v) {
			struct ipam_prefix sub;
			int64_t index;
			int f;

			if (i >= 2 || ipam_prefix_parse(&sub, json_string_value(v)))
				continue;
			f = sub.family == AF_INET6;
			if ((index = cluster_pool_index(&c->pool[f], &sub)) < 0)
				continue; /* not from this pool: nothing to give back */
			subnet_path(sub_key[i], sizeof(sub_key[i]), f, (uint64_t)index);
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

/* --- the broker: clusters for nodes (docs/clusters.md) ---------------------- */

bool cluster_prefix_overlap(const struct ipam_prefix *a, const struct ipam_prefix *b)
{
	unsigned bits = a->family == AF_INET ? 32 : 128, len = a->len < b->len ? a->len : b->len;
	unsigned __int128 mask;

	if (a->family != b->family)
		return false;
	if (!len)
		return true;
	mask = ~(unsigned __int128)0 << (bits - len);
	if (bits == 32)
		mask &= 0xffffffffu;
	return (to_u128(a) & mask) == (to_u128(b) & mask);
}

int cluster_cidr_parse(struct ipam_prefix *p, const char *s, char *err, size_t errlen)
{
	unsigned bits;
	char buf[64];

	if (ipam_prefix_parse(p, s))
		return invalid(err, errlen, "CIDR \"%s\": not a prefix (10.244.0.0/16, fd00:244::/48)", s);
	bits = p->family == AF_INET ? 32 : 128;
	if (p->len < bits && (to_u128(p) & ((((unsigned __int128)1) << (bits - p->len)) - 1))) {
		struct ipam_prefix net = *p;

		from_u128(&net, to_u128(p) & ~((((unsigned __int128)1) << (bits - p->len)) - 1));
		return invalid(err, errlen, "CIDR %s has host bits set: give the network, %s", s,
			       ipam_prefix_str(&net, buf, sizeof(buf)));
	}
	return 0;
}

/* A cluster's CIDRs as asked (`subnets`): 1 to 16 networks, none
 * overlapping another. Into rec as canonical strings. */
static int cluster_cidrs(json_t *subs, json_t *rec, struct ipam_prefix *out, size_t *n, char *err, size_t errlen)
{
	json_t *v, *list = json_array();
	char buf[64];
	size_t i;
	int ret;

	if (!json_is_array(subs) || !json_array_size(subs) || json_array_size(subs) > MAX_CLUSTER_CIDRS) {
		json_decref(list);
		return invalid(err, errlen, "subnets: give the cluster's CIDRs, 1 to %d strings", MAX_CLUSTER_CIDRS);
	}
	*n = 0;
	json_array_foreach(subs, i, v) {
		if (!json_is_string(v)) {
			json_decref(list);
			return invalid(err, errlen, "subnets: %zu is not a string", i);
		}
		if ((ret = cluster_cidr_parse(&out[*n], json_string_value(v), err, errlen))) {
			json_decref(list);
			return ret;
		}
		for (size_t j = 0; j < *n; ++j)
			if (cluster_prefix_overlap(&out[j], &out[*n])) {
				json_decref(list);
				return invalid(err, errlen, "CIDRs %s and %s overlap: give each network once",
					       json_string_value(json_array_get(list, j)), json_string_value(v));
			}
		json_array_append_new(list, json_string(ipam_prefix_str(&out[*n], buf, sizeof(buf))));
		++*n;
	}
	json_object_set_new(rec, "subnets", list);
	return 0;
}

/* At the broker a registration is a cluster: its name is the cluster ID,
 * its subnets the cluster's CIDRs (given, not handed out), and its key and
 * endpoint those of its active gateway, which may come later. The CIDRs
 * must overlap no other cluster's: every registration rewrites one key
 * (/weft/clusters) and is conditional on it, so two racing registrations
 * (through two brokers on etcd) are checked one after the other. */
static int broker_register(struct cluster *c, json_t *req, const char *cred_hash, int64_t now, json_t **out,
			   char *err, size_t errlen)
{
	const char *name = json_string_value(json_object_get(req, "name"));
	struct ipam_prefix mine[MAX_CLUSTER_CIDRS];
	char node_key[128], pub_key[128], cred_key[128];
	json_t *rec = json_object(), *fields = json_deep_copy(req);
	size_t n = 0;
	int ret;

	*err = '\0';
	json_object_set_new(rec, "name", json_string(name));
	json_object_del(fields, "subnets");
	if ((ret = node_fields(fields, rec, true, err, errlen)) ||
	    (ret = cluster_cidrs(json_object_get(req, "subnets"), rec, mine, &n, err, errlen)))
		goto out;
	if (!json_object_get(rec, "labels"))
		json_object_set_new(rec, "labels", json_object());
	json_object_set_new(rec, "created", json_integer(now));
	snprintf(node_key, sizeof(node_key), CLUSTER_NODES "%s", name);
	snprintf(cred_key, sizeof(cred_key), CLUSTER_PREFIX "credentials/%s", name);
	key_path(pub_key, sizeof(pub_key), json_string_value(json_object_get(rec, "publicKey")));
	pthread_mutex_lock(&c->register_lock);
	ret = -ECANCELED;
	for (int attempt = 0; attempt < RETRIES && ret == -ECANCELED; ++attempt) {
		struct kv_cond conds[3];
		struct kv_op ops[4];
		size_t nc = 0, no = 0;
		struct kv_list l;
		struct kv_item epoch;
		int64_t epoch_rev = 0;
		char *text, stamp[32];

		if ((ret = kv_get(c->kv, CLUSTER_PREFIX "clusters", &epoch)) == 0) {
			epoch_rev = epoch.mod_rev;
			kv_item_free(&epoch);
		} else if (ret != -ENOENT) {
			snprintf(err, errlen, "%s", kv_error());
			break;
		}
		if ((ret = kv_range(c->kv, CLUSTER_NODES, &l))) {
			snprintf(err, errlen, "%s", kv_error());
			break;
		}
		for (size_t i = 0; i < l.n && !ret; ++i) {
			json_t *other = json_loads(l.items[i].value, 0, NULL), *v;
			const char *oname = json_string_value(json_object_get(other, "name")) ?: "?";
			size_t k;

			if (!strcmp(oname, name)) {
				snprintf(err, errlen, "cluster \"%s\" is registered already: leave first, or pick another "
						      "cluster ID", name);
				ret = -EEXIST;
			}
			json_array_foreach(json_object_get(other, "subnets"), k, v) {
				struct ipam_prefix theirs;

				if (ret || ipam_prefix_parse(&theirs, json_string_value(v) ?: ""))
					continue;
				for (size_t j = 0; j < n && !ret; ++j)
					if (cluster_prefix_overlap(&mine[j], &theirs)) {
						char buf[64];

						snprintf(err, errlen,
							 "cluster CIDR %s overlaps %s of cluster \"%s\": clusters joined "
							 "through a broker need CIDRs apart (traffic would go to the wrong "
							 "cluster); give this cluster other CIDRs",
							 ipam_prefix_str(&mine[j], buf, sizeof(buf)), json_string_value(v),
							 oname);
						ret = -EEXIST;
					}
			}
			json_decref(other);
		}
		kv_list_free(&l);
		if (ret)
			break;
		snprintf(stamp, sizeof(stamp), "%lld", (long long)now);
		conds[nc++] = (struct kv_cond){ CLUSTER_PREFIX "clusters", epoch_rev };
		conds[nc++] = (struct kv_cond){ node_key, 0 };
		text = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
		ops[no++] = (struct kv_op){ KV_PUT, CLUSTER_PREFIX "clusters", stamp, strlen(stamp) };
		ops[no++] = (struct kv_op){ KV_PUT, node_key, text, strlen(text) };
		ops[no++] = (struct kv_op){ KV_PUT, cred_key, cred_hash, strlen(cred_hash) };
		if (json_object_get(rec, "publicKey")) {
			conds[nc++] = (struct kv_cond){ pub_key, 0 };
			ops[no++] = (struct kv_op){ KV_PUT, pub_key, name, strlen(name) };
		}
		ret = kv_txn(c->kv, conds, nc, ops, no, NULL);
		free(text);
		if (ret == -ECANCELED && json_object_get(rec, "publicKey")) {
			struct kv_item it;

			if (!kv_get(c->kv, pub_key, &it)) {
				snprintf(err, errlen, "public key %s belongs to cluster \"%s\"",
					 json_string_value(json_object_get(rec, "publicKey")), it.value);
				kv_item_free(&it);
				ret = -EEXIST;
			}
		}
	}
	if (ret == -ECANCELED)
		snprintf(err, errlen, "the store is too busy; try again");
	else if (ret && ret != -EEXIST && ret != -EINVAL && !*err)
		snprintf(err, errlen, "%s", kv_error());
	pthread_mutex_unlock(&c->register_lock);
out:
	json_decref(fields);
	if (!ret)
		*out = rec;
	else
		json_decref(rec);
	return ret;
}

/* --- the gateway lease (docs/clusters.md) ----------------------------------- */

static bool is_gateway_candidate(json_t *rec)
{
	return !strcmp(gateway_label(json_object_get(rec, "labels")) ?: "", "true");
}

int cluster_gateway_grant(struct cluster *c, const char *name, bool allow, json_t **out, char *err, size_t errlen)
{
	char node_key[128];
	json_t *rec = NULL, *labels;
	int ret = -ECANCELED;

	*out = NULL;
	if (c->broker)
		return invalid(err, errlen, "a broker's nodes are clusters: their gateways are their own managers' to allow");
	snprintf(node_key, sizeof(node_key), CLUSTER_NODES "%s", name);
	for (int attempt = 0; attempt < RETRIES && ret == -ECANCELED; ++attempt) {
		struct kv_cond cond;
		struct kv_op op;
		int64_t rev;
		char *text;

		json_decref(rec);
		rec = NULL;
		if ((ret = node_read(c, name, &rec, &rev))) {
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
		return invalid(err, errlen, "clusters: give an object of at most 256 cluster IDs, each with its CIDRs");
	json_object_foreach(clusters, id, cidrs) {
		struct ipam_prefix p[MAX_CLUSTER_CIDRS];
		json_t *tmp = json_object();
		size_t n;
		int ret;

		if (!cluster_name_valid(id)) {
			json_decref(tmp);
			return invalid(err, errlen, "clusters: \"%s\" is not a cluster ID (a DNS label)", id);
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
		return invalid(err, errlen, "connections: give an array of at most 256 connections");
	json_array_foreach(conns, i, c) {
		if (!json_is_object(c) || json_object_size(c) > 16)
			return invalid(err, errlen, "connections: entry %zu is not an object of at most 16 fields", i);
		json_object_foreach(c, key, v)
			if (strlen(key) > 64 || !connection_field_valid(v))
				return invalid(err, errlen, "connections: entry %zu, field \"%.64s\": give a string of at "
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

		if ((ret = node_read(c, name, &rec, &rev))) {
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
		if (holder && strcmp(holder, name) && json_integer_value(json_object_get(cur, "until")) > now &&
		    !node_read(c, holder, &old, NULL)) {
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
		if (holder && strcmp(holder, name) && !node_read(c, holder, &old, &old_rev) &&
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
		if (!node_read(c, name, &rec, &rev) && json_object_get(rec, "gateway")) {
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
