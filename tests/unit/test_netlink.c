// SPDX-License-Identifier: MIT
/*
 * The rtnetlink layer against the real kernel, in network namespaces of its
 * own (unshare): nothing outside them is touched, and they vanish with the
 * process. Needs root; skipped without it.
 */
#include "test.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <unistd.h>

#include "util/netns.h"
#include "nl/nl.h"
#include "nl/wgnl.h"

static int ns_a = -1, ns_b = -1;

/* Two fresh namespaces; this thread is left in A. */
static bool namespaces(void)
{
	if (ns_a >= 0)
		return setns(ns_a, CLONE_NEWNET) == 0;
	if (geteuid() != 0 || unshare(CLONE_NEWNET))
		return false;
	ns_b = netns_open(NULL);
	if (unshare(CLONE_NEWNET))
		return false;
	ns_a = netns_open(NULL);
	return ns_a >= 0 && ns_b >= 0;
}

#define NEED_NETNS()                                                     \
	do {                                                             \
		if (!namespaces()) {                                     \
			if (geteuid() != 0 || errno == EPERM)            \
				test_skip("needs root, CAP_SYS_ADMIN");  \
			else                                             \
				CHECK(!"namespaces of its own");         \
			return;                                          \
		}                                                        \
	} while (0)

TEST(netlink_veth_across_namespaces)
{
	struct nl nl, nlb;
	struct nl_link l;
	struct nl_link_spec spec = { .name = "wtv0", .kind = "veth", .peer_name = "wtv1", .ns_fd = -1 };
	struct in_addr a4;
	struct in6_addr a6;

	NEED_NETNS();
	spec.peer_ns_fd = ns_b;
	CHECK(nl_open(&nl, NETLINK_ROUTE, -1) == 0);
	CHECK(nl_open(&nlb, NETLINK_ROUTE, ns_b) == 0);
	CHECK(nl_link_add(&nl, &spec) == 0);
	CHECK(nl_link_get(&nl, "wtv0", 0, &l) == 0);
	CHECK(!strcmp(l.kind, "veth") && !strcmp(l.name, "wtv0") && l.ifindex > 0);
	CHECK(nl_link_get(&nl, "wtv1", 0, &l) == -ENODEV);
	CHECK(nl_link_get(&nlb, "wtv1", 0, &l) == 0 && !strcmp(l.kind, "veth"));
	/* A second one by that name is refused, and the kernel says so. */
	spec.peer_ns_fd = -1;
	CHECK(nl_link_add(&nl, &spec) == -EEXIST);
	CHECK(nl_link_get(&nl, "wtv0", 0, &l) == 0);
	CHECK(nl_link_set_mtu(&nl, l.ifindex, 1400) == 0);
	CHECK(nl_link_set_up(&nl, l.ifindex, true) == 0);
	CHECK(nl_link_get(&nl, NULL, l.ifindex, &l) == 0 && l.mtu == 1400 && (l.flags & IFF_UP));
	inet_pton(AF_INET, "10.77.0.1", &a4);
	inet_pton(AF_INET6, "fd77::1", &a6);
	CHECK(nl_addr_add(&nl, l.ifindex, AF_INET, &a4, 24) == 0);
	CHECK(nl_addr_add(&nl, l.ifindex, AF_INET6, &a6, 64) == 0);
	CHECK(nl_addr_add(&nl, l.ifindex, AF_INET, &a4, 24) == -EEXIST);
	CHECK(nl_addr_has(&nl, l.ifindex, AF_INET, &a4, 24) == 1);
	CHECK(nl_addr_has(&nl, l.ifindex, AF_INET, &a4, 32) == 0);
	CHECK(nl_addr_has(&nl, l.ifindex, AF_INET6, &a6, 64) == 1);
	CHECK(nl_addr_del(&nl, l.ifindex, AF_INET6, &a6, 64) == 0);
	CHECK(nl_addr_has(&nl, l.ifindex, AF_INET6, &a6, 64) == 0);
	CHECK(nl_addr_add(&nl, l.ifindex, AF_INET, &a4, 40) == -EINVAL);
	CHECK(nl_link_del(&nl, l.ifindex) == 0);
	/* Deleting one end takes the other, in the other namespace too. */
	CHECK(nl_link_get(&nlb, "wtv1", 0, &l) == -ENODEV);
	CHECK(nl_link_del(&nl, 999999) == -ENODEV);
	nl_close(&nl);
	nl_close(&nlb);
}

