// SPDX-License-Identifier: MIT
/* weft nodes: the cluster's nodes, from the manager; weft node remove, and
 * weft node gateway (which nodes may be the cluster's gateway). */
#include "weft.h"

#include <string.h>
#include <time.h>

static const char nodes_usage[] =
	"Usage: weft nodes [--json] [--manager URLS] [--ca FILE] [--token-file FILE] [--config FILE]\n"
	"The cluster's nodes, from the manager: name, endpoint, subnets, public key, last seen.\n"
	"A reader token is enough (the manager's STATE/reader.token).\n";

static const char node_usage[] =
	"Usage: weft node remove NAME [--json] [--manager URLS] [--ca FILE] [--token-file FILE]\n"
	"       weft node gateway NAME --allow|--deny [--json] [--manager URLS] [--ca FILE] [--token-file FILE]\n"
	"remove: takes a node out of the cluster: its subnets are released (handed out again only\n"
	"after the manager's --subnet-reuse-after) and the other nodes drop it as a peer. A weftd\n"
	"still running there registers again at its next start.\n"
	"gateway: allows a node to be the cluster's gateway to other clusters (its weftd runs with\n"
	"--gateway), or takes that back; a gateway that is denied steps down. A node cannot allow\n"
	"itself. Both need the admin token.\n";

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

/* A DNS label, as the manager takes node names: it also goes in a URL. */
static bool name_ok(const char *s)
{
	size_t n = strlen(s);

	return n && n <= 63 && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n && s[0] != '-' && s[n - 1] != '-';
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
	if (o.nargs != 1)
		return usage_error(&o, "give one node name (weft nodes lists them)");
	if (!name_ok(o.args[0]))
		return usage_error(&o, "\"%s\" is not a node name (a DNS label: a-z, 0-9 and '-', at most 63)", o.args[0]);
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
	if (o.nargs != 1)
		return usage_error(&o, "give one node name (weft nodes lists them)");
	if (!name_ok(o.args[0]))
		return usage_error(&o, "\"%s\" is not a node name (a DNS label: a-z, 0-9 and '-', at most 63)", o.args[0]);
	if (!o.grant)
		return usage_error(&o, "give --allow (it may be the gateway) or --deny (it may not)");
	snprintf(path, sizeof(path), "/v1/nodes/%s/gateway-candidate", o.args[0]);
	body = json_pack("{s:b}", "allowed", o.grant > 0);
	return manager_run(&o, "PUT", path, body, granted); /* it takes body */
}

int node_main(int argc, char **argv)
{
	static const struct subcommand subs[] = { { "remove", node_remove }, { "gateway", node_gateway }, { NULL, NULL } };

	return subcommand_run("node", node_usage, subs, argc, argv);
}
