/* SPDX-License-Identifier: MIT */
/*
 * The cluster's state, kept in the store (lib/store) under /weft/, written
 * only in transactions so that it is never half-changed and never shared
 * by mistake, whatever the number of managers:
 *
 *   /weft/config               the cluster CIDRs and node subnet sizes
 *   /weft/nodes/NAME           a node: key, endpoints, subnets, labels
 *   /weft/keys/PUBKEY          which node holds a public key (unique)
 *   /weft/subnets/F/INDEX      the INDEXth node subnet of family F (4, 6):
 *                              {"node": NAME} or {"released": UNIXTIME}
 *   /weft/credentials/NAME     the hashes of a node's credential (and
 *                              of one pending, while it rotates) and of
 *                              its registration secret
 *   /weft/heartbeats/NAME      a node's last heartbeat (not watched by
 *                              agents: heartbeats must not wake them)
 *   /weft/tokens/ID            a join token's hash and expiry
 *   /weft/clients/NAME         an external client: key, addresses
 *   /weft/clientnet, clientaddrs/INDEX, handshakes/NODE   their subnets,
 *                              addresses and last handshakes (clients.c)
 *
 * A node's registration claims its subnets, its key and its name in one
 * compare-and-swap transaction: two nodes never get one subnet, even with
 * managers racing on etcd. A subnet comes back to the pool when its node
 * is removed (or its lease expired long enough to be removed), and is handed
 * out again only once `reuse_after` seconds have passed since.
 *
 * The files, one a concept: pool.c the pool's arithmetic and the checks on
 * prefixes (nothing there touches the store); node.c a node's record, typed
 * (node.h), and its checks; nodes.c the settings and the
 * node registry; register.c a node's registration and the subnets it
 * claims; broker.c a broker's store, whose nodes are clusters;
 * lease.c the gateway lease and the report that comes with a claim;
 * credentials.c the secrets that rotate (credentials, admin tokens);
 * federation.c the broker-info and the join request. Their shared helpers
 * are in internal.h.
 */
#ifndef WEFT_CLUSTER_H
#define WEFT_CLUSTER_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "cluster/client.h"
#include "cluster/node.h"
#include "ipam/ipam.h"
#include "store/kv.h"

#define CLUSTER_PREFIX "/weft/"
#define CLUSTER_NODES CLUSTER_PREFIX "nodes/"
#define CLUSTER_GATEWAY CLUSTER_PREFIX "gateway"
#define CLUSTER_FEDERATION CLUSTER_PREFIX "federation"
/* Nodes that may be the cluster's gateway carry this label (Submariner's). */
#define CLUSTER_GATEWAY_LABEL "submariner.io/gateway"

/* A cluster CIDR cut into node subnets of one size. */
struct cluster_pool {
	struct ipam_prefix cidr;
	uint8_t node_len;
	uint64_t count; /* how many node subnets */
};

int cluster_pool_init(struct cluster_pool *p, const char *cidr, unsigned node_len, char *err, size_t errlen);
/* The index-th node subnet. */
void cluster_pool_nth(const struct cluster_pool *p, uint64_t index, struct ipam_prefix *out);
/* The index of a node subnet of this pool, or -1 if it is not one. */
int64_t cluster_pool_index(const struct cluster_pool *p, const struct ipam_prefix *subnet);

struct cluster {
	struct kv *kv;
	struct cluster_pool pool[2]; /* [0] IPv4, [1] IPv6; count 0: none */
	int64_t reuse_after;	     /* seconds a released subnet rests */
	bool broker;		     /* a broker's store: nodes are clusters */
	/* One registration at a time per manager: its own threads would only
	 * race each other for the same subnets. Managers still race, in the
	 * store's transactions. */
	pthread_mutex_t register_lock;
};

/* Binds the settings to the store: the first manager writes them, later
 * ones must agree (a different CIDR would re-number a running cluster). */
int cluster_init(struct cluster *c, struct kv *kv, const char *cidr4, unsigned len4, const char *cidr6, unsigned len6,
		 int64_t reuse_after, char *err, size_t errlen);

/* A broker's store (docs/clusters.md): each "node" is a cluster, named by
 * its cluster ID, its subnets the cluster's CIDRs as given (none may
 * overlap another cluster's), its key and endpoint its active gateway's
 * (none until it has one). */
int cluster_init_broker(struct cluster *c, struct kv *kv, char *err, size_t errlen);

/* Node names: DNS labels, 1 to 63 of [a-z0-9-], not starting or ending
 * with '-'. */
bool cluster_name_valid(const char *name);

/* What cluster_node_register returns beside 0 (registered): the node was
 * registered already by this same registrant, whose answer was lost. */
#define CLUSTER_REGISTERED_AGAIN 1

