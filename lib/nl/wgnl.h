/* SPDX-License-Identifier: MIT */
/* Kernel WireGuard devices over generic netlink, in the data model of
 * wg/config.h. */
#ifndef WEFT_WGNL_H
#define WEFT_WGNL_H

#include "nl.h"
#include "wg/config.h"

/* Resolves the "wireguard" family on a NETLINK_GENERIC socket;
 * -EPROTONOSUPPORT when the kernel has no WireGuard. */
int wgnl_family(struct nl *nl);
/* Reads device ifname (coalescing a dump of several messages). */
int wgnl_get(struct nl *nl, const char *ifname, struct wg_config **out);
/* Applies cfg, in as many messages as it takes; *messages (may be NULL)
 * receives how many were accepted. */
int wgnl_set(struct nl *nl, const char *ifname, const struct wg_config *cfg, unsigned *messages);

#endif
