// SPDX-License-Identifier: MIT
/*
 * A node's registration (see cluster.h): its name, key, credential and
 * subnets claimed in one transaction, each subnet free or asked for by
 * name, and the same registrant answered again when its first answer was
 * lost (the registration secret). Reads, updates and removal are nodes.c's.
 */
#include "cluster/internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "util/key.h"

/* A free subnet of a family: never handed out, or released at least
 * reuse_after ago. *mod_rev is what the claim must compare with. The first
 * try takes the lowest; after a lost race (spread), one of the lowest few at
 * random, so that managers racing do not all chase the same one again. */
int cluster_subnet_free(struct cluster *c, int f, int64_t now, bool spread, uint64_t *index, int64_t *mod_rev)
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
		return cluster_invalid(err, errlen, "subnets: give at most one IPv4 and one IPv6 node subnet, as strings");
	json_array_foreach(subs, i, v) {
		struct ipam_prefix sub;
		int f;

		if (!json_is_string(v) || ipam_prefix_parse(&sub, json_string_value(v)))
			return cluster_invalid(err, errlen, "subnet %s: not a prefix (10.244.3.0/24)",
					       json_is_string(v) ? json_string_value(v) : "(not a string)");
		f = sub.family == AF_INET6;
		if (!c->pool[f].count)
			return cluster_invalid(err, errlen, "subnet %s: the cluster has no %s CIDR", json_string_value(v),
					       f ? "IPv6" : "IPv4");
		if (want[f] >= 0)
			return cluster_invalid(err, errlen, "subnets: two %s subnets; give at most one per family",
					       f ? "IPv6" : "IPv4");
		if ((want[f] = cluster_pool_index(&c->pool[f], &sub)) < 0)
			return cluster_invalid(err, errlen, "subnet %s is not a node subnet of the cluster CIDR %s (/%u each)",
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

	cluster_subnet_path(key, sizeof(key), f, index);
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
		const char *holder = json_string_value(json_object_get(v, "node")) ?: "?";

		/* "@clients": set aside for external clients (clients.c). */
		if (holder[0] == '@')
			snprintf(err, errlen, "subnet %s is set aside for external clients: ask for none to get a free one",
				 buf);
		else
			snprintf(err, errlen, "subnet %s belongs to node \"%s\": ask for none to get a free one", buf, holder);
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

/* The registration secret a request may carry: its hash into reg_hash
 * ("" for none), and the request without it into *fields. */
static int registration_secret(json_t *req, json_t **fields, char reg_hash[65], char *err, size_t errlen)
{
	json_t *secret = json_object_get(req, "registrationSecret");
	const char *s = json_string_value(secret);

	*reg_hash = '\0';
	*fields = json_copy(req);
	if (!secret)
		return 0;
	json_object_del(*fields, "registrationSecret");
	/* Never quoted: it is a secret. */
	if (!s || strlen(s) < 32 || strlen(s) > 128 || strspn(s, "0123456789abcdef") != strlen(s))
		return cluster_invalid(err, errlen, "registrationSecret: give 32 to 128 lower-case hex digits "
						    "(random, made once by the node)");
	cluster_hash(s, reg_hash);
	return 0;
}

/* The same registrant asking again, its first answer lost: a node of this
 * name, key (pub, as base64; NULL for none) and registration secret. Its
 * credential is replaced, since the one made before never reached it; the
 * record says so ("credentialRotation": {"rotated"}), so that every
 * manager's watch drops the old one from its cache. *out is the stored
 * record. */
static int register_again(struct cluster *c, const char *name, const char *pub, const char reg_hash[65],
			  const char *cred_hash, int64_t now, json_t **out)
{
	char node_key[128], cred_key[128], *text = NULL, *node_text = NULL, have_pub[KEY_B64_LEN];
	struct cluster_node have;
	json_t *doc = NULL;
	int64_t node_rev, cred_rev;
	const char *had;
	int ret;

	*out = NULL;
	snprintf(node_key, sizeof(node_key), CLUSTER_NODES "%s", name);
	snprintf(cred_key, sizeof(cred_key), CLUSTER_PREFIX "credentials/%s", name);
	if ((ret = cluster_node_read(c->kv, name, &have, &node_rev)) ||
	    (ret = cluster_secret_read(c->kv, cred_key, &doc, &cred_rev)))
		goto out;
	key_to_base64(have_pub, have.key);
	had = json_string_value(json_object_get(doc, "registration"));
	if (!(have.flags & NODE_HAS_KEY) || !pub || strcmp(have_pub, pub) || !had || strlen(had) != 64 ||
	    sodium_memcmp(had, reg_hash, 64)) {
		ret = -EEXIST;
		goto out;
	}
	json_object_set_new(doc, "hash", json_string(cred_hash));
	json_object_del(doc, "next");
	/* A new credential: what was asked before is done with. */
	have.flags &= ~NODE_HAS_ROTATION_REQUESTED;
	have.flags |= NODE_HAS_ROTATION_ROTATED;
	have.rotation_rotated = now;
	if (!(text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS)) || !(node_text = cluster_node_text(&have)) ||
	    !(*out = cluster_node_json(&have))) {
		ret = -ENOMEM;
		goto out;
	}
	{
		struct kv_cond conds[2] = { { node_key, node_rev }, { cred_key, cred_rev } };
		struct kv_op ops[2] = { { KV_PUT, cred_key, text, strlen(text) },
					{ KV_PUT, node_key, node_text, strlen(node_text) } };

		/* Changed meanwhile (removed, say): not the same node any more. */
		if ((ret = kv_txn(c->kv, conds, 2, ops, 2, NULL)) == -ECANCELED)
			ret = -EEXIST;
	}
out:
	free(text);
	free(node_text);
	json_decref(doc);
	cluster_node_free(&have);
	if (ret) {
		json_decref(*out);
		*out = NULL;
	}
	return ret;
}

int cluster_node_register(struct cluster *c, json_t *req_in, const char *cred_hash, int64_t now, json_t **out,
			  char *err, size_t errlen)
{
	const char *name = json_string_value(json_object_get(req_in, "name"));
	char node_key[128], pub_key[128], cred_key[128], sub_key[2][64], buf[64], reg_hash[65], pub[KEY_B64_LEN];
	struct cluster_node n = { 0 };
	json_t *rec = NULL, *req = NULL, *cred_doc;
	char *cred_text = NULL;
	int64_t want[2];
	int ret;

	*out = NULL;
	if (!name || !cluster_name_valid(name))
		return cluster_invalid(err, errlen,
				       "name \"%s\": give a DNS label (1 to 63 of a-z, 0-9 and '-', not at either end)",
				       name ? name : "(missing)");
	if (c->broker)
		return cluster_broker_register(c, req_in, cred_hash, now, out, err, errlen);
	snprintf(node_key, sizeof(node_key), CLUSTER_NODES "%s", name);
	snprintf(cred_key, sizeof(cred_key), CLUSTER_PREFIX "credentials/%s", name);
	if ((ret = registration_secret(req_in, &req, reg_hash, err, errlen)) ||
	    (ret = wanted_subnets(c, req, want, err, errlen))) {
		json_decref(req);
		return ret;
	}
	cred_doc = json_pack("{s:s}", "hash", cred_hash);
	if (*reg_hash)
		json_object_set_new(cred_doc, "registration", json_string(reg_hash));
	cred_text = json_dumps(cred_doc, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(cred_doc);
	if (!cred_text) {
		json_decref(req);
		return -ENOMEM;
	}
	pthread_mutex_lock(&c->register_lock);
	if (*reg_hash) {
		/* Asked again, by its registrant: before the subnets it asks
		 * for, which its first registration holds already. */
		struct kv_item it;
		json_t *again = NULL;

		if (!kv_get(c->kv, node_key, &it)) {
			kv_item_free(&it);
			if (!(ret = register_again(c, name, json_string_value(json_object_get(req, "publicKey")), reg_hash,
						   cred_hash, now, &again))) {
				rec = again;
				ret = CLUSTER_REGISTERED_AGAIN;
			} else if (ret == -EEXIST) {
				snprintf(err, errlen, "node \"%s\" is registered already: remove it first, or pick another "
					 "name", name);
			} else {
				snprintf(err, errlen, "%s", kv_error());
			}
			goto out;
		}
	}
	for (int attempt = 0; attempt < RETRIES; ++attempt) {
		struct kv_cond conds[4];
		struct kv_op ops[5];
		char *texts[4] = { NULL };
		size_t nc = 0, no = 0;

		cluster_node_free(&n);
		snprintf(n.name, sizeof(n.name), "%s", name);
		if ((ret = cluster_node_fields(req, &n, false, err, errlen)))
			goto out;
		cluster_key_path(pub_key, sizeof(pub_key), &n);
		key_to_base64(pub, n.key);
		n.flags |= NODE_HAS_TUNNEL;
		n.created = now;
		conds[nc++] = (struct kv_cond){ node_key, 0 };
		conds[nc++] = (struct kv_cond){ pub_key, 0 };
		for (int f = 0; f < 2; ++f) {
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
			} else if ((ret = cluster_subnet_free(c, f, now, attempt > 0, &index, &rev))) {
				if (ret == -ENOSPC)
					snprintf(err, errlen, "no %s node subnet left in %s (%llu in all): remove a node",
						 f ? "IPv6" : "IPv4", ipam_prefix_str(&c->pool[f].cidr, buf, sizeof(buf)),
						 (unsigned long long)c->pool[f].count);
				else
					snprintf(err, errlen, "%s", kv_error());
				free(texts[0]);
				goto out;
			}
			cluster_pool_nth(&c->pool[f], index, &n.subnets[n.nsubnets]);
			cluster_tunnel_address(&n.subnets[n.nsubnets++], &n.tunnel[n.ntunnel++]);
			cluster_subnet_path(sub_key[f], sizeof(sub_key[f]), f, index);
			conds[nc++] = (struct kv_cond){ sub_key[f], rev };
			if (asprintf(&texts[f], "{\"node\":\"%s\"}", name) < 0) { /* a valid name needs no escaping */
				free(texts[0]);
				ret = -ENOMEM;
				goto out;
			}
			ops[no++] = (struct kv_op){ KV_PUT, sub_key[f], texts[f], strlen(texts[f]) };
		}
		if (!(texts[2] = cluster_node_text(&n))) {
			free(texts[0]);
			free(texts[1]);
			ret = -ENOMEM;
			goto out;
		}
		ops[no++] = (struct kv_op){ KV_PUT, node_key, texts[2], strlen(texts[2]) };
		ops[no++] = (struct kv_op){ KV_PUT, pub_key, name, strlen(name) };
		ops[no++] = (struct kv_op){ KV_PUT, cred_key, cred_text, strlen(cred_text) };
		ret = kv_txn(c->kv, conds, nc, ops, no, NULL);
		for (int i = 0; i < 4; ++i)
			free(texts[i]);
		if (ret != -ECANCELED)
			break;
		/* Lost a race: for the name, the key, or a subnet. The first two are final. */
		{
			struct kv_item it;

			if (!kv_get(c->kv, node_key, &it)) {
				json_t *again = NULL;

				kv_item_free(&it);
				if (*reg_hash && !(ret = register_again(c, name, pub, reg_hash, cred_hash, now, &again))) {
					rec = again;
					ret = CLUSTER_REGISTERED_AGAIN;
					goto out;
				}
				snprintf(err, errlen, "node \"%s\" is registered already: remove it first, or pick another name",
					 name);
				ret = -EEXIST;
				goto out;
			}
			if (!kv_get(c->kv, pub_key, &it)) {
				snprintf(err, errlen, "public key %s belongs to node \"%s\": each node needs its own key",
					 pub, it.value);
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
	else if (!(rec = cluster_node_json(&n)))
		ret = -ENOMEM;
out:
	pthread_mutex_unlock(&c->register_lock);
	cluster_node_free(&n);
	free(cred_text);
	json_decref(req);
	if (ret >= 0)
		*out = rec;
	else
		json_decref(rec);
	return ret;
}
