// SPDX-License-Identifier: MIT
/*
 * weft status: this node as its agent sees it (the node, the manager, the
 * WireGuard device, each peer as wg(8) shows it); weft pods: its pods.
 */
#include "cni/args.h"
#include "weft.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char status_usage[] =
	"Usage: weft status [--socket PATH] [--json]\n"
	"This node as its agent (weftd) sees it: the node and its subnets, the manager, the\n"
	"other clusters (the gateway and each connection's status; on the gateway node its\n"
	"connections in full), pods' egress (masqueraded, and to which subnets not), the\n"
	"WireGuard device, and each peer with its latest handshake and transfer.\n"
	"  --socket PATH   the agent's socket (default /run/weft/weftd.sock)\n"
	"  --json          the agent's answer as it is\n";

static const char pods_usage[] =
	"Usage: weft pods [--socket PATH] [--json]\n"
	"The pods this node's agent has attached: container, interface, mode, addresses, netns.\n"
	"  --socket PATH   the agent's socket (default /run/weft/weftd.sock)\n"
	"  --json          the agent's answer as it is\n";

/* "  key: a, b, c" when the list has anything. */
static void list_line(FILE *f, const char *label, json_t *array)
{
	char buf[2048];

	if (json_array_size(array))
		fprintf(f, "  %s: %s\n", label, fmt_join(buf, sizeof(buf), array, ", "));
}

static void node_print(FILE *f, json_t *node)
{
	if (!node) {
		fprintf(f, "node: not in a cluster (weftd runs without --manager)\n");
		return;
	}
	fprintf(f, "node: %s\n", jstr(node, "name") ?: "(no name)");
	list_line(f, "subnets", json_object_get(node, "subnets"));
	list_line(f, "tunnel addresses", json_object_get(node, "tunnelAddresses"));
	list_line(f, "endpoints", json_object_get(node, "endpoints"));
	if (jstr(node, "publicKey"))
		fprintf(f, "  public key: %s\n", jstr(node, "publicKey"));
}

static void manager_print(FILE *f, json_t *mgr, int64_t now)
{
	char ago[128];
	int64_t rev = jint(mgr, "revision");

	fprintf(f, "manager: %s\n", jstr(mgr, "urls") ?: "(no URL)");
	fprintf(f, "  connected: %s", json_is_true(json_object_get(mgr, "connected")) ? "yes" : "no");
	if (rev)
		fprintf(f, ", revision %lld", (long long)rev);
	fprintf(f, "\n  last contact: %s\n", fmt_ago(ago, sizeof(ago), jint(mgr, "lastContact"), now));
	if (jstr(mgr, "error") && *jstr(mgr, "error"))
		fprintf(f, "  last error: %s\n", jstr(mgr, "error"));
}

/* The other clusters as every node sees them: through which of our nodes,
 * and each connection's status as the gateway last reported it. The
 * active gateway shows them in full instead (gateway_print). */
static void seen_clusters_print(FILE *f, json_t *cl, int64_t now)
{
	json_t *conns = json_object_get(cl, "connections"), *c;
	char buf[1024];
	size_t i;

	fprintf(f, "clusters: through gateway %s", jstr(cl, "gateway") ?: "?");
	if (jint(cl, "since"))
		fprintf(f, " (since %s)", fmt_ago(buf, sizeof(buf), jint(cl, "since"), now));
	fprintf(f, "\n");
	if (!json_array_size(conns))
		fprintf(f, "  no other cluster has an active gateway\n");
	json_array_foreach(conns, i, c)
		fprintf(f, "  %s: %s, %s\n", jstr(c, "cluster") ?: "?", jstr(c, "status") ?: "unknown",
			fmt_join(buf, sizeof(buf), json_object_get(c, "subnets"), ", "));
}

/* A node started with weftd --gateway: its device to other clusters'
 * gateways, and the connections it holds while it has the lease. */
