/* SPDX-License-Identifier: MIT */
/* weft-cni's parts: one file per mode. */
#ifndef WEFT_CNI_PLUGIN_H
#define WEFT_CNI_PLUGIN_H

#include <netinet/in.h>
#include <stdbool.h>

#include "cni/cni.h"
#include "dev/wgdev.h"
#include "wg/config.h"

enum { PLUGIN_MAX_ADDRS = 8, PLUGIN_MAX_ROUTES = 64 };

struct plugin_prefix {
	int family;
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} addr;
	uint8_t len;
};

struct plugin_route {
	struct plugin_prefix dst;
	bool via_gw;
};

struct plugin {
	struct cni_env env;
	struct cni_conf conf;
	const char *mode;
	enum wgdev_backend backend;
	uint32_t mtu;
	struct wg_config *wg;
	struct plugin_prefix addrs[PLUGIN_MAX_ADDRS];
	unsigned naddrs;
	struct plugin_route routes[PLUGIN_MAX_ROUTES];
	unsigned nroutes;
};

int static_parse(struct plugin *p, struct cni_error *err);
int static_add(struct plugin *p, struct cni_error *err);
int static_del(struct plugin *p, struct cni_error *err);
int static_check(struct plugin *p, struct cni_error *err);

#endif
