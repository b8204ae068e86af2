// SPDX-License-Identifier: MIT
/*
 * The cluster's IPAM and registry (lib/cluster) on a store given by URL,
 * the same checks for SQLite and etcd. It owns the store's /weft/ keys:
 * they are deleted first. With a second URL (another etcd endpoint order,
 * standing for a second manager), the registration race runs through two
 * store connections.
 *
 *   clustersuite sqlite:/tmp/x.db
 *   clustersuite etcd:http://127.0.0.1:2379,... etcd:http://127.0.0.1:22379,...
 */
#include "cluster/cluster.h"
#include "suite.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "util/key.h"


#define CHECK(name, cond) SUITE_CHECK(name, cond, err)

static char err[512];

static void wipe(struct kv *kv)
{
	suite_wipe(kv, CLUSTER_PREFIX);
}

static char *pubkey(char buf[KEY_B64_LEN])
{
	uint8_t priv[32], pub[32];

	x25519_generate_private(priv);
	x25519_public(pub, priv);
	key_to_base64(buf, pub);
	return buf;
}

static json_t *request(const char *name, const char *key, const char *endpoint)
{
	return json_pack("{s:s, s:s, s:[s], s:{s:s}}", "name", name, "publicKey", key, "endpoints", endpoint, "labels",
			 "zone", "a");
}

static int reg(struct cluster *c, const char *name, const char *key, const char *endpoint, int64_t now, json_t **out)
{
	json_t *req = request(name, key, endpoint);
	int ret = cluster_node_register(c, req, "hash", now, out, err, sizeof(err));

	json_decref(req);
	return ret;
}

static const char *subnet(json_t *rec, size_t i)
{
	return json_string_value(json_array_get(json_object_get(rec, "subnets"), i));
}

static int64_t revision(struct kv *kv)
{
	int64_t rev = -1;

	kv_revision(kv, &rev);
	return rev;
}

