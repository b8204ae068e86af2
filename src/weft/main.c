// SPDX-License-Identifier: MIT
/*
 * weft: the command line of a weft cluster (docs/cli.md).
 *
 *   weft status | pods                      this node, from its agent
 *   weft nodes | node remove NAME           the cluster, from the manager
 *   weft clients | client add|config|remove external clients dialing in
 *   weft token create | list | delete ID    join tokens
 *   weft token rotate [--reader]            new admin and reader tokens
 *   weft diagnose SRC DST                   why two pods cannot talk
 *   weft lab up | check | status | down     the whole system in namespaces
 *   weft broker-info create                 what clusters join a broker with
 *   weft join FILE | leave | clusters       this cluster and the others
 */
#include <stdio.h>
#include <string.h>

#include "crypto/crypto.h"
#include "weft.h"

static const struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *what;
} commands[] = {
	{ "status", status_main, "this node: its subnets, device, manager, and peers as wg show shows them" },
	{ "pods", pods_main, "the pods this node's agent has attached" },
	{ "nodes", nodes_main, "the cluster's nodes, from the manager" },
	{ "node", node_main, "node remove|gateway|credentials rotate NAME: a node of the cluster" },
	{ "clients", clients_main, "the cluster's external clients: machines that dial into it" },
	{ "client", client_main, "client add|config|remove NAME: an external client's key, address and wg-quick file" },
	{ "token", token_main, "token create|list|delete|rotate: join tokens; new admin and reader tokens" },
	{ "diagnose", diagnose_main, "diagnose SRC DST: why two pods (or nodes) cannot talk" },
	{ "lab", lab_main, "lab up|check|status|down: a whole cluster on this machine, in namespaces" },
	{ "broker-info", broker_info_main, "broker-info create: a broker's URL, CA and join token, for clusters to join" },
	{ "join", join_main, "join BROKER-INFO --cluster-id ID: joins this cluster to a broker's clusters" },
	{ "leave", leave_main, "takes this cluster out of its broker" },
	{ "clusters", clusters_main, "this cluster at its broker, its gateway, and its connections to the others" },
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: weft COMMAND [options]\n\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); ++i)
		fprintf(f, "  %-11s %s\n", commands[i].name, commands[i].what);
	fprintf(f, "\nweft COMMAND --help tells more. The agent's commands take --socket PATH; the manager's\n"
		   "take --manager URLS, --ca FILE, --token-file FILE (or WEFT_MANAGER, WEFT_CA,\n"
		   "WEFT_TOKEN_FILE, or " CLI_CONFIG_DEFAULT "). Every read command takes --json.\n"
		   "Exit status: 0 done, 1 failed, 2 a usage error.\n");
}

int main(int argc, char **argv)
{
	crypto_wipe_json_frees(); /* replies carry tokens and credentials */
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); ++i)
		if (!strcmp(commands[i].name, argv[1]))
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "weft: unknown command \"%s\"; the commands: status, pods, nodes, node, clients, client, token, diagnose, lab, "
			"broker-info, join, leave, clusters (weft --help)\n", argv[1]);
	return EXIT_USAGE;
}
