// SPDX-License-Identifier: MIT
/*
 * The manager's HTTP/JSON API over TLS (docs/manager.md, "The API"; the
 * endpoints and who may call them are routes.c's).
 *
 * libmicrohttpd runs the connections on a few threads with epoll. A long
 * poll with nothing new is suspended, not parked on a thread: the watch
 * (watch.c) resumes it when the nodes change or its time is up, so a
 * thousand agents waiting cost a thousand sockets and no threads.
 */
#include "api.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "util/addr.h"
#include "util/clock.h"

enum {
	THREADS = 4,
	/* Bad tokens: 20 at once from one source, then one every 3 s. A
	 * token is 128 bits: guessing was hopeless already; this keeps a
	 * guesser from costing the store a read per try. */
	BAD_TOKEN_BURST = 20,
	BAD_TOKEN_LEAK_MS = 3000,
	BAD_TOKEN_SOURCES = 4096,
	CONNECTION_TIMEOUT = 60, /* seconds of silence; a suspended poll does not count */
	CONNECTION_MEMORY = 16 * 1024, /* per connection: headers (bodies are ours); 32 KiB by default */
};

void server_wake(struct manager *m, bool all)
{
	struct list ready = LIST_INIT(ready), *pos, *tmp;
	int64_t now = clock_ms();

	pthread_mutex_lock(&m->lock);
	list_for_each_safe(pos, tmp, &m->waiters) {
		struct request *req = list_entry(pos, struct request, waiter);

		if (all || m->rev != req->since || req->since < m->base || now >= req->deadline) {
			list_del(&req->waiter);
			list_add_tail(&req->waiter, &ready);
		}
	}
	pthread_mutex_unlock(&m->lock);
	/* Suspended connections stay put until resumed: none can go away
	 * under us here. */
	list_for_each_safe(pos, tmp, &ready) {
		struct request *req = list_entry(pos, struct request, waiter);

		list_del(&req->waiter);
		req->waiting = false;
		req->woken = true;
		MHD_resume_connection(req->conn);
	}
}

static void release_text(void *cls)
{
	text_put(cls);
}

/* A reply's text, wiped when libmicrohttpd is done with it: it may hold a
 * credential or a token. */
struct sent {
	char *text;
	size_t len;
};

static void release_sent(void *cls)
{
	struct sent *s = cls;

	crypto_wipe(s->text, s->len);
	free(s->text);
	free(s);
}

