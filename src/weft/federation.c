// SPDX-License-Identifier: MIT
/*
 * weft join, leave, clusters: this cluster at a broker, through its own
 * manager's /v1/federation (docs/clusters.md). The manager does the work
 * (it registers the cluster at the broker and keeps the credential); these
 * commands check what they can before asking, and show what it answers.
 */
#include "weft.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "crypto/crypto.h"

#define FEDERATION "/v1/federation"

static const char join_usage[] =
	"Usage: weft join BROKER-INFO --cluster-id ID [--cable-driver wireguard] [--cidr CIDR]...\n"
	"                 [--manager URLS] [--ca FILE] [--token-file FILE] [--config FILE]\n"
	"Joins this cluster to the broker that BROKER-INFO names (the file weft broker-info create\n"
	"wrote, with the broker's URL, CA and a join token). The cluster's own manager registers it\n"
	"there with its cluster CIDRs and any --cidr, and keeps the broker's credential; the node\n"
	"running weftd --gateway that holds the gateway lease then connects it to the other\n"
	"clusters (docs/clusters.md). Needs the cluster's admin token.\n"
	"  --cluster-id ID        this cluster's name at the broker: a DNS label, such as east\n"
	"  --cable-driver NAME    wireguard, the only one (and the default)\n"
	"  --cidr CIDR            a CIDR to route to this cluster besides its own; repeatable\n";

static const char leave_usage[] =
	"Usage: weft leave [--manager URLS] [--ca FILE] [--token-file FILE] [--config FILE]\n"
	"Takes this cluster out of the broker it joined: the other clusters drop their connections\n"
	"to it. Needs the cluster's admin token.\n";

static const char clusters_usage[] =
	"Usage: weft clusters [--json] [--manager URLS] [--ca FILE] [--token-file FILE] [--config FILE]\n"
	"This cluster at its broker (ID, broker, cable driver, CIDRs), its active gateway, and each\n"
	"other cluster: its CIDRs, its gateway and endpoint, and the connection to it (status, when\n"
	"established, latest handshake, transfer). A reader token is enough.\n"
	"  --json   the manager's answer as it is\n";

/* The one cable driver: --cable-driver may name it, and opts_parse
 * refuses any other. */
static const char *const cable_driver = "wireguard";

void joined_print(FILE *f, json_t *reply, const char *id, const char *broker)
{
	char cidrs[2048];

	fmt_join(cidrs, sizeof(cidrs), json_object_get(reply, "cidrs"), ", ");
	fprintf(f, "cluster %s joined the broker at %s", jstr(reply, "clusterID") ?: id, jstr(reply, "broker") ?: broker);
	if (cidrs[0])
		fprintf(f, " with CIDRs %s", cidrs);
	fputc('\n', f);
}

void left_print(FILE *f, json_t *reply)
{
	const char *id = jstr(reply, "clusterID"), *broker = jstr(reply, "broker");

	if (id && broker)
		fprintf(f, "cluster %s left the broker at %s\n", id, broker);
	else
		fprintf(f, "left the broker\n");
}

/* A JSON array of the CIDRs given, or NULL for none: then the manager
 * registers the cluster CIDRs alone. */
static json_t *cidrs_array(const struct opts *o)
{
	json_t *a;

	if (!o->ncidrs || !(a = json_array()))
		return NULL;
	for (int i = 0; i < o->ncidrs; ++i)
		json_array_append_new(a, json_string(o->cidrs[i]));
	return a;
}

