// SPDX-License-Identifier: MIT
/*
 * The lab's namespaces and underlay, through lib/nl: never a link or an
 * address in the namespace weft runs in. Every namespace is named
 * weft-lab-*, so that `weft lab down` finds all of them, whatever failed.
 */
#include "lab.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/netns.h"
#include "nl/nl.h"

const char *lab_netns_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, NETNS_RUN_DIR "/%s", name);
	return buf;
}

static int fail(int ret, char *err, size_t len, const char *what, const char *name)
{
	snprintf(err, len, "%s %s: %s", what, name, strerror(-ret));
	return ret;
}

/* Inside ns_fd: no duplicate address detection (an address is usable at
 * once), and lo up. Our thread alone enters the namespace. */
static int ns_basics(int ns_fd, struct nl *nl, bool ipv6)
{
	static const char *const knobs[] = { "/proc/sys/net/ipv6/conf/all/accept_dad",
					     "/proc/sys/net/ipv6/conf/default/accept_dad" };
	int saved, ret = 0;

	if (ipv6) {
		if ((ret = netns_enter(ns_fd, &saved)))
			return ret;
		for (size_t i = 0; i < sizeof(knobs) / sizeof(knobs[0]); ++i) {
			int fd = open(knobs[i], O_WRONLY | O_CLOEXEC);

			if (fd >= 0) {
				if (write(fd, "0", 1) < 0)
					ret = -errno;
				close(fd);
			}
		}
		netns_leave(saved);
	}
	return ret ?: nl_link_set_up(nl, 1 /* lo */, true);
}

/* Makes the namespace and opens rtnetlink in it. */
static int ns_make(const char *name, bool ipv6, int *ns_fd, struct nl *nl, char *err, size_t len)
{
	char path[128];
	int ret;

	*ns_fd = -1;
	if ((ret = netns_create(name)))
		return fail(ret, err, len, "cannot make namespace", name);
	if ((*ns_fd = netns_open(lab_netns_path(path, sizeof(path), name))) < 0)
		return fail(*ns_fd, err, len, "cannot open namespace", name);
	if ((ret = nl_open(nl, NETLINK_ROUTE, *ns_fd))) {
		close(*ns_fd);
		*ns_fd = -1;
		return fail(ret, err, len, "cannot open rtnetlink in", name);
	}
	if ((ret = ns_basics(*ns_fd, nl, ipv6))) {
		nl_close(nl);
		close(*ns_fd);
		*ns_fd = -1;
		return fail(ret, err, len, "cannot set up lo and IPv6 in", name);
	}
	return 0;
}

static int addr_add(struct nl *nl, int ifindex, const char *text, uint8_t plen)
{
	uint8_t a[16];
	int family = strchr(text, ':') ? AF_INET6 : AF_INET;

	if (inet_pton(family, text, a) != 1)
		return -EINVAL;
	return nl_addr_add(nl, ifindex, family, a, plen);
}

int labnet_underlay(bool ipv6, char *err, size_t len)
{
	/* A fixed, locally administered MAC: a bridge without one takes its
	 * lowest port's, and a node's later veth could change it under the
	 * first node's ARP entry for the manager (seen: the first node could
	 * not reach the manager for 30 s). */
	static const uint8_t mac[6] = { 0x02, 0x77, 0x65, 0x66, 0x74, 0x01 };
	struct nl_link_spec br = { .name = LAB_BRIDGE, .kind = "bridge", .peer_ns_fd = -1, .ns_fd = -1, .address = mac };
	struct nl_link link;
	struct nl nl;
	int ns, ret;

	if ((ret = ns_make(LAB_NET, ipv6, &ns, &nl, err, len)))
		return ret;
	if ((ret = nl_link_add(&nl, &br)) || (ret = nl_link_get(&nl, LAB_BRIDGE, 0, &link)) ||
	    (ret = addr_add(&nl, link.ifindex, LAB_UNDERLAY "1", 24)) ||
	    (ipv6 && (ret = addr_add(&nl, link.ifindex, LAB_UNDERLAY6 "1", 64))) ||
	    (ret = nl_link_set_up(&nl, link.ifindex, true)))
		snprintf(err, len, "the bridge " LAB_BRIDGE " in " LAB_NET ": %s%s%s", strerror(-ret), nl.err[0] ? ": " : "",
			 nl.err);
	nl_close(&nl);
	close(ns);
	return ret;
}