TEST(netlink_bridge_dummy_and_move)
{
	struct nl nl, nlb;
	struct nl_link br, d;

	NEED_NETNS();
	CHECK(nl_open(&nl, NETLINK_ROUTE, -1) == 0);
	CHECK(nl_open(&nlb, NETLINK_ROUTE, ns_b) == 0);
	CHECK(nl_link_add(&nl, &(struct nl_link_spec){ .name = "wtbr", .kind = "bridge", .ns_fd = -1, .peer_ns_fd = -1 }) == 0);
	/* A dummy to enslave where the kernel has the driver, else a veth. */
	if (nl_link_add(&nl, &(struct nl_link_spec){ .name = "wtd0", .kind = "dummy", .ns_fd = -1, .peer_ns_fd = -1 }) ==
	    -EOPNOTSUPP) {
		printf("SKIP netlink_dummy (no dummy driver in this kernel; a veth stands in)\n");
		CHECK(nl_link_add(&nl, &(struct nl_link_spec){ .name = "wtd0", .kind = "veth", .peer_name = "wtd1",
							 .ns_fd = -1, .peer_ns_fd = -1 }) == 0);
	}
	CHECK(nl_link_get(&nl, "wtbr", 0, &br) == 0 && !strcmp(br.kind, "bridge"));
	CHECK(nl_link_get(&nl, "wtd0", 0, &d) == 0 && (!strcmp(d.kind, "dummy") || !strcmp(d.kind, "veth")));
	CHECK(nl_link_set_master(&nl, d.ifindex, br.ifindex) == 0);
	CHECK(nl_link_get(&nl, NULL, d.ifindex, &d) == 0 && d.master == br.ifindex);
	CHECK(nl_link_set_master(&nl, d.ifindex, 0) == 0);
	/* Moved to B: gone from A, there in B. */
	CHECK(nl_link_set_netns(&nl, d.ifindex, ns_b) == 0);
	CHECK(nl_link_get(&nl, "wtd0", 0, &d) == -ENODEV);
	CHECK(nl_link_get(&nlb, "wtd0", 0, &d) == 0);
	CHECK(nl_link_del(&nlb, d.ifindex) == 0);
	CHECK(nl_link_del(&nl, br.ifindex) == 0);
	/* A kind the kernel does not know is refused clearly. */
	CHECK(nl_link_add(&nl, &(struct nl_link_spec){ .name = "wtx", .kind = "no-such-kind", .ns_fd = -1, .peer_ns_fd = -1 }) < 0);
	CHECK(nl.err[0] != '\0'); /* the kernel's own words: "Unknown device type" */
	nl_close(&nl);
	nl_close(&nlb);
}

TEST(netlink_routes_and_fwmark_rules)
{
	struct nl nl;
	struct nl_link l;
	struct nl_route r = { .family = AF_INET, .dst_len = 16, .table = 1234 };
	struct nl_rule rule = { .family = AF_INET, .priority = 1000, .table = 1234, .fwmark = 0x42, .has_fwmark = true,
				.suppress_prefixlen = -1 };
	struct in_addr a4, probe;
	int oif = 0;
	uint32_t table = 0;

	NEED_NETNS();
	CHECK(nl_open(&nl, NETLINK_ROUTE, -1) == 0);
	CHECK(nl_link_add(&nl, &(struct nl_link_spec){ .name = "wtr0", .kind = "bridge", .ns_fd = -1, .peer_ns_fd = -1 }) == 0);
	CHECK(nl_link_get(&nl, "wtr0", 0, &l) == 0);
	CHECK(nl_link_set_up(&nl, l.ifindex, true) == 0);
	inet_pton(AF_INET, "10.78.0.1", &a4);
	CHECK(nl_addr_add(&nl, l.ifindex, AF_INET, &a4, 32) == 0);
	inet_pton(AF_INET, "10.20.0.0", &r.dst);
	r.oif = l.ifindex;
	CHECK(nl_route_add(&nl, &r, false) == 0);
	CHECK(nl_route_add(&nl, &r, false) == -EEXIST);
	CHECK(nl_route_add(&nl, &r, true) == 0);
	inet_pton(AF_INET, "10.20.1.1", &probe);
	/* Table 1234 is reached only through the rule. */
	CHECK(nl_route_lookup(&nl, AF_INET, &probe, 0x42, &oif, &table) == -ENETUNREACH);
	CHECK(nl_rule_add(&nl, &rule) == 0);
	CHECK(nl_route_lookup(&nl, AF_INET, &probe, 0x42, &oif, &table) == 0 && oif == l.ifindex && table == 1234);
	CHECK(nl_route_lookup(&nl, AF_INET, &probe, 0x43, &oif, &table) == -ENETUNREACH);
	/* IPv6 too, in the main table. */
	{
		struct nl_route r6 = { .family = AF_INET6, .dst_len = 48, .oif = l.ifindex };
		struct in6_addr p6;

		inet_pton(AF_INET6, "fd20:1::", &r6.dst);
		inet_pton(AF_INET6, "fd20:1::9", &p6);
		CHECK(nl_route_add(&nl, &r6, false) == 0);
		CHECK(nl_route_lookup(&nl, AF_INET6, &p6, 0, &oif, NULL) == 0 && oif == l.ifindex);
		CHECK(nl_route_del(&nl, &r6) == 0);
	}
	CHECK(nl_rule_del(&nl, &rule) == 0);
	CHECK(nl_rule_del(&nl, &rule) == -ENOENT);
	CHECK(nl_route_del(&nl, &r) == 0);
	CHECK(nl_route_del(&nl, &r) == -ESRCH);
	CHECK(nl_link_del(&nl, l.ifindex) == 0);
	nl_close(&nl);
}

/* Without the kernel module the WireGuard family is absent: a clear
 * -EPROTONOSUPPORT, which the device API turns into its fallback. */
TEST(netlink_wireguard_family)
{
	struct nl nl;
	struct wg_config *cfg;
	int ret;

	NEED_NETNS();
	CHECK(nl_open(&nl, NETLINK_GENERIC, -1) == 0);
	ret = wgnl_family(&nl);
	if (access("/sys/module/wireguard", F_OK) == 0) {
		CHECK(ret == 0);
		CHECK(wgnl_get(&nl, "no-such-dev", &cfg) == -ENODEV);
	} else {
		CHECK(ret == -EPROTONOSUPPORT);
		CHECK(wgnl_get(&nl, "wg0", &cfg) == -EPROTONOSUPPORT && !cfg);
	}
	nl_close(&nl);
}
