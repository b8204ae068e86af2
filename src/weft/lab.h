/* SPDX-License-Identifier: MIT */
/*
 * weft lab: a whole cluster on one machine, in network namespaces only
 * (docs/lab.md). lab.c has the commands; labnet.c makes and removes the
 * namespaces and the underlay.
 *
 *   weft-lab-net      bridge br0 192.168.77.1/24 fd77::1/64, weft-manager
 *     │ veth nK ── eth0
 *   weft-lab-nK       192.168.77.(10+K), fd77::(10+K), weftd, device weft-lab-nK
 *     │ weft-cni (mesh: veth; hub: WireGuard to the node's device)
 *   weft-lab-nK-pJ    a pod
 */
#ifndef WEFT_CLI_LAB_H
#define WEFT_CLI_LAB_H

#include <jansson.h>
#include <stdbool.h>

#include "weft.h"

#define LAB_PREFIX "weft-lab-"
#define LAB_NET LAB_PREFIX "net"
#define LAB_DIR_DEFAULT "/run/weft-lab"
#define LAB_BRIDGE "br0"
#define LAB_UNDERLAY "192.168.77."
#define LAB_UNDERLAY6 "fd77::"
#define LAB_MANAGER_PORT 7443

/* The namespace path of a lab namespace: /var/run/netns/NAME. */
const char *lab_netns_path(char *buf, size_t len, const char *name);

/* labnet.c: each returns 0, or a negative errno with err saying what
 * failed. */
int labnet_underlay(bool ipv6, char *err, size_t len);
/* Node k's namespace, with its veth to the bridge. */
int labnet_node(unsigned k, bool ipv6, char *err, size_t len);
/* A pod's namespace (its interface comes from weft-cni). */
int labnet_pod(const char *name, char *err, size_t len);
/* The lab namespaces there are (names, strdup'd, pods first, the
 * underlay last): how many, up to max. */
int labnet_list(char **names, int max);

#endif