static void registry(struct kv *kv)
{
	struct cluster c, c2;
	char k1[KEY_B64_LEN], k2[KEY_B64_LEN], k3[KEY_B64_LEN], k4[KEY_B64_LEN];
	json_t *n1 = NULL, *n2 = NULL, *n3 = NULL, *n4 = NULL, *got = NULL, *req;
	int64_t now = time(NULL), rev;
	int ret;

	CHECK("a cluster of 10.244.0.0/16 in /24s and fd00:244::/56 in /64s",
	      !cluster_init(&c, kv, "10.244.0.0/16", 24, "fd00:244::/56", 64, 2, err, sizeof(err)));
	CHECK("  a second manager with the same settings joins it",
	      !cluster_init(&c2, kv, "10.244.0.0/16", 24, "fd00:244::/56", 64, 2, err, sizeof(err)));
	ret = cluster_init(&c2, kv, "10.245.0.0/16", 24, "fd00:244::/56", 64, 2, err, sizeof(err));
	CHECK("  one with other CIDRs is refused, both named", ret == -EEXIST && strstr(err, "10.244.0.0/16") &&
								      strstr(err, "10.245.0.0/16"));
	CHECK("  node subnets larger than the CIDR are refused",
	      cluster_init(&c2, kv, "10.244.0.0/16", 8, NULL, 0, 2, err, sizeof(err)) == -EINVAL && strstr(err, "/8"));

	CHECK("register a node", !reg(&c, "node-1", pubkey(k1), "192.0.2.1:51820", now, &n1));
	CHECK("  its subnets: the first of each family", n1 && !strcmp(subnet(n1, 0), "10.244.0.0/24") &&
							      !strcmp(subnet(n1, 1), "fd00:244::/64"));
	CHECK("  its tunnel addresses: their first hosts",
	      n1 && !strcmp(json_string_value(json_array_get(json_object_get(n1, "tunnelAddresses"), 0)), "10.244.0.1/32"));
	CHECK("another", !reg(&c, "node-2", pubkey(k2), "[2001:db8::2]:51820", now, &n2));
	CHECK("  gets the next subnets", n2 && !strcmp(subnet(n2, 0), "10.244.1.0/24") &&
						 !strcmp(subnet(n2, 1), "fd00:244:0:1::/64"));

	rev = revision(kv);
	ret = reg(&c, "node-1", pubkey(k3), "192.0.2.3:51820", now, &got);
	CHECK("the same name again: EEXIST, named", ret == -EEXIST && strstr(err, "node-1"));
	ret = reg(&c, "node-3", k1, "192.0.2.3:51820", now, &got);
	CHECK("the same key again: EEXIST, naming its node", ret == -EEXIST && strstr(err, "node-1"));
	ret = reg(&c, "Node_3", k3, "192.0.2.3:51820", now, &got);
	CHECK("a bad name: EINVAL, quoted", ret == -EINVAL && strstr(err, "Node_3"));
	ret = reg(&c, "node-3", "not-a-key", "192.0.2.3:51820", now, &got);
	CHECK("a bad key: EINVAL, quoted", ret == -EINVAL && strstr(err, "not-a-key"));
	ret = reg(&c, "node-3", k3, "192.0.2.3", now, &got);
	CHECK("an endpoint without a port: EINVAL, quoted", ret == -EINVAL && strstr(err, "192.0.2.3"));
	req = json_pack("{s:s, s:s, s:[s], s:b}", "name", "node-3", "publicKey", k3, "endpoints", "192.0.2.3:1", "admin", 1);
	ret = cluster_node_register(&c, req, "hash", now, &got, err, sizeof(err));
	json_decref(req);
	CHECK("an unknown field: EINVAL, named", ret == -EINVAL && strstr(err, "admin"));
	CHECK("  and none of these stored anything", revision(kv) == rev);

	req = json_pack("{s:[s,s]}", "endpoints", "192.0.2.11:51820", "192.0.2.12:51820");
	ret = cluster_node_update(&c, "node-1", req, false, &got, err, sizeof(err));
	json_decref(req);
	CHECK("update a node's endpoints", !ret && json_array_size(json_object_get(got, "endpoints")) == 2 &&
						   !strcmp(subnet(got, 0), "10.244.0.0/24"));
	json_decref(got);
	req = json_pack("{s:s}", "publicKey", k2);
	rev = revision(kv);
	ret = cluster_node_update(&c, "node-1", req, false, &got, err, sizeof(err));
	json_decref(req);
	CHECK("  to another node's key: EEXIST, nothing changed", ret == -EEXIST && revision(kv) == rev);
	req = json_pack("{s:s}", "name", "node-9");
	ret = cluster_node_update(&c, "node-1", req, false, &got, err, sizeof(err));
	json_decref(req);
	CHECK("  its name: refused", ret == -EINVAL && strstr(err, "node-9"));
	req = json_pack("{s:s}", "publicKey", pubkey(k4));
	ret = cluster_node_update(&c, "node-1", req, false, &got, err, sizeof(err));
	json_decref(req);
	CHECK("  a new key", !ret);
	json_decref(got);
	/* The gateway label is an admin's to grant (issue 14). */
	req = json_pack("{s:{s:s}}", "labels", CLUSTER_GATEWAY_LABEL, "true");
	rev = revision(kv);
	ret = cluster_node_update(&c, "node-1", req, false, &got, err, sizeof(err));
	CHECK("a node labelling itself a gateway: EPERM, saying who may, nothing stored",
	      ret == -EPERM && strstr(err, "weft node gateway node-1 --allow") && revision(kv) == rev);
	ret = cluster_gateway_grant(&c, "node-1", true, &got, err, sizeof(err));
	CHECK("  an admin allows it", !ret && !strcmp(json_string_value(json_object_get(json_object_get(got, "labels"),
										       CLUSTER_GATEWAY_LABEL)) ?: "",
							   "true"));
	json_decref(got);
	ret = cluster_node_update(&c, "node-1", req, false, &got, err, sizeof(err));
	CHECK("  the node sending the label as granted: allowed", !ret);
	json_decref(got);
	json_decref(req);
	req = json_pack("{s:{s:s}}", "labels", "zone", "a");
	ret = cluster_node_update(&c, "node-1", req, false, &got, err, sizeof(err));
	json_decref(req);
	CHECK("  labels sent without it keep it", !ret && json_object_size(json_object_get(got, "labels")) == 2);
	json_decref(got);
	req = json_pack("{s:{s:s}}", "labels", CLUSTER_GATEWAY_LABEL, "false");
	ret = cluster_node_update(&c, "node-1", req, false, &got, err, sizeof(err));
	json_decref(req);
	CHECK("  the node cannot drop it either", ret == -EPERM);
	ret = cluster_gateway_grant(&c, "node-1", false, &got, err, sizeof(err));
	CHECK("  an admin takes it back", !ret && !json_object_get(json_object_get(got, "labels"), CLUSTER_GATEWAY_LABEL) &&
					      json_object_get(json_object_get(got, "labels"), "zone"));
	json_decref(got);
	CHECK("  of a node that is not there: ENOENT", cluster_gateway_grant(&c, "node-9", true, &got, err, sizeof(err)) == -ENOENT);
	CHECK("  frees the old one for others", !reg(&c, "node-3", k1, "192.0.2.3:51820", now, &n3));

	CHECK("remove a node", !cluster_node_remove(&c, "node-1", now, err, sizeof(err)));
	CHECK("  it is gone", cluster_node_get(&c, "node-1", &got) == -ENOENT);
	CHECK("  removing it again: ENOENT", cluster_node_remove(&c, "node-1", now, err, sizeof(err)) == -ENOENT);
	CHECK("a node right after does not get its subnet (it rests)",
	      !reg(&c, "node-4", k4, "192.0.2.4:51820", now, &n4) && strcmp(subnet(n4, 0), "10.244.0.0/24"));
	json_decref(n4);
	n4 = NULL;
	cluster_node_remove(&c, "node-4", now, err, sizeof(err));
	CHECK("one after the rest gets it back",
	      !reg(&c, "node-4", k4, "192.0.2.4:51820", now + 3, &n4) && !strcmp(subnet(n4, 0), "10.244.0.0/24"));

	rev = revision(kv);
	req = json_pack("{s:s, s:s, s:[s], s:[s]}", "name", "node-5", "publicKey", pubkey(k3), "endpoints",
			"192.0.2.5:1", "subnets", "192.168.7.0/24");
	ret = cluster_node_register(&c, req, "hash", now + 3, &got, err, sizeof(err));
	json_decref(req);
	CHECK("asking for a subnet outside the cluster CIDR: EINVAL, both named",
	      ret == -EINVAL && strstr(err, "192.168.7.0/24") && strstr(err, "10.244.0.0/16") && revision(kv) == rev);
	req = json_pack("{s:s, s:s, s:[s], s:[s]}", "name", "node-5", "publicKey", k3, "endpoints", "192.0.2.5:1",
			"subnets", "10.244.0.128/25");
	ret = cluster_node_register(&c, req, "hash", now + 3, &got, err, sizeof(err));
	json_decref(req);
	CHECK("  one of the wrong size: EINVAL", ret == -EINVAL && strstr(err, "/24 each"));
	req = json_pack("{s:s, s:s, s:[s], s:[s]}", "name", "node-5", "publicKey", k3, "endpoints", "192.0.2.5:1",
			"subnets", "10.244.1.0/24");
	ret = cluster_node_register(&c, req, "hash", now + 3, &got, err, sizeof(err));
	json_decref(req);
	CHECK("  one held by another node: EEXIST, naming it",
	      ret == -EEXIST && strstr(err, "node-2") && revision(kv) == rev);
	req = json_pack("{s:s, s:s, s:[s], s:[s]}", "name", "node-5", "publicKey", k3, "endpoints", "192.0.2.5:1",
			"subnets", "10.244.200.0/24");
	ret = cluster_node_register(&c, req, "hash", now + 3, &got, err, sizeof(err));
	json_decref(req);
	CHECK("  a free one: granted", !ret && !strcmp(subnet(got, 0), "10.244.200.0/24"));
	json_decref(got);
	cluster_node_remove(&c, "node-5", now + 3, err, sizeof(err));
	req = json_pack("{s:s, s:s, s:[s], s:[s]}", "name", "node-5", "publicKey", k3, "endpoints", "192.0.2.5:1",
			"subnets", "10.244.200.0/24");
	ret = cluster_node_register(&c, req, "hash", now + 3, &got, err, sizeof(err));
	json_decref(req);
	CHECK("  a node coming back gets its released subnet without the rest",
	      !ret && !strcmp(subnet(got, 0), "10.244.200.0/24"));
	json_decref(got);
	cluster_node_remove(&c, "node-5", now + 3, err, sizeof(err));
	req = json_pack("{s:s, s:s, s:[s], s:[s]}", "name", "node-6", "publicKey", k3, "endpoints", "192.0.2.5:1",
			"subnets", "10.244.200.0/24");
	ret = cluster_node_register(&c, req, "hash", now + 3, &got, err, sizeof(err));
	json_decref(req);
	CHECK("  another node asking for it while it rests: EEXIST", ret == -EEXIST && strstr(err, "rests"));

	CHECK("a heartbeat", !cluster_heartbeat(&c, "node-2", now + 100));
	CHECK("  for a node that is gone: ENOENT", cluster_heartbeat(&c, "node-1", now) == -ENOENT);
	ret = cluster_expire(&c, now + 120, 60);
	CHECK("expiry removes nodes silent for too long, only them", ret == 2 &&
									   cluster_node_get(&c, "node-3", &got) == -ENOENT &&
									   cluster_node_get(&c, "node-4", &got) == -ENOENT);
	CHECK("  the one with a heartbeat stays", !cluster_node_get(&c, "node-2", &got));
	json_decref(got);
	json_decref(n1);
	json_decref(n2);
	json_decref(n3);
	json_decref(n4);
	wipe(kv);
}

