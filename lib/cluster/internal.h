/* SPDX-License-Identifier: MIT */
/*
 * lib/cluster's own helpers, shared by its files (pool.c, nodes.c,
 * register.c, broker.c, lease.c: see cluster.h); not for use outside
 * lib/cluster.
 */
#ifndef WEFT_CLUSTER_INTERNAL_H
#define WEFT_CLUSTER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/cluster.h"

enum {
	RETRIES = 50, /* compare-and-swap rounds before giving up */
};

/* --- pool.c --------------------------------------------------------------- */

/* Formats err; returns -EINVAL. */
int cluster_invalid(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The node's own address in its subnet: the first host. */
void cluster_tunnel_address(const struct ipam_prefix *subnet, struct ipam_prefix *out);

/* --- nodes.c -------------------------------------------------------------- */

/* Writes the store's settings, or checks them against those it has. */
int cluster_bind_settings(struct cluster *c, char *err, size_t errlen);
/* Checks the fields a node may set; builds them into rec. */
int cluster_node_fields(json_t *req, json_t *rec, bool partial, char *err, size_t errlen);
/* The store key of a public key (/weft/keys/...); pub may be NULL. */
void cluster_key_path(char *buf, size_t len, const char *pub);
/* The store key of the index-th node subnet of family f (0: IPv4, 1: IPv6):
 * /weft/subnets/4/INDEX or /weft/subnets/6/INDEX. */
void cluster_subnet_path(char *buf, size_t len, int f, uint64_t index);
/* A node's record and its revision (mod_rev may be NULL), or -ENOENT. */
int cluster_node_read(struct cluster *c, const char *name, json_t **rec, int64_t *mod_rev);
/* The gateway label of a record or a request's labels, or NULL. */
const char *cluster_gateway_label(json_t *labels);

/* --- broker.c ------------------------------------------------------------- */

/* A cluster's CIDRs: 1 to MAX_CLUSTER_CIDRS networks, none overlapping
 * another; into out (*n of them) and rec's "subnets". */
int cluster_cidrs(json_t *subs, json_t *rec, struct ipam_prefix *out, size_t *n, char *err, size_t errlen);
/* cluster_node_register on a broker's store: the node is a cluster. */
int cluster_broker_register(struct cluster *c, json_t *req, const char *cred_hash, int64_t now, json_t **out,
			    char *err, size_t errlen);

#endif
