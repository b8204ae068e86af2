/* SPDX-License-Identifier: MIT */
/*
 * An external client's record (/weft/clients/NAME), typed: a machine that
 * dials into the cluster's WireGuard network (seed 003's "external clients
 * dialing into the wireguard network"), such as an operator's laptop. It
 * holds only what every node needs to let the client in; the client's
 * private key stays on the machine that made it (weft client add).
 *
 * The record as JSON, as the store keeps it and the API shows it:
 *
 *   name        a DNS label (cluster_name_valid)
 *   publicKey   its WireGuard key, base64
 *   addresses   its address in each family the cluster has: an IPv4 /32
 *               and an IPv6 /128, in the clients' subnets (clients.c)
 *   created     when it was added (Unix time)
 *
 * Nothing else: a record with another field is refused, so that a typo
 * in a hand-made request is not silently dropped.
 */
#ifndef WEFT_CLUSTER_CLIENT_H
#define WEFT_CLUSTER_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/node.h"
#include "ipam/ipam.h"

struct cluster_client {
	char name[CLUSTER_NAME_LEN];
	uint8_t key[32];
	struct ipam_prefix addresses[2]; /* at most one per family, host prefixes */
	size_t naddresses;
	int64_t created;
};

/* Checks a client's record: 0, or -EINVAL with err naming the field and
 * the bad value. */
int cluster_client_parse(json_t *rec, struct cluster_client *c, char *err, size_t errlen);
/* The record as JSON; NULL out of memory. */
json_t *cluster_client_json(const struct cluster_client *c);
bool cluster_client_equal(const struct cluster_client *a, const struct cluster_client *b);

#endif
