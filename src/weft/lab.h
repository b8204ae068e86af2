/* SPDX-License-Identifier: MIT */
/*
 * weft lab: a whole cluster on one machine, in network namespaces only
 * (docs/lab.md). lab.c has what the commands share and picks one;
 * lab_up.c, lab_status.c, lab_check.c and lab_down.c are the commands;
 * labnet.c makes and removes the namespaces and the underlay.
 *
 *   weft-lab-net      bridge br0 192.168.77.1/24 fd77::1/64, weft-manager
 *     │ veth nK ── eth0
 *   weft-lab-nK       192.168.77.(10+K), fd77::(10+K), weftd, device weft-lab-nK
 *     │ weft-cni (mesh: veth; hub: WireGuard to the node's device)
 *   weft-lab-nK-pJ    a pod
 *   weft-lab-outside  192.168.77.200, fd77::200: a host outside the cluster
 *   weft-lab-client   192.168.77.201, fd77::201: an external client,
 *                     wg-quick up with weft-wg (weft lab client)
 */
#ifndef WEFT_CLI_LAB_H
#define WEFT_CLI_LAB_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>

#include "weft.h"

#define LAB_PREFIX "weft-lab-"
#define LAB_NET LAB_PREFIX "net"
#define LAB_DIR_DEFAULT "/run/weft-lab"
#define LAB_BRIDGE "br0"
#define LAB_UNDERLAY "192.168.77."
#define LAB_UNDERLAY6 "fd77::"
#define LAB_MANAGER_PORT 7443
/* A host on the underlay outside the cluster, for pods' egress. */
#define LAB_OUTSIDE LAB_PREFIX "outside"
#define LAB_OUTSIDE_HOST 200
/* weft lab client: an external client's namespace on the underlay, and
 * its WireGuard interface, named after its wg-quick file (15 characters,
 * the most an interface name takes). */
#define LAB_CLIENT LAB_PREFIX "client"
#define LAB_CLIENT_HOST 201

enum { LAB_MAX_NS = 3000 }; /* lab namespaces down and status look at */

/* lab.c: what the commands share. */
extern const char lab_usage[];

/* A lab as up makes it and status shows it: the record (DIR/lab.json),
 * the programs it runs, and up's way to the manager. */
struct lab {
	struct opts *o;
	const char *dir;
	char self[PATH_MAX];
	char manager[PATH_MAX], weftd[PATH_MAX], cni[PATH_MAX];
	json_t *rec;
	struct api_client *api;
	int net_fd;
};

/* DIR/ and the rest, into buf. */
const char *lab_path(const struct lab *l, char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void lab_sleep_ms(int ms);
/* DIR/lab.json, or NULL. */
json_t *lab_load(const char *dir);
/* Finds weft-manager, weftd and weft-cni (l->self is this weft): -1, or
 * the status to exit with after saying which is missing. */
int lab_programs(struct lab *l);
/* A program next to this weft, else in PATH, into out: 0 or -ENOENT. */
int lab_find_program(struct lab *l, const char *name, char *out, size_t len);

/* The commands, each in a file of its own. */
int lab_up(int argc, char **argv);
int lab_check(int argc, char **argv);
int lab_status(int argc, char **argv);
int lab_down(int argc, char **argv);
int lab_client(int argc, char **argv);
/* lab_status.c: how to step inside, after up and in status. */
void lab_print_hints(struct lab *l);

/* The namespace path of a lab namespace: /var/run/netns/NAME. */
const char *lab_netns_path(char *buf, size_t len, const char *name);

/* labnet.c: each returns 0, or a negative errno with err saying what
 * failed. */
int labnet_underlay(bool ipv6, char *err, size_t len);
/* Node k's namespace, with its veth to the bridge. */
int labnet_node(unsigned k, bool ipv6, char *err, size_t len);
/* The host outside the cluster (LAB_OUTSIDE), on the bridge. */
int labnet_outside(bool ipv6, char *err, size_t len);
/* The external client's namespace, LAB_CLIENT, with its veth to the bridge. */
int labnet_client(bool ipv6, char *err, size_t len);
/* A pod's namespace (its interface comes from weft-cni). */
int labnet_pod(const char *name, char *err, size_t len);
/* The lab namespaces there are (names, strdup'd, pods first, the
 * underlay last): how many, up to max. */
int labnet_list(char **names, int max);

#endif
