// SPDX-License-Identifier: MIT
/*
 * The etcd backend: etcd v3 through its HTTP/JSON gateway (/v3/kv/range,
 * /v3/kv/txn, /v3/watch), spoken with libcurl.
 *
 * The gateway's JSON is protobuf's: bytes are base64, int64 fields are
 * strings, and fields at their zero value (false, 0, "", PUT) are left out.
 *
 * Each call uses its own curl handle, so one struct kv serves any number of
 * threads; only the index of the endpoint that answered last is shared.
 * A call starts there and moves on to the next endpoint when one cannot
 * be reached or answers 5xx (etcd's "unavailable", as a member that lost
 * its quorum says).
 *
 * This file holds the calls and the reads and writes; the watch
 * (/v3/watch) is in etcd_watch.c, and etcd.h has what the two share.
 */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/etcd.h"
#include "store/kv.h"
#include "util/buf.h"

/* gRPC status codes, as the gateway reports them in "code". */
enum { GRPC_INVALID_ARGUMENT = 3, GRPC_DEADLINE_EXCEEDED = 4, GRPC_OUT_OF_RANGE = 11 };

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_ALL);
}

/* Sets obj[name] to len bytes at data, in base64. */
static int set_bytes(json_t *obj, const char *name, const void *data, size_t len)
{
	size_t size = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
	char *s = malloc(size);
	int ret = -ENOMEM;

	if (!s)
		return -ENOMEM;
	sodium_bin2base64(s, size, data, len, sodium_base64_VARIANT_ORIGINAL);
	if (!json_object_set_new(obj, name, json_string(s)))
		ret = 0;
	free(s);
	return ret;
}

int etcd_set_int(json_t *obj, const char *name, int64_t v)
{
	return json_object_set_new(obj, name, json_sprintf("%" PRId64, v)) ? -ENOMEM : 0;
}

/* obj[name], decoded into a new NUL-terminated buffer; absent is empty. */
static int get_bytes(json_t *obj, const char *name, char **out, size_t *len)
{
	const char *s = json_string_value(json_object_get(obj, name));
	size_t n = s ? strlen(s) : 0;

	*out = malloc(n / 4 * 3 + 3);
	if (!*out)
		return -ENOMEM;
	*len = 0;
	if (n && sodium_base642bin((unsigned char *)*out, n / 4 * 3 + 2, s, n, NULL, len, NULL,
				   sodium_base64_VARIANT_ORIGINAL)) {
		free(*out);
		*out = NULL;
		return -EPROTO;
	}
	(*out)[*len] = '\0';
	return 0;
}

int64_t etcd_get_int(json_t *obj, const char *name)
{
	json_t *v = json_object_get(obj, name);

	if (json_is_string(v))
		return strtoll(json_string_value(v), NULL, 10);
	return json_is_integer(v) ? json_integer_value(v) : 0;
}

int64_t etcd_header_rev(json_t *msg)
{
	return etcd_get_int(json_object_get(msg, "header"), "revision");
}

/* One mvccpb.KeyValue. */
int etcd_parse_item(json_t *j, struct kv_item *it)
{
	size_t klen;
	int ret;

	memset(it, 0, sizeof(*it));
	ret = get_bytes(j, "key", &it->key, &klen);
	if (!ret)
		ret = get_bytes(j, "value", &it->value, &it->len);
	if (ret) {
		kv_item_free(it);
		return ret;
	}
	it->create_rev = etcd_get_int(j, "create_revision");
	it->mod_rev = etcd_get_int(j, "mod_revision");
	return 0;
}

/* The range [key, range_end) of every key starting with prefix. */
int etcd_set_prefix(json_t *req, const char *prefix)
{
	size_t n = strlen(prefix);
	char *end;
	int ret;

	/* "\0" to "\0" is etcd's spelling of "every key". */
	if (!n) {
		ret = set_bytes(req, "key", "", 1);
		return ret ? ret : set_bytes(req, "range_end", "", 1);
	}
	ret = set_bytes(req, "key", prefix, n);
	if (ret)
		return ret;
	end = strdup(prefix);
	if (!end)
		return -ENOMEM;
	while (n && (unsigned char)end[n - 1] == 0xff)
		n--;
	if (n) {
		end[n - 1]++;
		ret = set_bytes(req, "range_end", end, n);
	} else {
		ret = set_bytes(req, "range_end", "", 1);
	}
	free(end);
	return ret;
}

