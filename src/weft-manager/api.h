/* SPDX-License-Identifier: MIT */
/*
 * The API inside weft-manager: server.c serves HTTP (connections, bodies,
 * suspended long polls, replies); routes.c answers each request (the
 * route table, who may call what, the long poll and the smaller
 * endpoints), with auth.c's token check and the endpoints of tokens.c,
 * nodes.c and federation.c.
 */
#ifndef WEFT_MANAGER_API_H
#define WEFT_MANAGER_API_H

#include "manager.h"

enum { BODY_MAX = 64 * 1024 };

struct request {
	struct MHD_Connection *conn;
	char *body;
	size_t len;
	bool too_big;
	/* A long poll: on m->waiters while suspended. */
	struct list waiter;
	bool waiting, woken;
	int64_t since, deadline;
};

struct reply {
	unsigned status;
	json_t *body; /* owned */
	char allow[40]; /* for a 405: the methods there are, "GET, POST" */
	struct text *text; /* instead of body: a shared answer (a reference) */
	int64_t retry_after; /* seconds, for a 429 */
};

/* routes.c: the answer to a request; or none yet, with *suspended set,
 * for a long poll that waits (server_wake resumes it, and it is routed
 * again). */
struct reply route(struct manager *m, struct request *req, const char *method, const char *url,
		   bool *suspended);

/* One request as its handler sees it (route() in routes.c). */
struct call {
	struct request *req;
	enum role role;
	const char *node; /* ROLE_NODE: whose credential it is */
	const char *name; /* what the path's "*" stands for: a node's NAME, a token's ID */
	bool *suspended;  /* set by a long poll that waits */
};

/* routes.c's helpers for the handlers: a reply with a body (owned), an
 * error reply {"error": ...}, an errno from lib/cluster as a status, and
 * the request's body as a JSON object (a reply with status 0 if it is one,
 * *out set; else the 400 to answer). */
struct reply route_ok(unsigned status, json_t *body);
struct reply route_fail(unsigned status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
unsigned route_status(int ret);
struct reply route_parse_body(struct request *req, json_t **out);

/* tokens.c: /v1/tokens, an admin's. */
struct reply tokens_create(struct manager *m, const struct call *c);
struct reply tokens_list(struct manager *m, const struct call *c);
struct reply tokens_delete(struct manager *m, const struct call *c);
struct reply tokens_rotate(struct manager *m, const struct call *c);

/* nodes.c: /v1/nodes and /v1/nodes/NAME/... (but the gateway lease, which
 * is federation.c's). */
struct reply nodes_register(struct manager *m, const struct call *c);
/* The cluster's CIDRs, as a JSON array (empty for a broker). */
json_t *nodes_cluster_cidrs(struct manager *m);
struct reply nodes_list(struct manager *m, const struct call *c);
struct reply node_get(struct manager *m, const struct call *c);
struct reply node_update(struct manager *m, const struct call *c);
struct reply node_gateway_candidate(struct manager *m, const struct call *c);
struct reply node_heartbeat(struct manager *m, const struct call *c);
struct reply node_remove(struct manager *m, const struct call *c);
struct reply node_credential_rotation(struct manager *m, const struct call *c);
struct reply node_credentials(struct manager *m, const struct call *c);

/* clients.c: /v1/clients and /v1/clients/NAME. */
struct reply clients_add(struct manager *m, const struct call *c);
struct reply clients_list(struct manager *m, const struct call *c);
struct reply client_get(struct manager *m, const struct call *c);
struct reply client_remove(struct manager *m, const struct call *c);

#endif
