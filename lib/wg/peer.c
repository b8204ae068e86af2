// SPDX-License-Identifier: MIT
/* Peers: creation and removal, endpoints, and the staging queue of packets
 * waiting for a session. */
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "crypto/crypto.h"

struct wg_peer *wg_peer_create(struct wg_device *dev, const uint8_t public_key[WG_KEY_LEN])
{
	struct wg_peer *peer;
	char b64[sodium_base64_ENCODED_LEN(WG_KEY_LEN, sodium_base64_VARIANT_ORIGINAL)];

	if (dev->npeers >= WG_MAX_PEERS) {
		errno = ENOSPC;
		return NULL;
	}
	peer = calloc(1, sizeof(*peer));
	if (!peer)
		return NULL;
	peer->dev = dev;
	peer->id = ++dev->next_peer_id;
	pthread_mutex_init(&peer->lock, NULL);
	list_init(&peer->link);
	wg_aip_owner_init(&peer->allowedips);
	memcpy(peer->handshake.remote_static, public_key, WG_KEY_LEN);
	peer->handshake.entry.peer = peer;
	wg_noise_precompute_static_static(dev, peer);
	wg_cookie_maker_init(&peer->cookie, public_key);
	wg_timers_init(peer);
	atomic_init(&peer->rx_bytes, 0);
	atomic_init(&peer->tx_bytes, 0);
	/* As if the last initiation left long ago, so the first goes at once. */
	peer->last_sent_handshake = wg_now(dev) - WG_REKEY_TIMEOUT - NSEC_PER_SEC;

	/* Logs name a peer as wireguard-go does: the ends of its key. */
	sodium_bin2base64(b64, sizeof(b64), public_key, WG_KEY_LEN, sodium_base64_VARIANT_ORIGINAL);
	snprintf(peer->name, sizeof(peer->name), "peer(%.4s…%.4s)", b64, b64 + 39);

	wg_pubkey_insert(dev, peer);
	list_add_tail(&peer->link, &dev->peers);
	++dev->npeers;
	return peer;
}

/* cfg_lock held for writing: no other thread can hold a pointer to the
 * peer, except through the timer heap and index table, which we empty. */
void wg_peer_remove(struct wg_peer *peer)
{
	struct wg_device *dev = peer->dev;

	pthread_mutex_lock(&peer->lock);
	wg_timers_stop(peer);
	wg_noise_handshake_clear(peer);
	wg_noise_keypairs_clear(peer);
	wg_peer_purge_staged(peer);
	pthread_mutex_unlock(&peer->lock);

	wg_allowedips_remove_owner(&dev->allowedips, &peer->allowedips);
	wg_pubkey_remove(dev, peer);
	list_del(&peer->link);
	--dev->npeers;

	crypto_wipe(&peer->handshake, sizeof(peer->handshake));
	crypto_wipe(&peer->cookie, sizeof(peer->cookie));
	pthread_mutex_destroy(&peer->lock);
	free(peer);
}

void wg_peer_remove_all(struct wg_device *dev)
{
	while (!list_empty(&dev->peers))
		wg_peer_remove(list_entry(dev->peers.next, struct wg_peer, link));
}

static bool endpoint_eq(const struct wg_endpoint *a, const struct wg_endpoint *b)
{
	if (a->addr.sa.sa_family != b->addr.sa.sa_family || a->src_ifindex != b->src_ifindex)
		return false;
	if (a->addr.sa.sa_family == AF_INET)
		return a->addr.in4.sin_port == b->addr.in4.sin_port &&
		       a->addr.in4.sin_addr.s_addr == b->addr.in4.sin_addr.s_addr &&
		       a->src4.s_addr == b->src4.s_addr;
	return a->addr.in6.sin6_port == b->addr.in6.sin6_port &&
	       !memcmp(&a->addr.in6.sin6_addr, &b->addr.in6.sin6_addr, sizeof(struct in6_addr)) &&
	       a->addr.in6.sin6_scope_id == b->addr.in6.sin6_scope_id &&
	       !memcmp(&a->src6, &b->src6, sizeof(struct in6_addr));
}

void wg_peer_set_endpoint(struct wg_peer *peer, const struct wg_endpoint *ep)
{
	if (ep->addr.sa.sa_family != AF_INET && ep->addr.sa.sa_family != AF_INET6)
		return;
	if (peer->has_endpoint && endpoint_eq(&peer->endpoint, ep))
		return;
	peer->endpoint = *ep;
	peer->has_endpoint = true;
}

void wg_peer_clear_endpoint_src(struct wg_peer *peer)
{
	memset(&peer->endpoint.src6, 0, sizeof(peer->endpoint.src6));
	peer->endpoint.src_ifindex = 0;
}

/* Keeps a copy of the packet, dropping the oldest past the limit. */
void wg_peer_stage(struct wg_peer *peer, const uint8_t *pkt, uint32_t len)
{
	struct wg_staged *s = malloc(sizeof(*s) + wg_tx_room(len));
	unsigned slot;

	if (!s) {
		atomic_fetch_add(&peer->dev->tx_dropped, 1);
		return;
	}
	s->len = len;
	if (len)
		memcpy(s->data + WG_DATA_HEADER_LEN, pkt, len);
	if (peer->staged_count == WG_MAX_STAGED_PACKETS) {
		free(peer->staged[peer->staged_head]);
		peer->staged_head = (peer->staged_head + 1) % WG_MAX_STAGED_PACKETS;
		--peer->staged_count;
		atomic_fetch_add(&peer->dev->tx_dropped, 1);
	}
	slot = (peer->staged_head + peer->staged_count) % WG_MAX_STAGED_PACKETS;
	peer->staged[slot] = s;
	++peer->staged_count;
}

void wg_peer_purge_staged(struct wg_peer *peer)
{
	while (peer->staged_count) {
		free(peer->staged[peer->staged_head]);
		peer->staged_head = (peer->staged_head + 1) % WG_MAX_STAGED_PACKETS;
		--peer->staged_count;
	}
	peer->staged_head = 0;
}