static size_t collect(char *p, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;

	if (b->len + n > ETCD_REPLY_MAX || buf_append(b, p, n))
		return 0;
	return n;
}

/* A handle POSTing body to url + path; the caller sets where the answer
 * goes and frees hdr after the handle. */
CURL *etcd_handle(const char *url, const char *path, const char *body, struct curl_slist **hdr, char *errbuf)
{
	char target[1024];
	CURL *c;

	if (snprintf(target, sizeof(target), "%s%s", url, path) >= (int)sizeof(target))
		return NULL;
	*hdr = curl_slist_append(NULL, "Content-Type: application/json");
	c = curl_easy_init();
	if (!c || !*hdr) {
		curl_easy_cleanup(c);
		curl_slist_free_all(*hdr);
		*hdr = NULL;
		return NULL;
	}
	errbuf[0] = '\0';
	curl_easy_setopt(c, CURLOPT_URL, target);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hdr);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)ETCD_CONNECT_MS);
	/* Threads: no SIGALRM for timeouts. */
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	return c;
}

/* What a non-200 answer means; sets the thread's error. */
int etcd_answer_error(const char *url, long status, json_t *j)
{
	const char *msg = json_string_value(json_object_get(j, "message"));
	int64_t code = etcd_get_int(j, json_object_get(j, "grpc_code") ? "grpc_code" : "code");
	int ret = -EIO;

	if (code == GRPC_INVALID_ARGUMENT)
		ret = -EINVAL;
	else if (code == GRPC_OUT_OF_RANGE)
		ret = -ERANGE;
	else if (code == GRPC_DEADLINE_EXCEEDED)
		ret = -ETIMEDOUT;
	if (msg)
		return kv_fail(ret, "etcd %s: %s", url, msg);
	return kv_fail(ret, "etcd %s: HTTP status %ld", url, status);
}

/*
 * One request to one endpoint. -EAGAIN: try the next endpoint. A request
 * that may have changed the store is sent again only when it never left
 * or etcd refused it (5xx), so a transaction is not applied twice.
 */
static int attempt(const char *url, const char *path, const char *body, bool idempotent, json_t **reply)
{
	char errbuf[CURL_ERROR_SIZE];
	struct curl_slist *hdr = NULL;
	struct buf out = { 0 };
	long status = 0, sent = 0;
	CURLcode rc;
	CURL *c;
	int ret;

	c = etcd_handle(url, path, body, &hdr, errbuf);
	if (!c) {
		ret = kv_fail(-ENOMEM, "etcd %s: cannot set up a request", url);
		goto out;
	}
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)ETCD_REQUEST_MS);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(c, CURLINFO_REQUEST_SIZE, &sent);
	if (rc != CURLE_OK) {
		if (idempotent || !sent) {
			ret = kv_fail(-EAGAIN, "etcd %s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
		} else {
			ret = kv_fail(-EIO, "etcd %s: %s (the transaction may have been applied)", url,
				      errbuf[0] ? errbuf : curl_easy_strerror(rc));
		}
		goto out;
	}
	*reply = json_loadb(out.data ? out.data : "", out.len, 0, NULL);
	if (status >= 500) {
		etcd_answer_error(url, status, *reply);
		ret = -EAGAIN;
	} else if (status != 200) {
		ret = etcd_answer_error(url, status, *reply);
	} else if (!json_is_object(*reply)) {
		ret = kv_fail(-EIO, "etcd %s: an answer that is not a JSON object", url);
	} else {
		ret = 0;
	}
	if (ret) {
		json_decref(*reply);
		*reply = NULL;
	}
out:
	curl_easy_cleanup(c);
	curl_slist_free_all(hdr);
	buf_free(&out);
	return ret;
}

/* The last endpoint's message says what failed; say that it was the last. */
int etcd_all_failed(struct etcd *e)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "%s", kv_error());
	if (e->n > 1)
		return kv_fail(-EIO, "%s (all %zu endpoints failed)", msg, e->n);
	return kv_fail(-EIO, "%s", msg);
}

