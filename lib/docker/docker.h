/* SPDX-License-Identifier: MIT */
/*
 * Docker's network plugin protocol, as libnetwork's remote drivers speak it
 * (moby 20.10, libnetwork/drivers/remote/api and ipams/remote/api): an HTTP
 * POST per call to /Plugin.Activate, /NetworkDriver.* or /IpamDriver.*,
 * a JSON body each way, errors as {"Err": "..."}. This file turns a call
 * into a typed request, checking every field weft uses, so the driver
 * above it (weftd's docker.c) never reads JSON. No I/O.
 */
#ifndef WEFT_DOCKER_H
#define WEFT_DOCKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipam/ipam.h"

enum docker_call {
	DOCKER_ACTIVATE,
	/* NetworkDriver */
	DOCKER_NET_CAPABILITIES,
	DOCKER_CREATE_NETWORK,
	DOCKER_DELETE_NETWORK,
	DOCKER_ALLOCATE_NETWORK,
	DOCKER_FREE_NETWORK,
	DOCKER_CREATE_ENDPOINT,
	DOCKER_ENDPOINT_INFO,
	DOCKER_DELETE_ENDPOINT,
	DOCKER_JOIN,
	DOCKER_LEAVE,
	DOCKER_DISCOVER_NEW,
	DOCKER_DISCOVER_DELETE,
	DOCKER_PROGRAM_EXTERNAL,
	DOCKER_REVOKE_EXTERNAL,
	/* IpamDriver */
	DOCKER_IPAM_CAPABILITIES,
	DOCKER_IPAM_ADDRESS_SPACES,
	DOCKER_REQUEST_POOL,
	DOCKER_RELEASE_POOL,
	DOCKER_REQUEST_ADDRESS,
	DOCKER_RELEASE_ADDRESS,
	DOCKER_CALLS
};

/* How containers on a weft network are attached (docs/runtimes.md). */
enum docker_mode {
	DOCKER_MESH, /* a veth; the node's WireGuard device carries it */
	DOCKER_HUB,  /* the container's own WireGuard interface, a spoke of the hub */
};

/* What a network was created with: `docker network create -d weft -o ...`. */
struct docker_net_opts {
	enum docker_mode mode;
	unsigned mtu; /* 0: the default */
	bool ipv6;
	/* The pools and gateways Docker's IPAM gave (family 0: none). */
	struct ipam_prefix pool[2], gateway[2];
};

struct docker_request {
	enum docker_call call;
	char network_id[65];
	char endpoint_id[65];
	char sandbox_key[256]; /* Join: the container's namespace */
	struct docker_net_opts net; /* CreateNetwork, AllocateNetwork */
	/* CreateEndpoint: what Docker has for the interface already. */
	struct ipam_prefix address[2];
	uint8_t mac[6];
	bool has_mac;
	/* IpamDriver */
	char pool_id[160];
	struct ipam_prefix pool, sub_pool; /* RequestPool (family 0: not given) */
	bool v6;
	struct ipam_prefix want;	   /* RequestAddress, ReleaseAddress (family 0: any) */
	bool gateway;			   /* RequestAddress: the network's gateway */
};

/* The call a path names, or -1. */
int docker_call_parse(const char *path);
const char *docker_call_name(enum docker_call c);

/*
 * Reads a call's body (at most a few KiB: Docker's are small) into req.
 * Returns 0, or -EINVAL with err naming the bad field and its value.
 * Unknown fields are ignored, as Go's decoder does; a -o option weft does
 * not know is refused, so that a typo is not silently a default.
 */
int docker_request_parse(enum docker_call call, const char *body, size_t len, struct docker_request *req,
			 char *err, size_t errlen);

/* {"Err": msg}, for any call's failure (bytes of msg that are not UTF-8
 * become '?'); the caller frees it. */
char *docker_error_body(const char *msg);

#endif
