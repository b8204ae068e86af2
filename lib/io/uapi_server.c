// SPDX-License-Identifier: MIT
#include "uapi_server.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "util/buf.h"
#include "wg/uapi.h"

enum {
	MAX_CONNS = 64,
	/* wg writes a line per key; none is near this long. */
	MAX_LINE = 64 * 1024,
	WRITE_TIMEOUT_MS = 5000,
};

enum conn_state { WANT_OP, IN_GET, IN_SET };

struct conn {
	int fd;
	enum conn_state state;
	struct buf in;
	struct uapi_set set;
};

struct uapi_server {
	int listen_fd, stop_fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct stat file; /* the socket file we made, so we never remove another's */
	struct wg_device *dev;
	pthread_t thread;
	struct conn conns[MAX_CONNS];
	void (*log)(void *ctx, enum wg_log_level level, const char *msg);
	void *log_ctx;
};

__attribute__((format(printf, 3, 4))) static void slog(struct uapi_server *s, enum wg_log_level level,
							const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!s->log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	s->log(s->log_ctx, level, msg);
}

int uapi_listen(const char *dir, const char *ifname, char path[sizeof(((struct sockaddr_un *)0)->sun_path)])
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	mode_t old_umask;
	int fd, ret;

	if (!dir)
		dir = UAPI_SOCKET_DIR;
	if (strchr(ifname, '/') || (size_t)snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/%s.sock", dir,
						    ifname) >= sizeof(addr.sun_path))
		return -EINVAL;
	snprintf(path, sizeof(addr.sun_path), "%s", addr.sun_path);
	if (mkdir(dir, 0755) && errno != EEXIST)
		return -errno;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	old_umask = umask(0077);
	ret = bind(fd, (struct sockaddr *)&addr, sizeof(addr));
	if (ret && errno == EADDRINUSE) {
		/* Someone answering there is a live daemon; otherwise the file
		 * is left over from one that died. */
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		bool live = probe >= 0 && !connect(probe, (struct sockaddr *)&addr, sizeof(addr));

		if (probe >= 0)
			close(probe);
		if (live) {
			umask(old_umask);
			close(fd);
			return -EADDRINUSE;
		}
		unlink(addr.sun_path);
		ret = bind(fd, (struct sockaddr *)&addr, sizeof(addr));
	}
	umask(old_umask);
	if (ret || listen(fd, 16)) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

static void conn_close(struct conn *c)
{
	if (c->fd < 0)
		return;
	close(c->fd);
	c->fd = -1;
	buf_free(&c->in);
	if (c->state == IN_SET)
		wg_config_free(uapi_set_end(&c->set));
	c->state = WANT_OP;
}

/* Writes all of it, waiting a bounded time for a slow reader. */
static bool write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };

			if (errno == EINTR)
				continue;
			if (errno != EAGAIN || poll(&pfd, 1, WRITE_TIMEOUT_MS) <= 0)
				return false;
			continue;
		}
		p += w;
		n -= (size_t)w;
	}
	return true;
}

static bool reply_errno(struct conn *c, int err)
{
	char line[32];
	int n = snprintf(line, sizeof(line), "errno=%d\n\n", err);

	return write_all(c->fd, line, (size_t)n);
}

static bool do_get(struct uapi_server *s, struct conn *c)
{
	struct wg_config *cfg = wg_device_get(s->dev);
	struct buf out = { 0 };
	bool ok;

	if (!cfg || uapi_format_get(&out, cfg) || buf_printf(&out, "errno=0\n\n")) {
		wg_config_free(cfg);
		buf_free(&out);
		return reply_errno(c, -ENOMEM);
	}
	wg_config_free(cfg);
	ok = write_all(c->fd, out.data, out.len);
	buf_free(&out);
	return ok;
}

static bool do_set(struct uapi_server *s, struct conn *c)
{
	struct wg_config *cfg = uapi_set_end(&c->set);
	int ret;

	c->state = WANT_OP;
	if (!cfg) {
		slog(s, WG_LOG_ERROR, "IPC error %d: %s", c->set.error, c->set.msg);
		return reply_errno(c, c->set.error);
	}
	ret = wg_device_set(s->dev, cfg);
	wg_config_free(cfg);
	if (ret)
		slog(s, WG_LOG_ERROR, "IPC error %d: failed to apply the configuration: %s", ret, strerror(-ret));
	return reply_errno(c, ret);
}

/* Handles every complete line buffered; false closes the connection. */
static bool conn_process(struct uapi_server *s, struct conn *c)
{
	for (;;) {
		char *nl = memchr(c->in.data, '\n', c->in.len);
		size_t len;
		bool ok = true;

		if (!nl)
			return c->in.len <= MAX_LINE;
		len = (size_t)(nl - c->in.data);
		switch (c->state) {
		case WANT_OP:
			if (len == 5 && !memcmp(c->in.data, "get=1", 5)) {
				c->state = IN_GET;
			} else if (len == 5 && !memcmp(c->in.data, "set=1", 5)) {
				if (uapi_set_begin(&c->set))
					return false;
				c->state = IN_SET;
			} else {
				slog(s, WG_LOG_ERROR, "invalid UAPI operation: \"%.*s\"", (int)(len < 40 ? len : 40),
				     c->in.data);
				return false;
			}
			break;
		case IN_GET:
			c->state = WANT_OP;
			if (len) {
				slog(s, WG_LOG_ERROR, "IPC error -22: trailing character in UAPI get");
				ok = reply_errno(c, -EINVAL);
			} else {
				ok = do_get(s, c);
			}
			break;
		case IN_SET:
			if (len)
				uapi_set_line(&c->set, c->in.data, len);
			else
				ok = do_set(s, c);
			break;
		}
		buf_consume(&c->in, len + 1);
		if (!ok)
			return false;
	}
}

