/* SPDX-License-Identifier: MIT */
/*
 * lib/cluster's own helpers, shared by its files (pool.c, node.c, nodes.c,
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
/* The store key of a node's public key (/weft/keys/...), or of none. */
void cluster_key_path(char *buf, size_t len, const struct cluster_node *n);
/* The store key of the index-th node subnet of family f (0: IPv4, 1: IPv6):
 * /weft/subnets/4/INDEX or /weft/subnets/6/INDEX. */
void cluster_subnet_path(char *buf, size_t len, int f, uint64_t index);
/* A node's record, parsed, and its revision (mod_rev may be NULL); -ENOENT,
 * or -EIO with kv_error() naming the node and what is wrong with its
 * record. */
int cluster_node_read(struct kv *kv, const char *name, struct cluster_node *n, int64_t *mod_rev);
/* Every node's record, parsed (to free with cluster_node_list_free), and
 * the revision they were read at (rev may be NULL). A refused record is
 * -EIO (kv_error() names it) if strict, else left out. */
int cluster_node_list(struct kv *kv, bool strict, struct cluster_node **out, size_t *count, int64_t *rev);
void cluster_node_list_free(struct cluster_node *nodes, size_t count);
/* An edit of a node's record; it may refuse (err says why), and is done
 * again on a record read afresh if the record changed meanwhile. */
typedef int (*cluster_edit_fn)(struct cluster_node *n, void *ctx, char *err, size_t errlen);
/* Reads node name, edits it and writes it back if it is unchanged since,
 * until that holds (RETRIES rounds). A changed public key moves its
 * /weft/keys/ entry in the same transaction (-EEXIST if another node has
 * it). *out is the record written, as JSON. -ENOENT for no node. */
int cluster_node_edit(struct cluster *c, const char *name, cluster_edit_fn edit, void *ctx, json_t **out, char *err,
		      size_t errlen);

/* --- node.c --------------------------------------------------------------- */

/* Checks the fields of a node's request ("name", "publicKey", "endpoints",
 * "labels", and "subnets" unless partial, which node.c leaves to its
 * caller) and sets them in n. Without partial, key and endpoints are
 * required and labels default to none. On error n is half-changed: drop
 * it. */
int cluster_node_fields(json_t *req, struct cluster_node *n, bool partial, char *err, size_t errlen);
/* The record's text, as the store keeps it; NULL out of memory. */
char *cluster_node_text(const struct cluster_node *n);
/* The other clusters a gateway reports, {ID: [CIDR, ...]}, into gw's
 * clusters (owned by gw, even on error). */
int cluster_remotes_parse(json_t *clusters, struct cluster_gateway *gw, char *err, size_t errlen);
/* "connected", "connecting" or "error"; -EINVAL for anything else. */
int cluster_link_parse(const char *s, enum cluster_link *link);
void cluster_gateway_free(struct cluster_gateway *gw);
bool cluster_gateway_equal(const struct cluster_gateway *a, const struct cluster_gateway *b);
bool cluster_prefix_equal(const struct ipam_prefix *a, const struct ipam_prefix *b);

/* --- register.c ---------------------------------------------------------- */

/* A free node subnet of family f (0: IPv4, 1: IPv6): never handed out, or
 * released at least reuse_after ago. *mod_rev is what its claim must
 * compare with. spread (after a lost race): one of the lowest few at
 * random, else the lowest. -ENOSPC when none is left. */
int cluster_subnet_free(struct cluster *c, int f, int64_t now, bool spread, uint64_t *index, int64_t *mod_rev);

/* --- broker.c ------------------------------------------------------------- */

/* A cluster's CIDRs: 1 to MAX_CLUSTER_CIDRS networks, none overlapping
 * another; into out (*n of them). */
int cluster_cidrs(json_t *subs, struct ipam_prefix *out, size_t *n, char *err, size_t errlen);
/* cluster_node_register on a broker's store: the node is a cluster. */
int cluster_broker_register(struct cluster *c, json_t *req, const char *cred_hash, int64_t now, json_t **out,
			    char *err, size_t errlen);

#endif
