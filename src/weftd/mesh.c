// SPDX-License-Identifier: MIT
/*
 * Mode "mesh" (docs/cni.md): a veth pair, one end in the container with an
 * address from the node's pod subnet and a default route by the node, the
 * other end on the node with a host route to it. Between nodes the hub
 * (member.c) carries it. attach.c decides when; this is how.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/netns.h"
#include "nl/nl.h"
#include "weftd.h"

/* The node-side end of a container's veth: "weft" and a hash of the
 * attachment, so a restart finds it again. */
static void host_ifname(const struct attachment *a, char out[IF_NAMESIZE])
{
	uint32_t h = 2166136261u;

	for (const char *p = a->id; *p; ++p)
		h = (h ^ (uint8_t)*p) * 16777619u;
	h = (h ^ '@') * 16777619u;
	for (const char *p = a->ifname; *p; ++p)
		h = (h ^ (uint8_t)*p) * 16777619u;
	snprintf(out, IF_NAMESIZE, "weft%08x", h);
}

void weftd_enable_forwarding(void)
{
	static const char *const knobs[] = { "/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv6/conf/all/forwarding" };

	for (size_t i = 0; i < 2; ++i) {
		int fd = open(knobs[i], O_WRONLY | O_CLOEXEC);

		if (fd >= 0) {
			if (write(fd, "1", 1) != 1) {
				/* IPv6 may be off: nothing to forward then */
			}
			close(fd);
		}
	}
}

/* An attachment's addresses go back to the pool with it, unless Docker
 * holds them: its IPAM calls give them back (docker.c). */
static void release_lease(struct weftd *d, struct attachment *a)
{
	if (d->ipam_open && !a->docker)
		ipam_release(&d->ipam, a->id, a->ifname);
}

void mesh_down(struct weftd *d, struct attachment *a)
{
	char host[IF_NAMESIZE];
	struct nl_link l;
	struct nl nl;

	host_ifname(a, host);
	if (!nl_open(&nl, NETLINK_ROUTE, -1)) {
		if (!nl_link_get(&nl, host, 0, &l))
			nl_link_del(&nl, l.ifindex); /* takes the container's end too */
		nl_close(&nl);
	}
	release_lease(d, a);
}

static int mesh_route(struct nl *nl, int family, const void *dst, uint8_t len, const void *gw, int oif)
{
	struct nl_route r = { .family = family, .dst_len = len, .oif = oif };
	int ret;

	memcpy(&r.dst, dst, family == AF_INET ? 4 : 16);
	if (gw) {
		memcpy(&r.gw, gw, family == AF_INET ? 4 : 16);
		r.has_gw = true;
	}
	ret = nl_route_add(nl, &r, true);
	return ret == -EEXIST ? 0 : ret;
}

/*
 * Mode "mesh": a veth pair, the container's end with an address from the
 * pod subnet as a host route (/32, /128) and a default route through the
 * node's gateway address, which every node-side end holds. Pods on one node
 * reach each other through the node, other nodes' through the node's
 * WireGuard device. For Docker (a->handoff) both ends are made here, the
 * container's under a temporary name: Docker moves it into the container
 * and gives it its address and routes, as the Join reply says.
 */