static enum MHD_Result respond(struct MHD_Connection *conn, struct reply *r)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (r->text) {
		resp = MHD_create_response_from_buffer_with_free_callback_cls(r->text->len, r->text->data, release_text,
									       r->text);
		if (!resp) {
			text_put(r->text);
			return MHD_NO;
		}
	} else {
		char *text = json_dumps(r->body, JSON_COMPACT);
		struct sent *s = malloc(sizeof(*s));
		size_t len;

		json_decref(r->body);
		if (!text || !s) {
			crypto_free_string(text);
			free(s);
			return MHD_NO;
		}
		len = strlen(text);
		text[len] = '\n'; /* replaces the NUL: the length says where it ends */
		s->text = text;
		s->len = len + 1;
		resp = MHD_create_response_from_buffer_with_free_callback_cls(len + 1, text, release_sent, s);
		if (!resp) {
			release_sent(s);
			return MHD_NO;
		}
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (r->status == 401)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"weft\"");
	if (r->retry_after > 0) {
		char secs[24];

		snprintf(secs, sizeof(secs), "%lld", (long long)r->retry_after);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, secs);
	}
	if (r->allow[0])
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
	ret = MHD_queue_response(conn, r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
			      const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct manager *m = cls;
	struct request *req = *con_cls;
	struct reply r;
	bool suspended = false;

	if (!req) {
		if (!(req = calloc(1, sizeof(*req))))
			return MHD_NO;
		req->conn = conn;
		list_init(&req->waiter);
		*con_cls = req;
		return MHD_YES;
	}
	if (*upload_size) {
		if (!req->too_big && req->len + *upload_size <= BODY_MAX) {
			/* Not realloc: what it leaves behind would keep a join
			 * token or a registration secret in freed memory. */
			char *grown = malloc(req->len + *upload_size + 1);

			if (!grown)
				return MHD_NO;
			if (req->body) {
				memcpy(grown, req->body, req->len);
				crypto_wipe(req->body, req->len);
				if (req->body)
		crypto_wipe(req->body, req->len);
	free(req->body);
			}
			req->body = grown;
			memcpy(req->body + req->len, upload, *upload_size);
			req->len += *upload_size;
			req->body[req->len] = '\0';
		} else {
			req->too_big = true;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	r = route(m, req, method, url, &suspended);
	if (suspended)
		return MHD_YES;
	/* Changes and refusals; heartbeats and reads only when verbose. */
	if (m->verbose || r.status >= 400 || (strcmp(method, "GET") && strcmp(method, "PUT")))
		manager_logl(m, r.status >= 500 ? LOG_ERROR : r.status >= 400 ? LOG_WARNING : LOG_INFO, "%s %s: %u%s%s",
			     method, url, r.status, r.status >= 400 ? " " : "",
			     r.status >= 400 ? json_string_value(json_object_get(r.body, "error")) : "");
	return respond(conn, &r);
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct manager *m = cls;
	struct request *req = *con_cls;

	if (!req)
		return;
	if (req->waiting) { /* closed while suspended (the daemon stopping) */
		pthread_mutex_lock(&m->lock);
		list_del(&req->waiter);
		pthread_mutex_unlock(&m->lock);
	}
	free(req->body);
	free(req);
	*con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct manager *m = cls;
	char msg[512];
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	manager_logl(m, LOG_VERBOSE, "http: %s", msg);
}

int server_start(struct manager *m, char *err, size_t errlen)
{
	union sockaddr_any sa;
	char buf[ADDR_STRLEN];
	int fd, one = 1, zero = 0;
	socklen_t salen;

	if (addr_parse_endpoint(&sa, m->listen)) {
		snprintf(err, errlen, "--listen %s: give ADDRESS:PORT ([::]:7443, 10.0.0.1:7443)", m->listen);
		return -EINVAL;
	}
	if (throttle_init(&m->bad_tokens, BAD_TOKEN_SOURCES, BAD_TOKEN_BURST, BAD_TOKEN_LEAK_MS)) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	salen = sa.sa.sa_family == AF_INET ? sizeof(sa.in4) : sizeof(sa.in6);
	fd = socket(sa.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    (sa.sa.sa_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero))) ||
	    bind(fd, &sa.sa, salen) || listen(fd, 1024)) {
		snprintf(err, errlen, "cannot listen on %s: %s", m->listen, strerror(errno));
		if (fd >= 0)
			close(fd);
		throttle_free(&m->bad_tokens);
		return -EADDRNOTAVAIL;
	}
	m->httpd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TLS | MHD_USE_ITC |
					    MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG,
				    0, NULL, NULL, handle, m, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, m,
				    MHD_OPTION_LISTEN_SOCKET, fd,
				    MHD_OPTION_HTTPS_MEM_CERT, m->cert_pem, MHD_OPTION_HTTPS_MEM_KEY, m->key_pem,
				    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
				    MHD_OPTION_THREAD_POOL_SIZE, (unsigned)THREADS, MHD_OPTION_CONNECTION_LIMIT,
				    (unsigned)65536, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT,
				    MHD_OPTION_NOTIFY_COMPLETED, completed, m, MHD_OPTION_END);
	if (!m->httpd) {
		snprintf(err, errlen, "cannot start the HTTPS server on %s (is libmicrohttpd built with TLS?)",
			 addr_format_endpoint(buf, &sa.sa));
		close(fd);
		throttle_free(&m->bad_tokens);
		return -EIO;
	}
	return 0;
}

void server_stop(struct manager *m)
{
	int fd;

	if (!m->httpd)
		return;
	pthread_mutex_lock(&m->lock);
	m->stopping = true;
	pthread_mutex_unlock(&m->lock);
	/* Take no one new, answer the long polls, give them a second. */
	fd = MHD_quiesce_daemon(m->httpd);
	server_wake(m, true);
	for (int i = 0; i < 100; ++i) {
		const union MHD_DaemonInfo *info = MHD_get_daemon_info(m->httpd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);

		if (!info || !info->num_connections)
			break;
		usleep(10000);
	}
	MHD_stop_daemon(m->httpd);
	if (fd >= 0)
		close(fd);
	m->httpd = NULL;
	throttle_free(&m->bad_tokens);
}
