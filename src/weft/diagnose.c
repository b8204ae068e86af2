// SPDX-License-Identifier: MIT
/*
 * weft diagnose SRC DST: what an operator checks, in order, when two pods
 * cannot talk, from the node it runs on. Where each end is (which node,
 * which pod); the way out of the source pod; on this node, the route and
 * the WireGuard peer whose allowed IPs cover the destination, its endpoint,
 * handshake and transfer; what the manager says of both nodes. It says
 * what it cannot see (the other node's side) rather than guess.
 *
 * One file of about 700 lines on purpose: the checks are one sequence, each
 * step reading what the one before found, and they read best in order.
 */
#include "weft.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/netns.h"
#include "nl/nl.h"
#include "proc.h"
#include "util/addr.h"

/* A session lapses this long after its handshake (WireGuard's
 * REJECT_AFTER_TIME); an agent unheard of this long is likely down. */
enum { SESSION_SECONDS = 180, SILENT_SECONDS = 300, PINGS = 3 };

static const char diagnose_usage[] =
	"Usage: weft diagnose SRC DST [--no-ping] [--json] [--socket PATH]\n"
	"                     [--manager URLS] [--ca FILE] [--token-file FILE] [--config FILE]\n"
	"Why SRC cannot reach DST, as far as this node can see. SRC and DST are pod addresses,\n"
	"node names (their tunnel addresses) or IDs of pods on this node. Run it on SRC's node:\n"
	"it checks the way out of SRC's namespace, this node's route and WireGuard peer for DST\n"
	"(allowed IPs, endpoint, latest handshake, transfer), and, given the manager, that both\n"
	"nodes are registered with the keys and endpoints this node uses. When SRC is a pod here\n"
	"it pings DST from inside it first (--no-ping: don't). Exit status 1 when it finds a problem.\n";

struct ip {
	int family;
	uint8_t a[16];
};

struct end {
	const char *input, *role;
	struct ip ip;
	char addr[INET6_ADDRSTRLEN];
	char node[64];	 /* the node holding it, or "" */
	char subnet[64]; /* the node subnet it is in, or "" */
	json_t *pod;	 /* a pod on this node (borrowed), or NULL */
	bool is_node;	 /* a node's own tunnel address */
};

struct diag {
	const struct opts *o;
	json_t *show, *nodes; /* nodes: the manager's list, or NULL */
	json_t *before;	      /* the agent's answer from before the ping, or NULL */
	const char *me, *device;
	json_t *report; /* {"checks": [...]} for --json */
	int problems;
	int64_t now;
};

enum level { INFO, OK, WARN, FAIL };