int join_main(int argc, char **argv)
{
	json_t *info = NULL, *body = NULL, *reply = NULL, *cidrs;
	struct manager m = { 0 };
	char err[600], *text = NULL;
	const char *sent;
	struct opts o;
	int ret;

	if ((ret = opts_parse(&o, "join", join_usage, OPT_MANAGER | OPT_JOIN, argc, argv)) >= 0)
		return ret;
	if (o.nargs != 1)
		return usage_error(&o, "give one BROKER-INFO file (weft broker-info create writes it, with the broker's "
				       "admin token); see weft join --help");
	if (!o.cluster_id)
		return usage_error(&o, "give --cluster-id ID: this cluster's name at the broker (a DNS label, such as "
				       "east)");
	if (!(text = broker_info_read(o.args[0], err, sizeof(err))))
		return usage_error(&o, "%s: %s; give the file that weft broker-info create wrote", o.args[0], err);
	/* Checked here too: a wrong file is told apart from a broker that
	 * cannot be reached, and before the manager is troubled. */
	if ((ret = broker_info_decode(text, &info, err, sizeof(err)))) {
		ret = ret == -ENOMEM ? failure(&o, "out of memory")
				     : usage_error(&o, "%s is not a broker-info: %s; make it anew with weft broker-info "
						       "create", o.args[0], err);
		goto out;
	}
	if ((ret = manager_open(&m, &o, true)) >= 0)
		goto out;
	body = json_pack("{s:s, s:s, s:s}", "brokerInfo", text, "clusterID", o.cluster_id, "cableDriver", cable_driver);
	if (body && (cidrs = cidrs_array(&o)))
		json_object_set_new(body, "cidrs", cidrs);
	if (!body) {
		ret = failure(&o, "out of memory");
		goto out;
	}
	ret = manager_call(&m, "POST", FEDERATION, body, &reply);
	if (!ret)
		joined_print(stdout, reply, o.cluster_id, jstr(info, "broker"));
out:
	/* The body's copy of the file holds the token too. */
	if ((sent = jstr(body, "brokerInfo")))
		sodium_memzero((char *)sent, strlen(sent));
	json_decref(body);
	json_decref(reply);
	broker_info_free(info);
	crypto_free_string(text);
	manager_close(&m);
	return ret;
}

/* One call to /v1/federation, by a command that takes the manager
 * options (and maybe --json); a 404 is said as not_joined. */
static int federation_run(struct opts *o, const char *method, const char *not_joined,
			  void (*show)(FILE *f, json_t *reply, int64_t now))
{
	struct manager m;
	json_t *reply = NULL;
	int ret;

	if (o->nargs)
		return usage_error(o, "unexpected argument \"%s\"; see weft %s --help", o->args[0], o->cmd);
	if ((ret = manager_open(&m, o, true)) >= 0)
		return ret;
	ret = manager_call_except(&m, method, FEDERATION, NULL, &reply, 404);
	if (ret == 404)
		ret = failure(o, "this cluster has not joined a broker: %s", not_joined);
	else if (!ret && o->json)
		json_print(stdout, reply);
	else if (!ret)
		show(stdout, reply, time(NULL));
	json_decref(reply);
	manager_close(&m);
	return ret;
}

static void left(FILE *f, json_t *reply, int64_t now)
{
	left_print(f, reply);
}

int leave_main(int argc, char **argv)
{
	struct opts o;
	int ret;

	if ((ret = opts_parse(&o, "leave", leave_usage, OPT_MANAGER, argc, argv)) >= 0)
		return ret;
	return federation_run(&o, "DELETE", "there is nothing to leave", left);
}

/* --- weft clusters ------------------------------------------------------ */

static int idcmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The connection to cluster id, or NULL. */
static json_t *connection_of(json_t *connections, const char *id)
{
	json_t *c;
	size_t i;

	json_array_foreach(connections, i, c)
		if (jstr(c, "cluster") && !strcmp(jstr(c, "cluster"), id))
			return c;
	return NULL;
}

/* The table of connections to other clusters: with clusters (the broker's
 * {ID: [CIDR]}), a row for each of them but self, with its CIDRs; without,
 * a row for each connection. */
