// SPDX-License-Identifier: MIT
/* weft nodes: the cluster's nodes, from the manager; weft node remove,
 * weft node gateway (which nodes may be the cluster's gateway) and weft
 * node credentials rotate. */
#include "weft.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

static const char nodes_usage[] =
	"Usage: weft nodes [--json] [--manager URLS] [--ca FILE] [--token-file FILE] [--config FILE]\n"
	"The cluster's nodes, from the manager: name, endpoint, subnets, public key, last seen.\n"
	"A reader token is enough (the manager's STATE/reader.token).\n";

static const char node_usage[] =
	"Usage: weft node remove NAME [--json] [--manager URLS] [--ca FILE] [--token-file FILE]\n"
	"       weft node gateway NAME --allow|--deny [--json] [--manager URLS] [--ca FILE] [--token-file FILE]\n"
	"       weft node credentials rotate NAME [--wait SECONDS] [--manager URLS] [--ca FILE] [--token-file FILE]\n"
	"remove: takes a node out of the cluster: its subnets are released (handed out again only\n"
	"after the manager's --subnet-reuse-after) and the other nodes drop it as a peer. A weftd\n"
	"still running there registers again at its next start.\n"
	"gateway: allows a node to be the cluster's gateway to other clusters (its weftd runs with\n"
	"--gateway), or takes that back; a gateway that is denied steps down. A node cannot allow\n"
	"itself.\n"
	"credentials rotate: the node's agent takes a new credential from the manager and the old one\n"
	"stops working; waits for it (--wait, 30 s by default). A node that is down rotates when it\n"
	"is back. All three need the admin token.\n";

void nodes_print(FILE *f, json_t *reply, int64_t now)
{
	static const char *const header[] = { "NAME", "ENDPOINT", "SUBNETS", "PUBLIC KEY", "LAST SEEN" };
	json_t *nodes = json_object_get(reply, "nodes"), *node;
	char eps[512], subnets[512], seen[32];
	struct table t;
	size_t i;

	table_init(&t, 5, header);
	json_array_foreach(nodes, i, node) {
		const char *row[5] = {
			jstr(node, "name"),
			fmt_join(eps, sizeof(eps), json_object_get(node, "endpoints"), ","),
			fmt_join(subnets, sizeof(subnets), json_object_get(node, "subnets"), ","),
			jstr(node, "publicKey"),
			fmt_ago_short(seen, sizeof(seen), json_integer_value(json_object_get(node, "lastSeen")), now),
		};

		table_row(&t, row);
	}
	table_print(&t, f);
	table_free(&t);
}

static void listed(struct opts *o, json_t *reply)
{
	if (!json_array_size(json_object_get(reply, "nodes")))
		fprintf(stderr, "no nodes: none has joined yet (weft token create makes a join token)\n");
	else
		nodes_print(stdout, reply, time(NULL));
}

int nodes_main(int argc, char **argv)
{
	struct opts o;
	int ret;

	if ((ret = opts_parse(&o, "nodes", nodes_usage, OPT_JSON | OPT_MANAGER, argc, argv)) >= 0)
		return ret;
	if (o.nargs)
		return usage_error(&o, "unexpected argument \"%s\"; see weft nodes --help", o.args[0]);
	return manager_run(&o, "GET", "/v1/nodes", NULL, listed);
}

static void removed(struct opts *o, json_t *reply)
{
	printf("removed node %s\n", o->args[0]);
}

static int node_remove(int argc, char **argv)
{
	char path[128];
	struct opts o;
	int ret;

	if ((ret = opts_parse(&o, "node remove", node_usage, OPT_JSON | OPT_MANAGER, argc, argv)) >= 0)
		return ret;
	if ((ret = opts_one_name(&o, "node", "weft nodes")) >= 0)
		return ret;
	snprintf(path, sizeof(path), "/v1/nodes/%s", o.args[0]);
	return manager_run(&o, "DELETE", path, NULL, removed);
}

