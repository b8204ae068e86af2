// SPDX-License-Identifier: MIT
/* Bodies of the manager's node and client requests (POST /v1/nodes, PATCH
 * /v1/nodes/NAME, POST /v1/clients) through the registry's checks, on an
 * SQLite store made in the working directory. A request that passes is
 * undone, so the store stays small; one that fails must leave it as it
 * was. */
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

static char db[64];

/* The store and SQLite's files beside it go with the process. */
static void remove_db(void)
{
	char p[80];

	kv_close(kv);
	kv = NULL;
	for (int i = 0; i < 3; ++i) {
		snprintf(p, sizeof(p), "%s%s", db, (const char *[]){ "", "-shm", "-wal" }[i]);
		unlink(p);
	}
}

static void setup(void)
{
	char path[80], err[512];
	json_t *base, *rec = NULL;

	crypto_init();
	/* In /tmp, not the directory the fuzzer runs in (a checkout). */
	snprintf(db, sizeof(db), "/tmp/weft-fuzz-registry-%d.db", (int)getpid());
	snprintf(path, sizeof(path), "sqlite:%s", db);
	unlink(db);
	atexit(remove_db);
	if (!(kv = kv_open(path, err, sizeof(err))) ||
	    cluster_init(&cl, kv, "10.244.0.0/16", 24, "fd00:244::/56", 64, 0, err, sizeof(err))) {
		fprintf(stderr, "fuzz_registry: %s\n", err);
		abort();
	}
	base = json_pack("{s:s, s:s, s:[s]}", "name", "base", "publicKey", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
			 "endpoints", "192.0.2.1:51820");
	if (cluster_node_register(&cl, base, "hash", 1, &rec, err, sizeof(err)))
		abort();
	json_decref(base);
	json_decref(rec);
}

/* "base" as it was before an update went through. */
static void put_back(json_t *before)
{
	json_t *undo = json_pack("{s:O, s:O}", "publicKey", json_object_get(before, "publicKey"), "endpoints",
				 json_object_get(before, "endpoints")),
	       *back = NULL;
	char err[512];

	json_object_set(undo, "labels", json_object_get(before, "labels"));
	if (cluster_node_update(&cl, "base", undo, true, &back, err, sizeof(err)))
		abort();
	json_decref(undo);
	json_decref(back);
}

/* The same node: its record but for "credentialRotation", which a
 * registration answered again sets. */
static bool same_node(json_t *a, json_t *b)
{
	json_t *x = json_deep_copy(a), *y = json_deep_copy(b);
	bool same;

	json_object_del(x, "credentialRotation");
	json_object_del(y, "credentialRotation");
	same = json_equal(x, y) && json_is_object(json_object_get(b, "credentialRotation"));
	json_decref(x);
	json_decref(y);
	return same;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];
	json_t *req, *rec = NULL, *before = NULL, *after = NULL;
	int64_t rev0 = 0, rev1 = 0;

	if (!kv)
		setup();
	req = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(req)) {
		json_decref(req);
		return 0;
	}
	kv_revision(kv, &rev0);
	if (!cluster_node_register(&cl, req, "hash", 2, &rec, err, sizeof(err))) {
		const char *name = json_string_value(json_object_get(rec, "name"));
		json_t *again = NULL;
		int ret;

		/* Sent again, its answer lost: the same node (the record then
		 * says its credential changed) if the request has a
		 * registration secret, else refused without a write. */
		kv_revision(kv, &rev0);
		ret = cluster_node_register(&cl, req, "hash2", 3, &again, err, sizeof(err));
		kv_revision(kv, &rev1);
		if (json_object_get(req, "registrationSecret") ? ret != CLUSTER_REGISTERED_AGAIN || !same_node(rec, again)
							       : ret != -EEXIST || rev1 != rev0)
			abort();
		json_decref(again);
		if (!name || cluster_node_remove(&cl, name, 2, err, sizeof(err)))
			abort();
	} else {
		kv_revision(kv, &rev1);
		if (rev1 != rev0) /* a refusal wrote something */
			abort();
	}
	json_decref(rec);
	rec = NULL;
	cluster_node_get(&cl, "base", &before);
	kv_revision(kv, &rev0);
	if (!cluster_node_update(&cl, "base", req, true, &rec, err, sizeof(err))) {
		put_back(before);
	} else {
		kv_revision(kv, &rev1);
		cluster_node_get(&cl, "base", &after);
		if (rev1 != rev0 || !json_equal(before, after))
			abort();
	}
	json_decref(rec);
	rec = NULL;
	/* The same body from the node itself: whatever it says, the gateway
	 * label stays as the admin left it (absent on "base"). */
	if (!cluster_node_update(&cl, "base", req, false, &rec, err, sizeof(err)) &&
	    json_object_get(json_object_get(rec, "labels"), CLUSTER_GATEWAY_LABEL))
		abort();
	if (rec)
		put_back(before);
	json_decref(rec);
	rec = NULL;
	/* As a client: its addresses are in no node's subnet, its name is
	 * its own; a refusal writes nothing. */
	kv_revision(kv, &rev0);
	if (!cluster_client_add(&cl, req, 4, &rec, err, sizeof(err))) {
		const char *name = json_string_value(json_object_get(rec, "name"));
		struct ipam_prefix sub, addr;
		json_t *again = NULL;

		if (ipam_prefix_parse(&sub, json_string_value(json_array_get(json_object_get(before, "subnets"), 0))) ||
		    ipam_prefix_parse(&addr, json_string_value(json_array_get(json_object_get(rec, "addresses"), 0))) ||
		    cluster_prefix_overlap(&sub, &addr))
			abort();
		kv_revision(kv, &rev0);
		if (cluster_client_add(&cl, req, 5, &again, err, sizeof(err)) != -EEXIST)
			abort();
		kv_revision(kv, &rev1);
		if (rev1 != rev0 || !name || cluster_client_remove(&cl, name, err, sizeof(err)))
			abort();
		json_decref(again);
	} else {
		kv_revision(kv, &rev1);
		if (rev1 != rev0)
			abort();
	}
	json_decref(rec);
	json_decref(before);
	json_decref(after);
	json_decref(req);
	return 0;
}
