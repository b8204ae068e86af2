// SPDX-License-Identifier: MIT
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"

struct wg_config *wg_config_new(void)
{
	return calloc(1, sizeof(struct wg_config));
}

void wg_config_free(struct wg_config *cfg)
{
	struct wg_config_peer *peer, *pnext;
	struct wg_config_ip *ip, *inext;

	if (!cfg)
		return;
	for (peer = cfg->first_peer; peer; peer = pnext) {
		pnext = peer->next;
		for (ip = peer->first_ip; ip; ip = inext) {
			inext = ip->next;
			free(ip);
		}
		crypto_wipe(peer->preshared_key, sizeof(peer->preshared_key));
		free(peer);
	}
	crypto_wipe(cfg->private_key, sizeof(cfg->private_key));
	free(cfg);
}

struct wg_config_peer *wg_config_add_peer(struct wg_config *cfg)
{
	struct wg_config_peer *peer = calloc(1, sizeof(*peer));

	if (!peer)
		return NULL;
	if (cfg->last_peer)
		cfg->last_peer->next = peer;
	else
		cfg->first_peer = peer;
	cfg->last_peer = peer;
	return peer;
}

struct wg_config_ip *wg_config_add_ip(struct wg_config_peer *peer, int family, const void *addr,
				      uint8_t cidr)
{
	struct wg_config_ip *ip = calloc(1, sizeof(*ip));

	if (!ip)
		return NULL;
	ip->family = (uint16_t)family;
	ip->cidr = cidr;
	memcpy(&ip->ip6, addr, family == AF_INET ? 4 : 16);
	if (peer->last_ip)
		peer->last_ip->next = ip;
	else
		peer->first_ip = ip;
	peer->last_ip = ip;
	return ip;
}

size_t wg_config_count_peers(const struct wg_config *cfg)
{
	size_t n = 0;

	for (const struct wg_config_peer *p = cfg->first_peer; p; p = p->next)
		++n;
	return n;
}