static void gateway_print(FILE *f, json_t *gw, int64_t now)
{
	json_t *connections = json_object_get(gw, "connections");
	bool active = json_is_true(json_object_get(gw, "active"));
	const char *cluster = jstr(gw, "cluster");

	if (active)
		fprintf(f, "gateway: active%s%s\n", cluster ? ", cluster " : "", cluster ?: "");
	else
		fprintf(f, "gateway: standby (not holding the gateway lease)\n");
	if (jstr(gw, "device"))
		fprintf(f, "  device: %s\n", jstr(gw, "device"));
	if (jint(gw, "port"))
		fprintf(f, "  listening port: %lld\n", (long long)jint(gw, "port"));
	if (jstr(gw, "publicKey"))
		fprintf(f, "  public key: %s\n", jstr(gw, "publicKey"));
	if (json_array_size(connections))
		connections_print(f, connections, 2, now);
	else if (active)
		fprintf(f, "  connections: none (no other cluster has an active gateway)\n");
}

/* Pods' egress: masqueraded to the node's address, but not to the
 * subnets listed (the cluster's, other clusters') nor from the pods
 * listed; to other nodes' addresses always. */
static void masq_print(FILE *f, json_t *m)
{
	if (!json_is_true(json_object_get(m, "enabled")))
		fprintf(f, "masquerade: off (pods' egress keeps its pod address%s)\n",
			json_array_size(json_object_get(m, "nodes")) ? ", but to the cluster's nodes" : "");
	else if (!json_array_size(json_object_get(m, "podSubnets")))
		fprintf(f, "masquerade: on, no pod subnet yet\n");
	else
		fprintf(f, "masquerade: %s (table %s)\n", json_is_true(json_object_get(m, "applied")) ? "on" : "failed",
			jstr(m, "table") ?: "?");
	list_line(f, "from", json_object_get(m, "podSubnets"));
	list_line(f, "except to", json_object_get(m, "excluded"));
	list_line(f, "and from", json_object_get(m, "direct"));
	list_line(f, "always to nodes", json_object_get(m, "nodes"));
	if (jstr(m, "error"))
		fprintf(f, "  error: %s\n", jstr(m, "error"));
}

static void device_print(FILE *f, json_t *dev)
{
	if (!dev) {
		fprintf(f, "device: none yet\n");
		return;
	}
	fprintf(f, "device: %s\n", jstr(dev, "name") ?: "(no name)");
	fprintf(f, "  backend: %s\n", jstr(dev, "backend") ?: "unknown");
	if (jstr(dev, "publicKey"))
		fprintf(f, "  public key: %s\n", jstr(dev, "publicKey"));
	if (jint(dev, "listenPort"))
		fprintf(f, "  listening port: %lld\n", (long long)jint(dev, "listenPort"));
}

static void peer_print(FILE *f, json_t *peer, int64_t now)
{
	char buf[2048], rx[32], tx[32];
	json_t *pod = json_object_get(peer, "pod");
	int64_t keepalive = jint(peer, "persistentKeepalive");

	fprintf(f, "\npeer: %s\n", jstr(peer, "publicKey") ?: "(no key)");
	/* weftd names an external client's peer "client:NAME" (docs/clusters.md). */
	if (jstr(peer, "node") && !strncmp(jstr(peer, "node"), "client:", 7))
		fprintf(f, "  external client: %s\n", jstr(peer, "node") + 7);
	else if (jstr(peer, "node"))
		fprintf(f, "  node: %s\n", jstr(peer, "node"));
	if (pod)
		fprintf(f, "  pod: %s/%s\n", jstr(pod, "containerID") ?: "?", jstr(pod, "ifname") ?: "?");
	if (jstr(peer, "endpoint"))
		fprintf(f, "  endpoint: %s\n", jstr(peer, "endpoint"));
	fmt_join(buf, sizeof(buf), json_object_get(peer, "allowedIPs"), ", ");
	fprintf(f, "  allowed ips: %s\n", buf[0] ? buf : "(none)");
	fprintf(f, "  latest handshake: %s\n", fmt_ago(buf, sizeof(buf), jint(peer, "latestHandshake"), now));
	fprintf(f, "  transfer: %s received, %s sent\n", fmt_bytes(rx, sizeof(rx), (uint64_t)jint(peer, "rxBytes")),
		fmt_bytes(tx, sizeof(tx), (uint64_t)jint(peer, "txBytes")));
	if (keepalive)
		fprintf(f, "  persistent keepalive: every %lld second%s\n", (long long)keepalive, keepalive == 1 ? "" : "s");
}