/* A namespace on the underlay: name, its veth's bridge end port, its
 * addresses LAB_UNDERLAY(6) and host. */
static int station(const char *name, const char *port, unsigned host, bool ipv6, char *err, size_t len)
{
	char addr[48], path[128];
	struct nl_link_spec veth = { .name = port, .kind = "veth", .peer_name = "eth0", .ns_fd = -1 };
	struct nl_link link, br;
	struct nl nl, under;
	int ns, net, ret;

	if ((ret = ns_make(name, ipv6, &ns, &nl, err, len)))
		return ret;
	if ((net = netns_open(lab_netns_path(path, sizeof(path), LAB_NET))) < 0 ||
	    (ret = nl_open(&under, NETLINK_ROUTE, net))) {
		ret = net < 0 ? net : ret;
		snprintf(err, len, "cannot reach " LAB_NET ": %s", strerror(-ret));
		goto out;
	}
	/* The veth's bridge end in the underlay, its other end in the node. */
	veth.peer_ns_fd = ns;
	if ((ret = nl_link_add(&under, &veth)) || (ret = nl_link_get(&under, port, 0, &link)) ||
	    (ret = nl_link_get(&under, LAB_BRIDGE, 0, &br)) || (ret = nl_link_set_master(&under, link.ifindex, br.ifindex)) ||
	    (ret = nl_link_set_up(&under, link.ifindex, true))) {
		snprintf(err, len, "the veth %s on " LAB_BRIDGE ": %s%s%s", port, strerror(-ret), under.err[0] ? ": " : "",
			 under.err);
		goto close_under;
	}
	snprintf(addr, sizeof(addr), LAB_UNDERLAY "%u", host);
	if ((ret = nl_link_get(&nl, "eth0", 0, &link)) || (ret = addr_add(&nl, link.ifindex, addr, 24)))
		goto node_err;
	snprintf(addr, sizeof(addr), LAB_UNDERLAY6 "%u", host);
	if ((ipv6 && (ret = addr_add(&nl, link.ifindex, addr, 64))) || (ret = nl_link_set_up(&nl, link.ifindex, true)))
		goto node_err;
	goto close_under;
node_err:
	snprintf(err, len, "eth0 in %s: %s%s%s", name, strerror(-ret), nl.err[0] ? ": " : "", nl.err);
close_under:
	nl_close(&under);
out:
	if (net >= 0)
		close(net);
	nl_close(&nl);
	close(ns);
	return ret;
}

int labnet_node(unsigned k, bool ipv6, char *err, size_t len)
{
	char name[32], port[16];

	snprintf(name, sizeof(name), LAB_PREFIX "n%u", k);
	snprintf(port, sizeof(port), "n%u", k);
	return station(name, port, 10 + k, ipv6, err, len);
}

int labnet_outside(bool ipv6, char *err, size_t len)
{
	return station(LAB_OUTSIDE, "outside", LAB_OUTSIDE_HOST, ipv6, err, len);
}

int labnet_client(bool ipv6, char *err, size_t len)
{
	return station(LAB_CLIENT, "c1", LAB_CLIENT_HOST, ipv6, err, len);
}

int labnet_pod(const char *name, char *err, size_t len)
{
	struct nl nl;
	int ns, ret;

	if ((ret = ns_make(name, true, &ns, &nl, err, len)))
		return ret;
	nl_close(&nl);
	close(ns);
	return 0;
}

/* Pods (weft-lab-nK-pJ) before nodes before the underlay. */
static int rank(const char *name)
{
	if (!strcmp(name, LAB_NET))
		return 2;
	return strchr(name + strlen(LAB_PREFIX), '-') ? 0 : 1;
}

static int by_rank(const void *a, const void *b)
{
	const char *x = *(char *const *)a, *y = *(char *const *)b;

	return rank(x) - rank(y) ?: strcmp(x, y);
}

int labnet_list(char **names, int max)
{
	struct dirent *e;
	DIR *d = opendir(NETNS_RUN_DIR);
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)) && n < max)
		if (!strncmp(e->d_name, LAB_PREFIX, strlen(LAB_PREFIX)))
			names[n++] = strdup(e->d_name);
	closedir(d);
	qsort(names, (size_t)n, sizeof(*names), by_rank);
	return n;
}