/* POSTs req to path, trying each endpoint at most once. */
static int call(struct etcd *e, const char *path, json_t *req, bool idempotent, json_t **reply)
{
	size_t first = atomic_load(&e->last), i, k;
	char *body = NULL;
	int ret = -EAGAIN;

	*reply = NULL;
	if (req)
		body = json_dumps(req, JSON_COMPACT);
	if (!body)
		return kv_fail(-ENOMEM, "etcd: out of memory");
	for (i = 0; i < e->n && ret == -EAGAIN; ++i) {
		k = (first + i) % e->n;
		ret = attempt(e->urls[k], path, body, idempotent, reply);
		if (ret != -EAGAIN)
			atomic_store(&e->last, k);
	}
	if (ret == -EAGAIN)
		ret = etcd_all_failed(e);
	free(body);
	return ret;
}

static int etcd_get(struct kv *kv, const char *key, struct kv_item *out)
{
	json_t *req = json_object(), *reply = NULL, *kvs;
	int ret;

	ret = set_bytes(req, "key", key, strlen(key));
	if (ret)
		goto out;
	ret = call((struct etcd *)kv, "/v3/kv/range", req, true, &reply);
	if (ret)
		goto out;
	kvs = json_object_get(reply, "kvs");
	if (!json_array_size(kvs)) {
		ret = -ENOENT;
		goto out;
	}
	ret = etcd_parse_item(json_array_get(kvs, 0), out);
out:
	json_decref(reply);
	json_decref(req);
	return ret;
}

static int etcd_range(struct kv *kv, const char *prefix, struct kv_list *out)
{
	json_t *req = json_object(), *reply = NULL, *kvs;
	size_t n;
	int ret;

	ret = etcd_set_prefix(req, prefix);
	if (ret)
		goto out;
	ret = call((struct etcd *)kv, "/v3/kv/range", req, true, &reply);
	if (ret)
		goto out;
	/* etcd returns keys sorted by their bytes, as the interface wants. */
	kvs = json_object_get(reply, "kvs");
	n = json_array_size(kvs);
	out->rev = etcd_header_rev(reply);
	if (!n)
		goto out;
	out->items = calloc(n, sizeof(*out->items));
	if (!out->items) {
		ret = -ENOMEM;
		goto out;
	}
	for (; out->n < n && !ret; out->n++)
		ret = etcd_parse_item(json_array_get(kvs, out->n), &out->items[out->n]);
	if (ret) {
		out->n--; /* the failed item cleaned up after itself */
		kv_list_free(out);
	}
out:
	json_decref(reply);
	json_decref(req);
	return ret;
}

static int etcd_revision(struct kv *kv, int64_t *rev)
{
	json_t *req, *reply = NULL;
	int ret;

	/* Any read carries the store's revision: count a key nobody writes
	 * (keys have no NUL), which costs etcd nearly nothing. */
	req = json_pack("{s:s, s:b}", "key", "AA==", "count_only", 1);
	ret = call((struct etcd *)kv, "/v3/kv/range", req, true, &reply);
	if (!ret)
		*rev = etcd_header_rev(reply);
	json_decref(reply);
	json_decref(req);
	return ret;
}

static int add_cond(json_t *list, const struct kv_cond *c)
{
	json_t *j = json_pack("{s:s, s:s}", "target", "MOD", "result", "EQUAL");
	int ret;

	ret = set_bytes(j, "key", c->key, strlen(c->key));
	if (!ret)
		ret = etcd_set_int(j, "mod_revision", c->mod_rev);
	if (!ret && json_array_append(list, j))
		ret = -ENOMEM;
	json_decref(j);
	return ret;
}

static int add_op(json_t *list, const struct kv_op *op)
{
	json_t *body = json_object(), *j;
	int ret;

	ret = set_bytes(body, "key", op->key, strlen(op->key));
	if (!ret && op->type == KV_PUT)
		ret = set_bytes(body, "value", op->value, op->len);
	j = json_pack("{s:O}", op->type == KV_PUT ? "request_put" : "request_delete_range", body);
	if (!ret && json_array_append(list, j))
		ret = -ENOMEM;
	json_decref(j);
	json_decref(body);
	return ret;
}

/* etcd refuses a transaction that names a key twice; the last operation
 * on a key decides its final state, so the earlier ones are dropped. */
static bool overridden(const struct kv_op *ops, size_t nops, size_t i)
{
	for (size_t j = i + 1; j < nops; ++j)
		if (!strcmp(ops[i].key, ops[j].key))
			return true;
	return false;
}

