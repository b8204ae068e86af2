// SPDX-License-Identifier: MIT
/* A node's record, typed (lib/cluster/node.c): a full record round-trips,
 * each bad field is refused by name, optional fields may be missing; and
 * a record in the store that is refused gives an error, not half a node. */
#include "test.h"

#include <stdlib.h>
#include <unistd.h>

#include "cluster/cluster.h"
#include "crypto/crypto.h"

#define KEY1 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

/* Every field a record may have, as the manager writes them. */
static const char full[] =
	"{\"name\": \"node-1\", \"publicKey\": \"" KEY1 "\","
	" \"endpoints\": [\"192.0.2.1:51820\", \"[2001:db8::1]:51820\"],"
	" \"labels\": {\"submariner.io/gateway\": \"true\", \"zone\": \"a\"},"
	" \"subnets\": [\"10.244.3.0/24\", \"fd00:244:0:3::/64\"],"
	" \"tunnelAddresses\": [\"10.244.3.1/32\", \"fd00:244:0:3::1/128\"],"
	" \"created\": 1700000000,"
	" \"gateway\": {\"since\": 1700000100, \"clusters\": {\"east\": [\"10.20.0.0/16\", \"fd00:20::/48\"]},"
	"   \"status\": {\"east\": \"connected\", \"west\": \"error\"}},"
	" \"credentialRotation\": {\"requested\": 1700000200, \"rotated\": 1700000300}}";

static int parse_text(const char *text, struct cluster_node *n, char *err, size_t errlen)
{
	json_t *doc = json_loads(text, 0, NULL);
	int ret;

	if (!doc)
		return -EBADMSG;
	ret = cluster_node_parse(doc, n, err, errlen);
	json_decref(doc);
	return ret;
}

TEST(node_full_record_round_trips)
{
	struct cluster_node a, b;
	json_t *doc = json_loads(full, 0, NULL), *out;
	char err[256] = "";

	CHECK(!cluster_node_parse(doc, &a, err, sizeof(err)));
	CHECK(!strcmp(a.name, "node-1") && a.nendpoints == 2 && a.nlabels == 2 && a.nsubnets == 2 && a.ntunnel == 2);
	CHECK(!strcmp(cluster_node_label(&a, CLUSTER_GATEWAY_LABEL) ?: "", "true"));
	CHECK(a.gateway.nclusters == 1 && a.gateway.clusters[0].ncidrs == 2 && a.gateway.nstatus == 2);
	CHECK(a.rotation_requested == 1700000200 && a.rotation_rotated == 1700000300);
	/* A status's name is the record's string (weftd's "show" writes it). */
	for (size_t i = 0; i < a.gateway.nstatus; ++i)
		CHECK(!strcmp(cluster_link_name(a.gateway.status[i].link),
			      !strcmp(a.gateway.status[i].id, "east") ? "connected" : "error"));
	out = cluster_node_json(&a);
	/* The JSON itself, not only what it parses to: the API answers with it. */
	CHECK(json_equal(out, doc));
	CHECK(!cluster_node_parse(out, &b, err, sizeof(err)));
	CHECK(cluster_node_equal(&a, &b));
	b.created++;
	CHECK(!cluster_node_equal(&a, &b));
	json_decref(out);
	json_decref(doc);
	cluster_node_free(&a);
	cluster_node_free(&b);
}

/* The CIDRs a gateway reports stay as it spelt them: agents route by the
 * text the record has always carried. */
TEST(node_gateway_cidrs_kept_as_reported)
{
	struct cluster_node n;
	json_t *doc = json_loads(full, 0, NULL), *gw, *out;
	char err[256] = "";

	gw = json_object_get(json_object_get(doc, "gateway"), "clusters");
	json_object_set_new(gw, "north", json_pack("[s]", "fd00:0020:0::/48"));
	CHECK(!cluster_node_parse(doc, &n, err, sizeof(err)));
	out = cluster_node_json(&n);
	CHECK(json_equal(out, doc));
	json_decref(out);
	json_decref(doc);
	cluster_node_free(&n);
}

