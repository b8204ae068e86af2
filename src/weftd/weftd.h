/* SPDX-License-Identifier: MIT */
/* weftd, the node agent: its state and its parts. */
#ifndef WEFTD_H
#define WEFTD_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>

#include "cni/cni.h"
#include "dev/wgdev.h"
#include "ipam/ipam.h"
#include "util/list.h"

struct attachment {
	struct list link;
	char id[256];
	char ifname[16];
	char netns[512];
	char mode[8];
	char network[128]; /* the CNI network's name: GC is per network */
	struct wgdev *dev; /* a userspace device we host, or NULL */
	/* An operation is under way on it (outside the lock): others on the
	 * same attachment wait for it, others on other attachments do not. */
	bool busy;
};

struct weftd {
	char state_dir[400];
	char socket_path[108];
	char pod_subnet[64], pod_subnet6[64];
	enum wgdev_backend backend;
	enum wg_log_level log_level;
	struct ipam ipam;
	bool ipam_open;
	/* The node's hub device (mode "hub"), made on first use. */
	char hub_name[16];
	uint16_t hub_port;
	struct wgdev *hub;
	pthread_mutex_t hub_lock; /* the hub's handle: its creation, its peers */
	/* Guards the list of attachments and their busy flags. Slow work
	 * (interfaces, routes, keys) runs outside it, on an attachment marked
	 * busy, so requests for different containers run side by side and
	 * requests for the same one run one after another. */
	pthread_mutex_t lock;
	pthread_cond_t changed; /* an attachment stopped being busy, or went */
	bool stopping;
	struct list attachments;
};

void weftd_log(struct weftd *d, enum wg_log_level level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* attach.c: each returns 0 or a CNI error code with err filled, and takes
 * d->lock itself. */
int attach_add(struct weftd *d, json_t *req, json_t **result, struct cni_error *err);
int attach_del(struct weftd *d, json_t *req, struct cni_error *err);
int attach_check(struct weftd *d, json_t *req, struct cni_error *err);
int attach_gc(struct weftd *d, json_t *req, struct cni_error *err);
/* Rebuilds what the state directory describes (after a restart). */
void attach_restore(struct weftd *d);
/* Drops attachments whose container is gone. */
void attach_sweep(struct weftd *d);
/* At exit: refuses new work, waits for what is under way, frees all. */
void attach_free_all(struct weftd *d);

/* The node routes between its pods (and, later, other nodes). */
void weftd_enable_forwarding(void);

/* hub.c */
int hub_attach(struct weftd *d, struct attachment *a, json_t *config, json_t *result, struct cni_error *err);
void hub_detach(struct weftd *d, struct attachment *a);
/* The hub still has the container as a peer. */
int hub_check(struct weftd *d, struct attachment *a, struct cni_error *err);

#endif
