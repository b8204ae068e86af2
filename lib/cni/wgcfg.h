/* SPDX-License-Identifier: MIT */
/* A container WireGuard interface as the CNI configuration describes it. */
#ifndef WEFT_CNI_WGCFG_H
#define WEFT_CNI_WGCFG_H

#include <netinet/in.h>
#include <stdbool.h>

#include "cni.h"
#include "wg/config.h"

enum { CNI_MAX_ADDRS = 8, CNI_MAX_ROUTES = 64 };

struct cni_prefix {
	int family;
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} addr;
	uint8_t len;
};

struct cni_route {
	struct cni_prefix dst;
	bool via_gw;
};

struct cni_wgcfg {
	uint32_t mtu; /* 0: leave it */
	struct wg_config *wg;
	struct cni_prefix addrs[CNI_MAX_ADDRS];
	unsigned naddrs;
	struct cni_route routes[CNI_MAX_ROUTES];
	unsigned nroutes;
};

/* Reads address(es), privateKey(File), listenPort, peers and routes from
 * a configuration; errors name the field. Resolves endpoint names. */
int cni_wgcfg_parse(struct cni_wgcfg *c, json_t *root, struct cni_error *err);
/* Inside the namespace: MTU, addresses, link up, routes. */
int cni_wgcfg_apply_link(const struct cni_wgcfg *c, const char *netns, int ifindex, struct cni_error *err);
/* Adds the interface, its addresses and routes to a result. */
void cni_wgcfg_result(const struct cni_wgcfg *c, json_t *res, const char *ifname, const char *netns);
void cni_wgcfg_free(struct cni_wgcfg *c);
const char *cni_prefix_str(const struct cni_prefix *p, char *buf, size_t len);

#endif
