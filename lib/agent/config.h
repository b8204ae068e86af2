/* SPDX-License-Identifier: MIT */
/*
 * weftd's settings, from a JSON file, from flags, or both (flags win):
 *
 *   {"stateDir": "/var/lib/weft", "socket": "/run/weft/weftd.sock",
 *    "podSubnet": "10.244.1.0/24", "podSubnet6": "fd00:244:1::/64",
 *    "backend": "auto", "hubName": "weft-hub", "hubPort": 51821,
 *    "logLevel": "error",
 *    "manager": "https://10.0.0.1:7443", "managerCA": "/etc/weft/ca.crt",
 *    "joinTokenFile": "/etc/weft/join.token", "nodeName": "node-1",
 *    "endpoint": "192.0.2.1:51821", "metricsListen": "127.0.0.1:9586",
 *    "gateway": true, "gatewayDevice": "submariner", "gatewayPort": 4500,
 *    "dockerPlugin": true, "dockerSocket": "/run/docker/plugins/weft.sock",
 *    "ipMasq": true}
 *
 * ipMasq (the default) masquerades what pods send outside weft's networks
 * to the node's address (lib/nft/masq.h); false leaves that to the host.
 *
 * A gateway candidate (docs/clusters.md) may carry the cluster's traffic
 * to other clusters; its port, unless given, is $CE_IPSEC_NATTPORT or 4500.
 *
 * With a manager the node joins the cluster: its pod subnets come from
 * the manager, so podSubnet and podSubnet6 may not be given.
 *
 * Every setter checks its value and leaves the settings as they were when
 * it refuses one, with a message naming the setting and what it expects.
 */
#ifndef WEFT_AGENT_CONFIG_H
#define WEFT_AGENT_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define AGENT_CONFIG_DEFAULT "/etc/weft/weftd.json"
/* Where Docker looks for the network plugin named "weft". */
#define AGENT_DOCKER_SOCKET_DEFAULT "/run/docker/plugins/weft.sock"

struct agent_config {
	char state_dir[400];
	char socket_path[108];
	char pod_subnet[64], pod_subnet6[64];
	int backend;   /* enum wgdev_backend */
	int log_level; /* enum wg_log_level */
	char hub_name[16];
	uint16_t hub_port;
	/* Joining a cluster (all empty: a node on its own). */
	char manager[600];	  /* https://HOST:PORT[,https://...] */
	char manager_ca[400];
	char join_token_file[400];
	char node_name[64];
	char endpoint[64]; /* ADDR or ADDR:PORT other nodes reach us at */
	char metrics_listen[64]; /* ADDR:PORT of the Prometheus endpoint, or empty */
	int gateway;		 /* a gateway candidate */
	char gateway_device[16];
	uint16_t gateway_port; /* 0: $CE_IPSEC_NATTPORT, else 4500 */
	/* Serve Docker's network and IPAM driver API (docs/runtimes.md). */
	int docker_plugin;
	char docker_socket[108];
	int ip_masq; /* pods' egress leaves with the node's address */
};

/* The settings fit together (a manager needs an endpoint, and no pod
 * subnet of its own); err names what is wrong. */
int agent_config_check(const struct agent_config *c, char *err, size_t errlen);

void agent_config_defaults(struct agent_config *c);

/* One setting by its flag name ("state-dir", "pod-subnet", ...). */
int agent_config_set(struct agent_config *c, const char *name, const char *value, char *err, size_t errlen);

/* A whole JSON document; nothing changes unless all of it is good. */
int agent_config_parse(struct agent_config *c, const char *text, size_t len, char *err, size_t errlen);

/* The same, from a file (at most 64 KiB). */
int agent_config_load(struct agent_config *c, const char *path, char *err, size_t errlen);

#endif
