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
	GATEWAY_TTL = 4,    /* seconds a lease lasts unless renewed (every second) */
	BROKER_TIMEOUT = 15,
	INFO_MAX = 16 * 1024,
};

/* broker-info: base64 of {"broker": URL, "ca": PEM, "token": T}. */
static json_t *broker_info(const char *text, char *err, size_t errlen)
{
	size_t len = strlen(text), n = 0;
	unsigned char *raw;
	json_t *info = NULL;
	const char *url, *ca, *token;

	if (len > INFO_MAX) {
		snprintf(err, errlen, "brokerInfo: longer than %d characters; give the text of broker-info.subm", INFO_MAX);
		return NULL;
	}
	raw = malloc(len + 1);
	if (!raw || sodium_base642bin(raw, len + 1, text, len, " \t\r\n", &n, NULL, sodium_base64_VARIANT_ORIGINAL)) {
		snprintf(err, errlen, "brokerInfo: not base64; give the text of broker-info.subm as "
				      "\"weft broker-info create\" wrote it");
		free(raw);
		return NULL;
	}
	info = json_loadb((const char *)raw, n, 0, NULL);
	sodium_memzero(raw, len + 1);
	free(raw);
	url = json_string_value(json_object_get(info, "broker"));
	ca = json_string_value(json_object_get(info, "ca"));
	token = json_string_value(json_object_get(info, "token"));
	if (!json_is_object(info) || !url || strncmp(url, "https://", 8) || !ca ||
	    !strstr(ca, "-----BEGIN CERTIFICATE-----") || !token || !*token) {
		snprintf(err, errlen, "brokerInfo: not a broker-info (it needs \"broker\" https://..., \"ca\" a PEM "
				      "certificate, \"token\"); make one with \"weft broker-info create\"");
		json_decref(info);
		return NULL;
	}
	return info;
}

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

/* The CIDRs the cluster joins with: those asked, else its cluster CIDRs. */
static json_t *join_cidrs(struct manager *m, json_t *asked, char *err, size_t errlen)
{
	json_t *out = json_array(), *v;
	char buf[64];
	size_t i;

	if (asked) {
		if (!json_is_array(asked) || !json_array_size(asked) || json_array_size(asked) > 16) {
			snprintf(err, errlen, "cidrs: give 1 to 16 CIDRs, or none for the cluster CIDRs");
			json_decref(out);
			return NULL;
		}
		json_array_foreach(asked, i, v) {
			struct ipam_prefix p;

			if (!json_is_string(v) || cluster_cidr_parse(&p, json_string_value(v), err, errlen)) {
				if (!json_is_string(v))
					snprintf(err, errlen, "cidrs: entry %zu is not a string", i);
				json_decref(out);
				return NULL;
			}
			json_array_append_new(out, json_string(ipam_prefix_str(&p, buf, sizeof(buf))));
		}
		return out;
	}
	for (int f = 0; f < 2; ++f)
		if (m->cluster.pool[f].count)
			json_array_append_new(out, json_string(ipam_prefix_str(&m->cluster.pool[f].cidr, buf,
									       sizeof(buf))));
	return out;
}

