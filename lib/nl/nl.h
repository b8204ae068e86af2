/* SPDX-License-Identifier: MIT */
/*
 * Netlink, on libmnl: rtnetlink (links, addresses, routes, rules) and the
 * WireGuard generic netlink family. Every call works in the namespace its
 * socket was opened in; errors are negative errnos, with the kernel's own
 * explanation (extended ACK) kept in nl->err when it gives one.
 */
#ifndef WEFT_NL_H
#define WEFT_NL_H

#include <libmnl/libmnl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

struct nl {
	struct mnl_socket *sock;
	uint32_t seq, portid;
	int bus;
	uint16_t wg_family; /* generic netlink id of "wireguard", once resolved */
	char err[256];      /* the kernel's message for the last error, or "" */
};

/* Opens a socket on bus (NETLINK_ROUTE, NETLINK_GENERIC) inside namespace
 * ns_fd (-1: this thread's). Returns 0 or a negative errno. */
int nl_open(struct nl *nl, int bus, int ns_fd);
void nl_close(struct nl *nl);

/* A buffer big enough for one request. */
enum { NL_BUF = 32768 };

/* Sends nlh (seq set here) and reads replies until the ACK or the end of a
 * dump, calling cb (may be NULL) for each data message. */
int nl_request(struct nl *nl, struct nlmsghdr *nlh, mnl_cb_t cb, void *data);
struct nlmsghdr *nl_msg(char *buf, uint16_t type, uint16_t flags);

/* --- links -------------------------------------------------------------- */

struct nl_link {
	int ifindex;
	char name[IF_NAMESIZE];
	char kind[16]; /* "wireguard", "veth", "tun", ... or "" */
	uint32_t flags; /* IFF_* */
	uint32_t mtu;
	int master;
	/* The link-layer address (a veth's MAC); address_len 0 for links
	 * that have none (WireGuard, a TUN in L3 mode). */
	uint8_t address[32];
	uint8_t address_len;
};

struct nl_link_spec {
	const char *name;
	const char *kind;      /* "wireguard", "veth", "bridge", "dummy" */
	const char *peer_name; /* veth: the other end's name */
	int peer_ns_fd;        /* veth: the other end's namespace (-1: same) */
	int ns_fd;             /* create it in this namespace (-1: the socket's) */
	uint32_t mtu;          /* 0: the kind's default */
	/* The link's MAC (6 bytes), or NULL for a random one. A bridge given
	 * none takes its ports' lowest, and changes it as ports come: its
	 * neighbours' ARP entries then point nowhere until they expire. */
	const uint8_t *address;
};

int nl_link_add(struct nl *nl, const struct nl_link_spec *spec);
/* By name (ifindex 0) or index. -ENODEV when there is none. */
int nl_link_get(struct nl *nl, const char *name, int ifindex, struct nl_link *out);
int nl_link_del(struct nl *nl, int ifindex);
int nl_link_set_up(struct nl *nl, int ifindex, bool up);
int nl_link_set_mtu(struct nl *nl, int ifindex, uint32_t mtu);
int nl_link_set_master(struct nl *nl, int ifindex, int master);
/* Moves the link to another namespace; it is then gone from this one. */
int nl_link_set_netns(struct nl *nl, int ifindex, int ns_fd);
/* The same, renamed on the way, in one request (the name need only be
 * free there). */
int nl_link_move(struct nl *nl, int ifindex, int ns_fd, const char *name);

/* --- addresses ---------------------------------------------------------- */

int nl_addr_add(struct nl *nl, int ifindex, int family, const void *addr, uint8_t prefixlen);
int nl_addr_del(struct nl *nl, int ifindex, int family, const void *addr, uint8_t prefixlen);
/* 1 if the link holds that address with that prefix length, 0 if not, or a
 * negative errno. */
int nl_addr_has(struct nl *nl, int ifindex, int family, const void *addr, uint8_t prefixlen);

/* --- routes and rules --------------------------------------------------- */

struct nl_route {
	int family;
	struct in6_addr dst; /* the first 4 bytes for IPv4 */
	uint8_t dst_len;
	struct in6_addr gw;
	bool has_gw;
	int oif;
	uint32_t table;      /* 0: main */
	uint32_t metric;
	uint8_t scope;       /* RT_SCOPE_*, 0: universe */
};

/* replace: create or overwrite (NLM_F_REPLACE) instead of failing with
 * -EEXIST. */
int nl_route_add(struct nl *nl, const struct nl_route *r, bool replace);
int nl_route_del(struct nl *nl, const struct nl_route *r);
/* Where a packet to dst (with fwmark mark, 0: none) would go: the output
 * interface and the table that decided it. -ENETUNREACH when nowhere. */
int nl_route_lookup(struct nl *nl, int family, const void *dst, uint32_t mark, int *oif, uint32_t *table);

struct nl_rule {
	int family;
	uint32_t priority;
	uint32_t table;
	uint32_t fwmark, fwmask;
	bool has_fwmark;
	bool invert;              /* "not": matches what the selector does not */
	int suppress_prefixlen;   /* -1: unset */
};

int nl_rule_add(struct nl *nl, const struct nl_rule *r);
int nl_rule_del(struct nl *nl, const struct nl_rule *r);

#endif