TEST(node_optional_fields_may_be_missing)
{
	/* A cluster at the broker before its first gateway. */
	static const char *const minimal[] = {
		"{\"name\": \"a\", \"subnets\": [\"10.1.0.0/16\"], \"created\": 1}",
		"{\"name\": \"a\", \"subnets\": [\"10.1.0.0/16\"], \"created\": 1, \"labels\": {}}",
		"{\"name\": \"a\", \"subnets\": [\"10.1.0.0/16\"], \"created\": 1, \"credentialRotation\": {\"rotated\": 5}}",
		"{\"name\": \"a\", \"subnets\": [\"10.1.0.0/16\"], \"created\": 1, \"gateway\": {\"since\": 1,"
		" \"clusters\": {}, \"status\": {}}}",
	};

	for (size_t i = 0; i < sizeof(minimal) / sizeof(minimal[0]); ++i) {
		struct cluster_node n;
		json_t *doc = json_loads(minimal[i], 0, NULL), *out;
		char err[256] = "";

		CHECK(!cluster_node_parse(doc, &n, err, sizeof(err)));
		out = cluster_node_json(&n);
		CHECK(json_equal(out, doc));
		CHECK(!(n.flags & NODE_HAS_KEY) && !(n.flags & NODE_HAS_ENDPOINTS));
		json_decref(out);
		json_decref(doc);
		cluster_node_free(&n);
	}
}

/* Each field, set to a bad value in the full record: refused, err naming
 * the field. */
TEST(node_bad_fields_refused_by_name)
{
	static const struct {
		const char *field, *value, *named;
	} bad[] = {
		{ "name", "\"Node_1\"", "name" },
		{ "name", "7", "name" },
		{ "publicKey", "\"abc\"", "publicKey" },
		{ "endpoints", "[]", "endpoints" },
		{ "endpoints", "[\"192.0.2.1\"]", "endpoint 192.0.2.1" },
		{ "endpoints", "\"192.0.2.1:1\"", "endpoints" },
		{ "labels", "[]", "labels" },
		{ "labels", "{\"zone\": 3}", "label \"zone\"" },
		{ "subnets", "[]", "subnets" },
		{ "subnets", "[\"10.244.3.1/24\"]", "10.244.3.1/24" },
		{ "subnets", "[\"10.0.0.0/8\", \"10.1.0.0/16\"]", "overlap" },
		{ "tunnelAddresses", "[\"x\"]", "tunnelAddresses" },
		{ "tunnelAddresses", "[\"10.0.0.1/32\", \"10.0.0.2/32\", \"10.0.0.3/32\"]", "tunnelAddresses" },
		{ "created", "\"yesterday\"", "created" },
		{ "gateway", "{}", "gateway" },
		{ "gateway", "{\"since\": \"x\", \"clusters\": {}, \"status\": {}}", "gateway since" },
		{ "gateway", "{\"since\": 1, \"clusters\": {\"East\": [\"10.0.0.0/8\"]}, \"status\": {}}", "East" },
		{ "gateway", "{\"since\": 1, \"clusters\": {}, \"status\": {\"east\": \"up\"}}", "gateway status" },
		{ "credentialRotation", "{\"requested\": \"soon\"}", "credentialRotation requested" },
		{ "credentialRotation", "{\"asked\": 1}", "credentialRotation" },
		{ "credentialRotation", "{}", "credentialRotation" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
		json_t *doc = json_loads(full, 0, NULL);
		struct cluster_node n;
		char err[256] = "";

		json_object_set_new(doc, bad[i].field, json_loads(bad[i].value, JSON_DECODE_ANY, NULL));
		CHECK(cluster_node_parse(doc, &n, err, sizeof(err)) == -EINVAL);
		if (!strstr(err, bad[i].named)) {
			fprintf(stderr, "  %s = %s: err \"%s\" does not name %s\n", bad[i].field, bad[i].value, err,
				bad[i].named);
			CHECK(!"the error names the field");
		}
		json_decref(doc);
	}
}

/* A field of a newer manager's (two versions share a store during an
 * upgrade): kept as it is and written back, not refused, not dropped. */
TEST(node_unknown_fields_kept)
{
	json_t *doc = json_loads(full, 0, NULL), *out;
	struct cluster_node n, again;
	char err[256] = "", name[16];

	json_object_set_new(doc, "colour", json_string("blue"));
	json_object_set_new(doc, "zones", json_pack("{s:[i, i]}", "a", 1, 2));
	CHECK(cluster_node_parse(doc, &n, err, sizeof(err)) == 0);
	out = cluster_node_json(&n);
	CHECK(out && json_equal(out, doc));
	CHECK(out && cluster_node_parse(out, &again, err, sizeof(err)) == 0 && cluster_node_equal(&n, &again));
	json_decref(out);
	cluster_node_free(&again);
	/* Another value for it is another record. */
	json_object_set_new(doc, "colour", json_string("red"));
	CHECK(cluster_node_parse(doc, &again, err, sizeof(err)) == 0 && !cluster_node_equal(&n, &again));
	cluster_node_free(&again);
	cluster_node_free(&n);
	/* But not without bound. */
	for (int i = 0; i < CLUSTER_MAX_EXTRA; ++i) {
		snprintf(name, sizeof(name), "x%d", i);
		json_object_set_new(doc, name, json_true());
	}
	CHECK(cluster_node_parse(doc, &n, err, sizeof(err)) == -EINVAL && strstr(err, "does not know"));
	json_decref(doc);
}

TEST(node_required_fields)
{
	static const char *const fields[] = { "name", "subnets", "created" };

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); ++i) {
		json_t *doc = json_loads(full, 0, NULL);
		struct cluster_node n;
		char err[256] = "";

		json_object_del(doc, fields[i]);
		CHECK(cluster_node_parse(doc, &n, err, sizeof(err)) == -EINVAL && strstr(err, fields[i]) &&
		      strstr(err, "missing"));
		json_decref(doc);
	}
	{
		struct cluster_node n;
		char err[256] = "";

		CHECK(parse_text("[1]", &n, err, sizeof(err)) == -EINVAL);
	}
}

