// SPDX-License-Identifier: MIT
#include "agent.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/buf.h"

enum { MAX_MESSAGE = 4 << 20 };

/* Reads until the peer stops writing (shutdown) or a newline. */
static json_t *read_message(int fd, int timeout_ms)
{
	struct buf in = { 0 };
	json_t *msg = NULL;
	char chunk[8192];

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, timeout_ms) <= 0) {
			errno = ETIMEDOUT;
			goto out;
		}
		n = recv(fd, chunk, sizeof(chunk), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto out;
		if (n == 0 || memchr(chunk, '\n', (size_t)n)) {
			if (n > 0 && buf_append(&in, chunk, (size_t)n))
				goto out;
			break;
		}
		if (buf_append(&in, chunk, (size_t)n) || in.len > MAX_MESSAGE) {
			errno = EMSGSIZE;
			goto out;
		}
	}
	msg = in.len ? json_loadb(in.data, in.len, 0, NULL) : NULL;
	if (!msg)
		errno = EBADMSG;
out:
	buf_free(&in); /* wiped: a configuration may hold a key */
	return msg;
}

static int write_message(int fd, json_t *msg)
{
	char *text = json_dumps(msg, JSON_COMPACT);
	size_t len, off = 0;
	int ret = 0;

	if (!text)
		return -ENOMEM;
	len = strlen(text);
	text[len++] = '\n'; /* json_dumps leaves room for its NUL: reuse it */
	while (off < len) {
		ssize_t n = send(fd, text + off, len - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			break;
		}
		off += (size_t)n;
	}
	memset(text, 0, len);
	free(text);
	return ret;
}

json_t *agent_call(const char *path, json_t *req, int timeout_ms)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	json_t *reply = NULL;
	int fd, err;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	if (!connect(fd, (struct sockaddr *)&addr, sizeof(addr)) && !write_message(fd, req))
		reply = read_message(fd, timeout_ms);
	err = errno;
	close(fd);
	errno = err;
	return reply;
}

json_t *agent_read(int fd, int timeout_ms)
{
	return read_message(fd, timeout_ms);
}

int agent_write(int fd, json_t *reply)
{
	return write_message(fd, reply);
}
