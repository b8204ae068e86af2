/* SPDX-License-Identifier: MIT */
/*
 * A userspace WireGuard interface: the device core driven by real I/O.
 * It owns a TUN interface (possibly in another network namespace), the UDP
 * sockets (in the namespace it was created from), and three threads:
 *   tx   reads packets from the TUN, hands them to wg_device_tx;
 *   rx   receives datagrams, hands them to wg_device_rx, writes to the TUN;
 *   ctl  handshakes, timers, and the interface's state (up, MTU, deleted).
 * Many can live in one process; nothing here is global.
 */
#ifndef WEFT_UWG_H
#define WEFT_UWG_H

#include <stdbool.h>

#include "wg/config.h"
#include "wg/device.h"

struct uwg;

struct uwg_opts {
	const char *ifname;
	/* Namespace for the TUN interface (-1: the caller's). The UDP sockets
	 * always stay in the caller's. */
	int tun_netns_fd;
	/* Use TUN checksum/segmentation offload when the kernel has it. */
	bool offload;
	enum wg_log_level log_level;
	/* Optional log sink; messages never hold secrets. */
	void (*log)(void *ctx, enum wg_log_level level, const char *msg);
	void *log_ctx;
};

/* Creates the interface (MTU 1420, down) and the device; starts nothing.
 * Returns NULL and sets errno on failure. */
struct uwg *uwg_create(const struct uwg_opts *opts);
/* Starts the threads. Returns 0 or a negative errno. */
int uwg_start(struct uwg *u);
/* Stops the threads, deletes the interface and frees everything. */
void uwg_free(struct uwg *u);

struct wg_device *uwg_device(struct uwg *u);
const char *uwg_name(const struct uwg *u);
int uwg_ifindex(const struct uwg *u);
/* Becomes readable (an eventfd) when the interface was deleted or the
 * TUN failed: the owner should shut the device down. */
int uwg_dead_fd(const struct uwg *u);
bool uwg_is_dead(const struct uwg *u);

#endif
