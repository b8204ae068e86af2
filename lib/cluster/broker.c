// SPDX-License-Identifier: MIT
/*
 * The broker (docs/clusters.md): a store whose nodes are clusters, each
 * registered by its cluster ID with the CIDRs it gives, none overlapping
 * another's (cluster_cidrs also checks what a gateway reports of the
 * other clusters, in lease.c).
 */
#include "cluster/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/key.h"

int cluster_init_broker(struct cluster *c, struct kv *kv, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->register_lock, NULL);
	c->kv = kv;
	c->broker = true;
	return cluster_bind_settings(c, err, errlen);
}

/* A cluster's CIDRs as asked (`subnets`): 1 to 16 networks, none
 * overlapping another. */
int cluster_cidrs(json_t *subs, struct ipam_prefix *out, size_t *n, char *err, size_t errlen)
{
	char buf[64];
	json_t *v;
	size_t i;
	int ret;

	*n = 0;
	if (!json_is_array(subs) || !json_array_size(subs) || json_array_size(subs) > MAX_CLUSTER_CIDRS)
		return cluster_invalid(err, errlen, "subnets: give the cluster's CIDRs, 1 to %d strings", MAX_CLUSTER_CIDRS);
	json_array_foreach(subs, i, v) {
		if (!json_is_string(v))
			return cluster_invalid(err, errlen, "subnets: %zu is not a string", i);
		if ((ret = cluster_cidr_parse(&out[*n], json_string_value(v), err, errlen)))
			return ret;
		for (size_t j = 0; j < *n; ++j)
			if (cluster_prefix_overlap(&out[j], &out[*n]))
				return cluster_invalid(err, errlen, "CIDRs %s and %s overlap: give each network once",
						       ipam_prefix_str(&out[j], buf, sizeof(buf)), json_string_value(v));
		++*n;
	}
	return 0;
}

/* At the broker a registration is a cluster: its name is the cluster ID,
 * its subnets the cluster's CIDRs (given, not handed out), and its key and
 * endpoint those of its active gateway, which may come later. The CIDRs
 * must overlap no other cluster's: every registration rewrites one key
 * (/weft/clusters) and is conditional on it, so two racing registrations
 * (through two brokers on etcd) are checked one after the other. */
int cluster_broker_register(struct cluster *c, json_t *req, const char *cred_hash, int64_t now, json_t **out,
			    char *err, size_t errlen)
{
	const char *name = json_string_value(json_object_get(req, "name"));
	char node_key[128], pub_key[128], cred_key[128], pub[KEY_B64_LEN];
	struct cluster_node n = { 0 };
	json_t *fields = json_deep_copy(req);
	int ret;

	*err = '\0';
	snprintf(n.name, sizeof(n.name), "%s", name);
	json_object_del(fields, "subnets");
	if ((ret = cluster_node_fields(fields, &n, true, err, errlen)) ||
	    (ret = cluster_cidrs(json_object_get(req, "subnets"), n.subnets, &n.nsubnets, err, errlen)))
		goto out;
	n.flags |= NODE_HAS_LABELS;
	n.created = now;
	snprintf(node_key, sizeof(node_key), CLUSTER_NODES "%s", name);
	snprintf(cred_key, sizeof(cred_key), CLUSTER_PREFIX "credentials/%s", name);
	cluster_key_path(pub_key, sizeof(pub_key), &n);
	key_to_base64(pub, n.key);
	pthread_mutex_lock(&c->register_lock);
	ret = -ECANCELED;
	for (int attempt = 0; attempt < RETRIES && ret == -ECANCELED; ++attempt) {
		struct kv_cond conds[3];
		struct kv_op ops[4];
		size_t nc = 0, no = 0, count;
		struct cluster_node *others;
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
		/* Strict: a record refused could hide a CIDR this one overlaps. */
		if ((ret = cluster_node_list(c->kv, true, &others, &count, NULL))) {
			snprintf(err, errlen, "%s", kv_error());
			break;
		}
		for (size_t i = 0; i < count && !ret; ++i) {
			const struct cluster_node *other = &others[i];

			if (!strcmp(other->name, name)) {
				snprintf(err, errlen, "cluster \"%s\" is registered already: leave first, or pick another "
						      "cluster ID", name);
				ret = -EEXIST;
			}
			for (size_t k = 0; k < other->nsubnets && !ret; ++k)
				for (size_t j = 0; j < n.nsubnets && !ret; ++j)
					if (cluster_prefix_overlap(&n.subnets[j], &other->subnets[k])) {
						char buf[64], theirs[64];

						snprintf(err, errlen,
							 "cluster CIDR %s overlaps %s of cluster \"%s\": clusters joined "
							 "through a broker need CIDRs apart (traffic would go to the wrong "
							 "cluster); give this cluster other CIDRs",
							 ipam_prefix_str(&n.subnets[j], buf, sizeof(buf)),
							 ipam_prefix_str(&other->subnets[k], theirs, sizeof(theirs)), other->name);
						ret = -EEXIST;
					}
		}
		cluster_node_list_free(others, count);
		if (ret)
			break;
		if (!(text = cluster_node_text(&n))) {
			ret = -ENOMEM;
			break;
		}
		snprintf(stamp, sizeof(stamp), "%lld", (long long)now);
		conds[nc++] = (struct kv_cond){ CLUSTER_PREFIX "clusters", epoch_rev };
		conds[nc++] = (struct kv_cond){ node_key, 0 };
		ops[no++] = (struct kv_op){ KV_PUT, CLUSTER_PREFIX "clusters", stamp, strlen(stamp) };
		ops[no++] = (struct kv_op){ KV_PUT, node_key, text, strlen(text) };
		ops[no++] = (struct kv_op){ KV_PUT, cred_key, cred_hash, strlen(cred_hash) };
		if (n.flags & NODE_HAS_KEY) {
			conds[nc++] = (struct kv_cond){ pub_key, 0 };
			ops[no++] = (struct kv_op){ KV_PUT, pub_key, name, strlen(name) };
		}
		ret = kv_txn(c->kv, conds, nc, ops, no, NULL);
		free(text);
		if (ret == -ECANCELED && (n.flags & NODE_HAS_KEY)) {
			struct kv_item it;

			if (!kv_get(c->kv, pub_key, &it)) {
				snprintf(err, errlen, "public key %s belongs to cluster \"%s\"", pub, it.value);
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
	if (!ret && !(*out = cluster_node_json(&n)))
		ret = -ENOMEM;
out:
	json_decref(fields);
	cluster_node_free(&n);
	return ret;
}
