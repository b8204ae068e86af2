/* SPDX-License-Identifier: MIT */
/*
 * Node IPAM: addresses from the node's pod subnets (an IPv4 one and
 * optionally an IPv6 one), each allocation keyed by (container ID,
 * interface name). Allocations are files in a state directory, one per
 * address, created with O_EXCL, so two callers can never get one address
 * and a restart finds every allocation where it was. Thread-safe, and safe
 * between processes sharing the directory (a lock file).
 */
#ifndef WEFT_IPAM_H
#define WEFT_IPAM_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct ipam_prefix {
	int family; /* 0: unused */
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} addr;
	uint8_t len;
};

struct ipam {
	char dir[512];
	struct ipam_prefix pool[2]; /* [0] IPv4, [1] IPv6 */
	pthread_mutex_t lock;
	int lock_fd;
};

/* One allocation: up to one address per family. */
struct ipam_lease {
	struct ipam_prefix addr[2]; /* the address, with the pool's prefix length */
	struct ipam_prefix gateway[2];
};

/* Opens (creating) the store in dir for the given pools; v6 may be NULL.
 * Returns 0 or a negative errno; err receives what was wrong. */
int ipam_open(struct ipam *ipam, const char *dir, const char *v4_pool, const char *v6_pool, char *err,
	      size_t errlen);
void ipam_close(struct ipam *ipam);

/* Allocates (or returns the existing allocation of) id/ifname.
 * Returns 0, -ENOSPC when a pool is exhausted, or a negative errno. */
int ipam_alloc(struct ipam *ipam, const char *id, const char *ifname, struct ipam_lease *out);
/* The existing allocation, or -ENOENT. */
int ipam_find(struct ipam *ipam, const char *id, const char *ifname, struct ipam_lease *out);
/* Releases id/ifname; releasing what is not there succeeds. */
int ipam_release(struct ipam *ipam, const char *id, const char *ifname);

/*
 * Address by address, for callers that allocate that way (Docker's IPAM
 * API): one address of family for id/ifname. want (if not NULL) is claimed
 * exactly: -EADDRINUSE if it is held, -EINVAL if it is outside the pool or
 * reserved (network, gateway, broadcast). Otherwise the next free address
 * of the pool, or of within (a prefix inside it). -EAFNOSUPPORT without a
 * pool of that family, -ENOSPC when full. The address comes back with the
 * pool's prefix length.
 */
int ipam_claim(struct ipam *ipam, int family, const char *id, const char *ifname, const struct ipam_prefix *want,
	       const struct ipam_prefix *within, struct ipam_prefix *out);
/* Who holds addr: -ENOENT when nobody does. */
int ipam_owner(struct ipam *ipam, const struct ipam_prefix *addr, char *id, size_t idlen, char *ifname, size_t iflen);
/* Gives a held address to another owner, in one step. */
int ipam_rekey(struct ipam *ipam, const struct ipam_prefix *addr, const char *id, const char *ifname);
/* Releases addr whoever holds it; -ENOENT when nobody does. */
int ipam_release_addr(struct ipam *ipam, const struct ipam_prefix *addr);
/* The pool's gateway, its first address: every node-side end holds it. */
int ipam_gateway(const struct ipam *ipam, int family, struct ipam_prefix *out);

/* Calls fn for every allocation; stop by returning non-zero. */
typedef int (*ipam_visit_fn)(void *ctx, const char *id, const char *ifname, const struct ipam_lease *lease);
int ipam_each(struct ipam *ipam, ipam_visit_fn fn, void *ctx);

/* "10.1.2.3/24" or "fd00::5/64". */
const char *ipam_prefix_str(const struct ipam_prefix *p, char *buf, size_t len);
/* Parses "10.0.0.0/24"; the mask is required. */
int ipam_prefix_parse(struct ipam_prefix *p, const char *s);

#endif
