/* SPDX-License-Identifier: MIT */
/*
 * Serves the configuration protocol on a UNIX socket, where wg(8) looks
 * for userspace interfaces: /var/run/wireguard/NAME.sock.
 */
#ifndef WEFT_UAPI_SERVER_H
#define WEFT_UAPI_SERVER_H

#include <sys/un.h>

#include "util/buf.h"
#include "wg/device.h"

#define UAPI_SOCKET_DIR "/var/run/wireguard"

struct uapi_server;

/* Creates and listens on dir/NAME.sock (dir NULL: UAPI_SOCKET_DIR) with mode
 * 0700 in a 0755 directory, taking over a stale socket but refusing one in
 * use (-EADDRINUSE). Returns the fd or a negative errno; path receives the
 * socket's path. */
int uapi_listen(const char *dir, const char *ifname, char path[sizeof(((struct sockaddr_un *)0)->sun_path)]);

/* The client side: sends one request (its text, ending in a blank line)
 * to dir/NAME.sock (dir NULL: UAPI_SOCKET_DIR) and appends the reply, up to
 * and without its blank line, to reply. Gives up after timeout_ms.
 * Returns 0 or a negative errno: -ENOENT or -ECONNREFUSED when nobody
 * serves the interface. */
int uapi_call(const char *dir, const char *ifname, const char *req, size_t len, struct buf *reply,
	      int timeout_ms);

/* Serves dev on listen_fd from a thread of its own; log as for uwg. */
struct uapi_server *uapi_server_start(int listen_fd, const char *path, struct wg_device *dev,
				      void (*log)(void *ctx, enum wg_log_level level, const char *msg),
				      void *log_ctx);
/* Stops serving, closes every connection and removes the socket file. */
void uapi_server_stop(struct uapi_server *s);

#endif
