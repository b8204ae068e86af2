// SPDX-License-Identifier: MIT
/* The join request a cluster's manager checks (POST /v1/federation) and
 * the gateway lease's report, on an SQLite store in a temporary directory. */
#include "test.h"

#include <stdlib.h>
#include <unistd.h>

#include "cluster/cluster.h"
#include "crypto/crypto.h"

#define CA "-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----\\n"

static char dir[] = "/tmp/weft-test-federation.XXXXXX";
static struct kv *kv;
static struct cluster cl;
static char *info; /* a broker-info's text, its token SECRET */

static struct cluster *setup(void)
{
	char path[128], err[512];
	json_t *gw, *rec = NULL;

	if (kv)
		return &cl;
	crypto_init();
	if (!mkdtemp(dir))
		return NULL;
	snprintf(path, sizeof(path), "sqlite:%s/store.db", dir);
	if (!(kv = kv_open(path, err, sizeof(err))) ||
	    cluster_init(&cl, kv, "10.91.0.0/16", 24, "fd00:91::/56", 64, 0, err, sizeof(err))) {
		fprintf(stderr, "  %s\n", err);
		return NULL;
	}
	gw = json_pack("{s:s, s:s, s:[s], s:{s:s}}", "name", "gw", "publicKey",
		       "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "endpoints", "192.0.2.1:51820", "labels",
		       CLUSTER_GATEWAY_LABEL, "true");
	cluster_node_register(&cl, gw, "hash", 1, &rec, err, sizeof(err));
	json_decref(gw);
	json_decref(rec);
	gw = json_pack("{s:s, s:s, s:[s]}", "name", "plain", "publicKey", "BAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		       "endpoints", "192.0.2.2:51820");
	cluster_node_register(&cl, gw, "hash", 1, &rec, err, sizeof(err));
	json_decref(gw);
	json_decref(rec);
	info = broker_info_encode("https://broker:7443", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
				  "wefta1:SECRET");
	info[strcspn(info, "\n")] = 0;
	return &cl;
}

/* The request (JSON, with @ standing for a good broker-info, @8 for its
 * first 8 characters) is refused with an error holding `why`, never the
 * token, and nothing to free. */
static bool join_refused(const char *tmpl, const char *why)
{
	char text[4096], err[700] = "";
	const char *at = strchr(tmpl, '@');
	struct cluster_join j;
	json_t *req;
	bool ok;

	if (!at)
		snprintf(text, sizeof(text), "%s", tmpl);
	else if (at[1] == '8')
		snprintf(text, sizeof(text), "%.*s%.8s%s", (int)(at - tmpl), tmpl, info, at + 2);
	else
		snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - tmpl), tmpl, info, at + 1);
	if (!(req = json_loads(text, 0, NULL))) {
		fprintf(stderr, "  bad test JSON %s\n", text);
		return false;
	}
	ok = cluster_join_parse(&cl, req, &j, err, sizeof(err)) == -EINVAL && !j.info && !j.cidrs && strstr(err, why) &&
	     !strstr(err, "SECRET");
	if (!ok)
		fprintf(stderr, "  %s: \"%s\", not \"%s\"\n", text, err, why);
	json_decref(req);
	return ok;
}

TEST(federation_join_request)
{
	char text[4096], err[700];
	struct cluster_join j;
	json_t *req;

	CHECK(setup());
	/* No cidrs: the cluster CIDRs. */
	snprintf(text, sizeof(text), "{\"brokerInfo\": \"%s\", \"clusterID\": \"a\"}", info);
	req = json_loads(text, 0, NULL);
	CHECK(!cluster_join_parse(&cl, req, &j, err, sizeof(err)));
	CHECK(!strcmp(j.id, "a") && !strcmp(j.driver, "wireguard") && json_array_size(j.cidrs) == 2);
	CHECK(!strcmp(json_string_value(json_array_get(j.cidrs, 0)), "10.91.0.0/16"));
	CHECK(!strcmp(json_string_value(json_array_get(j.cidrs, 1)), "fd00:91::/56"));
	CHECK(!strcmp(json_string_value(json_object_get(j.info, "token")), "wefta1:SECRET"));
	cluster_join_free(&j);
	CHECK(!j.info && !j.cidrs);
	json_decref(req);
	/* cidrs given: normalised. */
	snprintf(text, sizeof(text),
		 "{\"brokerInfo\": \"%s\", \"clusterID\": \"a\", \"cableDriver\": \"wireguard\", "
		 "\"cidrs\": [\"10.8.0.0/16\", \"FD00:8::/48\"]}",
		 info);
	req = json_loads(text, 0, NULL);
	CHECK(!cluster_join_parse(&cl, req, &j, err, sizeof(err)));
	CHECK(json_array_size(j.cidrs) == 2 && !strcmp(json_string_value(json_array_get(j.cidrs, 1)), "fd00:8::/48"));
	cluster_join_free(&j);
	json_decref(req);
}