int mesh_up(struct weftd *d, struct attachment *a, json_t *config, json_t *result, struct cni_error *err)
{
	struct ipam_lease lease;
	char host[IF_NAMESIZE], buf[64], gwbuf[INET6_ADDRSTRLEN];
	struct nl here, there;
	struct nl_link hl, cl;
	json_t *mtu = json_object_get(config, "mtu");
	uint32_t m = json_is_integer(mtu) ? (uint32_t)json_integer_value(mtu) : 1500;
	int ns = -1, ret, hidx, cidx;
	static const uint8_t any[16];

	if (!d->ipam_open)
		return cni_fail(err, CNI_ERR_INVALID_CONFIG, "the agent has no pod subnet",
				"mode mesh needs addresses: start weftd with --pod-subnet (and --pod-subnet6)");
	ret = ipam_alloc(&d->ipam, a->id, a->ifname, &lease);
	if (ret)
		return cni_fail(err, ret == -ENOSPC ? CNI_ERR_TRY_AGAIN : CNI_ERR_PLUGIN, "no address",
				ret == -ENOSPC ? "the pod subnet is full" : "%s", strerror(-ret));
	host_ifname(a, host);
	ns = netns_open(a->handoff ? NULL : a->netns);
	if (ns < 0 || nl_open(&here, NETLINK_ROUTE, -1)) {
		release_lease(d, a);
		if (ns >= 0)
			close(ns);
		return cni_fail(err, CNI_ERR_UNKNOWN_CONTAINER, "container unknown", "%s", a->netns);
	}
	if (nl_open(&there, NETLINK_ROUTE, ns)) {
		nl_close(&here);
		close(ns);
		release_lease(d, a);
		return cni_fail(err, CNI_ERR_IO, "cannot open netlink in the container", NULL);
	}
	weftd_enable_forwarding();
	ret = nl_link_add(&here, &(struct nl_link_spec){ .name = host, .kind = "veth", .peer_name = a->iface,
							 .peer_ns_fd = ns, .ns_fd = -1, .mtu = m });
	if (ret) {
		cni_fail(err, CNI_ERR_PLUGIN, "cannot create the veth pair", "%s/%s: %s %s", host, a->iface,
			 strerror(-ret), here.err);
		goto fail;
	}
	if ((ret = nl_link_get(&here, host, 0, &hl)) || (ret = nl_link_get(&there, a->iface, 0, &cl)) ||
	    (ret = nl_link_set_up(&here, hl.ifindex, true)) ||
	    (!a->handoff && (ret = nl_link_set_up(&there, cl.ifindex, true)))) {
		cni_fail(err, CNI_ERR_PLUGIN, "cannot bring the veth pair up", "%s", strerror(-ret));
		goto fail;
	}
	hidx = hl.ifindex;
	cidx = cl.ifindex;
	for (int f = 0; f < 2; ++f) {
		const struct ipam_prefix *addr = &lease.addr[f], *gw = &lease.gateway[f];
		int family = f ? AF_INET6 : AF_INET;
		uint8_t full = f ? 128 : 32;

		if (!addr->family)
			continue;
		/* Node side: the gateway address, and a route to the pod. */
		ret = nl_addr_add(&here, hidx, family, &gw->addr, full);
		if (!ret)
			ret = mesh_route(&here, family, &addr->addr, full, NULL, hidx);
		/* Pod side: its address, the gateway on-link, the default. */
		if (!ret && !a->handoff)
			ret = nl_addr_add(&there, cidx, family, &addr->addr, full);
		if (!ret && !a->handoff)
			ret = mesh_route(&there, family, &gw->addr, full, NULL, cidx);
		if (!ret && !a->handoff)
			ret = mesh_route(&there, family, any, 0, &gw->addr, cidx);
		if (ret && ret != -EEXIST) {
			cni_fail(err, CNI_ERR_PLUGIN, "cannot set addresses and routes", "%s: %s %s%s",
				 ipam_prefix_str(addr, buf, sizeof(buf)), strerror(-ret), here.err, there.err);
			goto fail;
		}
		ret = 0;
	}
	if (result) {
		char mac[3 * sizeof(hl.address)];
		int ci;

		cni_result_add_interface(result, host, cni_mac_str(hl.address, hl.address_len, mac, sizeof(mac)), NULL, 0);
		ci = cni_result_add_interface(result, a->iface, cni_mac_str(cl.address, cl.address_len, mac, sizeof(mac)),
					      a->netns, m);
		for (int f = 0; f < 2; ++f) {
			struct ipam_prefix host_route;

			if (!lease.addr[f].family)
				continue;
			host_route = lease.addr[f];
			host_route.len = f ? 128 : 32;
			inet_ntop(lease.gateway[f].family, &lease.gateway[f].addr, gwbuf, sizeof(gwbuf));
			cni_result_add_ip(result, ipam_prefix_str(&host_route, buf, sizeof(buf)), gwbuf, ci);
			cni_result_add_route(result, f ? "::/0" : "0.0.0.0/0", gwbuf);
		}
	}
	nl_close(&here);
	nl_close(&there);
	close(ns);
	return 0;
fail:
	nl_close(&here);
	nl_close(&there);
	close(ns);
	mesh_down(d, a);
	return err->code;
}
