/* SPDX-License-Identifier: MIT */
/*
 * Pod egress (issue 15): weft's own table, "table inet weft", whose one
 * chain masquerades what leaves the node from its pod subnets:
 *  - to the cluster's nodes (their underlay addresses), always: a pod's
 *    address never crosses the underlay in the clear (docs/cni.md);
 *  - with ipMasq, to everything but an excluded CIDR (the cluster's own
 *    subnets, other clusters' CIDRs), unless the pod asked for none
 *    ("direct": a network whose conflist says "ipMasq": false). Traffic
 *    that stays inside weft's networks keeps its pod address, the rest
 *    leaves with the node's.
 *
 *   table inet weft {
 *     set pods4 { type ipv4_addr; flags interval; auto-merge; elements = ... }
 *     set nodes4 { ... }  set keep4 { ... }  set direct4 { ... }
 *     (and the same for IPv6)
 *     chain postrouting {
 *       type nat hook postrouting priority srcnat; policy accept;
 *       ip saddr @pods4 ip daddr @nodes4 masquerade
 *       ip saddr @pods4 ip saddr != @direct4 ip daddr != @keep4 masquerade
 *       ...
 *     }
 *   }
 *
 * One inet table serves both families, so one transaction replaces all of
 * it, and one "delete table" removes it. A family without a pod subnet
 * has neither its sets nor its rule.
 */
#ifndef WEFT_NFT_MASQ_H
#define WEFT_NFT_MASQ_H

#include <stdbool.h>
#include <stddef.h>

#include "ipam/ipam.h"

#define NFT_MASQ_TABLE "inet weft"

/* What the table holds. Each list may hold both families. */
struct nft_masq {
	const struct ipam_prefix *pods; /* the node's pod subnets */
	size_t npods;
	const struct ipam_prefix *nodes; /* other nodes' addresses: always */
	size_t nnodes;
	bool everywhere; /* ipMasq: to all but keep, from all but direct */
	const struct ipam_prefix *keep;
	size_t nkeep;
	const struct ipam_prefix *direct;
	size_t ndirect;
};

/*
 * The command that replaces the table: "add table; delete table; add
 * table; ..." so it applies whether the table is there or not. Every
 * prefix is checked (IPv4 or IPv6, a length the family allows, no host
 * bits: a network) and printed by ipam_prefix_str, never copied. Exact
 * duplicates are written once. Returns a malloc'd string, or NULL with
 * errno EINVAL (err names the bad prefix) or ENOMEM. No pod subnet at all
 * is EINVAL too.
 */
char *nft_masq_format(const struct nft_masq *m, char *err, size_t errlen);

/* Formats and runs it: 0, or a negative errno with err saying what failed. */
int nft_masq_apply(const struct nft_masq *m, char *err, size_t errlen);

/* Deletes the table; it not being there is no error. */
int nft_masq_remove(char *err, size_t errlen);

#endif