TEST(node_labels_edit)
{
	struct cluster_node n;
	char err[256];

	CHECK(!parse_text(full, &n, err, sizeof(err)));
	CHECK(!cluster_node_set_label(&n, "zone", "b") && !strcmp(cluster_node_label(&n, "zone"), "b"));
	CHECK(!cluster_node_set_label(&n, CLUSTER_GATEWAY_LABEL, NULL) && !cluster_node_label(&n, CLUSTER_GATEWAY_LABEL));
	CHECK(!cluster_node_set_label(&n, "new", "x") && n.nlabels == 2 && !strcmp(cluster_node_label(&n, "zone"), "b"));
	cluster_node_free(&n);
}

/* What weftd asks to PATCH against its record: only a change in what a
 * node sets counts, and the admin's gateway label never does. */
TEST(node_holds_what_a_node_sets)
{
	struct cluster_node rec, want = { .flags = NODE_HAS_KEY | NODE_HAS_ENDPOINTS | NODE_HAS_LABELS,
					  .nendpoints = 2,
					  .endpoints = { "192.0.2.1:51820", "[2001:db8::1]:51820" } };
	char err[256];

	CHECK(!parse_text(full, &rec, err, sizeof(err)));
	/* full's key is all zeros; its labels are the gateway's and "zone". */
	CHECK(!cluster_node_holds(&rec, &want));
	CHECK(!cluster_node_set_label(&want, "zone", "a") && cluster_node_holds(&rec, &want));
	CHECK(!cluster_node_set_label(&want, CLUSTER_GATEWAY_LABEL, "false") && cluster_node_holds(&rec, &want));
	CHECK(!cluster_node_set_label(&rec, CLUSTER_GATEWAY_LABEL, NULL) && cluster_node_holds(&rec, &want));
	CHECK(!cluster_node_set_label(&want, "zone", "b") && !cluster_node_holds(&rec, &want));
	CHECK(!cluster_node_set_label(&want, "zone", "a") && !cluster_node_set_label(&want, "rack", "1") &&
	      !cluster_node_holds(&rec, &want));
	CHECK(!cluster_node_set_label(&want, "rack", NULL) && cluster_node_holds(&rec, &want));
	/* The endpoints in order, the key byte for byte. */
	snprintf(want.endpoints[0], sizeof(want.endpoints[0]), "%s", rec.endpoints[1]);
	snprintf(want.endpoints[1], sizeof(want.endpoints[1]), "%s", rec.endpoints[0]);
	CHECK(!cluster_node_holds(&rec, &want));
	want.nendpoints = 1;
	CHECK(!cluster_node_holds(&rec, &want));
	snprintf(want.endpoints[0], sizeof(want.endpoints[0]), "%s", rec.endpoints[0]);
	want.flags &= ~NODE_HAS_ENDPOINTS;
	CHECK(cluster_node_holds(&rec, &want));
	want.key[31] = 1;
	CHECK(!cluster_node_holds(&rec, &want));
	/* A request without labels leaves them be; a record without a key
	 * holds no key. */
	want.key[31] = 0;
	want.flags &= ~NODE_HAS_LABELS;
	CHECK(!cluster_node_set_label(&rec, "other", "x") && cluster_node_holds(&rec, &want));
	rec.flags &= ~NODE_HAS_KEY;
	CHECK(!cluster_node_holds(&rec, &want));
	cluster_node_free(&rec);
	cluster_node_free(&want);
}

