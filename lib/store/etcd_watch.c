// SPDX-License-Identifier: MIT
/*
 * The etcd backend's watch: one long POST to /v3/watch per endpoint, its
 * stream of newline-separated JSON messages read as it comes, until the
 * first batch of events, a cancellation, an error or the deadline. A watch
 * moves on to the next endpoint, as a call does, when one cannot be
 * reached, answers 5xx or does not acknowledge the watch in time.
 */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "store/etcd.h"
#include "store/kv.h"
#include "util/buf.h"
#include "util/clock.h"

enum {
	/* A watch must be acknowledged ("created") within this, or its
	 * endpoint counts as down. */
	ETCD_WATCH_SETUP_MS = 5000,
	/* etcd sends events older than the watch from a loop that runs every
	 * 100 ms, after the acknowledgement: a watch whose history is not
	 * empty waits at least this long past it, so a short timeout still
	 * sees what is already there. */
	ETCD_CATCHUP_MS = 300,
	ETCD_POLL_MS = 100,
};

/* A watch in progress: what the stream said so far. */
struct watch {
	const char *url;
	int64_t after;
	struct buf line;
	bool created;
	int64_t created_at, created_rev;
	bool done; /* events, a cancellation or an error: stop reading */
	int ret;
	struct kv_events *out;
};

static int watch_events(struct watch *w, json_t *events)
{
	size_t n = json_array_size(events);
	struct kv_events *out = w->out;
	json_t *ev;
	int ret = 0;

	out->events = calloc(n, sizeof(*out->events));
	if (!out->events)
		return -ENOMEM;
	for (; out->n < n && !ret; out->n++) {
		ev = json_array_get(events, out->n);
		out->events[out->n].deleted = !strcmp(json_string_value(json_object_get(ev, "type")) ?: "", "DELETE");
		ret = etcd_parse_item(json_object_get(ev, "kv"), &out->events[out->n].item);
	}
	if (ret) {
		out->n--;
		kv_events_free(out);
		return ret;
	}
	out->rev = out->events[n - 1].item.mod_rev;
	return 0;
}

/* One message of the stream: {"result": WatchResponse} or {"error": ...}. */
static void watch_message(struct watch *w, json_t *msg)
{
	json_t *res = json_object_get(msg, "result");
	json_t *events = json_object_get(res, "events");

	if (!json_is_object(res)) {
		json_t *err = json_object_get(msg, "error") ?: msg;

		w->ret = etcd_answer_error(w->url, 0, err);
		if (etcd_get_int(err, "http_code") >= 500)
			w->ret = -EAGAIN;
		w->done = true;
	} else if (json_is_true(json_object_get(res, "canceled"))) {
		if (etcd_get_int(res, "compact_revision"))
			w->ret = kv_fail(-ERANGE, "etcd %s: revision %" PRId64 " is compacted, the oldest left is %" PRId64,
					 w->url, w->after + 1, etcd_get_int(res, "compact_revision"));
		else
			w->ret = kv_fail(-EIO, "etcd %s: watch canceled: %s", w->url,
					 json_string_value(json_object_get(res, "cancel_reason")) ?: "no reason given");
		w->done = true;
	} else if (json_array_size(events)) {
		w->ret = watch_events(w, events);
		w->done = true;
	} else if (json_is_true(json_object_get(res, "created"))) {
		w->created = true;
		w->created_at = clock_ms();
		w->created_rev = etcd_header_rev(res);
	}
}

/* Takes the stream in, one newline-terminated message at a time. */
static size_t watch_read(char *p, size_t size, size_t n, void *arg)
{
	struct watch *w = arg;
	char *nl;
	json_t *msg;

	if (w->line.len + n > ETCD_REPLY_MAX || buf_append(&w->line, p, n))
		return 0;
	while (!w->done && (nl = memchr(w->line.data, '\n', w->line.len))) {
		msg = json_loadb(w->line.data, (size_t)(nl - w->line.data), 0, NULL);
		if (msg)
			watch_message(w, msg);
		json_decref(msg);
		buf_consume(&w->line, (size_t)(nl - w->line.data) + 1);
	}
	/* Returning short ends the transfer: the batch is in. */
	return w->done ? 0 : n;
}

/* Runs the transfer until the stream gave its answer or ended, the
 * deadline passed (CURLE_OK), or the endpoint failed to acknowledge the
 * watch in time. */
