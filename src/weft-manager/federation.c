// SPDX-License-Identifier: MIT
/*
 * The cluster at the broker (docs/clusters.md). `weft join` hands the
 * manager a broker-info file; the manager registers the cluster at the
 * broker with the cluster's CIDRs and keeps what the broker gave back
 * (its URL and CA, the cluster's credential) in the store, at
 * /weft/federation, where any manager of the cluster finds it. Only the
 * active gateway is ever told the credential, with its lease: it speaks
 * for the cluster at the broker from then on.
 */
#include "manager.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "api/client.h"
#include "crypto/crypto.h"

enum {
	BROKER_TIMEOUT = 15,
};

static json_t *stored(struct manager *m, int64_t *rev)
{
	struct kv_item it;
	json_t *rec;

	if (kv_get(m->kv, CLUSTER_FEDERATION, &it))
		return NULL;
	rec = json_loads(it.value, 0, NULL);
	if (rev)
		*rev = it.mod_rev;
	sodium_memzero(it.value, it.len);
	kv_item_free(&it);
	return rec;
}

/* The record without its secrets, for anyone who may read. */
static json_t *public_view(json_t *rec)
{
	return json_pack("{s:O?, s:O?, s:O?, s:O?, s:O?}", "clusterID", json_object_get(rec, "clusterID"), "broker",
			 json_object_get(rec, "broker"), "cableDriver", json_object_get(rec, "cableDriver"), "cidrs",
			 json_object_get(rec, "cidrs"), "joined", json_object_get(rec, "joined"));
}