static void granted(struct opts *o, json_t *reply)
{
	printf("node %s %s\n", o->args[0], o->grant > 0 ? "may be a gateway now" : "may no longer be a gateway");
}

static int node_gateway(int argc, char **argv)
{
	char path[160];
	struct opts o;
	json_t *body;
	int ret;

	if ((ret = opts_parse(&o, "node gateway", node_usage, OPT_JSON | OPT_MANAGER | OPT_GRANT, argc, argv)) >= 0)
		return ret;
	if ((ret = opts_one_name(&o, "node", "weft nodes")) >= 0)
		return ret;
	if (!o.grant)
		return usage_error(&o, "give --allow (it may be the gateway) or --deny (it may not)");
	snprintf(path, sizeof(path), "/v1/nodes/%s/gateway-candidate", o.args[0]);
	body = json_pack("{s:b}", "allowed", o.grant > 0);
	return manager_run(&o, "PUT", path, body, granted); /* it takes body */
}

enum { ROTATE_WAIT_S = 30 };

/* The record's rotation, once asked at `asked`: done (1), not yet (0). */
static int rotation_done(json_t *rec, int64_t asked)
{
	json_t *rot = json_object_get(rec, "credentialRotation");

	return !json_object_get(rot, "requested") && json_integer_value(json_object_get(rot, "rotated")) >= asked;
}

/* Asks the node's agent to rotate its credential, and waits for it: the
 * manager marks the node's record, the agent sees it in its long poll,
 * takes a new credential and confirms it by using it. */
static int node_credentials_rotate(int argc, char **argv)
{
	char path[160], when[64];
	struct manager m;
	struct opts o;
	json_t *rec = NULL;
	int64_t asked, deadline;
	int ret;

	if ((ret = opts_parse(&o, "node credentials rotate", node_usage, OPT_MANAGER | OPT_WAIT, argc, argv)) >= 0)
		return ret;
	if ((ret = opts_one_name(&o, "node", "weft nodes")) >= 0)
		return ret;
	if ((ret = manager_open(&m, &o, true)) >= 0)
		return ret;
	snprintf(path, sizeof(path), "/v1/nodes/%s/credential-rotation", o.args[0]);
	if ((ret = manager_call(&m, "POST", path, NULL, &rec)))
		goto out;
	asked = json_integer_value(json_object_get(json_object_get(rec, "credentialRotation"), "requested"));
	deadline = time(NULL) + (o.wait ? o.wait : ROTATE_WAIT_S);
	snprintf(path, sizeof(path), "/v1/nodes/%s", o.args[0]);
	while (!(ret = rotation_done(rec, asked)) && time(NULL) < deadline) {
		usleep(500 * 1000);
		json_decref(rec);
		rec = NULL;
		if ((ret = manager_call(&m, "GET", path, NULL, &rec)))
			goto out;
	}
	if (ret) {
		printf("node %s rotated its credential at %s; the old one no longer works\n", o.args[0],
		       fmt_time(when, sizeof(when),
				json_integer_value(json_object_get(json_object_get(rec, "credentialRotation"), "rotated"))));
		ret = EXIT_OK;
	} else {
		ret = failure(&o, "node %s has not taken a new credential within %lld s: is its weftd running and in "
				  "touch with the manager (weft nodes shows when it was last seen)? The request stays: "
				  "the node rotates its credential when it is next in touch",
			      o.args[0], (long long)(o.wait ? o.wait : ROTATE_WAIT_S));
	}
out:
	json_decref(rec);
	manager_close(&m);
	return ret;
}

static int node_credentials(int argc, char **argv)
{
	static const struct subcommand subs[] = { { "rotate", node_credentials_rotate }, { NULL, NULL } };

	return subcommand_run("node credentials", node_usage, subs, argc, argv);
}

int node_main(int argc, char **argv)
{
	static const struct subcommand subs[] = {
		{ "remove", node_remove },
		{ "gateway", node_gateway },
		{ "credentials", node_credentials },
		{ NULL, NULL },
	};

	return subcommand_run("node", node_usage, subs, argc, argv);
}
