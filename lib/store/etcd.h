/* SPDX-License-Identifier: MIT */
/*
 * The etcd backend's own helpers, shared by its files (etcd.c: the calls,
 * reads and writes; etcd_watch.c: the watch); not for use outside
 * lib/store.
 */
#ifndef WEFT_STORE_ETCD_H
#define WEFT_STORE_ETCD_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "store/kv.h"

enum {
	ETCD_CONNECT_MS = 3000,
	ETCD_REQUEST_MS = 10000,
	ETCD_REPLY_MAX = 256 << 20,
	ETCD_URL_MAX = 512,
};

struct etcd {
	struct kv kv;
	char **urls;
	size_t n;
	atomic_size_t last; /* the endpoint that answered last: tried first */
};

/* --- etcd.c --------------------------------------------------------------- */

/* Sets obj[name] to v, as protobuf's JSON spells an int64: a string. */
int etcd_set_int(json_t *obj, const char *name, int64_t v);
/* obj[name] as an int64, string or number; absent is 0. */
int64_t etcd_get_int(json_t *obj, const char *name);
/* The revision in a message's header. */
int64_t etcd_header_rev(json_t *msg);
/* One mvccpb.KeyValue into it; on failure it holds nothing. */
int etcd_parse_item(json_t *j, struct kv_item *it);
/* The range [key, range_end) of every key starting with prefix. */
int etcd_set_prefix(json_t *req, const char *prefix);
/* A handle POSTing body to url + path; the caller sets where the answer
 * goes and frees hdr after the handle. */
CURL *etcd_handle(const char *url, const char *path, const char *body, struct curl_slist **hdr, char *errbuf);
/* What a non-200 answer means; sets the thread's error. */
int etcd_answer_error(const char *url, long status, json_t *j);
/* After every endpoint failed: the last one's message, saying so. */
int etcd_all_failed(struct etcd *e);

/* --- etcd_watch.c --------------------------------------------------------- */

/* kv_ops.watch: the changes under prefix after revision after. */
int etcd_watch(struct kv *kv, const char *prefix, int64_t after, int timeout_ms, struct kv_events *out);

#endif