static unsigned refuse(json_t **body, unsigned status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static unsigned refuse(json_t **body, unsigned status, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	*body = json_pack("{s:s}", "error", msg);
	return status;
}

unsigned federation_join(struct manager *m, json_t *req, json_t **body)
{
	struct cluster_join j;
	json_t *info, *cidrs, *reg, *reply = NULL, *rec, *have;
	const char *id, *driver;
	struct api_client *broker;
	char err[700], *dump;
	unsigned status;
	int ret;

	*body = NULL;
	if (m->broker)
		return refuse(body, 400, "this is a broker: join through the cluster's own manager");
	if (cluster_join_parse(&m->cluster, req, &j, err, sizeof(err)))
		return refuse(body, 400, "%s", err);
	id = j.id;
	driver = j.driver;
	info = j.info;
	cidrs = j.cidrs;
	if ((have = stored(m, NULL))) {
		status = refuse(body, 409, "this cluster has joined the broker at %s as \"%s\" already: weft leave first",
				json_string_value(json_object_get(have, "broker")) ?: "?",
				json_string_value(json_object_get(have, "clusterID")) ?: "?");
		json_decref(have);
		cluster_join_free(&j);
		return status;
	}
	broker = api_client_new(json_string_value(json_object_get(info, "broker")),
				json_string_value(json_object_get(info, "ca")), err, sizeof(err));
	if (!broker) {
		cluster_join_free(&j);
		return refuse(body, 400, "brokerInfo: %s", err);
	}
	api_client_token(broker, json_string_value(json_object_get(info, "token")));
	reg = json_pack("{s:s, s:O, s:{s:s}}", "name", id, "subnets", cidrs, "labels", "cableDriver", driver);
	ret = api_call(broker, "POST", "/v1/nodes", reg, BROKER_TIMEOUT, &reply, err, sizeof(err));
	json_decref(reg);
	if (ret != 201 || !json_is_string(json_object_get(reply, "credential"))) {
		if (ret < 0)
			status = refuse(body, 502, "cannot reach the broker: %s", err);
		else
			status = refuse(body, ret == 409 || ret == 400 ? ret : 502, "the broker at %s refused: %s",
					json_string_value(json_object_get(info, "broker")), err);
		goto out;
	}
	rec = json_pack("{s:s, s:O, s:O, s:O, s:s, s:O, s:I}", "clusterID", id, "broker", json_object_get(info, "broker"),
			"ca", json_object_get(info, "ca"), "credential", json_object_get(reply, "credential"),
			"cableDriver", driver, "cidrs", json_object_get(json_object_get(reply, "node"), "subnets") ?: cidrs,
			"joined", (json_int_t)time(NULL));
	dump = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
	ret = dump ? kv_create(m->kv, CLUSTER_FEDERATION, dump, strlen(dump), NULL) : -ENOMEM;
	if (dump) {
		sodium_memzero(dump, strlen(dump));
		free(dump);
	}
	if (ret) {
		/* Another manager joined meanwhile, or the store failed: take
		 * back the registration, which nothing here will use. */
		json_t *gone = NULL;
		char path[128];

		api_client_token(broker, json_string_value(json_object_get(reply, "credential")));
		snprintf(path, sizeof(path), "/v1/nodes/%s", id);
		api_call(broker, "DELETE", path, NULL, BROKER_TIMEOUT, &gone, err, sizeof(err));
		json_decref(gone);
		status = ret == -ECANCELED ? refuse(body, 409, "this cluster joined a broker meanwhile (another manager)")
					   : refuse(body, 503, "the store: %s", kv_error());
	} else {
		manager_log(m, "joined the broker at %s as cluster %s", json_string_value(json_object_get(rec, "broker")),
			    id);
		*body = public_view(rec);
		status = 201;
	}
	json_decref(rec);
out:
	api_client_free(broker);
	json_decref(reply);
	cluster_join_free(&j);
	return status;
}

unsigned federation_get(struct manager *m, bool with_secret, json_t **body)
{
	json_t *rec = stored(m, NULL), *holder = NULL, *clusters;
	struct cluster_lease lease;
	int64_t now = time(NULL);

	if (!rec)
		return refuse(body, 404, "this cluster has not joined a broker: weft join BROKER-INFO --cluster-id ID");
	*body = with_secret ? json_incref(rec) : public_view(rec);
	if (!cluster_gateway_get(&m->cluster, &lease) && lease.until >= now) { /* held through that second */
		json_object_set_new(*body, "gateway", cluster_lease_json(&lease));
		cluster_node_get(&m->cluster, lease.node, &holder);
	} else {
		json_object_set_new(*body, "gateway", json_null());
	}
	clusters = json_object_get(json_object_get(holder, "gateway"), "clusters");
	json_object_set_new(*body, "clusters", clusters ? json_incref(clusters) : json_object());
	json_decref(holder);
	cluster_lease_free(&lease);
	json_decref(rec);
	return 200;
}

unsigned federation_leave(struct manager *m, json_t **body)
{
	json_t *rec, *reply = NULL;
	struct api_client *broker;
	char err[700], path[128];
	int64_t rev = 0;
	int ret;

	*body = NULL;
	if (!(rec = stored(m, &rev)))
		return refuse(body, 404, "this cluster has not joined a broker");
	broker = api_client_new(json_string_value(json_object_get(rec, "broker")) ?: "",
				json_string_value(json_object_get(rec, "ca")), err, sizeof(err));
	if (!broker) {
		json_decref(rec);
		return refuse(body, 500, "the stored broker: %s", err);
	}
	api_client_token(broker, json_string_value(json_object_get(rec, "credential")));
	snprintf(path, sizeof(path), "/v1/nodes/%s", json_string_value(json_object_get(rec, "clusterID")) ?: "");
	ret = api_call(broker, "DELETE", path, NULL, BROKER_TIMEOUT, &reply, err, sizeof(err));
	api_client_free(broker);
	json_decref(reply);
	/* 401/404: the broker forgot us already (removed by its admin). */
	if (ret != 200 && ret != 401 && ret != 404) {
		json_decref(rec);
		return ret < 0 ? refuse(body, 502, "cannot reach the broker, so the cluster stays joined: %s; try again", err)
			       : refuse(body, 502, "the broker refused, so the cluster stays joined: %s", err);
	}
	{
		struct kv_cond cond = { CLUSTER_FEDERATION, rev };
		struct kv_op op = { KV_DELETE, CLUSTER_FEDERATION, NULL, 0 };

		if ((ret = kv_txn(m->kv, &cond, 1, &op, 1, NULL)) && ret != -ECANCELED) {
			json_decref(rec);
			return refuse(body, 503, "the store: %s", kv_error());
		}
	}
	manager_log(m, "left the broker at %s", json_string_value(json_object_get(rec, "broker")) ?: "?");
	*body = public_view(rec);
	json_decref(rec);
	return 200;
}

unsigned federation_lease_claim(struct manager *m, const char *node, json_t *req, json_t **body)
{
	char err[700];
	struct cluster_lease lease;
	json_t *fed;
	int64_t now = time(NULL);
	int ret;

	*body = NULL;
	if (m->broker)
		return refuse(body, 400, "this is a broker: a cluster's gateway takes its lease from its own manager");
	ret = cluster_gateway_claim(&m->cluster, node, req, now, (int)m->gateway_lease, &lease, err, sizeof(err));
	if (ret == -EBUSY) {
		*body = json_pack("{s:s, s:s, s:I}", "error", err, "holder", lease.node, "until", (json_int_t)lease.until);
		cluster_lease_free(&lease);
		return 409;
	}
	if (ret) /* the lease is cleared: nothing to free */
		return refuse(body, ret == -EPERM ? 403 : ret == -ENOENT ? 404 : ret == -EINVAL ? 400 : 503, "%s", err);
	if (lease.since == now && !json_object_size(json_object_get(req, "clusters")))
		manager_log(m, "node %s is the gateway", node);
	fed = stored(m, NULL);
	*body = json_pack("{s:b, s:I, s:I, s:i, s:o}", "active", 1, "since", (json_int_t)lease.since, "until",
			  (json_int_t)lease.until, "ttl", (int)m->gateway_lease, "federation", fed ?: json_null());
	cluster_lease_free(&lease);
	return 200;
}

unsigned federation_lease_release(struct manager *m, const char *node, json_t **body)
{
	char err[700];

	*body = NULL;
	if (cluster_gateway_release(&m->cluster, node, err, sizeof(err)))
		return refuse(body, 503, "%s", err);
	manager_log(m, "node %s handed the gateway lease back", node);
	*body = json_pack("{s:s}", "released", node);
	return 200;
}
