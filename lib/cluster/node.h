/* SPDX-License-Identifier: MIT */
/*
 * A node's record (/weft/nodes/NAME), typed. lib/cluster reads a record
 * from the store through cluster_node_parse once, edits these fields, and
 * writes what cluster_node_json makes of them: the checks live in one
 * place (node.c, fuzzed by fuzz/fuzz_node.c), not at each use.
 *
 * The record as JSON, as the manager's HTTP API shows it:
 *
 *   name               a DNS label (cluster_name_valid)
 *   publicKey          its WireGuard key, base64
 *   endpoints          1 to 8 of "IP:PORT" or "[IPv6]:PORT"
 *   labels             {KEY: VALUE}, at most 64, strings of 1 to 253
 *   subnets            its node subnets (a broker's: the cluster's CIDRs)
 *   tunnelAddresses    its own address in each subnet
 *   created            when it registered (Unix time)
 *   gateway            while it holds the gateway lease: {"since",
 *                      "clusters": {ID: [CIDR]}, "status": {ID: S}}
 *   credentialRotation {"requested"?, "rotated"?} (credentials.c)
 */
#ifndef WEFT_CLUSTER_NODE_H
#define WEFT_CLUSTER_NODE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipam/ipam.h"

enum {
	MAX_CLUSTER_CIDRS = 16,	  /* a cluster's CIDRs, at the broker or in a report */
	CLUSTER_MAX_ENDPOINTS = 8,
	CLUSTER_ENDPOINT_LEN = 96, /* "[IPv6%zone]:PORT" and its NUL, with room */
	CLUSTER_MAX_LABELS = 64,
	CLUSTER_LABEL_LEN = 253,   /* a label's key or value, at most */
	CLUSTER_MAX_REMOTES = 256, /* the other clusters a gateway reports */
	CLUSTER_NAME_LEN = 64,	   /* a DNS label and its NUL */
	CLUSTER_CIDR_LEN = 64,	   /* a CIDR's text and its NUL, with room */
	CLUSTER_MAX_EXTRA = 16,	   /* fields of a newer version, kept */
};

/* The fields a record may lack: a broker's clusters have no key nor
 * endpoints before their first gateway, and no tunnel addresses; only a
 * gateway has "gateway"; "credentialRotation" comes with the first
 * rotation. Name, subnets and created are always there. */
enum {
	NODE_HAS_KEY = 1U << 0,
	NODE_HAS_ENDPOINTS = 1U << 1,
	NODE_HAS_LABELS = 1U << 2,
	NODE_HAS_TUNNEL = 1U << 3,
	NODE_HAS_GATEWAY = 1U << 4,
	NODE_HAS_ROTATION_REQUESTED = 1U << 5,
	NODE_HAS_ROTATION_ROTATED = 1U << 6,
};

/* Labels are string to string and few, but each may be 253 characters:
 * owned strings, not fixed arrays (64 of 2 x 254 bytes in every record
 * would be 32 KiB, most of it unused). */
struct cluster_label {
	char *key, *value;
};

/* Another cluster, as the gateway reported it: its ID and CIDRs. The
 * CIDRs are checked (networks, none overlapping) but kept as the gateway
 * spelt them: the record has always carried the report's own text, which
 * the agents route by and `weft clusters` shows. */
struct cluster_remote {
	char id[CLUSTER_NAME_LEN];
	size_t ncidrs;
	char cidrs[MAX_CLUSTER_CIDRS][CLUSTER_CIDR_LEN];
};

/* A connection's state, as `weft status` shows it: the names are the
 * strings in the record. */
enum cluster_link {
	CLUSTER_LINK_CONNECTED,
	CLUSTER_LINK_CONNECTING,
	CLUSTER_LINK_ERROR,
};

/* The name of a connection's state, as in the record. */
const char *cluster_link_name(enum cluster_link link);

struct cluster_link_status {
	char id[CLUSTER_NAME_LEN];
	enum cluster_link link;
};

struct cluster_gateway {
	int64_t since;
	size_t nclusters, nstatus;
	struct cluster_remote *clusters; /* owned, nclusters of them */
	struct cluster_link_status *status; /* owned, nstatus of them */
};

struct cluster_node {
	unsigned flags; /* NODE_HAS_*: which optional fields are there */
	char name[CLUSTER_NAME_LEN];
	uint8_t key[32];
	/* Kept as written, once checked: the agents read them as text, and
	 * a parsed address written back could be spelt another way. */
	size_t nendpoints;
	char endpoints[CLUSTER_MAX_ENDPOINTS][CLUSTER_ENDPOINT_LEN];
	size_t nlabels;
	struct cluster_label *labels; /* owned */
	size_t nsubnets, ntunnel;
	struct ipam_prefix subnets[MAX_CLUSTER_CIDRS];
	struct ipam_prefix tunnel[2];
	int64_t created;
	struct cluster_gateway gateway;
	int64_t rotation_requested, rotation_rotated;
	/* Fields this version does not know, kept as they are and written
	 * back: managers of two versions share a store during an upgrade, and
	 * the older must not drop what the newer wrote. NULL: none. */
	json_t *extra;
};

/* Checks every field of a record and fills n (all of it: n need not be
 * cleared before). 0, or -EINVAL with err naming the bad field and its
 * value, and nothing to free; -ENOMEM. Fields it does not know go to
 * n->extra, untouched (at most CLUSTER_MAX_EXTRA of them). */
int cluster_node_parse(json_t *doc, struct cluster_node *n, char *err, size_t errlen);
/* The record as JSON, as stored and as the HTTP API answers it; NULL out
 * of memory. */
json_t *cluster_node_json(const struct cluster_node *n);
/* Frees what n owns and clears it; a cleared n is fine. */
void cluster_node_free(struct cluster_node *n);
/* Whether two records say the same (labels, clusters and status in any
 * order). */
bool cluster_node_equal(const struct cluster_node *a, const struct cluster_node *b);
/* Whether n already holds what a node's request req sets: the key and the
 * endpoints (in order) where req has them, and its labels where req has
 * them, the gateway label aside on both sides (an admin grants it, and the
 * manager keeps it whatever the node sends). A node asks for a PATCH only
 * when this is false. */
bool cluster_node_holds(const struct cluster_node *n, const struct cluster_node *req);
/* The value of label key, or NULL. */
const char *cluster_node_label(const struct cluster_node *n, const char *key);
/* Sets label key to value (NULL: removes it). 0 or -ENOMEM. */
int cluster_node_set_label(struct cluster_node *n, const char *key, const char *value);

#endif