static int etcd_txn(struct kv *kv, const struct kv_cond *conds, size_t nconds, const struct kv_op *ops, size_t nops,
		    int64_t *rev)
{
	json_t *compare = json_array(), *success = json_array(), *req = NULL, *reply = NULL;
	int ret = 0;
	size_t i;

	for (i = 0; i < nconds && !ret; ++i)
		ret = add_cond(compare, &conds[i]);
	for (i = 0; i < nops && !ret; ++i)
		if (!overridden(ops, nops, i))
			ret = add_op(success, &ops[i]);
	if (ret)
		goto out;
	req = json_pack("{s:O, s:O}", "compare", compare, "success", success);
	ret = call((struct etcd *)kv, "/v3/kv/txn", req, false, &reply);
	if (ret)
		goto out;
	if (!json_is_true(json_object_get(reply, "succeeded"))) {
		ret = -ECANCELED;
		goto out;
	}
	*rev = etcd_header_rev(reply);
out:
	json_decref(reply);
	json_decref(req);
	json_decref(success);
	json_decref(compare);
	return ret;
}

static void etcd_close(struct kv *kv)
{
	struct etcd *e = (struct etcd *)kv;

	for (size_t i = 0; i < e->n; ++i)
		free(e->urls[i]);
	free(e->urls);
	free(e);
}

static const struct kv_ops etcd_ops = {
	.close = etcd_close,
	.get = etcd_get,
	.range = etcd_range,
	.revision = etcd_revision,
	.txn = etcd_txn,
	.watch = etcd_watch,
};

/* http:// or https://, a host (IPv6 in brackets), an optional port and
 * path; no query, fragment or credentials, which messages would show. */
static bool endpoint_ok(const char *u)
{
	const char *p;
	unsigned long port;
	char *end;

	if (!strncmp(u, "http://", 7))
		p = u + 7;
	else if (!strncmp(u, "https://", 8))
		p = u + 8;
	else
		return false;
	if (strlen(u) > ETCD_URL_MAX || strpbrk(u, "?#@ \t\r\n"))
		return false;
	if (*p == '[') {
		end = strchr(p, ']');
		if (!end || end == p + 1)
			return false;
		p = end + 1;
	} else {
		end = (char *)p + strcspn(p, ":/");
		if (end == p)
			return false;
		p = end;
	}
	if (*p == ':') {
		if (p[1] < '0' || p[1] > '9')
			return false;
		port = strtoul(p + 1, &end, 10);
		if (port < 1 || port > 65535)
			return false;
		p = end;
	}
	return *p == '\0' || *p == '/';
}

/* Adds the endpoint of len characters at s, without trailing slashes. */
static int add_endpoint(struct etcd *e, const char *s, size_t len, char *err, size_t errlen)
{
	char *u = strndup(s, len), **urls;

	if (!u)
		return -ENOMEM;
	if (!endpoint_ok(u)) {
		snprintf(err, errlen, "etcd endpoint \"%s\": say http://HOST:PORT or https://HOST:PORT, no query or credentials",
			 u);
		free(u);
		return -EINVAL;
	}
	while (u[len - 1] == '/')
		u[--len] = '\0';
	urls = realloc(e->urls, (e->n + 1) * sizeof(*urls));
	if (!urls) {
		free(u);
		return -ENOMEM;
	}
	e->urls = urls;
	e->urls[e->n++] = u;
	return 0;
}

struct kv *kv_etcd_open(const char *endpoints, char *err, size_t errlen)
{
	struct etcd *e = calloc(1, sizeof(*e));
	const char *p = endpoints, *comma;
	int ret = 0;

	if (!e) {
		snprintf(err, errlen, "etcd: out of memory");
		errno = ENOMEM;
		return NULL;
	}
	e->kv.ops = &etcd_ops;
	do {
		comma = strchr(p, ',');
		if (!comma)
			comma = p + strlen(p);
		if (comma == p) {
			snprintf(err, errlen, "etcd endpoints \"%s\": an empty entry; say http://HOST:PORT[,...]",
				 endpoints);
			ret = -EINVAL;
		} else {
			ret = add_endpoint(e, p, (size_t)(comma - p), err, errlen);
			if (ret == -ENOMEM)
				snprintf(err, errlen, "etcd: out of memory");
		}
		p = comma + 1;
	} while (!ret && *comma);
	if (!ret) {
		pthread_once(&curl_once, curl_init);
		if (curl_init_rc) {
			snprintf(err, errlen, "etcd: libcurl: %s", curl_easy_strerror(curl_init_rc));
			ret = -EIO;
		}
	}
	if (ret) {
		etcd_close(&e->kv);
		errno = -ret;
		return NULL;
	}
	return &e->kv;
}
