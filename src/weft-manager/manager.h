/* SPDX-License-Identifier: MIT */
/* weft-manager: the cluster's control plane (docs/manager.md). */
#ifndef WEFT_MANAGER_H
#define WEFT_MANAGER_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cluster/cluster.h"
#include "util/list.h"
#include "util/throttle.h"

#define PATH_MAX_LEN 512

struct MHD_Daemon;
struct MHD_Connection;

/* Who a request speaks for, from its bearer token. */
enum role {
	ROLE_NONE,
	ROLE_JOIN,   /* a join token: may register one node */
	ROLE_NODE,   /* a node's credential: its own record, and reading */
	ROLE_READER, /* reading everything */
	ROLE_ADMIN,  /* everything */
	/* Not a role: the store could not be read to tell (503, not 401, so
	 * that nobody takes a store's hiccup for a revoked credential). */
	ROLE_UNKNOWN,
};

/* A reply's text, shared by every long poll that gets the same answer
 * (a thousand agents at one revision get one delta, written once). */
struct text {
	atomic_int refs;
	size_t len;
	char data[];
};

enum { TEXT_CACHE = 8 };

struct manager {
	char state_dir[PATH_MAX_LEN - 64]; /* room for its files' names */
	char store_url[PATH_MAX_LEN];
	char listen[128];
	char tls_cert[PATH_MAX_LEN], tls_key[PATH_MAX_LEN];
	char tls_ca_cert[PATH_MAX_LEN], tls_ca_key[PATH_MAX_LEN];
	char tls_san[1024];
	char ca_path[PATH_MAX_LEN];
	char *cert_pem, *key_pem;
	char *cidr4, *cidr6;
	unsigned len4, len6;
	int64_t reuse_after, expire_after;
	int64_t gateway_lease; /* seconds a gateway lease lasts unless renewed */
	int log_level; /* enum manager_level: what is logged, up to it */
	bool verbose;  /* log_level is LOG_VERBOSE */
	bool broker;   /* --role broker */

	struct kv *kv;
	struct cluster cluster;
	struct MHD_Daemon *httpd;
	/* Bad tokens per source (server.c, routes.c): guessing is slowed to a crawl. */
	struct throttle bad_tokens;

	/* The nodes as last seen in the store, for watchers: each node's
	 * record and mod_rev, and who left when. */
	pthread_mutex_t lock;
	pthread_cond_t changed;
	json_t *nodes;		 /* name -> {"rev": n, "node": {...}} */
	json_t *removed;	 /* name -> rev of its removal */
	json_t *clients;	 /* name -> {"rev": n, "client": {...}} */
	json_t *clients_removed; /* name -> rev of its removal */
	int64_t rev;		 /* the revision of the last change agents care about */
	int64_t watched;	 /* the store's revision the watch has seen through */
	int64_t base;		 /* revisions after this are known change by change */
	struct list waiters;
	/* Answers at revision cache_rev, by the "since" they answer (-1: all). */
	struct {
		int64_t since;
		struct text *text;
	} cache[TEXT_CACHE];
	int64_t cache_rev;
	unsigned cache_next;
	bool stopping; /* under lock */
};

/* The log, one line an event, as weftd's: "LEVEL: (weft-manager)
 * YYYY/MM/DD HH:MM:SS message", levels up to --log-level (info unless
 * said). manager_log is info: a normal event. */
enum manager_level { LOG_ERROR = 1, LOG_WARNING, LOG_INFO, LOG_VERBOSE };
void manager_logl(struct manager *m, enum manager_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
#define manager_log(m, ...) manager_logl((m), LOG_INFO, __VA_ARGS__)

/* tls.c */
int tls_setup(struct manager *m, char *err, size_t errlen);

/* auth.c: tokens and credentials, stored hashed (SHA-256). */
int auth_bootstrap(struct manager *m, char *err, size_t errlen);
enum role auth_check(struct manager *m, const char *authorization, char *node, size_t nodelen);
/* The same, from what was checked lately only (no store read): ROLE_NONE
 * when the token was not seen valid in the last minute. */
enum role auth_known(const char *authorization, char *node, size_t nodelen);
/* A new join token valid for ttl seconds: "weftj1:ID:SECRET" into out. */
int auth_join_token(struct manager *m, int64_t ttl, char *out, size_t outlen, json_t **info);
/* Uses up nothing: join tokens are reusable until they expire or are deleted. */
int auth_new_credential(const char *node, char *out, size_t outlen, char hash[65]);
/* A new admin or reader token into out, pending until first used (the
 * old one works until then); STATE/ROLE.token gets it if there is one. */
int auth_rotate(struct manager *m, enum role role, char *out, size_t outlen);
/* A new credential for node into out, pending until first used. */
int auth_rotate_credential(struct manager *m, const char *node, char *out, size_t outlen);
void auth_hash(const char *secret, char hex[65]);
/* Drops what is remembered of a node's credential (it was removed). */
void auth_forget_node(const char *name);
void auth_free(void);

/* server.c: the HTTP server (routes.c answers the requests) */
int server_start(struct manager *m, char *err, size_t errlen);
void server_stop(struct manager *m);
/* Resumes the long polls that have news or whose time is up (all: every
 * one). Called by the watch, never with m->lock held. */
void server_wake(struct manager *m, bool all);

/* federation.c: joining a broker, and the gateway lease (docs/clusters.md).
 * Each returns the reply's status with *body set. */
unsigned federation_join(struct manager *m, json_t *req, json_t **body);
unsigned federation_get(struct manager *m, bool with_secret, json_t **body);
unsigned federation_leave(struct manager *m, json_t **body);
unsigned federation_lease_claim(struct manager *m, const char *node, json_t *req, json_t **body);
unsigned federation_lease_release(struct manager *m, const char *node, json_t **body);

/* watch.c: follows the store, wakes long polls. */
int watch_start(struct manager *m, char *err, size_t errlen);
void watch_stop(struct manager *m);
void watch_free(struct manager *m);
/* Changes since `since` as a reply body: {"revision", "full", "nodes",
 * "removed", "clients", "removedClients"}. With m->lock held. */
json_t *watch_changes(struct manager *m, int64_t since);
/* The same as text, shared: text_put() it when done. With m->lock held. */
struct text *watch_changes_text(struct manager *m, int64_t since);
void text_put(struct text *t);

#endif