/* Nodes first, by name; then pods, by container. */
static int peer_cmp(const void *a, const void *b)
{
	json_t *pa = *(json_t *const *)a, *pb = *(json_t *const *)b;
	const char *na = jstr(pa, "node"), *nb = jstr(pb, "node");
	const char *ca = jstr(json_object_get(pa, "pod"), "containerID");
	const char *cb = jstr(json_object_get(pb, "pod"), "containerID");

	if (!!na != !!nb)
		return na ? -1 : 1;
	if (na)
		return strcmp(na, nb);
	return strcmp(ca ?: "", cb ?: "");
}

void status_print(FILE *f, json_t *show, int64_t now)
{
	json_t *peers = json_object_get(show, "peers"), **sorted;
	json_t *mgr = json_object_get(show, "manager");
	size_t n = json_array_size(peers), npods = json_array_size(json_object_get(show, "pods"));

	node_print(f, json_object_get(show, "node"));
	if (mgr)
		manager_print(f, mgr, now);
	if (json_is_object(json_object_get(show, "clusters")) &&
	    !json_is_true(json_object_get(json_object_get(show, "gateway"), "active")))
		seen_clusters_print(f, json_object_get(show, "clusters"), now);
	if (json_is_object(json_object_get(show, "gateway")))
		gateway_print(f, json_object_get(show, "gateway"), now);
	if (json_is_object(json_object_get(show, "masquerade")))
		masq_print(f, json_object_get(show, "masquerade"));
	device_print(f, json_object_get(show, "device"));
	fprintf(f, "pods: %zu%s\n", npods, npods ? " (weft pods lists them)" : "");
	if (!n)
		return;
	if (!(sorted = calloc(n, sizeof(*sorted))))
		return;
	for (size_t i = 0; i < n; ++i)
		sorted[i] = json_array_get(peers, i);
	qsort(sorted, n, sizeof(*sorted), peer_cmp);
	for (size_t i = 0; i < n; ++i)
		peer_print(f, sorted[i], now);
	free(sorted);
}

void pods_print(FILE *f, json_t *show)
{
	static const char *const header[] = { "CONTAINER", "POD", "IFNAME", "MODE", "NETWORK", "ADDRESSES", "NETNS" };
	json_t *pods = json_object_get(show, "pods"), *pod;
	struct table t;
	char addrs[1024], owner[600];
	size_t i;

	table_init(&t, 7, header);
	json_array_foreach(pods, i, pod) {
		struct cni_owner o;
		const char *row[7];
		char shortid[13];

		cni_owner_from_json(json_object_get(pod, "owner"), &o);
		row[0] = jstr(pod, "containerID");
		row[1] = cni_owner_str(&o, owner, sizeof(owner));
		row[2] = jstr(pod, "interface") ?: jstr(pod, "ifname");
		row[3] = jstr(pod, "mode");
		row[4] = jstr(pod, "network");
		row[5] = fmt_join(addrs, sizeof(addrs), json_object_get(pod, "addresses"), ",");
		row[6] = jstr(pod, "netns");
		/* A runtime's 64-hex ID, shortened as runtimes show it. */
		if (row[0] && strlen(row[0]) == 64 && strspn(row[0], "0123456789abcdef") == 64) {
			snprintf(shortid, sizeof(shortid), "%.12s", row[0]);
			row[0] = shortid;
		}
		table_row(&t, row);
	}
	table_print(&t, f);
	table_free(&t);
}

static int show_main(int argc, char **argv, const char *cmd, const char *usage, bool pods)
{
	struct opts o;
	json_t *show;
	int ret;

	if ((ret = opts_parse(&o, cmd, usage, OPT_JSON | OPT_SOCKET, argc, argv)) >= 0)
		return ret;
	if (o.nargs)
		return usage_error(&o, "unexpected argument \"%s\"; see weft %s --help", o.args[0], cmd);
	if (!(show = agent_show(&o, &ret)))
		return ret;
	if (o.json)
		json_print(stdout, show);
	else if (pods && !json_array_size(json_object_get(show, "pods")))
		fprintf(stderr, "no pods on this node\n");
	else if (pods)
		pods_print(stdout, show);
	else
		status_print(stdout, show, time(NULL));
	json_decref(show);
	return EXIT_OK;
}

int status_main(int argc, char **argv)
{
	return show_main(argc, argv, "status", status_usage, false);
}

int pods_main(int argc, char **argv)
{
	return show_main(argc, argv, "pods", pods_usage, true);
}
