// SPDX-License-Identifier: MIT
#include "api/client.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "crypto/crypto.h"
#include "util/buf.h"
#include "util/clock.h"

enum { MAX_URLS = 8, REPLY_MAX = 64 << 20, CONNECT_S = 3 };

struct api_client {
	char *urls[MAX_URLS];
	size_t n, cur;
	char *ca;
	char *auth; /* "Authorization: Bearer ..." */
	CURL *curl;
	CURLM *multi; /* runs curl's one transfer, so that a stop can wake it */
	const atomic_bool *stop;
};

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void global_init(void)
{
	curl_global_init(CURL_GLOBAL_ALL);
}

struct api_client *api_client_new(const char *urls, const char *ca, char *err, size_t errlen)
{
	struct api_client *c;
	char *list, *tok, *save = NULL;

	pthread_once(&once, global_init);
	if (!urls || !*urls) {
		snprintf(err, errlen, "no manager URL: give https://HOST:PORT");
		return NULL;
	}
	if (!(c = calloc(1, sizeof(*c))) || !(list = strdup(urls))) {
		free(c);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		size_t len = strlen(tok);

		if (strncmp(tok, "https://", 8) || len < 9 || len > 256 || strpbrk(tok + 8, "/?# ") || c->n == MAX_URLS) {
			snprintf(err, errlen, "manager URL \"%.300s\": give https://HOST:PORT (up to %d, comma-separated)",
				 tok, MAX_URLS);
			free(list);
			api_client_free(c);
			return NULL;
		}
		c->urls[c->n++] = strdup(tok);
	}
	free(list);
	if (!c->n) {
		snprintf(err, errlen, "no manager URL: give https://HOST:PORT");
		api_client_free(c);
		return NULL;
	}
	c->ca = ca && *ca ? strdup(ca) : NULL;
	c->curl = curl_easy_init();
	c->multi = curl_multi_init();
	if (!c->curl || !c->multi) {
		snprintf(err, errlen, "cannot start libcurl");
		api_client_free(c);
		return NULL;
	}
	return c;
}

void api_client_free(struct api_client *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; ++i)
		free(c->urls[i]);
	free(c->ca);
	crypto_free_string(c->auth);
	if (c->curl)
		curl_easy_cleanup(c->curl);
	if (c->multi)
		curl_multi_cleanup(c->multi);
	free(c);
}

void api_client_token(struct api_client *c, const char *token)
{
	crypto_free_string(c->auth);
	c->auth = NULL;
	if (token && asprintf(&c->auth, "Authorization: Bearer %s", token) < 0)
		c->auth = NULL;
}

void api_client_stop_flag(struct api_client *c, const atomic_bool *flag)
{
	c->stop = flag;
}

void api_client_wake(struct api_client *c)
{
	if (c && c->multi)
		curl_multi_wakeup(c->multi);
}

static bool stopped(const struct api_client *c)
{
	return c->stop && atomic_load(c->stop);
}

/* The transfer, in the client's multi handle: it sleeps in curl_multi_poll,
 * which api_client_wake cuts short. */
static CURLcode perform(struct api_client *c, CURL *h)
{
	CURLcode rc = CURLE_OK;
	CURLMcode mc;
	CURLMsg *msg;
	int running = 1, left;

	if (curl_multi_add_handle(c->multi, h) != CURLM_OK)
		return CURLE_FAILED_INIT;
	while (running) {
		if ((mc = curl_multi_perform(c->multi, &running)) != CURLM_OK) {
			rc = CURLE_RECV_ERROR;
			break;
		}
		if (stopped(c)) {
			rc = CURLE_ABORTED_BY_CALLBACK;
			break;
		}
		if (running && curl_multi_poll(c->multi, NULL, 0, 1000, NULL) != CURLM_OK) {
			rc = CURLE_RECV_ERROR;
			break;
		}
	}
	if (!running)
		while ((msg = curl_multi_info_read(c->multi, &left)))
			if (msg->msg == CURLMSG_DONE && msg->easy_handle == h)
				rc = msg->data.result;
	curl_multi_remove_handle(c->multi, h);
	return rc;
}

