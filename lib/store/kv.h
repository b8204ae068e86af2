/* SPDX-License-Identifier: MIT */
/*
 * The manager's store: a key-value space with revisions and transactions,
 * as etcd v3 defines them, so the manager's logic (IPAM, the node registry,
 * tokens) is written once and runs on either backend:
 *
 *   "sqlite:/var/lib/weft/manager.db"              embedded, one manager
 *   "etcd:http://127.0.0.1:2379,http://...:2379"    several managers at once
 *
 * Every transaction that changes something raises the store's revision by
 * one (deleting a missing key changes nothing, as in etcd). Each key
 * carries the revision that created it and the one that last changed it.
 * A transaction applies its operations only if every condition holds
 * (compare-and-swap), all of them or none. Keys are printable strings
 * without NUL; values are bytes.
 *
 * Functions return 0 or a negative errno: -ENOENT (no such key),
 * -ECANCELED (a condition did not hold: nothing was written), -ERANGE (a
 * watch asked for history the store has compacted away: read afresh),
 * -ETIMEDOUT, -EIO (the backend failed; kv_error() says how). Thread-safe:
 * one struct kv may be used from several threads at once.
 */
#ifndef WEFT_STORE_KV_H
#define WEFT_STORE_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kv;

struct kv_item {
	char *key;
	char *value; /* NUL-terminated for convenience; len excludes it */
	size_t len;
	int64_t create_rev, mod_rev;
};

struct kv_list {
	struct kv_item *items; /* sorted by key */
	size_t n;
	int64_t rev; /* the store's revision the list was read at */
};

/* A condition: key's mod_rev must equal mod_rev; 0 means "must not exist". */
struct kv_cond {
	const char *key;
	int64_t mod_rev;
};

enum kv_op_type { KV_PUT, KV_DELETE };

struct kv_op {
	enum kv_op_type type;
	const char *key;
	const char *value; /* KV_PUT */
	size_t len;
};

struct kv_event {
	bool deleted;
	struct kv_item item; /* for a deletion: key, and mod_rev the deletion's revision */
};

struct kv_events {
	struct kv_event *events; /* in revision order */
	size_t n;
	int64_t rev; /* the last revision covered: watch again after it */
};

/* Opens the store named by url (see above); on error returns NULL with a
 * message in err naming what was wrong. */
struct kv *kv_open(const char *url, char *err, size_t errlen);
void kv_close(struct kv *kv);
/* The calling thread's last store error, for messages
 * ("etcd http://127.0.0.1:2379: ..."). */
const char *kv_error(void);

int kv_get(struct kv *kv, const char *key, struct kv_item *out);
/* Every key starting with prefix ("" for all), sorted. */
int kv_range(struct kv *kv, const char *prefix, struct kv_list *out);
/* The store's current revision. */
int kv_revision(struct kv *kv, int64_t *rev);
/* All conditions hold: every op is applied at one new revision (*rev, may
 * be NULL). Otherwise -ECANCELED and nothing changes. */
int kv_txn(struct kv *kv, const struct kv_cond *conds, size_t nconds, const struct kv_op *ops, size_t nops,
	   int64_t *rev);
/* Changes under prefix after revision after, waiting up to timeout_ms for
 * the first: 0 with out->n == 0 on timeout (out->rev then is after). */
int kv_watch(struct kv *kv, const char *prefix, int64_t after, int timeout_ms, struct kv_events *out);

/* Shorthands over kv_txn. */
int kv_put(struct kv *kv, const char *key, const char *value, size_t len, int64_t *rev);
int kv_create(struct kv *kv, const char *key, const char *value, size_t len, int64_t *rev); /* -ECANCELED if it exists */
int kv_delete(struct kv *kv, const char *key, int64_t *rev);

void kv_item_free(struct kv_item *item);
void kv_list_free(struct kv_list *list);
void kv_events_free(struct kv_events *ev);

/* For backends (kv.c dispatches to them). */
struct kv_ops {
	void (*close)(struct kv *kv);
	int (*get)(struct kv *kv, const char *key, struct kv_item *out);
	int (*range)(struct kv *kv, const char *prefix, struct kv_list *out);
	int (*revision)(struct kv *kv, int64_t *rev);
	int (*txn)(struct kv *kv, const struct kv_cond *conds, size_t nconds, const struct kv_op *ops, size_t nops,
		   int64_t *rev);
	int (*watch)(struct kv *kv, const char *prefix, int64_t after, int timeout_ms, struct kv_events *out);
};

struct kv {
	const struct kv_ops *ops;
};

struct kv *kv_sqlite_open(const char *path, char *err, size_t errlen);
struct kv *kv_etcd_open(const char *endpoints, char *err, size_t errlen);
/* Sets the thread's error; returns ret, for "return kv_fail(-EIO, ...)". */
int kv_fail(int ret, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
