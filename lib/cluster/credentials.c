// SPDX-License-Identifier: MIT
/*
 * Secrets that rotate: a node's credential (/weft/credentials/NAME) and
 * the admin and reader tokens (/weft/admin/ROLE). Each is stored as a
 * document of SHA-256 hashes, {"hash": CURRENT, "next": PENDING?}, and a
 * node's also keeps the hash of its registration secret ("registration").
 *
 * A rotation stores the new secret's hash as "next" beside the current
 * one: both are accepted until the first request made with the new one
 * confirms it (hash := next), each step one compare-and-swap. So a new
 * secret lost between the manager's answer and its holder's file costs
 * nothing: the old one still works, and a rotation can simply be asked
 * for again. Once confirmed, the old one is refused.
 */
#include "cluster/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

void cluster_hash(const char *secret, char hex[65])
{
	uint8_t md[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(md, (const uint8_t *)secret, strlen(secret));
	sodium_bin2hex(hex, 65, md, sizeof(md));
	sodium_memzero(md, sizeof(md));
}

int cluster_secret_read(struct kv *kv, const char *key, json_t **doc, int64_t *mod_rev)
{
	struct kv_item it;
	int ret;

	*doc = NULL;
	if ((ret = kv_get(kv, key, &it)))
		return ret;
	/* Before rotation there was only the hash, as plain text. */
	*doc = it.value[0] == '{' ? json_loads(it.value, 0, NULL) : json_pack("{s:s}", "hash", it.value);
	if (mod_rev)
		*mod_rev = it.mod_rev;
	kv_item_free(&it);
	return *doc ? 0 : kv_fail(-EIO, "%s: not a hash nor a JSON object", key);
}

static bool same_hash(json_t *doc, const char *field, const char want[65])
{
	const char *have = json_string_value(json_object_get(doc, field));

	return have && strlen(have) == 64 && !sodium_memcmp(have, want, 64);
}

enum cluster_match cluster_secret_match(json_t *doc, const char hash[65])
{
	/* Both compared, whichever matches: the time does not say which. */
	bool current = same_hash(doc, "hash", hash), next = same_hash(doc, "next", hash);

	return current ? CLUSTER_MATCH_CURRENT : next ? CLUSTER_MATCH_NEXT : CLUSTER_MATCH_NONE;
}

/* Writes doc at key if key is still at rev (and, with more, if that
 * condition holds too, doing op2 as well). */
static int put_if(struct kv *kv, const char *key, int64_t rev, json_t *doc, struct kv_cond *more, struct kv_op *op2)
{
	struct kv_cond conds[2] = { { key, rev } };
	struct kv_op ops[2];
	char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
	int ret;

	if (!text)
		return -ENOMEM;
	ops[0] = (struct kv_op){ KV_PUT, key, text, strlen(text) };
	if (more)
		conds[1] = *more, ops[1] = *op2;
	ret = kv_txn(kv, conds, more ? 2 : 1, ops, more ? 2 : 1, NULL);
	free(text);
	return ret;
}

int cluster_secret_next(struct kv *kv, const char *key, const char hash[65])
{
	int ret = -ECANCELED;

	for (int attempt = 0; attempt < RETRIES && ret == -ECANCELED; ++attempt) {
		json_t *doc;
		int64_t rev;

		if ((ret = cluster_secret_read(kv, key, &doc, &rev)))
			return ret;
		/* A rotation asked again replaces the pending secret: its
		 * holder never got it, or it would have been confirmed. */
		json_object_set_new(doc, "next", json_string(hash));
		ret = put_if(kv, key, rev, doc, NULL, NULL);
		json_decref(doc);
	}
	return ret;
}

int cluster_secret_confirm(struct kv *kv, const char *key, const char hash[65], const char *node, int64_t now)
{
	char node_key[128];
	int ret = -ECANCELED;

	if (node)
		snprintf(node_key, sizeof(node_key), CLUSTER_NODES "%s", node);
	for (int attempt = 0; attempt < RETRIES && ret == -ECANCELED; ++attempt) {
		struct kv_cond rec_cond;
		struct kv_op rec_op;
		struct cluster_node n;
		json_t *doc;
		enum cluster_match match;
		int64_t rev;
		char *text = NULL;

		if ((ret = cluster_secret_read(kv, key, &doc, &rev)))
			return ret;
		if ((match = cluster_secret_match(doc, hash)) != CLUSTER_MATCH_NEXT) {
			/* Confirmed meanwhile (another request, another manager),
			 * or replaced by a newer rotation. */
			json_decref(doc);
			return match == CLUSTER_MATCH_CURRENT ? 0 : -ESTALE;
		}
		json_object_set(doc, "hash", json_object_get(doc, "next"));
		json_object_del(doc, "next");
		json_object_set_new(doc, "rotated", json_integer(now));
		/* A node's record says when: the watchers (every manager's)
		 * see it, and drop the old credential from their caches. */
		if (node && !(ret = cluster_node_read(kv, node, &n, &rec_cond.mod_rev))) {
			rec_cond.key = node_key;
			/* The rotation asked for is done. */
			n.flags &= ~NODE_HAS_ROTATION_REQUESTED;
			n.flags |= NODE_HAS_ROTATION_ROTATED;
			n.rotation_rotated = now;
			text = cluster_node_text(&n);
			rec_op = (struct kv_op){ KV_PUT, node_key, text, text ? strlen(text) : 0 };
			if (!text)
				ret = -ENOMEM;
			cluster_node_free(&n);
		}
		if (!ret)
			ret = put_if(kv, key, rev, doc, node ? &rec_cond : NULL, node ? &rec_op : NULL);
		free(text);
		json_decref(doc);
	}
	return ret;
}

/* "rotated", the last rotation, stays until the next is done. */
static int request_edit(struct cluster_node *n, void *ctx, char *err, size_t errlen)
{
	n->flags |= NODE_HAS_ROTATION_REQUESTED;
	n->rotation_requested = *(int64_t *)ctx;
	return 0;
}

int cluster_credential_request(struct cluster *c, const char *name, int64_t now, json_t **out, char *err,
			       size_t errlen)
{
	return cluster_node_edit(c, name, request_edit, &now, out, err, errlen);
}
