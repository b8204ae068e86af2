/* SPDX-License-Identifier: MIT */
/*
 * One WireGuard device kept equal to a set of remote peers, each a node of
 * the cluster (the hub, weftd's member.c), a pod on this node (the hub
 * too, hub.c) or another cluster's gateway (the gateway device, cable.c):
 * a key, an endpoint, the prefixes it is allowed and routed.
 *
 * The parts are pure, so they are unit-tested without a device or a clock
 * (tests/unit/test_reconcile.c):
 *
 *   peer_set_take     a change list from a manager or a broker
 *                     ({"full", "nodes": [...], "removed": [...]}), checked
 *                     record by record, merged into what we had
 *   reconcile         (what we want, what we had, what the device holds,
 *                     now) -> the device changes, the route changes, the
 *                     keepalives to start later, and what happened
 *   kickoff_due       the keepalives whose time has come
 *
 * The callers apply a plan (wg_config to the device, routes by netlink)
 * and keep the new set only when the device took it.
 */
#ifndef WEFT_RECONCILE_H
#define WEFT_RECONCILE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipam/ipam.h"
#include "util/addr.h"
#include "wg/config.h"

/* A node name or cluster ID (a DNS label), or a pod's CONTAINER@IFNAME
 * (weftd takes a CNI container ID of up to 255 characters). */
#define PEER_NAME_MAX (256 + 1 + 16)

/* A remote peer, as the device and the routing table need it. */
struct peer_rec {
	char name[PEER_NAME_MAX]; /* node name, cluster ID or pod: the set's key */
	uint8_t key[32];
	bool has_endpoint;
	union sockaddr_any endpoint;
	struct ipam_prefix *prefixes; /* allowed and routed */
	size_t nprefixes;
	json_t *extra; /* kept as given (a gateway's labels), or NULL */
};

/* Sorted by name, names unique. */
struct peer_set {
	struct peer_rec *v;
	size_t n, cap;
};

void peer_set_clear(struct peer_set *s);
int peer_set_copy(struct peer_set *dst, const struct peer_set *src);
const struct peer_rec *peer_set_find(const struct peer_set *s, const char *name);
const struct peer_rec *peer_set_find_key(const struct peer_set *s, const uint8_t key[32]);
/* Adds or replaces (taking r's contents: r is emptied). */
int peer_set_put(struct peer_set *s, struct peer_rec *r);
void peer_set_del(struct peer_set *s, const char *name);
bool peer_rec_equal(const struct peer_rec *a, const struct peer_rec *b);
void peer_rec_clear(struct peer_rec *r);

/* A record from JSON: {"name"?, "publicKey", "endpoints": [first is used],
 * "subnets": [...], plus extra_prefixes}; name is given. -EINVAL with err
 * naming the bad field. */
int peer_rec_parse(struct peer_rec *r, const char *name, json_t *rec, json_t *extra_prefixes, char *err,
		   size_t errlen);
/* {"publicKey", "endpoints": [...], "subnets": [...]} (+ extra's keys). */
json_t *peer_rec_json(const struct peer_rec *r);
/* The whole set as {NAME: record}, and back (bad records are skipped,
 * counted in *skipped if given). */
json_t *peer_set_json(const struct peer_set *s);
int peer_set_from_json(struct peer_set *s, json_t *obj, size_t *skipped);

/* How a change list's records become peers. */
struct peer_take_opts {
	const char *self; /* our own record, not a peer */
	/* Record -> the prefixes it is routed beyond its "subnets" (a node
	 * that is the cluster's gateway: the other clusters' CIDRs), or NULL. */
	json_t *(*extra_prefixes)(json_t *rec);
	/* Keep these fields of a record in peer_rec.extra. */
	const char *const *keep;
	/* A record without a key or endpoint (a cluster with no gateway yet) is
	 * no peer: true drops one we had under that name. */
	bool need_endpoint;
	/* Called for a record that fails its check: it changes nothing. */
	void (*bad)(void *ctx, const char *name, const char *why);
	void *ctx;
};

/* next = have changed by reply. On a full list, names missing from it go.
 * Returns 0, or -ENOMEM (next is then cleared). */
int peer_set_take(struct peer_set *next, const struct peer_set *have, json_t *reply, const struct peer_take_opts *o);

/* --- the plan ---------------------------------------------------------------------- */

enum peer_event_kind {
	PEER_JOINED,  /* new to us */
	PEER_REKEYED, /* same name, new key: a new peer on the device */
	PEER_MOVED,   /* same key, other endpoint or prefixes */
	PEER_LEFT,
	PEER_STRAY, /* on the device, in no set: removed */
};

struct peer_event {
	enum peer_event_kind kind;
	char name[PEER_NAME_MAX];
};

struct kickoff {
	uint8_t key[32];
	int64_t due_ms;
};

struct plan {
	struct wg_config *cfg;		/* peer changes; no peers when nothing to do */
	struct ipam_prefix *route_del; /* prefixes no peer routes any more (first) */
	size_t nroute_del;
	struct ipam_prefix *route_add; /* then these (idempotent) */
	size_t nroute_add;
	struct kickoff *kickoffs; /* keepalives to start later (kickoff_due) */
	size_t nkickoffs;
	struct peer_event *events;
	size_t nevents;
};

struct reconcile_in {
	const struct peer_set *want, *have;
	const uint8_t *mine;	/* our public key (32 bytes) */
	uint16_t keepalive;	/* seconds, for every peer */
	int64_t now_ms;
	/* Of two peers new to each other, the one with the greater key starts
	 * its keepalive (its handshake) this much later: two initiations
	 * crossing leave both sides waiting REKEY_TIMEOUT for a retry. */
	int64_t delay_ms;
	/* What the device holds, when known (after a full list): any key in
	 * neither want nor `others` is a stray and goes. NULL: not checked. */
	const uint8_t (*device)[32];
	size_t ndevice;
	const uint8_t (*others)[32]; /* the device's peers another set keeps (the hub's pods) */
	size_t nothers;
	bool all_routes; /* re-add every peer's routes, not only changed ones */
	/* No route per peer: the device's own prefix covers them (the hub's
	 * pods, inside the pod subnet it is addressed in). */
	bool no_routes;
};

int reconcile(const struct reconcile_in *in, struct plan *out);
void plan_free(struct plan *p);

/* The keepalives of `pending` due at now: moved to cfg as UPDATE_ONLY peers
 * with the keepalive set, removed from pending. Returns the next due time
 * (INT64_MAX if none). */
int64_t kickoff_due(struct kickoff *pending, size_t *n, int64_t now_ms, uint16_t keepalive, struct wg_config *cfg);
/* Appends (replacing one for the same key). */
int kickoff_add(struct kickoff **pending, size_t *n, const struct kickoff *k);
void kickoff_drop(struct kickoff *pending, size_t *n, const uint8_t key[32]);

const char *peer_event_name(enum peer_event_kind k);

#endif