static CURLcode watch_run(CURLM *m, CURL *c, struct watch *w, int64_t deadline)
{
	int64_t start = clock_ms(), end, now;
	CURLcode rc = CURLE_GOT_NOTHING;
	int running = 1, left;
	CURLMsg *msg;

	for (;;) {
		if (curl_multi_perform(m, &running) != CURLM_OK)
			return CURLE_OUT_OF_MEMORY;
		if (!running)
			break;
		now = clock_ms();
		if (!w->created) {
			end = start + ETCD_WATCH_SETUP_MS;
			if (now >= end)
				return CURLE_OPERATION_TIMEDOUT;
		} else {
			end = deadline;
			if (w->created_rev > w->after && end < w->created_at + ETCD_CATCHUP_MS)
				end = w->created_at + ETCD_CATCHUP_MS;
			if (now >= end)
				return CURLE_OK;
		}
		if (curl_multi_poll(m, NULL, 0, (int)(end - now < ETCD_POLL_MS ? end - now : ETCD_POLL_MS), NULL))
			return CURLE_OUT_OF_MEMORY;
	}
	/* The stream ended: a clean end is the server going away. */
	while ((msg = curl_multi_info_read(m, &left)))
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == c && msg->data.result != CURLE_OK)
			rc = msg->data.result;
	return rc;
}

/* The end of a watch that gave no answer. */
static int watch_failed(struct watch *w, CURLcode rc, long status, const char *errbuf)
{
	json_t *j;
	int ret;

	/* An error without a final newline is still in the buffer. */
	if (status >= 300 && w->line.len) {
		j = json_loadb(w->line.data, w->line.len, 0, NULL);
		ret = etcd_answer_error(w->url, status, json_object_get(j, "error") ?: j);
		json_decref(j);
		return status >= 500 ? -EAGAIN : ret;
	}
	if (status >= 300)
		return kv_fail(status >= 500 ? -EAGAIN : -EIO, "etcd %s: HTTP status %ld", w->url, status);
	if (rc == CURLE_OPERATION_TIMEDOUT && !w->created)
		return kv_fail(-EAGAIN, "etcd %s: no watch acknowledged in %d ms", w->url, ETCD_WATCH_SETUP_MS);
	if (rc == CURLE_GOT_NOTHING)
		return kv_fail(-EAGAIN, "etcd %s: the watch stream ended", w->url);
	return kv_fail(-EAGAIN, "etcd %s: %s", w->url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
}

/* One watch on one endpoint; -EAGAIN: try the next. */
static int watch_on(struct watch *w, const char *body, int64_t deadline)
{
	char errbuf[CURL_ERROR_SIZE];
	struct curl_slist *hdr = NULL;
	CURLM *m = curl_multi_init();
	long status = 0;
	CURL *c = NULL;
	CURLcode rc;
	int ret;

	if (m)
		c = etcd_handle(w->url, "/v3/watch", body, &hdr, errbuf);
	if (!c) {
		ret = kv_fail(-ENOMEM, "etcd %s: cannot set up a watch", w->url);
		goto out;
	}
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, watch_read);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, w);
	if (curl_multi_add_handle(m, c) != CURLM_OK) {
		ret = kv_fail(-ENOMEM, "etcd %s: cannot set up a watch", w->url);
		goto out;
	}
	rc = watch_run(m, c, w, deadline);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_multi_remove_handle(m, c);
	if (w->done)
		ret = w->ret && status >= 500 ? -EAGAIN : w->ret;
	else if (rc == CURLE_OK && status == 200)
		ret = 0; /* the deadline passed: nothing new */
	else
		ret = watch_failed(w, rc, status, errbuf);
out:
	curl_easy_cleanup(c);
	curl_slist_free_all(hdr);
	curl_multi_cleanup(m);
	return ret;
}

int etcd_watch(struct kv *kv, const char *prefix, int64_t after, int timeout_ms, struct kv_events *out)
{
	struct etcd *e = (struct etcd *)kv;
	int64_t deadline = clock_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	size_t first = atomic_load(&e->last), i, k;
	json_t *create = json_object(), *req = NULL;
	char *body = NULL;
	int ret;

	out->rev = after;
	ret = etcd_set_prefix(create, prefix);
	if (!ret)
		ret = etcd_set_int(create, "start_revision", after + 1);
	if (!ret) {
		req = json_pack("{s:O}", "create_request", create);
		body = json_dumps(req, JSON_COMPACT);
		ret = body ? -EAGAIN : -ENOMEM;
	}
	for (i = 0; i < e->n && ret == -EAGAIN; ++i) {
		struct watch w = { .after = after, .out = out };

		k = (first + i) % e->n;
		w.url = e->urls[k];
		ret = watch_on(&w, body, deadline);
		buf_free(&w.line);
		if (ret != -EAGAIN)
			atomic_store(&e->last, k);
	}
	if (ret == -EAGAIN)
		ret = etcd_all_failed(e);
	free(body);
	json_decref(req);
	json_decref(create);
	return ret;
}