static size_t collect(char *data, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;

	if (b->len + size * n > REPLY_MAX || buf_append(b, data, size * n))
		return 0;
	return size * n;
}

/* One try at one manager: the status, or -EIO with err set. */
static int call_one(struct api_client *c, const char *url, const char *method, const char *path, const char *body,
		    long timeout_ms, struct buf *out, char *err, size_t errlen)
{
	char target[600], curlerr[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdr = NULL;
	CURL *h = c->curl;
	long status = 0;
	CURLcode rc;

	snprintf(target, sizeof(target), "%s%s", url, path);
	curl_easy_reset(h);
	hdr = curl_slist_append(hdr, "Content-Type: application/json");
	hdr = curl_slist_append(hdr, "Accept: application/json");
	if (c->auth)
		hdr = curl_slist_append(hdr, c->auth);
	curl_easy_setopt(h, CURLOPT_URL, target);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	if (body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curlerr);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < CONNECT_S * 1000L ? timeout_ms : CONNECT_S * 1000L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	if (c->ca && !strncmp(c->ca, "-----BEGIN", 10)) {
		/* The CA itself (a broker's, from broker-info), not a file. */
		struct curl_blob blob = { c->ca, strlen(c->ca), CURL_BLOB_COPY };

		curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
	} else if (c->ca) {
		curl_easy_setopt(h, CURLOPT_CAINFO, c->ca);
	}
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
	rc = stopped(c) ? CURLE_ABORTED_BY_CALLBACK : perform(c, h);
	curl_slist_free_all(hdr);
	if (rc == CURLE_ABORTED_BY_CALLBACK) {
		snprintf(err, errlen, "%s: cancelled", url);
		return -ECANCELED;
	}
	if (rc != CURLE_OK) {
		snprintf(err, errlen, "%s: %s", url, curlerr[0] ? curlerr : curl_easy_strerror(rc));
		return -EIO;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	return (int)status;
}

/* Each manager in turn, each for at most try_ms, all of it by deadline_ms
 * (clock_ms()), if not 0. */
static int call(struct api_client *c, const char *method, const char *path, json_t *body, long try_ms,
		int64_t deadline_ms, json_t **reply, char *err, size_t errlen)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	int ret = -EIO;

	*reply = NULL;
	for (size_t tries = 0; tries < c->n; ++tries) {
		struct buf out = { 0 };
		size_t at = (c->cur + tries) % c->n;
		long ms = try_ms;

		if (deadline_ms) {
			int64_t left = deadline_ms - clock_ms();

			if (left <= 0) {
				if (!tries)
					snprintf(err, errlen, "%s: no time left to ask", c->urls[at]);
				break;
			}
			if (left < ms)
				ms = (long)left;
		}
		ret = call_one(c, c->urls[at], method, path, text, ms, &out, err, errlen);
		if (ret >= 0) {
			if (out.len)
				*reply = json_loadb(out.data, out.len, 0, NULL);
			if (ret >= 400) {
				const char *msg = json_string_value(json_object_get(*reply, "error"));

				snprintf(err, errlen, "%s: %d %s", c->urls[at], ret, msg ? msg : "(no message)");
			}
		}
		buf_free(&out);
		if (ret == -ECANCELED)
			break;
		if (ret >= 0 && ret < 500) {
			c->cur = at;
			break;
		}
		if (ret >= 500 && tries + 1 < c->n) {
			json_decref(*reply);
			*reply = NULL;
		}
	}
	crypto_free_string(text); /* it may hold a key or a token */
	return ret;
}

int api_call(struct api_client *c, const char *method, const char *path, json_t *body, long timeout_s,
	     json_t **reply, char *err, size_t errlen)
{
	return call(c, method, path, body, timeout_s * 1000, 0, reply, err, errlen);
}

int api_call_within(struct api_client *c, const char *method, const char *path, json_t *body, long timeout_ms,
		    json_t **reply, char *err, size_t errlen)
{
	return call(c, method, path, body, timeout_ms, clock_ms() + timeout_ms, reply, err, errlen);
}
