/* SPDX-License-Identifier: MIT */
/*
 * The cross-platform configuration protocol (wireguard.com/xplatform), as
 * wireguard-go speaks it and wg(8) expects it. A set request is parsed
 * line by line into a struct wg_config, which the device then applies as a
 * whole: a bad line anywhere leaves the device untouched.
 */
#ifndef WEFT_WG_UAPI_H
#define WEFT_WG_UAPI_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "util/buf.h"

struct uapi_set {
	struct wg_config *cfg;
	struct wg_config_peer *peer;
	int error;      /* 0, or the negative errno of the first bad line */
	char msg[256];  /* what was wrong with it, for the log */
	unsigned line;
	/* Parsing a get reply (uapi_get_begin): the state lines are accepted
	 * too, and its closing errno line. */
	bool get;
	bool got_errno;
};

/* Starts a set request; returns 0 or -ENOMEM. */
int uapi_set_begin(struct uapi_set *s);
/* Starts reading a get reply into a snapshot (lines fed and ended as for
 * a set): what a client of another process's device reads back. A reply
 * that ends with errno=N, N not 0, fails with -N. */
int uapi_get_begin(struct uapi_set *s);
/* Feeds one line, without its newline. After the first error, further
 * lines are ignored. */
void uapi_set_line(struct uapi_set *s, char *line, size_t len);
/* Ends the request: returns the parsed config (owned by the caller) or
 * NULL with s->error and s->msg set. */
struct wg_config *uapi_set_end(struct uapi_set *s);

/* Appends the get reply for cfg (without the trailing errno line). */
int uapi_format_get(struct buf *out, const struct wg_config *cfg);
/* Appends the lines of a set request that applies cfg, a change as
 * wgdev_set takes it (without "set=1" and the closing blank line). */
int uapi_format_set(struct buf *out, const struct wg_config *cfg);

#endif
