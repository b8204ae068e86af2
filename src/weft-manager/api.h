/* SPDX-License-Identifier: MIT */
/*
 * The API inside weft-manager: api.c serves HTTP (connections, bodies,
 * suspended long polls, replies); routes.c answers each request (the
 * route table, who may call what, the endpoints).
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
 * for a long poll that waits (api_wake resumes it, and it is routed again). */
struct reply route(struct manager *m, struct request *req, const char *method, const char *url,
		   bool *suspended);

#endif
