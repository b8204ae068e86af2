/* SPDX-License-Identifier: MIT */
/*
 * Following a manager (or a broker) from one thread: tell it our record,
 * heartbeat it, and long-poll its changes (GET /v1/peers?since=REV), with
 * a backoff that doubles to RETRY_MAX_MS and is jittered so that the nodes
 * of a cluster do not come back in step after the manager's restart.
 * weftd's cluster member and its gateway's broker thread are both one.
 *
 * The calls, the clock and the pauses can be replaced (tests/unit/
 * test_follow.c drives a follower against a scripted manager on a clock of
 * its own). follow_stop cuts a call or a pause short at once.
 */
#ifndef WEFT_API_FOLLOW_H
#define WEFT_API_FOLLOW_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/client.h"

enum {
	FOLLOW_POLL_WAIT_S = 25,	 /* a long poll may wait this long at the manager */
	FOLLOW_HEARTBEAT_MS = 30000, /* by the monotonic clock */
	FOLLOW_RETRY_MIN_MS = 1000,
	FOLLOW_RETRY_MAX_MS = 8000,
};

enum follow_told {
	FOLLOW_TOLD,  /* the manager has our record */
	FOLLOW_AGAIN, /* try again at once (say, after joining afresh) */
	FOLLOW_LATER, /* try again after the backoff */
};

/* What take returns beside 0 (taken): our own record went, tell it again. */
#define FOLLOW_RETELL 1

struct follow_ops {
	/* Tells the manager our record. why: 0 the first time, else the status
	 * that made it needed again (401: the manager no longer knows us). */
	enum follow_told (*tell)(void *ctx, int why);
	/* A change list {"revision", "full", "nodes", "removed"}: 0 or
	 * FOLLOW_RETELL when taken (the revision advances), < 0 when not. */
	int (*take)(void *ctx, json_t *reply);
	/* The heartbeat's body (owned by the caller), or NULL for none: what
	 * the node reports with it (weftd: its external clients' handshakes). */
	json_t *(*beat)(void *ctx);
	/* After each poll: whether the manager answered, and if not why. */
	void (*contact)(void *ctx, bool ok, int status, const char *err);
	/* Replaceable, for tests; NULL: api_call on the client, clock_ms, and
	 * a pause that follow_stop ends. */
	int (*call)(void *ctx, const char *method, const char *path, json_t *body, long timeout_s, json_t **reply,
		    char *err, size_t errlen);
	int64_t (*now_ms)(void *ctx);
	void (*pause_ms)(void *ctx, int64_t ms);
};

struct follow {
	const struct follow_ops *ops;
	void *ctx;
	struct api_client *client; /* may be NULL when ops->call is given */
	char heartbeat[200];	   /* the PUT path, or "" for none */
	int64_t rev;		   /* the revision our state reflects */
	/* The loop's own. */
	bool told, beaten;
	int why;
	int64_t last_beat_ms, backoff_ms;
	uint64_t rng;
	atomic_bool stop;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* CLOCK_MONOTONIC: a pause, ended by follow_stop */
};

/* heartbeat: the path to PUT every FOLLOW_HEARTBEAT_MS, or NULL. */
void follow_init(struct follow *f, const struct follow_ops *ops, void *ctx, struct api_client *client,
		 const char *heartbeat, int64_t rev);
void follow_destroy(struct follow *f);
/* One round: tell if needed, heartbeat if due, one poll. Returns how long
 * to pause before the next round (ms, 0 for none). */
int64_t follow_step(struct follow *f);
/* Rounds until follow_stop. */
void follow_run(struct follow *f);
/* From any thread: the call or pause under way ends at once. */
void follow_stop(struct follow *f);
bool follow_stopping(struct follow *f);
/* Pauses up to ms, less if follow_stop comes. */
void follow_pause(struct follow *f, int64_t ms);
/* The pause after a failure: the backoff with jitter (half of it fixed,
 * half random); the backoff then doubles, to FOLLOW_RETRY_MAX_MS. */
int64_t follow_backoff(struct follow *f);

#endif