/* Registers a node described by `req` ({"name", "publicKey", "endpoints",
 * "labels", "registrationSecret"?}), with the hash of the credential it
 * will use. On success *out is the stored record (with its subnets and
 * tunnel addresses). A registration secret (its hash is kept with the
 * node) makes a repeated request safe: for a node of that name, key and
 * secret, the same record is answered again (CLUSTER_REGISTERED_AGAIN)
 * and cred_hash replaces its credential, which was never received.
 * Errors: -EINVAL (err names the field), -EEXIST (name or key taken),
 * -ENOSPC (no subnet left), -EIO (the store; err says how). */
int cluster_node_register(struct cluster *c, json_t *req, const char *cred_hash, int64_t now, json_t **out, char *err,
			  size_t errlen);
/* Changes a node's public key, endpoints or labels (nothing else). The
 * gateway label (CLUSTER_GATEWAY_LABEL) is an admin's to grant: unless
 * may_grant, a request that would change it is refused (-EPERM, err says
 * what to do), and labels sent without it keep it as the record has it. */
int cluster_node_update(struct cluster *c, const char *name, json_t *req, bool may_grant, json_t **out, char *err,
			size_t errlen);
/* An admin allows a node to be a gateway candidate, or takes that back:
 * CLUSTER_GATEWAY_LABEL set to "true", or removed. -ENOENT for no node. */
int cluster_gateway_grant(struct cluster *c, const char *name, bool allow, json_t **out, char *err, size_t errlen);
/* Removes a node and releases its subnets (at `now`). -ENOENT if absent. */
int cluster_node_remove(struct cluster *c, const char *name, int64_t now, char *err, size_t errlen);
/* The node's record, or -ENOENT; -EIO (kv_error() says why) for a record
 * in the store that cluster_node_parse refuses. The records handed out are
 * cluster_node_json's: the HTTP API answers with them as they are. */
int cluster_node_get(struct cluster *c, const char *name, json_t **out);
/* Every node, and the store revision they were read at; -EIO (kv_error()
 * names the node and its bad field) if any record is refused. */
int cluster_nodes(struct cluster *c, json_t **out, int64_t *rev);

int cluster_heartbeat(struct cluster *c, const char *name, int64_t now);
/* Removes the nodes whose last heartbeat (or registration) is older than
 * now - expire; returns how many, or a negative errno. */
int cluster_expire(struct cluster *c, int64_t now, int64_t expire);

/* A network with no host bits set, or -EINVAL with err naming it. */
int cluster_cidr_parse(struct ipam_prefix *p, const char *s, char *err, size_t errlen);
bool cluster_prefix_overlap(const struct ipam_prefix *a, const struct ipam_prefix *b);

/* The gateway lease as stored (/weft/gateway). */
struct cluster_lease {
	char node[CLUSTER_NAME_LEN]; /* the holder; "" in a cleared one */
	int64_t since, until;	     /* Unix times: held since, and through */
	json_t *connections;	     /* the holder's last report of them, checked; owned */
};

/* Checks a stored lease ({"node", "since", "until", "connections"}): 0, or
 * -EINVAL with err naming the field, and nothing to free. */
int cluster_lease_parse(json_t *doc, struct cluster_lease *l, char *err, size_t errlen);
json_t *cluster_lease_json(const struct cluster_lease *l);
void cluster_lease_free(struct cluster_lease *l);

/*
 * The gateway lease (/weft/gateway, docs/clusters.md): node `name`, which
 * must carry CLUSTER_GATEWAY_LABEL=true, takes or renews it for ttl
 * seconds. `report` is {"clusters": {ID: [CIDR]}, "connections": [...]}:
 * the clusters, and each connection's status, go into the holder's record
 * ("gateway": {"since", "clusters", "status": {ID: S}}), where every node
 * sees them, only when they change; the
 * connections go into the lease, which no agent watches. A new holder's
 * lease also takes "gateway" off the old holder's record. On success
 * *lease is the lease; -EBUSY (with *lease the holder's) when another live
 * node holds it; -EPERM for a node without the label; -ENOENT for none.
 * *lease is cleared otherwise; free it with cluster_lease_free either way.
 * A stored lease that does not parse holds nothing: the claim replaces it.
 */
int cluster_gateway_claim(struct cluster *c, const char *name, json_t *report, int64_t now, int ttl,
			  struct cluster_lease *lease, char *err, size_t errlen);
/* Hands the lease back, if `name` holds it. */
int cluster_gateway_release(struct cluster *c, const char *name, char *err, size_t errlen);
/* The lease as stored (it may have run out), or -ENOENT; -EIO for one
 * that does not parse. */
int cluster_gateway_get(struct cluster *c, struct cluster_lease *lease);

/* --- external clients (clients.c) --------------------------------------- */

