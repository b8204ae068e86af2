/* SPDX-License-Identifier: MIT */
/*
 * One API for a WireGuard interface, whoever implements it: the kernel's
 * module (configured over generic netlink) or weft's userspace device in
 * this process. Everything above (node agent, CNI plugin, gateway) uses
 * this and does not care which backend serves it.
 *
 * The interface may live in another network namespace (a container's)
 * while its UDP socket stays in the caller's, as wireguard.com/netns
 * describes, with either backend.
 */
#ifndef WEFT_WGDEV_H
#define WEFT_WGDEV_H

#include <stdbool.h>

#include "wg/config.h"
#include "wg/device.h"

enum wgdev_backend {
	WGDEV_AUTO,      /* the kernel's if it can make one, else userspace */
	WGDEV_KERNEL,
	WGDEV_USERSPACE,
};

struct wgdev_opts {
	const char *name;
	enum wgdev_backend backend;
	/* Where the interface lives: a namespace path (/var/run/netns/NAME,
	 * /proc/PID/ns/net), or NULL for the caller's. */
	const char *netns;
	/* May run "modprobe wireguard" when the kernel lacks the family. */
	bool load_module;
	/* Userspace: also serve /var/run/wireguard/NAME.sock, so that wg(8)
	 * shows and sets the device like any other. */
	bool uapi;
	/* Userspace: use TUN offloads (TSO/GRO). */
	bool offload;
	/* Userspace: the weft-wg program to host the device in a process of
	 * its own, so that it outlives the caller. The caller then drives it
	 * over its UAPI socket, and the next open adopts it as the kernel's
	 * would be. NULL: the device lives in this process. Only with netns
	 * NULL. A hosted device is up from the start, so that a port it is
	 * given is bound (or refused) at once. */
	const char *host;
	enum wg_log_level log_level;
	void (*log)(void *ctx, enum wg_log_level level, const char *msg);
	void *log_ctx;
};

/* Why a call failed, in words for a person: what failed and what to do. */
struct wgdev_err {
	char msg[400];
	int error; /* the errno behind it: EOPNOTSUPP when the kernel has no WireGuard */
};

struct wgdev;

/*
 * Creates the interface, or adopts an existing WireGuard interface of that
 * name (keeping its ifindex, keys, peers, addresses and routes). A new
 * interface is down. Returns NULL with err filled on failure.
 */
struct wgdev *wgdev_open(const struct wgdev_opts *opts, struct wgdev_err *err);
/* Applies cfg as one transaction (see docs/devices.md for the kernel's
 * limits on that). Returns 0 or a negative errno, with err filled. */
int wgdev_set(struct wgdev *d, const struct wg_config *cfg, struct wgdev_err *err);
/* Reads the configuration and state back; NULL with err filled on failure. */
struct wg_config *wgdev_get(struct wgdev *d, struct wgdev_err *err);
/* Brings the interface up; on return its UDP port is bound (listen_port
 * reads back the port chosen for 0), with either backend. */
int wgdev_up(struct wgdev *d, struct wgdev_err *err);
/* Deletes the interface and frees the handle. */
int wgdev_delete(struct wgdev *d);
/* Frees the handle. A kernel interface stays, and a hosted one; a userspace
 * one in this process ends with it. */
void wgdev_close(struct wgdev *d);

enum wgdev_backend wgdev_backend(const struct wgdev *d);
const char *wgdev_backend_name(enum wgdev_backend b);
int wgdev_ifindex(const struct wgdev *d);
const char *wgdev_name(const struct wgdev *d);
bool wgdev_adopted(const struct wgdev *d);
/* Userspace: whether another process (weft-wg) hosts the device. */
bool wgdev_hosted(const struct wgdev *d);
/* Userspace: the device core, for hosts that drive it directly. */
struct wg_device *wgdev_core(struct wgdev *d);

/* Parses "auto", "kernel", "userspace"; -1 if none. */
int wgdev_backend_parse(const char *s);

#endif