static void table_of(FILE *f, json_t *clusters, json_t *connections, const char *self, int indent, int64_t now)
{
	const char *header[] = { "CLUSTER", "CIDRS", "GATEWAY", "ENDPOINT", "STATUS", "ESTABLISHED", "HANDSHAKE",
				 "TRANSFER" };
	size_t cap = json_object_size(clusters) + json_array_size(connections), n = 0, i;
	const char **ids = calloc(cap ? cap : 1, sizeof(*ids)), *id;
	char cidrs[1024], est[32], hs[32], rx[32], tx[32], transfer[96], note[600];
	struct table t;
	json_t *v;

	if (!ids)
		return;
	/* The broker's clusters and whatever the gateway has a connection
	 * to (one that left may linger there), each once, by ID. */
	json_object_foreach(clusters, id, v)
		if (!self || strcmp(id, self))
			ids[n++] = id;
	json_array_foreach(connections, i, v)
		if ((id = jstr(v, "cluster")) && !json_object_get(clusters, id) && (!self || strcmp(id, self)))
			ids[n++] = id;
	qsort(ids, n, sizeof(*ids), idcmp);

	if (!clusters)
		memmove(&header[1], &header[2], 6 * sizeof(header[0]));
	table_init(&t, clusters ? 8 : 7, header);
	t.indent = indent;
	for (i = 0; i < n; ++i) {
		json_t *c = connection_of(connections, ids[i]);
		const char *status = jstr(c, "status"), *reason = jstr(c, "reason");
		const char *row[8] = { ids[i], "-", "-", "-", "-", "-", "-", "-" };

		if (i && !strcmp(ids[i], ids[i - 1]))
			continue; /* one connection to it is enough */
		if (json_object_get(clusters, ids[i]))
			row[1] = fmt_join(cidrs, sizeof(cidrs), json_object_get(clusters, ids[i]), ",");
		if (c) {
			snprintf(transfer, sizeof(transfer), "rx %s, tx %s",
				 fmt_bytes(rx, sizeof(rx), (uint64_t)jint(c, "rxBytes")),
				 fmt_bytes(tx, sizeof(tx), (uint64_t)jint(c, "txBytes")));
			row[2] = jstr(c, "hostname") ?: "-";
			row[3] = jstr(c, "endpoint") ?: "-";
			row[4] = status ?: "?";
			row[5] = fmt_ago_short(est, sizeof(est), jint(c, "established"), now);
			row[6] = fmt_ago_short(hs, sizeof(hs), jint(c, "latestHandshake"), now);
			row[7] = transfer;
		}
		if (!clusters)
			memmove(&row[1], &row[2], 6 * sizeof(row[0]));
		table_row(&t, row);
		/* Too long for a cell, and often what to do about it. */
		if (reason && *reason) {
			snprintf(note, sizeof(note), "  %s: %s", status ?: "?", reason);
			table_note(&t, note);
		}
	}
	table_print(&t, f);
	table_free(&t);
	free(ids);
}

void connections_print(FILE *f, json_t *connections, int indent, int64_t now)
{
	table_of(f, NULL, connections, NULL, indent, now);
}

/* "2027-01-15 08:00:05 UTC (5s left)", "... (ran out 10 seconds ago)" */
static void lease_print(FILE *f, int64_t until, int64_t now)
{
	char when[64], ago[128];

	if (!until)
		return;
	fprintf(f, "  lease until: %s", fmt_time(when, sizeof(when), until));
	if (until > now)
		fprintf(f, " (%llds left)\n", (long long)(until - now));
	else if (until == now)
		fprintf(f, " (runs out now)\n");
	else
		fprintf(f, " (ran out %s)\n", fmt_ago(ago, sizeof(ago), until, now));
}

void clusters_print(FILE *f, json_t *fed, int64_t now)
{
	json_t *gw = json_object_get(fed, "gateway"), *clusters = json_object_get(fed, "clusters");
	json_t *connections = json_object_get(gw, "connections"), *none;
	const char *self = jstr(fed, "clusterID");
	char buf[2048];
	size_t others = json_object_size(clusters) - (self && json_object_get(clusters, self) ? 1 : 0);

	fprintf(f, "cluster: %s\n", self ?: "(no ID)");
	fprintf(f, "  broker: %s\n", jstr(fed, "broker") ?: "(none)");
	fprintf(f, "  cable driver: %s\n", jstr(fed, "cableDriver") ?: cable_driver);
	fmt_join(buf, sizeof(buf), json_object_get(fed, "cidrs"), ", ");
	fprintf(f, "  cidrs: %s\n", buf[0] ? buf : "(none)");
	if (jint(fed, "joined"))
		fprintf(f, "  joined: %s\n", fmt_ago(buf, sizeof(buf), jint(fed, "joined"), now));
	if (json_is_object(gw)) {
		fprintf(f, "gateway: %s\n", jstr(gw, "node") ?: "(no node)");
		fprintf(f, "  since: %s\n", fmt_ago(buf, sizeof(buf), jint(gw, "since"), now));
		lease_print(f, jint(gw, "until"), now);
	} else {
		fprintf(f, "no active gateway: start weftd --gateway on a node and allow it (weft node gateway NAME --allow)\n");
	}
	if (!others && !json_array_size(connections)) {
		fprintf(f, "no other cluster has joined the broker yet\n");
		return;
	}
	fputc('\n', f);
	none = json_object(); /* the column stays, empty */
	table_of(f, json_is_object(clusters) ? clusters : none, connections, self, 0, now);
	json_decref(none);
}

int clusters_main(int argc, char **argv)
{
	struct opts o;
	int ret;

	if ((ret = opts_parse(&o, "clusters", clusters_usage, OPT_JSON | OPT_MANAGER, argc, argv)) >= 0)
		return ret;
	return federation_run(&o, "GET", "weft join BROKER-INFO --cluster-id ID", clusters_print);
}