TEST(federation_join_refusals)
{
	CHECK(setup());
	CHECK(join_refused("[\"@\"]", "give a JSON object"));
	CHECK(join_refused("{\"brokerInfo\": \"@\", \"clusterID\": \"a\", \"token\": 1}", "unknown field \"token\""));
	CHECK(join_refused("{\"clusterID\": \"a\"}", "brokerInfo: missing"));
	CHECK(join_refused("{\"brokerInfo\": \"@\"}", "clusterID \"(missing)\""));
	CHECK(join_refused("{\"brokerInfo\": \"@\", \"clusterID\": \"Cluster_A\"}", "clusterID \"Cluster_A\": give a DNS label"));
	CHECK(join_refused("{\"brokerInfo\": \"@\", \"clusterID\": \"a\", \"cableDriver\": \"libreswan\"}",
			   "cableDriver \"libreswan\": weft has the wireguard cable driver only"));
	CHECK(join_refused("{\"brokerInfo\": \"@\", \"clusterID\": \"a\", \"cableDriver\": 4}", "cableDriver \"(not a string)\""));
	CHECK(join_refused("{\"brokerInfo\": \"@\", \"clusterID\": \"a\", \"cidrs\": []}", "cidrs: give 1 to 16 CIDRs"));
	CHECK(join_refused("{\"brokerInfo\": \"@\", \"clusterID\": \"a\", \"cidrs\": [7]}", "cidrs: entry 0 is not a string"));
	CHECK(join_refused("{\"brokerInfo\": \"@\", \"clusterID\": \"a\", \"cidrs\": [\"10.8.0.1/16\"]}", "10.8.0.1/16"));
	CHECK(join_refused("{\"brokerInfo\": \"@\", \"clusterID\": \"a\", \"cidrs\": [\"10.8.0.0/16\", \"10.8.4.0/24\"]}",
			   "cidrs: 10.8.4.0/24 overlaps 10.8.0.0/16"));
	CHECK(join_refused("{\"brokerInfo\": \"x@\", \"clusterID\": \"a\"}", "brokerInfo: not base64"));
	CHECK(join_refused("{\"brokerInfo\": \"@8\", \"clusterID\": \"a\"}", "brokerInfo: its base64 holds no JSON"));
}

/* A refused report writes nothing: not the lease, not the record. */
static bool report_refused(const char *node, const char *json, int want, const char *why)
{
	json_t *report = json_loads(json, 0, NULL), *before = NULL, *after = NULL;
	struct cluster_lease lease;
	int64_t rev0 = 0, rev1 = 0;
	char err[700] = "";
	bool ok;
	int ret;

	kv_revision(kv, &rev0);
	cluster_node_get(&cl, node, &before);
	ret = cluster_gateway_claim(&cl, node, report, 100, 4, &lease, err, sizeof(err));
	kv_revision(kv, &rev1);
	cluster_node_get(&cl, node, &after);
	ok = ret == want && !lease.node[0] && !lease.connections && strstr(err, why) && rev0 == rev1 &&
	     (before == after || json_equal(before, after));
	if (!ok)
		fprintf(stderr, "  %s: %d \"%s\", not %d \"%s\"\n", json, ret, err, want, why);
	json_decref(report);
	cluster_lease_free(&lease);
	json_decref(before);
	json_decref(after);
	return ok;
}