static void conn_readable(struct uapi_server *s, struct conn *c)
{
	char chunk[16384];

	for (;;) {
		ssize_t n = recv(c->fd, chunk, sizeof(chunk), MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0 || buf_append(&c->in, chunk, (size_t)n) || !conn_process(s, c)) {
			/* A set cut short by the client closing is applied, as
			 * wireguard-go does; anything else is dropped. */
			if (n == 0 && c->state == IN_SET && !c->in.len)
				do_set(s, c);
			conn_close(c);
			return;
		}
	}
}

static void *server_main(void *arg)
{
	struct uapi_server *s = arg;
	struct pollfd pfd[MAX_CONNS + 2];

	for (;;) {
		int n = 0, cfd;

		pfd[n++] = (struct pollfd){ .fd = s->stop_fd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = s->listen_fd, .events = POLLIN };
		for (int i = 0; i < MAX_CONNS; ++i)
			pfd[n++] = (struct pollfd){ .fd = s->conns[i].fd, .events = POLLIN };
		if (poll(pfd, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[0].revents)
			break;
		for (int i = 0; i < MAX_CONNS; ++i)
			if (pfd[i + 2].revents)
				conn_readable(s, &s->conns[i]);
		if (pfd[1].revents && (cfd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
			int slot = -1;

			for (int i = 0; i < MAX_CONNS && slot < 0; ++i)
				if (s->conns[i].fd < 0)
					slot = i;
			if (slot < 0) {
				close(cfd); /* too many at once: the client retries */
				continue;
			}
			s->conns[slot].fd = cfd;
			s->conns[slot].state = WANT_OP;
		}
	}
	return NULL;
}

struct uapi_server *uapi_server_start(int listen_fd, const char *path, struct wg_device *dev,
				      void (*log)(void *ctx, enum wg_log_level level, const char *msg),
				      void *log_ctx)
{
	struct uapi_server *s = calloc(1, sizeof(*s));
	int ret;

	if (!s)
		return NULL;
	s->listen_fd = listen_fd;
	s->dev = dev;
	s->log = log;
	s->log_ctx = log_ctx;
	snprintf(s->path, sizeof(s->path), "%s", path);
	lstat(path, &s->file);
	for (int i = 0; i < MAX_CONNS; ++i)
		s->conns[i].fd = -1;
	s->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (s->stop_fd < 0 || (ret = pthread_create(&s->thread, NULL, server_main, s))) {
		if (s->stop_fd >= 0)
			close(s->stop_fd);
		free(s);
		return NULL;
	}
	return s;
}

void uapi_server_stop(struct uapi_server *s)
{
	uint64_t one = 1;

	if (!s)
		return;
	if (write(s->stop_fd, &one, sizeof(one)) < 0) {
		/* cannot fail on a fresh eventfd */
	}
	pthread_join(s->thread, NULL);
	struct stat st;

	for (int i = 0; i < MAX_CONNS; ++i)
		conn_close(&s->conns[i]);
	if (!lstat(s->path, &st) && st.st_ino == s->file.st_ino && st.st_dev == s->file.st_dev)
		unlink(s->path);
	close(s->listen_fd);
	close(s->stop_fd);
	free(s);
}

int uapi_call(const char *dir, const char *ifname, const char *req, size_t len, struct buf *reply, int timeout_ms)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
	size_t start = reply->len, done = 0;
	int fd, ret = 0;

	if (strchr(ifname, '/') || (size_t)snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/%s.sock",
						    dir ? dir : UAPI_SOCKET_DIR, ifname) >= sizeof(addr.sun_path))
		return -EINVAL;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) ||
	    connect(fd, (struct sockaddr *)&addr, sizeof(addr))) {
		ret = -errno;
		goto out;
	}
	while (done < len) {
		ssize_t n = send(fd, req + done, len - done, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = errno == EAGAIN ? -ETIMEDOUT : -errno;
			goto out;
		}
		done += (size_t)n;
	}
	/* The reply ends with an empty line: "\n\n", or a lone "\n" first. */
	for (;;) {
		size_t got = reply->len - start;
		ssize_t n;

		if ((got == 1 && reply->data[start] == '\n') ||
		    (got >= 2 && !memcmp(reply->data + reply->len - 2, "\n\n", 2)))
			break;
		if (buf_reserve(reply, 4096)) {
			ret = -ENOMEM;
			goto out;
		}
		n = recv(fd, reply->data + reply->len, reply->cap - reply->len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = !n ? -EPROTO : errno == EAGAIN ? -ETIMEDOUT : -errno;
			goto out;
		}
		reply->len += (size_t)n;
	}
	reply->len--; /* the blank line */
out:
	close(fd);
	return ret;
}
