// SPDX-License-Identifier: MIT
/*
 * The pool's arithmetic (see cluster.h): a cluster CIDR cut into node
 * subnets, a subnet's index and back, a node's tunnel address in its
 * subnet, and the checks on prefixes that the broker and the gateway lease
 * share; with the error helper every file of lib/cluster uses. Nothing
 * here touches the store.
 */
#include "cluster/internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum {
	MAX_SUBNETS = 1 << 20,	/* per family: a registry, not an address plan */
};

int cluster_pool_init(struct cluster_pool *p, const char *cidr, unsigned node_len, char *err, size_t errlen)
{
	unsigned bits;

	memset(p, 0, sizeof(*p));
	if (ipam_prefix_parse(&p->cidr, cidr)) {
		snprintf(err, errlen, "cluster CIDR \"%s\": not a prefix (10.244.0.0/16, fd00:244::/56)", cidr);
		return -EINVAL;
	}
	bits = p->cidr.family == AF_INET ? 32 : 128;
	if (node_len < p->cidr.len || node_len > bits - 2) {
		snprintf(err, errlen, "node subnet size /%u for %s: give a length from /%u to /%u", node_len, cidr,
			 p->cidr.len, bits - 2);
		return -EINVAL;
	}
	if (node_len - p->cidr.len > 20) {
		snprintf(err, errlen, "node subnet size /%u for %s: more than %u subnets; give at most /%u", node_len,
			 cidr, MAX_SUBNETS, p->cidr.len + 20);
		return -EINVAL;
	}
	p->node_len = (uint8_t)node_len;
	p->count = 1ULL << (node_len - p->cidr.len);
	return 0;
}

static unsigned __int128 to_u128(const struct ipam_prefix *p)
{
	unsigned __int128 v = 0;
	const uint8_t *b = (const uint8_t *)&p->addr;
	int n = p->family == AF_INET ? 4 : 16;

	for (int i = 0; i < n; ++i)
		v = (v << 8) | b[i];
	return v;
}

static void from_u128(struct ipam_prefix *p, unsigned __int128 v)
{
	uint8_t *b = (uint8_t *)&p->addr;
	int n = p->family == AF_INET ? 4 : 16;

	for (int i = n - 1; i >= 0; --i, v >>= 8)
		b[i] = (uint8_t)v;
}

void cluster_pool_nth(const struct cluster_pool *p, uint64_t index, struct ipam_prefix *out)
{
	unsigned bits = p->cidr.family == AF_INET ? 32 : 128;

	*out = p->cidr;
	out->len = p->node_len;
	from_u128(out, to_u128(&p->cidr) + ((unsigned __int128)index << (bits - p->node_len)));
}

int64_t cluster_pool_index(const struct cluster_pool *p, const struct ipam_prefix *subnet)
{
	unsigned bits = p->cidr.family == AF_INET ? 32 : 128;
	unsigned __int128 base = to_u128(&p->cidr), v;

	if (!p->count || subnet->family != p->cidr.family || subnet->len != p->node_len)
		return -1;
	v = to_u128(subnet);
	if (v < base || v & ((((unsigned __int128)1) << (bits - p->node_len)) - 1))
		return -1;
	v = (v - base) >> (bits - p->node_len);
	return v < p->count ? (int64_t)v : -1;
}

/* The node's own address in its subnet: the first host, as the agent
 * gives its gateway (lib/ipam). */
void cluster_tunnel_address(const struct ipam_prefix *subnet, struct ipam_prefix *out)
{
	*out = *subnet;
	from_u128(out, to_u128(subnet) + 1);
	out->len = subnet->family == AF_INET ? 32 : 128;
}

bool cluster_prefix_overlap(const struct ipam_prefix *a, const struct ipam_prefix *b)
{
	unsigned bits = a->family == AF_INET ? 32 : 128, len = a->len < b->len ? a->len : b->len;
	unsigned __int128 mask;

	if (a->family != b->family)
		return false;
	if (!len)
		return true;
	mask = ~(unsigned __int128)0 << (bits - len);
	if (bits == 32)
		mask &= 0xffffffffu;
	return (to_u128(a) & mask) == (to_u128(b) & mask);
}

int cluster_cidr_parse(struct ipam_prefix *p, const char *s, char *err, size_t errlen)
{
	unsigned bits;
	char buf[64];

	if (ipam_prefix_parse(p, s))
		return cluster_invalid(err, errlen, "CIDR \"%s\": not a prefix (10.244.0.0/16, fd00:244::/48)", s);
	bits = p->family == AF_INET ? 32 : 128;
	if (p->len < bits && (to_u128(p) & ((((unsigned __int128)1) << (bits - p->len)) - 1))) {
		struct ipam_prefix net = *p;

		from_u128(&net, to_u128(p) & ~((((unsigned __int128)1) << (bits - p->len)) - 1));
		return cluster_invalid(err, errlen, "CIDR %s has host bits set: give the network, %s", s,
				       ipam_prefix_str(&net, buf, sizeof(buf)));
	}
	return 0;
}

int cluster_invalid(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}
