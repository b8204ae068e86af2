/* SPDX-License-Identifier: MIT */
/* weft-cni's parts: one file per mode. */
#ifndef WEFT_CNI_PLUGIN_H
#define WEFT_CNI_PLUGIN_H

#include <netinet/in.h>
#include <stdbool.h>

#include "cni/args.h"
#include "cni/cni.h"
#include "cni/wgcfg.h"
#include "dev/wgdev.h"
#include "wg/config.h"

struct plugin {
	struct cni_env env;
	struct cni_conf conf;
	const char *mode;
	/* The interface weft makes in the container: CNI_IFNAME when alone,
	 * "interface" (or the mode's default) when chained. */
	char ifname[IF_NAMESIZE];
	/* The configuration named one for a chain: DEL without a prevResult
	 * looks there when CNI_IFNAME is another plugin's. */
	char chained_ifname[IF_NAMESIZE];
	struct cni_owner owner; /* from CNI_ARGS */
	enum wgdev_backend backend;
	struct cni_wgcfg wg;
};

int static_add(struct plugin *p, struct cni_error *err);
int static_del(struct plugin *p, struct cni_error *err);
int static_check(struct plugin *p, struct cni_error *err);
int static_status(struct plugin *p, struct cni_error *err);
int static_gc(struct plugin *p, struct cni_error *err);
int agent(struct plugin *p, const char *op, json_t **result, struct cni_error *err);
int agent_mode(struct plugin *p, struct cni_error *err);

#endif
