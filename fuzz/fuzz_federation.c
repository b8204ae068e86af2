// SPDX-License-Identifier: MIT
/* What a cluster joins with and what its gateway reports (docs/clusters.md):
 * the input as a broker-info's text (broker_info_decode), and as JSON
 * through the join request's checks (POST /v1/federation) and the gateway
 * lease's report (PUT /v1/nodes/NAME/gateway), on an SQLite store made in
 * the working directory. What passes must hold what the checks promise; a
 * refused report must leave the store as it was. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster/cluster.h"
#include "crypto/crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct kv *kv;
static struct cluster cl;

static void setup(void)
{
	char path[64], err[512];
	json_t *gw, *rec = NULL;

	crypto_init();
	snprintf(path, sizeof(path), "sqlite:fuzz-federation-%d.db", (int)getpid());
	unlink(path + 7);
	if (!(kv = kv_open(path, err, sizeof(err))) ||
	    cluster_init(&cl, kv, "10.244.0.0/16", 24, "fd00:244::/56", 64, 0, err, sizeof(err))) {
		fprintf(stderr, "fuzz_federation: %s\n", err);
		abort();
	}
	gw = json_pack("{s:s, s:s, s:[s], s:{s:s}}", "name", "gw", "publicKey",
		       "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "endpoints", "192.0.2.1:51820", "labels",
		       CLUSTER_GATEWAY_LABEL, "true");
	if (cluster_node_register(&cl, gw, "hash", 1, &rec, err, sizeof(err)))
		abort();
	json_decref(gw);
	json_decref(rec);
}

static void broker_info(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), *again, err[512];
	json_t *info = NULL, *back = NULL;
	const char *broker, *ca, *token;

	memcpy(text, data, size);
	text[size] = 0;
	if (broker_info_decode(text, &info, err, sizeof(err))) {
		if (info || !*err)
			abort();
		free(text);
		return;
	}
	broker = json_string_value(json_object_get(info, "broker"));
	ca = json_string_value(json_object_get(info, "ca"));
	token = json_string_value(json_object_get(info, "token"));
	if (!broker || strncmp(broker, "https://", 8) || !ca || !token || !*token)
		abort();
	/* What is accepted encodes back to the same fields. */
	if (!(again = broker_info_encode(broker, ca, token)) || broker_info_decode(again, &back, err, sizeof(err)) ||
	    !json_equal(json_object_get(info, "broker"), json_object_get(back, "broker")) ||
	    !json_equal(json_object_get(info, "ca"), json_object_get(back, "ca")) ||
	    !json_equal(json_object_get(info, "token"), json_object_get(back, "token")))
		abort();
	crypto_free_string(again);
	broker_info_free(back);
	broker_info_free(info);
	free(text);
}

static void join(json_t *req)
{
	struct cluster_join j;
	struct ipam_prefix p;
	char err[700];
	json_t *v;
	size_t i;

	if (cluster_join_parse(&cl, req, &j, err, sizeof(err))) {
		if (j.info || j.cidrs || !*err)
			abort();
		return;
	}
	if (!j.info || !cluster_name_valid(j.id) || strcmp(j.driver, "wireguard") || !json_array_size(j.cidrs))
		abort();
	json_array_foreach(j.cidrs, i, v)
		if (cluster_cidr_parse(&p, json_string_value(v), err, sizeof(err)))
			abort();
	cluster_join_free(&j);
}

static void report(json_t *req)
{
	char err[700];
	json_t *rec = NULL, *before = NULL;
	struct cluster_lease lease;
	int64_t rev0 = 0, rev1 = 0;
	int ret;

	kv_revision(kv, &rev0);
	cluster_node_get(&cl, "gw", &before);
	ret = cluster_gateway_claim(&cl, "gw", req, 100, 4, &lease, err, sizeof(err));
	cluster_node_get(&cl, "gw", &rec);
	if (ret) {
		kv_revision(kv, &rev1);
		if (ret != -EINVAL || lease.node[0] || rev1 != rev0 || !json_equal(before, rec))
			abort();
	} else {
		json_t *clusters = json_object_get(req, "clusters");
		struct cluster_lease stored;

		if (strcmp(lease.node, "gw") || lease.until != 104)
			abort();
		/* What was written reads back as what was answered. */
		if (cluster_gateway_get(&cl, &stored) || strcmp(stored.node, "gw") || stored.until != 104 ||
		    !json_equal(stored.connections, lease.connections))
			abort();
		cluster_lease_free(&stored);
		/* The clusters reported are what every node routes by. */
		if (clusters && !json_equal(clusters, json_object_get(json_object_get(rec, "gateway"), "clusters")))
			abort();
	}
	cluster_lease_free(&lease);
	json_decref(rec);
	json_decref(before);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *req;

	if (!kv)
		setup();
	broker_info(data, size);
	req = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	if (req) {
		join(req);
		if (json_is_object(req))
			report(req);
	}
	json_decref(req);
	return 0;
}