static void exhaustion(struct kv *kv)
{
	struct cluster c;
	char k[KEY_B64_LEN], name[32];
	json_t *n;
	int ok = 0, ret = 0;

	CHECK("a small cluster: 10.9.0.0/24 in /26s", !cluster_init(&c, kv, "10.9.0.0/24", 26, NULL, 0, 0, err, sizeof(err)));
	for (int i = 0; i < 5; ++i) {
		snprintf(name, sizeof(name), "small-%d", i);
		ret = reg(&c, name, pubkey(k), "192.0.2.9:1", time(NULL), &n);
		ok += !ret;
		json_decref(n);
	}
	CHECK("  four nodes fit, the fifth gets ENOSPC, saying why", ok == 4 && ret == -ENOSPC && strstr(err, "10.9.0.0/24"));
	wipe(kv);
}

/* External clients (clients.c): their subnets set aside from the node
 * subnets, a host address each, names and keys their own. */
static void clients(struct kv *kv)
{
	struct cluster c;
	char k[KEY_B64_LEN], k2[KEY_B64_LEN], name[32];
	json_t *n = NULL, *cl = NULL, *req, *list;
	int ok = 0, ret = 0;
	int64_t rev;

	CHECK("clients in a small cluster: 10.9.0.0/24 in /26s",
	      !cluster_init(&c, kv, "10.9.0.0/24", 26, NULL, 0, 0, err, sizeof(err)));
	CHECK("  a node", !reg(&c, "n1", pubkey(k2), "192.0.2.1:1", time(NULL), &n));
	json_decref(n);
	req = json_pack("{s:s, s:s}", "name", "laptop", "publicKey", pubkey(k));
	CHECK("  the first client sets the next /26 aside: 10.9.0.65/32",
	      !cluster_client_add(&c, req, time(NULL), &cl, err, sizeof(err)) &&
		      !strcmp(json_string_value(json_array_get(json_object_get(cl, "addresses"), 0)) ?: "", "10.9.0.65/32"));
	json_decref(cl);
	rev = revision(kv);
	CHECK("  the same name again: EEXIST, named, nothing written",
	      cluster_client_add(&c, req, time(NULL), &cl, err, sizeof(err)) == -EEXIST && strstr(err, "laptop") &&
		      revision(kv) == rev);
	json_decref(req);
	req = json_pack("{s:s, s:s}", "name", "other", "publicKey", k2);
	CHECK("  a node's key: EEXIST, naming the node", cluster_client_add(&c, req, time(NULL), &cl, err, sizeof(err)) ==
							       -EEXIST && strstr(err, "node n1") && revision(kv) == rev);
	json_decref(req);
	req = json_pack("{s:s, s:s, s:s}", "name", "other", "publicKey", pubkey(k), "endpoint", "192.0.2.9:1");
	CHECK("  an unknown field: EINVAL, named", cluster_client_add(&c, req, time(NULL), &cl, err, sizeof(err)) ==
							  -EINVAL && strstr(err, "endpoint") && revision(kv) == rev);
	json_decref(req);
	for (int i = 0; i < 3; ++i) {
		snprintf(name, sizeof(name), "n%d", i + 2);
		ret = reg(&c, name, pubkey(k), "192.0.2.9:1", time(NULL), &n);
		ok += !ret;
		json_decref(n);
	}
	CHECK("  the nodes get the other two /26s, then ENOSPC", ok == 2 && ret == -ENOSPC);
	req = json_pack("{s:s, s:s, s:[s], s:[s]}", "name", "n9", "publicKey", pubkey(k), "endpoints", "192.0.2.9:1",
			"subnets", "10.9.0.64/26");
	CHECK("  a node asking for the clients' subnet: EEXIST, saying so",
	      cluster_node_register(&c, req, "hash", time(NULL), &n, err, sizeof(err)) == -EEXIST &&
		      strstr(err, "set aside for external clients"));
	json_decref(req);
	for (ok = 0, ret = 0; !ret; ++ok) {
		snprintf(name, sizeof(name), "c%d", ok);
		req = json_pack("{s:s, s:s}", "name", name, "publicKey", pubkey(k));
		ret = cluster_client_add(&c, req, time(NULL), &cl, err, sizeof(err));
		json_decref(req);
		json_decref(cl);
	}
	CHECK("  61 more clients fit a /26 (hosts 1 to 62), then ENOSPC, saying why",
	      ok == 62 && ret == -ENOSPC && strstr(err, "no client address"));
	CHECK("  a client removed", !cluster_client_remove(&c, "c7", err, sizeof(err)));
	req = json_pack("{s:s, s:s}", "name", "again", "publicKey", pubkey(k));
	CHECK("  frees its address for the next",
	      !cluster_client_add(&c, req, time(NULL), &cl, err, sizeof(err)) &&
		      !strcmp(json_string_value(json_array_get(json_object_get(cl, "addresses"), 0)) ?: "", "10.9.0.73/32"));
	json_decref(req);
	json_decref(cl);
	CHECK("  removing one that is not there: ENOENT, named",
	      cluster_client_remove(&c, "c7", err, sizeof(err)) == -ENOENT && strstr(err, "c7"));
	req = json_pack("{s:I}", "laptop", (json_int_t)1234);
	CHECK("  a node reports a handshake", !cluster_client_handshakes(&c, "n1", req, err, sizeof(err)));
	json_decref(req);
	cluster_clients(&c, &list, NULL);
	CHECK("  the list has them all, laptop's handshake with its node",
	      json_array_size(list) == 62 &&
		      json_integer_value(json_object_get(
			      json_object_get(json_array_get(list, json_array_size(list) - 1), "lastHandshake"), "time")) ==
			      1234);
	json_decref(list);
	CHECK("  the node removed takes its report with it", !cluster_node_remove(&c, "n1", time(NULL), err, sizeof(err)));
	cluster_clients(&c, &list, NULL);
	CHECK("  (no handshake left)", !json_object_get(json_array_get(list, json_array_size(list) - 1), "lastHandshake"));
	json_decref(list);
	wipe(kv);
}