#define CLUSTER_CLIENTS CLUSTER_PREFIX "clients/"

/* Adds a client ({"name", "publicKey"}: its private key stays with it),
 * giving it a host address of each family in the clients' subnets, which
 * the first client sets aside from the node subnets. *out is its record.
 * -EINVAL (err names the field and value), -EEXIST (name or key taken),
 * -ENOSPC (no address or subnet left), -EIO (the store). */
int cluster_client_add(struct cluster *c, json_t *req, int64_t now, json_t **out, char *err, size_t errlen);
/* Removes a client; its address is free again at once. -ENOENT if absent. */
int cluster_client_remove(struct cluster *c, const char *name, char *err, size_t errlen);
/* A client's record and its mod_rev (may be NULL); -ENOENT, -EIO for one
 * that does not parse. */
int cluster_client_get(struct cluster *c, const char *name, struct cluster_client *cl, int64_t *mod_rev);
/* Every client's record, with "lastHandshake": {"time", "node"}, the
 * latest any node reported, when one did; and the revision read at. */
int cluster_clients(struct cluster *c, json_t **out, int64_t *rev);
/* Node `node` reports the last handshake it saw of each client, {NAME:
 * UNIXTIME}; it replaces what it reported before. */
int cluster_client_handshakes(struct cluster *c, const char *node, json_t *report, char *err, size_t errlen);

/* --- joining the broker (federation.c) ----------------------------------- */

/* A broker-info holds one CA certificate (a few KiB) and a token; a CA
 * file is one certificate, or a short chain. */
enum { BROKER_INFO_MAX = 64 * 1024 };

/* A broker-info file's text: one line of base64 of the compact JSON
 * {"broker", "ca", "token"}, with its newline; NULL out of memory. It
 * holds the token: wipe it before freeing. */
char *broker_info_encode(const char *broker, const char *ca, const char *token);
/* Checks a broker-info's text: base64 (white space ignored) of a JSON
 * object whose "broker" is an https:// URL, "ca" holds a PEM certificate
 * and "token" is a non-empty string. 0 with *out the object (to free with
 * broker_info_free), or -EINVAL with err saying what is wrong without
 * quoting the token; -ENOMEM. */
int broker_info_decode(const char *text, json_t **out, char *err, size_t errlen);
/* Wipes the token in a decoded broker-info and frees it; NULL is fine. */
void broker_info_free(json_t *info);

/* A join request (POST /v1/federation), checked. id and driver point into
 * the request; info and cidrs are owned (cluster_join_free). */
struct cluster_join {
	const char *id, *driver;
	json_t *info;  /* the decoded broker-info */
	json_t *cidrs; /* normalised: those asked, else the cluster CIDRs */
};
/* Checks {"brokerInfo", "clusterID", "cableDriver", "cidrs"}: 0, or
 * -EINVAL with err naming the bad field and value (never the token) and
 * nothing to free. */
int cluster_join_parse(const struct cluster *c, json_t *req, struct cluster_join *j, char *err, size_t errlen);
void cluster_join_free(struct cluster_join *j);

/* --- credentials.c: secrets that rotate ---------------------------------- */

/* SHA-256 of a secret, in hex: what the store keeps instead. */
void cluster_hash(const char *secret, char hex[65]);
/* A secret's document at key ({"hash", "next"?, ...}; a plain hash is
 * read as {"hash"}), and its mod_rev (may be NULL). -ENOENT if absent. */
int cluster_secret_read(struct kv *kv, const char *key, json_t **doc, int64_t *mod_rev);
enum cluster_match {
	CLUSTER_MATCH_NONE,
	CLUSTER_MATCH_CURRENT, /* the secret in use */
	CLUSTER_MATCH_NEXT,    /* the pending one: using it confirms it */
};
/* Which of doc's hashes is `hash`, compared in constant time. */
enum cluster_match cluster_secret_match(json_t *doc, const char hash[65]);
/* Stores hash as the pending secret at key (replacing one pending). */
int cluster_secret_next(struct kv *kv, const char *key, const char hash[65]);
/* The pending secret `hash` becomes the current one, the old one is
 * refused from then on. With node, the node's record says so in the same
 * transaction ("credentialRotation": {"rotated": now}). 0 also when it was
 * confirmed already; -ESTALE when hash is no longer pending. */
int cluster_secret_confirm(struct kv *kv, const char *key, const char hash[65], const char *node, int64_t now);
/* An admin asks node `name` to rotate its credential: its record gets
 * "credentialRotation": {"requested": now}, which its agent follows.
 * *out is the record. -ENOENT for no node. */
int cluster_credential_request(struct cluster *c, const char *name, int64_t now, json_t **out, char *err,
			       size_t errlen);

#endif