/* A record in the store that the parser refuses: every read of it says
 * so (-EIO, naming the node), and nothing is written from it. */
TEST(node_bad_record_in_store)
{
	char dir[] = "/tmp/weft-test-node.XXXXXX", path[128], err[512];
	struct cluster cl;
	struct kv *kv;
	json_t *req, *rec = NULL;
	const char *bad = "{\"name\":\"bad\",\"subnets\":[\"10.93.7.0/24\"],\"created\":\"x\"}";
	int64_t rev0, rev1;

	crypto_init();
	CHECK(mkdtemp(dir));
	snprintf(path, sizeof(path), "sqlite:%s/store.db", dir);
	CHECK((kv = kv_open(path, err, sizeof(err))));
	if (!kv)
		return;
	CHECK(!cluster_init(&cl, kv, "10.93.0.0/16", 24, NULL, 0, 0, err, sizeof(err)));
	req = json_pack("{s:s, s:s, s:[s]}", "name", "good", "publicKey", KEY1, "endpoints", "192.0.2.1:51820");
	CHECK(!cluster_node_register(&cl, req, "hash", 100, &rec, err, sizeof(err)));
	json_decref(req);
	json_decref(rec);
	CHECK(!kv_put(kv, CLUSTER_NODES "bad", bad, strlen(bad), NULL));
	kv_revision(kv, &rev0);
	CHECK(cluster_node_get(&cl, "bad", &rec) == -EIO && strstr(kv_error(), "bad") && strstr(kv_error(), "created"));
	CHECK(cluster_nodes(&cl, &rec, NULL) == -EIO && strstr(kv_error(), "created") && !rec);
	CHECK(cluster_gateway_grant(&cl, "bad", true, &rec, err, sizeof(err)) == -EIO && strstr(err, "created"));
	CHECK(cluster_credential_request(&cl, "bad", 200, &rec, err, sizeof(err)) == -EIO && !rec);
	CHECK(cluster_node_remove(&cl, "bad", 200, err, sizeof(err)) == -EIO);
	kv_revision(kv, &rev1);
	CHECK(rev0 == rev1);
	/* Expiry passes over it and still expires the others. */
	CHECK(cluster_expire(&cl, 10000, 60) == 1);
	CHECK(cluster_node_get(&cl, "good", &rec) == -ENOENT);
	kv_close(kv);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	CHECK(!system(path));
}