enum { THREADS = 8, NODES = 200 };

struct racer {
	struct cluster *c;
	int first, errors;
	json_t *got[NODES / THREADS];
};

static void *race(void *arg)
{
	struct racer *r = arg;
	char k[KEY_B64_LEN], name[32], e[512];

	for (int i = 0; i < NODES / THREADS; ++i) {
		json_t *req;

		snprintf(name, sizeof(name), "n%03d", r->first + i);
		req = request(name, pubkey(k), "192.0.2.1:51820");
		if (cluster_node_register(r->c, req, "hash", time(NULL), &r->got[i], e, sizeof(e))) {
			fprintf(stderr, "%s: %s\n", name, e);
			r->errors++;
		}
		json_decref(req);
	}
	return NULL;
}

static void storm(struct kv *kv, struct kv *kv2)
{
	struct cluster c[2];
	struct racer r[THREADS];
	pthread_t t[THREADS];
	int errors = 0, distinct;
	char *seen[NODES];
	size_t n = 0;
	json_t *all;
	char name[96];

	cluster_init(&c[0], kv, "10.244.0.0/16", 24, "fd00:244::/56", 64, 60, err, sizeof(err));
	cluster_init(&c[1], kv2, "10.244.0.0/16", 24, "fd00:244::/56", 64, 60, err, sizeof(err));
	memset(r, 0, sizeof(r));
	for (int i = 0; i < THREADS; ++i) {
		r[i].c = &c[i % 2];
		r[i].first = i * (NODES / THREADS);
		pthread_create(&t[i], NULL, race, &r[i]);
	}
	for (int i = 0; i < THREADS; ++i)
		pthread_join(t[i], NULL);
	for (int i = 0; i < THREADS; ++i) {
		errors += r[i].errors;
		for (int j = 0; j < NODES / THREADS; ++j) {
			if (r[i].got[j])
				seen[n++] = strdup(subnet(r[i].got[j], 0));
			json_decref(r[i].got[j]);
		}
	}
	distinct = (int)n;
	for (size_t i = 0; i < n; ++i)
		for (size_t j = i + 1; j < n; ++j)
			if (!strcmp(seen[i], seen[j])) {
				--distinct;
				break;
			}
	for (size_t i = 0; i < n; ++i)
		free(seen[i]);
	snprintf(name, sizeof(name), "%d nodes registering at once through %s: all registered", NODES,
		 kv2 == kv ? "one connection" : "two connections");
	CHECK(name, !errors && n == NODES);
	snprintf(name, sizeof(name), "  %d distinct subnets", distinct);
	CHECK(name, distinct == NODES);
	cluster_nodes(&c[0], &all, NULL);
	CHECK("  the registry lists them all", json_array_size(all) == NODES);
	json_decref(all);
	wipe(kv);
}

int main(int argc, char **argv)
{
	struct kv *kv, *kv2;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: clustersuite STORE-URL [SECOND-URL]\n");
		return 2;
	}
	if (crypto_init() || !(kv = kv_open(argv[1], err, sizeof(err)))) {
		fprintf(stderr, "clustersuite: %s\n", err);
		return 2;
	}
	kv2 = argc == 3 ? kv_open(argv[2], err, sizeof(err)) : kv;
	if (!kv2) {
		fprintf(stderr, "clustersuite: %s\n", err);
		return 2;
	}
	wipe(kv);
	registry(kv);
	exhaustion(kv);
	clients(kv);
	storm(kv, kv2);
	if (kv2 != kv)
		kv_close(kv2);
	kv_close(kv);
	printf("# %d passed, %d failed (%s)\n", passed, failed, argv[1]);
	return failed ? 1 : 0;
}