TEST(federation_gateway_report)
{
	json_t *report, *rec = NULL;
	struct cluster_lease lease, stored;
	char err[700];

	CHECK(setup());
	CHECK(report_refused("plain", "{}", -EPERM, "node \"plain\" is not allowed to be a gateway: an admin allows it with weft node gateway plain --allow"));
	CHECK(report_refused("gone", "{}", -ENOENT, "no node \"gone\""));
	CHECK(report_refused("gw", "{\"clusters\": []}", -EINVAL, "clusters: give an object"));
	CHECK(report_refused("gw", "{\"clusters\": {\"B\": [\"10.92.0.0/16\"]}}", -EINVAL, "\"B\" is not a cluster ID"));
	CHECK(report_refused("gw", "{\"clusters\": {\"b\": [\"10.92.0.1/16\"]}}", -EINVAL, "10.92.0.1/16"));
	CHECK(report_refused("gw", "{\"connections\": {}}", -EINVAL, "connections: give an array"));
	CHECK(report_refused("gw", "{\"connections\": [7]}", -EINVAL, "entry 0 is not an object"));
	CHECK(report_refused("gw", "{\"connections\": [{\"cluster\": \"b\", \"x\": {\"y\": 1}}]}", -EINVAL,
			     "entry 0, field \"x\""));
	CHECK(report_refused("gw", "{\"connections\": [{\"subnets\": [1]}]}", -EINVAL, "field \"subnets\""));
	/* A good one: the clusters go into the holder's record. */
	report = json_loads("{\"clusters\": {\"b\": [\"10.92.0.0/16\"]}, \"connections\": [{\"cluster\": \"b\", "
			    "\"status\": \"connected\", \"reason\": null, \"rxBytes\": 10, \"subnets\": [\"10.92.0.0/16\"]}]}",
			    0, NULL);
	CHECK(!cluster_gateway_claim(&cl, "gw", report, 100, 4, &lease, err, sizeof(err)));
	CHECK(!strcmp(lease.node, "gw") && lease.since == 100 && lease.until == 104);
	CHECK(json_equal(lease.connections, json_object_get(report, "connections")));
	/* As stored: read back the same. */
	CHECK(!cluster_gateway_get(&cl, &stored) && !strcmp(stored.node, "gw") && stored.until == 104 &&
	      json_equal(stored.connections, lease.connections));
	cluster_lease_free(&stored);
	CHECK(!cluster_node_get(&cl, "gw", &rec));
	CHECK(json_equal(json_object_get(json_object_get(rec, "gateway"), "clusters"), json_object_get(report, "clusters")));
	/* And each connection's status, which every node's weft status shows. */
	CHECK(!strcmp(json_string_value(json_object_get(json_object_get(json_object_get(rec, "gateway"), "status"), "b")) ?: "",
		      "connected"));
	json_decref(report);
	cluster_lease_free(&lease);
	json_decref(rec);
}

__attribute__((destructor)) static void cleanup(void)
{
	char cmd[128];

	if (!kv)
		return;
	kv_close(kv);
	crypto_free_string(info);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		fprintf(stderr, "cannot remove %s\n", dir);
}

/* The lease as stored, checked once when read: what is wrong is named. */
TEST(federation_lease_parse)
{
	static const struct {
		const char *doc, *named;
	} bad[] = {
		{ "[]", "not a JSON object" },
		{ "{\"since\": 1, \"until\": 5}", "node" },
		{ "{\"node\": \"Not_A_Name\", \"since\": 1, \"until\": 5}", "node" },
		{ "{\"node\": \"gw\", \"since\": \"1\", \"until\": 5}", "since and until" },
		{ "{\"node\": \"gw\", \"since\": 9, \"until\": 5}", "since first" },
		{ "{\"node\": \"gw\", \"since\": 1, \"until\": 5, \"connections\": [7]}", "entry 0" },
	};
	struct cluster_lease l;
	json_t *doc = json_loads("{\"node\": \"gw\", \"since\": 1, \"until\": 5, \"connections\": [{\"cluster\": \"b\"}]}",
				 0, NULL), *out;
	char err[300];

	CHECK(!cluster_lease_parse(doc, &l, err, sizeof(err)) && !strcmp(l.node, "gw") && l.since == 1 && l.until == 5);
	out = cluster_lease_json(&l);
	CHECK(out && json_equal(out, doc));
	json_decref(out);
	json_decref(doc);
	cluster_lease_free(&l);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
		doc = json_loads(bad[i].doc, JSON_DECODE_ANY, NULL);
		err[0] = '\0';
		CHECK(cluster_lease_parse(doc, &l, err, sizeof(err)) == -EINVAL && !l.connections);
		if (!strstr(err, bad[i].named)) {
			fprintf(stderr, "  %s: \"%s\" does not name %s\n", bad[i].doc, err, bad[i].named);
			CHECK(!"the error names what is wrong");
		}
		json_decref(doc);
	}
}