static void say(struct diag *d, enum level lvl, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(struct diag *d, enum level lvl, const char *fmt, ...)
{
	static const char *const names[] = { "info", "ok", "warn", "FAIL" };
	char text[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (lvl == FAIL)
		++d->problems;
	if (d->o->json)
		json_array_append_new(json_object_get(d->report, "checks"),
				      json_pack("{s:s, s:s}", "level", names[lvl], "text", text));
	else
		printf("  %-5s %s\n", names[lvl], text);
}

static void section(struct diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void section(struct diag *d, const char *fmt, ...)
{
	va_list ap;

	if (d->o->json)
		return;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* --- addresses and prefixes ------------------------------------------------ */

static bool ip_parse(const char *s, struct ip *ip)
{
	memset(ip, 0, sizeof(*ip));
	if (inet_pton(AF_INET, s, ip->a) == 1)
		ip->family = AF_INET;
	else if (inet_pton(AF_INET6, s, ip->a) == 1)
		ip->family = AF_INET6;
	return ip->family != 0;
}

/* "10.0.0.0/24" or a bare address (a host prefix). */
static bool prefix_parse(const char *s, struct ip *net, int *len)
{
	uint8_t cidr;

	if (!s)
		return false;
	if (!strchr(s, '/')) {
		*len = 0;
		if (!ip_parse(s, net))
			return false;
		*len = net->family == AF_INET ? 32 : 128;
		return true;
	}
	memset(net, 0, sizeof(*net));
	if (addr_parse_prefix(s, &net->family, net->a, &cidr))
		return false;
	*len = cidr;
	return true;
}

static bool prefix_has(const struct ip *net, int len, const struct ip *ip)
{
	int full = len / 8, rest = len % 8;

	if (net->family != ip->family)
		return false;
	if (memcmp(net->a, ip->a, (size_t)full))
		return false;
	return !rest || !((net->a[full] ^ ip->a[full]) & (0xff << (8 - rest)));
}

/* The longest prefix in a JSON array of strings that holds ip: its length
 * (with the prefix's text in *which), or -1. */
static int best_match(json_t *array, const struct ip *ip, const char **which)
{
	int best = -1, len;
	struct ip net;
	json_t *v;
	size_t i;

	json_array_foreach(array, i, v) {
		if (prefix_parse(json_string_value(v), &net, &len) && prefix_has(&net, len, ip) && len > best) {
			best = len;
			if (which)
				*which = json_string_value(v);
		}
	}
	return best;
}

/* Is ip one of the addresses in a JSON array of "ADDR/LEN" or "ADDR"?
 * Only the address counts: a pod's may carry its pool's length. */
static bool holds(json_t *array, const struct ip *ip)
{
	struct ip a;
	json_t *v;
	size_t i;
	int len;

	json_array_foreach(array, i, v)
		if (prefix_parse(json_string_value(v), &a, &len) && a.family == ip->family &&
		    !memcmp(a.a, ip->a, a.family == AF_INET ? 4 : 16))
			return true;
	return false;
}

/* The first address of a family in a JSON array of prefixes or addresses:
 * a node's tunnel address is the first host of its subnet. */
static bool first_of_family(json_t *array, int family, bool first_host, struct ip *out)
{
	int len;
	json_t *v;
	size_t i;

	json_array_foreach(array, i, v) {
		if (!prefix_parse(json_string_value(v), out, &len) || (family && out->family != family))
			continue;
		if (first_host)
			out->a[out->family == AF_INET ? 3 : 15] |= 1;
		return true;
	}
	return false;
}

/* --- where each end is ------------------------------------------------------ */

static json_t *manager_node(struct diag *d, const char *name)
{
	json_t *n;
	size_t i;

	json_array_foreach(d->nodes, i, n)
		if (name && jstr(n, "name") && !strcmp(jstr(n, "name"), name))
			return n;
	return NULL;
}

static json_t *peer_of_node(struct diag *d, const char *name)
{
	json_t *p;
	size_t i;

	json_array_foreach(json_object_get(d->show, "peers"), i, p)
		if (name && jstr(p, "node") && !strcmp(jstr(p, "node"), name))
			return p;
	return NULL;
}

static void locate(struct diag *d, struct end *e)
{
	json_t *pod, *n, *p, *local = json_object_get(d->show, "node");
	const char *which = NULL;
	int best = -1, len;
	size_t i;

	json_array_foreach(json_object_get(d->show, "pods"), i, pod)
		if (holds(json_object_get(pod, "addresses"), &e->ip)) {
			e->pod = pod;
			snprintf(e->node, sizeof(e->node), "%s", d->me ?: "");
		}
	/* The nodes' subnets: the manager's list, else what this node knows. */
	json_array_foreach(d->nodes, i, n) {
		if ((len = best_match(json_object_get(n, "subnets"), &e->ip, &which)) > best) {
			best = len;
			snprintf(e->node, sizeof(e->node), "%s", jstr(n, "name") ?: "");
			snprintf(e->subnet, sizeof(e->subnet), "%s", which);
		}
		if (holds(json_object_get(n, "tunnelAddresses"), &e->ip))
			e->is_node = true;
	}
	if (best < 0 && local && (len = best_match(json_object_get(local, "subnets"), &e->ip, &which)) >= 0) {
		best = len;
		snprintf(e->node, sizeof(e->node), "%s", d->me ?: "");
		snprintf(e->subnet, sizeof(e->subnet), "%s", which);
		e->is_node = holds(json_object_get(local, "tunnelAddresses"), &e->ip);
	}
	if (best < 0)
		json_array_foreach(json_object_get(d->show, "peers"), i, p)
			if (jstr(p, "node") && (len = best_match(json_object_get(p, "allowedIPs"), &e->ip, &which)) > best) {
				best = len;
				snprintf(e->node, sizeof(e->node), "%s", jstr(p, "node"));
				snprintf(e->subnet, sizeof(e->subnet), "%s", which);
			}
}

/* A node by name: its tunnel address of the family asked (0: any). */
static bool resolve_node(struct diag *d, struct end *e, int family)
{
	json_t *n = manager_node(d, e->input), *local = json_object_get(d->show, "node"), *p;

	if (n && first_of_family(json_object_get(n, "tunnelAddresses"), family, false, &e->ip))
		goto found;
	if (d->me && !strcmp(d->me, e->input) &&
	    first_of_family(json_object_get(local, "tunnelAddresses"), family, false, &e->ip))
		goto found;
	if ((p = peer_of_node(d, e->input)) && first_of_family(json_object_get(p, "allowedIPs"), family, true, &e->ip))
		goto found;
	return false;
found:
	snprintf(e->node, sizeof(e->node), "%s", e->input);
	e->is_node = true;
	return true;
}

/* A pod on this node by container ID, or a unique prefix of one. */
static bool resolve_pod(struct diag *d, struct end *e, int family)
{
	json_t *pod, *found = NULL;
	size_t i, n = strlen(e->input);
	int matches = 0;

	json_array_foreach(json_object_get(d->show, "pods"), i, pod) {
		const char *id = jstr(pod, "containerID");

		if (id && !strcmp(id, e->input)) {
			found = pod;
			matches = 1;
			break;
		}
		if (id && n >= 4 && !strncmp(id, e->input, n)) {
			found = pod;
			++matches;
		}
	}
	if (matches != 1 || !first_of_family(json_object_get(found, "addresses"), family, false, &e->ip))
		return false;
	e->pod = found;
	snprintf(e->node, sizeof(e->node), "%s", d->me ?: "");
	return true;
}

static int resolve(struct diag *d, struct end *e, int family)
{
	if (ip_parse(e->input, &e->ip)) {
		locate(d, e);
	} else if (!resolve_node(d, e, family) && !resolve_pod(d, e, family)) {
		return usage_error(d->o, "%s \"%s\": not an address, a node (weft nodes) or a pod on this node "
					 "(weft pods)%s", e->role, e->input,
				   family ? " that has an address of the other end's family" : "");
	} else {
		struct end again = *e;

		locate(d, &again); /* the subnet it is in */
		snprintf(e->subnet, sizeof(e->subnet), "%s", again.subnet);
	}
	inet_ntop(e->ip.family, e->ip.a, e->addr, sizeof(e->addr));
	return -1;
}

static bool here(struct diag *d, const struct end *e)
{
	return e->pod || (d->me && !strcmp(e->node, d->me));
}

static void describe(struct diag *d, const struct end *e)
{
	char what[512];

	if (e->pod)
		snprintf(what, sizeof(what), "pod %s/%s on this node%s%s%s", jstr(e->pod, "containerID") ?: "?",
			 jstr(e->pod, "ifname") ?: "?", d->me ? " (" : "", d->me ?: "", d->me ? ")" : "");
	else if (e->is_node)
		snprintf(what, sizeof(what), "node %s's tunnel address%s", e->node, here(d, e) ? " (this node)" : "");
	else if (e->node[0])
		snprintf(what, sizeof(what), "on node %s%s, subnet %s", e->node, here(d, e) ? " (this node)" : "",
			 e->subnet);
	else
		snprintf(what, sizeof(what), "in no node's subnet");
	if (d->o->json)
		json_object_set_new(d->report, e->role,
				    json_pack("{s:s, s:s, s:s?, s:s?, s:b}", "address", e->addr, "what", what, "node",
					      e->node[0] ? e->node : NULL, "subnet", e->subnet[0] ? e->subnet : NULL,
					      "thisNode", here(d, e)));
	else
		printf("%-12s %s: %s\n", e->role, e->addr, what);
}

/* --- the checks --------------------------------------------------------------- */

/* Where the kernel would send ip, in the namespace at netns (NULL: ours):
 * the interface's name, or "" with *err. */
static int route_to(const char *netns, const struct ip *ip, char *dev, size_t len)
{
	struct nl_link link;
	struct nl nl;
	int ns = -1, oif = 0, ret;

	dev[0] = '\0';
	if (netns && (ns = netns_open(netns)) < 0)
		return ns;
	if (!(ret = nl_open(&nl, NETLINK_ROUTE, ns))) {
		if (!(ret = nl_route_lookup(&nl, ip->family, ip->a, 0, &oif, NULL)) &&
		    !(ret = nl_link_get(&nl, NULL, oif, &link)))
			snprintf(dev, len, "%s", link.name);
		nl_close(&nl);
	}
	if (ns >= 0)
		close(ns);
	return ret;
}

/* Pings dst from inside src's namespace (NULL: here): replies of PINGS. */
static int ping_from(const char *netns, const struct ip *dst, const char *addr)
{
	char count[8];
	char *argv[] = { "ping", dst->family == AF_INET6 ? "-6" : "-4", "-c", count, "-i", "0.2", "-W", "2", "-q",
			 (char *)addr, NULL };
	struct buf out = { 0 };
	const char *p;
	int sent = 0, got = 0, ret;

	snprintf(count, sizeof(count), "%d", PINGS);
	ret = proc_run(netns, argv, NULL, NULL, &out);
	if (ret < 0 || ret == 127 || !out.data || !(p = strstr(out.data, " packets transmitted"))) {
		got = -1;
	} else {
		while (p > out.data && p[-1] != '\n')
			--p;
		if (sscanf(p, "%d packets transmitted, %d", &sent, &got) != 2)
			got = -1;
	}
	buf_free(&out);
	return got;
}

/* The peer of this node's device whose allowed IPs cover ip best, as
 * WireGuard's cryptokey routing picks it. */
static json_t *peer_for(struct diag *d, const struct ip *ip, const char **prefix)
{
	json_t *p, *best = NULL;
	int len, most = -1;
	size_t i;

	json_array_foreach(json_object_get(d->show, "peers"), i, p)
		if ((len = best_match(json_object_get(p, "allowedIPs"), ip, prefix)) > most) {
			most = len;
			best = p;
		}
	if (best)
		best_match(json_object_get(best, "allowedIPs"), ip, prefix);
	return best;
}

static void check_agent(struct diag *d)
{
	json_t *mgr = json_object_get(d->show, "manager");
	char ago[128];

	section(d, "this node (%s):", d->me ?: "not in a cluster");
	if (!json_object_get(d->show, "node"))
		say(d, INFO, "not in a cluster (weftd has no --manager): it knows only its own pods");
	if (mgr && json_is_true(json_object_get(mgr, "connected")))
		say(d, OK, "its agent is connected to the manager (revision %lld, last contact %s)",
		    (long long)jint(mgr, "revision"), fmt_ago(ago, sizeof(ago), jint(mgr, "lastContact"), d->now));
	else if (mgr)
		say(d, FAIL, "its agent has lost the manager (last contact %s%s%s): it learns no new or changed node",
		    fmt_ago(ago, sizeof(ago), jint(mgr, "lastContact"), d->now), jstr(mgr, "error") ? "; " : "",
		    jstr(mgr, "error") ?: "");
	if (!json_object_get(d->show, "device"))
		say(d, json_object_get(d->show, "node") ? FAIL : INFO, "it has no WireGuard device yet");
	else
		say(d, OK, "device %s (%s), port %lld", d->device ?: "?",
		    jstr(json_object_get(d->show, "device"), "backend") ?: "?",
		    (long long)jint(json_object_get(d->show, "device"), "listenPort"));
}

static void check_source(struct diag *d, const struct end *src, const struct end *dst)
{
	const char *netns = src->pod ? jstr(src->pod, "netns") : NULL;
	char dev[IF_NAMESIZE];
	int got, ret;

	if (!here(d, src)) {
		section(d, "the source:");
		say(d, INFO, "%s is on node %s, not here: its side is seen from there (run weft diagnose on %s)",
		    src->addr, src->node[0] ? src->node : "(unknown)", src->node[0] ? src->node : "its node");
		return;
	}
	section(d, "the way out of the source:");
	if (src->pod && !netns) {
		say(d, WARN, "the agent gives no namespace for pod %s", jstr(src->pod, "containerID"));
	} else if ((ret = route_to(netns, &dst->ip, dev, sizeof(dev)))) {
		say(d, FAIL, "in %s, no route to %s: %s", netns ?: "this node's namespace", dst->addr, strerror(-ret));
	} else {
		say(d, OK, "in %s, %s goes via %s", netns ?: "this node's namespace", dst->addr, dev);
	}
	if (d->o->no_ping)
		return;
	got = ping_from(netns, &dst->ip, dst->addr);
	if (got < 0)
		say(d, WARN, "could not ping from %s (is ping installed?)", netns ?: "here");
	else if (got)
		say(d, OK, "ping %s from %s: %d of %d answered", dst->addr, netns ?: "this node", got, PINGS);
	else
		say(d, FAIL, "ping %s from %s: none of %d answered", dst->addr, netns ?: "this node", PINGS);
}

/* DST is on this node: a pod (mesh: its veth; hub: a peer of the hub) or
 * the node itself. */
static void check_local_dst(struct diag *d, const struct end *dst, json_t *peer, const char *dev)
{
	bool hub = dst->pod && jstr(dst->pod, "mode") && !strcmp(jstr(dst->pod, "mode"), "hub");
	json_t *pp = json_object_get(peer, "pod");

	if (!dst->pod) {
		say(d, dev[0] ? OK : FAIL, "%s is this node's own address%s%s", dst->addr, dev[0] ? ", on " : "",
		    dev);
		return;
	}
	if (hub && (!pp || strcmp(jstr(pp, "containerID") ?: "", jstr(dst->pod, "containerID") ?: "")))
		say(d, FAIL, "the hub %s has no peer for pod %s: re-add the pod (CNI DEL and ADD)", d->device ?: "",
		    jstr(dst->pod, "containerID"));
	else if (hub)
		say(d, OK, "the hub's peer %.10s... is pod %s, allowed %s", jstr(peer, "publicKey") ?: "",
		    jstr(dst->pod, "containerID"), dst->addr);
	if (!dev[0])
		say(d, FAIL, "no route to pod %s on this node: weftd adds one at ADD (restart weftd to rebuild it)",
		    dst->addr);
	else if (!hub && d->device && !strcmp(dev, d->device))
		say(d, FAIL, "pod %s on this node is routed into %s, not its veth", dst->addr, dev);
	else
		say(d, OK, "route to pod %s: dev %s", dst->addr, dev);
}

static void check_peer(struct diag *d, const struct end *dst, json_t *peer, const char *prefix)
{
	json_t *mn = manager_node(d, dst->node), *eps = json_object_get(mn, "endpoints");
	int64_t hs = jint(peer, "latestHandshake"), rx = jint(peer, "rxBytes"), tx = jint(peer, "txBytes");
	const char *ep = jstr(peer, "endpoint"), *key = jstr(peer, "publicKey") ?: "";
	char ago[128], rxs[32], txs[32], list[512];
	bool listed = false;
	json_t *v;
	size_t i;

	if (!peer) {
		say(d, FAIL, "no peer of %s allows %s: this node has not learned node %s's subnet (is its agent "
			     "connected to the manager? weft nodes lists the nodes)", d->device ?: "the device", dst->addr,
		    dst->node[0] ? dst->node : "(unknown)");
		return;
	}
	if (dst->node[0] && jstr(peer, "node") && strcmp(jstr(peer, "node"), dst->node))
		say(d, FAIL, "the peer allowing %s is node %s's, but %s is node %s's: a stale subnet?", prefix,
		    jstr(peer, "node"), dst->addr, dst->node);
	else
		say(d, OK, "peer %s (node %s) allows %s", key, jstr(peer, "node") ?: "?", prefix);
	if (mn && jstr(mn, "publicKey") && strcmp(jstr(mn, "publicKey"), key))
		say(d, FAIL, "the manager has key %s for %s, this node uses %s: the node's key changed and this agent "
			     "has not caught up", jstr(mn, "publicKey"), dst->node, key);
	json_array_foreach(eps, i, v)
		listed |= ep && json_string_value(v) && !strcmp(ep, json_string_value(v));
	if (!ep)
		say(d, FAIL, "the peer has no endpoint: this node cannot start a handshake (node %s registered none?)",
		    dst->node);
	else if (mn && !listed)
		say(d, WARN, "its endpoint %s is not one the manager has for %s (%s): it roamed, or is stale", ep,
		    dst->node, fmt_join(list, sizeof(list), eps, ", "));
	else
		say(d, OK, "its endpoint: %s%s", ep, mn ? ", as the manager has it" : "");
	if (!hs)
		say(d, tx ? FAIL : WARN, "no handshake with %s ever%s", dst->node,
		    tx ? ": it does not answer at that endpoint (UDP blocked? its weftd down? does it know this node?)"
		       : " (nothing sent to it yet?)");
	else if (d->now - hs > SESSION_SECONDS)
		say(d, WARN, "latest handshake %s: no session now (normal when idle: the next packet makes one)",
		    fmt_ago(ago, sizeof(ago), hs, d->now));
	else
		say(d, OK, "latest handshake: %s", fmt_ago(ago, sizeof(ago), hs, d->now));
	say(d, tx && !rx ? FAIL : INFO, "transfer: %s received, %s sent%s", fmt_bytes(rxs, sizeof(rxs), (uint64_t)rx),
	    fmt_bytes(txs, sizeof(txs), (uint64_t)tx), tx && !rx ? ": nothing has come back" : "");
	/* What the ping did to the counters tells which side is silent. */
	json_array_foreach(json_object_get(d->before, "peers"), i, v) {
		int64_t drx = rx - jint(v, "rxBytes"), dtx = tx - jint(v, "txBytes");

		if (strcmp(jstr(v, "publicKey") ?: "", key) || dtx <= 0)
			continue;
		if (drx <= 0)
			say(d, FAIL, "during the ping %lld bytes went to %s and none came back: the trouble is on its "
				     "side or between (is its weftd running? run weft diagnose there)", (long long)dtx,
			    dst->node);
		else
			say(d, OK, "during the ping %lld bytes went to %s and %lld came back", (long long)dtx, dst->node,
			    (long long)drx);
	}
}

static void check_node_side(struct diag *d, const struct end *dst)
{
	const char *prefix = "?";
	json_t *peer = peer_for(d, &dst->ip, &prefix);
	char dev[IF_NAMESIZE];
	int ret;

	section(d, "on this node, towards %s:", dst->addr);
	ret = route_to(NULL, &dst->ip, dev, sizeof(dev));
	if (here(d, dst)) {
		check_local_dst(d, dst, peer, dev);
		return;
	}
	if (!dst->node[0]) {
		say(d, FAIL, "%s is in no node's subnet: no node routes it (weft nodes lists the subnets)", dst->addr);
		return;
	}
	if (ret)
		say(d, FAIL, "no route to %s: %s", dst->addr, strerror(-ret));
	else if (d->device && strcmp(dev, d->device))
		say(d, FAIL, "%s is routed via %s, not the WireGuard device %s", dst->addr, dev, d->device);
	else
		say(d, OK, "route to %s: dev %s", dst->addr, dev);
	check_peer(d, dst, peer, prefix);
}

static void check_manager_node(struct diag *d, const char *name, const char *key, const char *what)
{
	json_t *n = manager_node(d, name);
	int64_t seen = jint(n, "lastSeen");
	char ago[32];

	if (!n) {
		say(d, FAIL, "%s (%s) is not registered: the other nodes do not know it", name, what);
		return;
	}
	fmt_ago_short(ago, sizeof(ago), seen, d->now);
	if (key && jstr(n, "publicKey") && strcmp(key, jstr(n, "publicKey")))
		say(d, FAIL, "%s (%s) is registered with key %s, but its device has %s: the other nodes use the old "
			     "one", name, what, jstr(n, "publicKey"), key);
	else if (!seen || d->now - seen > SILENT_SECONDS)
		say(d, WARN, "%s (%s) is registered, last seen %s: is its weftd running?", name, what, ago);
	else
		say(d, OK, "%s (%s) is registered, last seen %s", name, what, ago);
}

static void check_manager(struct diag *d, const struct end *src, const struct end *dst, const char *error)
{
	const char *key = jstr(json_object_get(d->show, "device"), "publicKey");

	section(d, "the manager:");
	if (!d->nodes) {
		say(d, error ? WARN : INFO, "not asked%s%s", error ? ": " : " (give --manager, --ca and --token-file to "
									     "compare with what it holds)", error ?: "");
		return;
	}
	if (d->me)
		check_manager_node(d, d->me, key, "this node");
	if (dst->node[0] && !here(d, dst))
		check_manager_node(d, dst->node, NULL, "the destination's node");
	if (src->node[0] && !here(d, src) && strcmp(src->node, dst->node))
		check_manager_node(d, src->node, NULL, "the source's node");
}

/* --- the command ----------------------------------------------------------- */

/* The manager's nodes if the CLI has access; else NULL, and *error says
 * why when access was given but failed. */
static json_t *fetch_nodes(const struct opts *o, char *error, size_t len)
{
	struct manager_access a;
	struct manager m;
	json_t *reply = NULL, *nodes;

	error[0] = '\0';
	if (manager_access_resolve(o, &a) >= 0) {
		snprintf(error, len, "the manager's settings are wrong (above)");
		return NULL;
	}
	if (!a.manager[0])
		return NULL;
	if (manager_open(&m, o, true) >= 0) {
		snprintf(error, len, "the manager's settings are wrong (above)");
		return NULL;
	}
	if (manager_call(&m, "GET", "/v1/nodes", NULL, &reply))
		snprintf(error, len, "the manager did not answer (above)");
	manager_close(&m);
	nodes = json_incref(json_object_get(reply, "nodes"));
	json_decref(reply);
	return nodes;
}

static void take_show(struct diag *d, json_t *show)
{
	json_decref(d->show);
	d->show = show;
	d->me = jstr(json_object_get(show, "node"), "name");
	d->device = jstr(json_object_get(show, "device"), "name");
}

int diagnose_main(int argc, char **argv)
{
	struct end src = { .role = "source" }, dst = { .role = "destination" };
	struct diag d = { .now = time(NULL) };
	struct opts o;
	char error[128];
	json_t *show, *first = NULL;
	int ret, family = 0;
	struct ip probe;

	if ((ret = opts_parse(&o, "diagnose", diagnose_usage, OPT_JSON | OPT_SOCKET | OPT_MANAGER | OPT_NO_PING, argc,
			      argv)) >= 0)
		return ret;
	if (o.nargs != 2)
		return usage_error(&o, "give two ends: weft diagnose SRC DST (pod addresses, node names, or pods here)");
	d.o = &o;
	src.input = o.args[0];
	dst.input = o.args[1];
	if (ip_parse(src.input, &probe))
		family = probe.family;
	if (ip_parse(dst.input, &probe)) {
		if (family && family != probe.family)
			return usage_error(&o, "\"%s\" and \"%s\" are of two families: give two IPv4 or two IPv6 addresses",
					   src.input, dst.input);
		family = probe.family;
	}
	if (!(show = agent_show(&o, &ret)))
		return ret;
	take_show(&d, show);
	d.nodes = fetch_nodes(&o, error, sizeof(error));
	if ((ret = resolve(&d, &src, family)) >= 0 || (ret = resolve(&d, &dst, src.ip.family)) >= 0)
		goto out;
	d.report = json_pack("{s:[]}", "checks");
	describe(&d, &src);
	describe(&d, &dst);
	check_agent(&d);
	check_source(&d, &src, &dst);
	/* The ping may have made a handshake: look again. The first answer
	 * stays, since src and dst point into it. */
	if (here(&d, &src) && !o.no_ping && (show = agent_show(&o, &ret))) {
		first = json_incref(d.show);
		d.before = first;
		take_show(&d, show);
		d.now = time(NULL);
	}
	check_node_side(&d, &dst);
	check_manager(&d, &src, &dst, error[0] ? error : NULL);
	if (!here(&d, &dst) && dst.node[0])
		say(&d, INFO, "the way back is node %s's to check: weft diagnose %s %s there", dst.node, dst.addr,
		    src.addr);
	json_object_set_new(d.report, "problems", json_integer(d.problems));
	if (o.json)
		json_print(stdout, d.report);
	else if (d.problems)
		printf("%d problem%s found\n", d.problems, d.problems == 1 ? "" : "s");
	else
		printf("no problem seen from this node\n");
	ret = d.problems ? EXIT_FAIL : EXIT_OK;
out:
	json_decref(d.report);
	json_decref(d.nodes);
	json_decref(d.show);
	json_decref(first);
	return ret;
}