unsigned federation_join(struct manager *m, json_t *req, json_t **body)
{
	const char *text = json_string_value(json_object_get(req, "brokerInfo"));
	const char *id = json_string_value(json_object_get(req, "clusterID"));
	const char *driver = json_string_value(json_object_get(req, "cableDriver")) ?: "wireguard";
	json_t *info, *cidrs, *reg, *reply = NULL, *rec, *have, *v;
	struct api_client *broker;
	const char *key;
	char err[700], *dump;
	unsigned status;
	int ret;

	*body = NULL;
	if (m->broker)
		return refuse(body, 400, "this is a broker: join through the cluster's own manager");
	json_object_foreach(req, key, v)
		if (strcmp(key, "brokerInfo") && strcmp(key, "clusterID") && strcmp(key, "cableDriver") &&
		    strcmp(key, "cidrs"))
			return refuse(body, 400, "unknown field \"%s\": give brokerInfo, clusterID, cableDriver, cidrs",
				      key);
	if (!text)
		return refuse(body, 400, "brokerInfo: missing; give the text of broker-info.subm");
	if (!id || !cluster_name_valid(id))
		return refuse(body, 400, "clusterID \"%s\": give a DNS label (1 to 63 of a-z, 0-9 and '-')",
			      id ? id : "(missing)");
	if (strcmp(driver, "wireguard"))
		return refuse(body, 400, "cableDriver \"%s\": weft has the wireguard cable driver only", driver);
	if ((have = stored(m, NULL))) {
		status = refuse(body, 409, "this cluster has joined the broker at %s as \"%s\" already: weft leave first",
				json_string_value(json_object_get(have, "broker")) ?: "?",
				json_string_value(json_object_get(have, "clusterID")) ?: "?");
		json_decref(have);
		return status;
	}
	if (!(cidrs = join_cidrs(m, json_object_get(req, "cidrs"), err, sizeof(err))))
		return refuse(body, 400, "%s", err);
	if (!(info = broker_info(text, err, sizeof(err)))) {
		json_decref(cidrs);
		return refuse(body, 400, "%s", err);
	}
	broker = api_client_new(json_string_value(json_object_get(info, "broker")),
				json_string_value(json_object_get(info, "ca")), err, sizeof(err));
	if (!broker) {
		json_decref(info);
		json_decref(cidrs);
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
	json_decref(info);
	json_decref(cidrs);
	return status;
}

unsigned federation_get(struct manager *m, bool with_secret, json_t **body)
{
	json_t *rec = stored(m, NULL), *lease = NULL, *holder = NULL;
	int64_t now = time(NULL);

	if (!rec)
		return refuse(body, 404, "this cluster has not joined a broker: weft join BROKER-INFO --cluster-id ID");
	*body = with_secret ? json_incref(rec) : public_view(rec);
	if (!cluster_gateway_get(&m->cluster, &lease) &&
	    json_integer_value(json_object_get(lease, "until")) > now) {
		json_object_set(*body, "gateway", lease);
		cluster_node_get(&m->cluster, json_string_value(json_object_get(lease, "node")) ?: "", &holder);
	} else {
		json_object_set_new(*body, "gateway", json_null());
	}
	json_object_set(*body, "clusters",
			json_object_get(json_object_get(holder, "gateway"), "clusters") ?: json_object());
	json_decref(holder);
	json_decref(lease);
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

unsigned gateway_claim(struct manager *m, const char *node, json_t *req, json_t **body)
{
	char err[700];
	json_t *lease = NULL, *fed;
	int64_t now = time(NULL);
	int ret;

	*body = NULL;
	if (m->broker)
		return refuse(body, 400, "this is a broker: a cluster's gateway takes its lease from its own manager");
	ret = cluster_gateway_claim(&m->cluster, node, req, now, GATEWAY_TTL, &lease, err, sizeof(err));
	if (ret == -EBUSY) {
		*body = json_pack("{s:s, s:O?, s:O?}", "error", err, "holder", json_object_get(lease, "node"), "until",
				  json_object_get(lease, "until"));
		json_decref(lease);
		return 409;
	}
	if (ret)
		return refuse(body, ret == -EPERM ? 403 : ret == -ENOENT ? 404 : ret == -EINVAL ? 400 : 503, "%s", err);
	if (json_integer_value(json_object_get(lease, "since")) == now &&
	    !json_object_size(json_object_get(req, "clusters")))
		manager_log(m, "node %s is the gateway", node);
	fed = stored(m, NULL);
	*body = json_pack("{s:b, s:O, s:O, s:i, s:o}", "active", 1, "since", json_object_get(lease, "since"), "until",
			  json_object_get(lease, "until"), "ttl", GATEWAY_TTL, "federation", fed ?: json_null());
	json_decref(lease);
	return 200;
}

unsigned gateway_release(struct manager *m, const char *node, json_t **body)
{
	char err[700];

	*body = NULL;
	if (cluster_gateway_release(&m->cluster, node, err, sizeof(err)))
		return refuse(body, 503, "%s", err);
	manager_log(m, "node %s handed the gateway lease back", node);
	*body = json_pack("{s:s}", "released", node);
	return 200;
}
