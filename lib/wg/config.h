/* SPDX-License-Identifier: MIT */
/*
 * The one data model of a WireGuard device's configuration and state,
 * shared by the UAPI text protocol, the device core, netlink and the agent.
 * A config is either a change to apply (flags say which fields are set) or
 * a snapshot read back (every field filled).
 */
#ifndef WEFT_WG_CONFIG_H
#define WEFT_WG_CONFIG_H

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

enum {
	WG_CONFIG_KEY_LEN = 32,
};

struct wg_config_ip {
	uint16_t family;
	uint8_t cidr;
	union {
		struct in_addr ip4;
		struct in6_addr ip6;
	};
	struct wg_config_ip *next;
};

enum wg_config_peer_flags {
	WG_PEER_REMOVE_ME = 1U << 0,
	WG_PEER_REPLACE_ALLOWEDIPS = 1U << 1,
	WG_PEER_UPDATE_ONLY = 1U << 2,
	WG_PEER_HAS_PRESHARED_KEY = 1U << 3,
	WG_PEER_HAS_PERSISTENT_KEEPALIVE = 1U << 4,
	WG_PEER_HAS_ENDPOINT = 1U << 5,
};

struct wg_config_peer {
	uint32_t flags;
	uint8_t public_key[WG_CONFIG_KEY_LEN];
	uint8_t preshared_key[WG_CONFIG_KEY_LEN];
	union {
		struct sockaddr sa;
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
	} endpoint;
	uint16_t persistent_keepalive;
	/* State, filled when read back. */
	struct timespec last_handshake;
	uint64_t rx_bytes, tx_bytes;
	struct wg_config_ip *first_ip, *last_ip;
	struct wg_config_peer *next;
};

enum wg_config_flags {
	WG_DEV_REPLACE_PEERS = 1U << 0,
	WG_DEV_HAS_PRIVATE_KEY = 1U << 1,
	WG_DEV_HAS_PUBLIC_KEY = 1U << 2,
	WG_DEV_HAS_LISTEN_PORT = 1U << 3,
	WG_DEV_HAS_FWMARK = 1U << 4,
};

struct wg_config {
	char name[IF_NAMESIZE];
	uint32_t ifindex;
	uint32_t flags;
	uint8_t private_key[WG_CONFIG_KEY_LEN];
	uint8_t public_key[WG_CONFIG_KEY_LEN];
	uint16_t listen_port;
	uint32_t fwmark;
	struct wg_config_peer *first_peer, *last_peer;
};

struct wg_config *wg_config_new(void);
/* Wipes the keys and frees everything; accepts NULL. */
void wg_config_free(struct wg_config *cfg);
/* Appends a zeroed peer; NULL on allocation failure. */
struct wg_config_peer *wg_config_add_peer(struct wg_config *cfg);
/* Appends an allowed IP; NULL on allocation failure. */
struct wg_config_ip *wg_config_add_ip(struct wg_config_peer *peer, int family, const void *addr,
				      uint8_t cidr);
size_t wg_config_count_peers(const struct wg_config *cfg);

#endif
