// SPDX-License-Identifier: MIT
/* The device: lifecycle, configuration as one transaction, and the work
 * loop entry point. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "crypto/crypto.h"

void wg_log(struct wg_device *dev, enum wg_log_level level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!dev->ops->log || (int)level > atomic_load_explicit(&dev->log_level, memory_order_relaxed))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	dev->ops->log(dev->io, level, msg);
}

struct wg_device *wg_device_new(const struct wg_device_ops *ops, void *io)
{
	struct wg_device *dev;
	pthread_rwlockattr_t attr;

	if (crypto_init()) {
		errno = ENOSYS;
		return NULL;
	}
	wg_noise_init_constants();
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return NULL;
	dev->ops = ops;
	dev->io = io;
	/* Writers (configuration) must not starve behind a steady stream of
	 * data-path readers. */
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&dev->cfg_lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	pthread_mutex_init(&dev->index_lock, NULL);
	pthread_mutex_init(&dev->timer_lock, NULL);
	pthread_mutex_init(&dev->hsq_lock, NULL);
	dev->hsq_tail = &dev->hsq_head;
	atomic_init(&dev->log_level, WG_LOG_ERROR);
	atomic_init(&dev->mtu, 1420);
	dev->next_wake = UINT64_MAX;
	list_init(&dev->peers);
	wg_allowedips_init(&dev->allowedips);
	wg_cookie_checker_init(&dev->cookie_checker);
	if (wg_ratelimiter_init(&dev->ratelimiter) || wg_index_init(dev) || wg_pubkey_table_init(dev)) {
		wg_device_free(dev);
		errno = ENOMEM;
		return NULL;
	}
	return dev;
}

void wg_device_free(struct wg_device *dev)
{
	struct wg_hsq_item *item, *next;

	if (!dev)
		return;
	pthread_rwlock_wrlock(&dev->cfg_lock);
	if (dev->peer_buckets)
		wg_peer_remove_all(dev);
	pthread_rwlock_unlock(&dev->cfg_lock);
	for (item = dev->hsq_head; item; item = next) {
		next = item->next;
		free(item);
	}
	wg_allowedips_free(&dev->allowedips);
	wg_ratelimiter_free(&dev->ratelimiter);
	wg_cookie_checker_free(&dev->cookie_checker);
	wg_index_free(dev);
	wg_pubkey_table_free(dev);
	wg_timers_heap_free(dev);
	crypto_wipe(dev->static_private, sizeof(dev->static_private));
	pthread_mutex_destroy(&dev->index_lock);
	pthread_mutex_destroy(&dev->timer_lock);
	pthread_mutex_destroy(&dev->hsq_lock);
	pthread_rwlock_destroy(&dev->cfg_lock);
	free(dev);
}

void wg_device_set_mtu(struct wg_device *dev, uint32_t mtu)
{
	atomic_store(&dev->mtu, mtu);
}

void wg_device_set_log_level(struct wg_device *dev, enum wg_log_level level)
{
	atomic_store(&dev->log_level, (int)level);
}

bool wg_device_is_up(struct wg_device *dev)
{
	bool up;

	pthread_rwlock_rdlock(&dev->cfg_lock);
	up = dev->up;
	pthread_rwlock_unlock(&dev->cfg_lock);
	return up;
}

int wg_device_up(struct wg_device *dev)
{
	struct list *pos;
	int ret = 0;

	pthread_rwlock_wrlock(&dev->cfg_lock);
	if (dev->up)
		goto out;
	ret = dev->ops->bind(dev->io, &dev->listen_port, dev->fwmark);
	if (ret)
		goto out;
	dev->up = true;
	list_for_each(pos, &dev->peers) {
		struct wg_peer *peer = list_entry(pos, struct wg_peer, link);

		pthread_mutex_lock(&peer->lock);
		wg_send_staged(peer);
		if (peer->persistent_keepalive)
			wg_send_keepalive(peer);
		pthread_mutex_unlock(&peer->lock);
	}
out:
	pthread_rwlock_unlock(&dev->cfg_lock);
	return ret;
}

void wg_device_down(struct wg_device *dev)
{
	struct list *pos;
	uint64_t now;

	pthread_rwlock_wrlock(&dev->cfg_lock);
	if (!dev->up)
		goto out;
	now = wg_now(dev);
	list_for_each(pos, &dev->peers) {
		struct wg_peer *peer = list_entry(pos, struct wg_peer, link);

		pthread_mutex_lock(&peer->lock);
		wg_peer_purge_staged(peer);
		wg_timers_stop(peer);
		wg_noise_handshake_clear(peer);
		wg_noise_keypairs_clear(peer);
		peer->last_sent_handshake = now - WG_REKEY_TIMEOUT - NSEC_PER_SEC;
		pthread_mutex_unlock(&peer->lock);
	}
	dev->up = false;
	dev->ops->unbind(dev->io);
out:
	pthread_rwlock_unlock(&dev->cfg_lock);
}

static void set_private_key(struct wg_device *dev, const uint8_t key[WG_KEY_LEN])
{
	uint8_t pub[WG_KEY_LEN], clamped[WG_KEY_LEN];
	struct wg_peer *peer;
	struct list *pos;
	bool had_identity = dev->has_identity;

	memcpy(clamped, key, WG_KEY_LEN);
	if (!crypto_is_zero(clamped, WG_KEY_LEN))
		x25519_clamp(clamped);
	if (had_identity && crypto_equal(clamped, dev->static_private, WG_KEY_LEN))
		goto out;
	/* A peer with our own new public key cannot be a peer. */
	if (x25519_public(pub, clamped) && (peer = wg_pubkey_lookup(dev, pub)))
		wg_peer_remove(peer);
	memcpy(dev->static_private, clamped, WG_KEY_LEN);
	dev->has_identity = x25519_public(dev->static_public, clamped);
	wg_cookie_checker_precompute(dev);
	list_for_each(pos, &dev->peers) {
		peer = list_entry(pos, struct wg_peer, link);
		pthread_mutex_lock(&peer->lock);
		wg_noise_precompute_static_static(dev, peer);
		wg_noise_expire_current_keypairs(peer);
		if (!had_identity && dev->has_identity && dev->up)
			wg_send_staged(peer);
		pthread_mutex_unlock(&peer->lock);
	}
out:
	crypto_wipe(clamped, sizeof(clamped));
}

static void set_peer(struct wg_device *dev, const struct wg_config_peer *c)
{
	struct wg_peer *peer = wg_pubkey_lookup(dev, c->public_key);
	const struct wg_config_ip *ip;
	bool send_keepalive = false;

	if (c->flags & WG_PEER_REMOVE_ME) {
		if (peer)
			wg_peer_remove(peer);
		return;
	}
	/* A peer with the device's own key is ignored, quietly, so that one
	 * configuration can be handed to every member of a mesh. */
	if (dev->has_identity && crypto_equal(c->public_key, dev->static_public, WG_KEY_LEN))
		return;
	if (!peer) {
		if (c->flags & WG_PEER_UPDATE_ONLY)
			return;
		peer = wg_peer_create(dev, c->public_key);
		if (!peer)
			return;
	}
	pthread_mutex_lock(&peer->lock);
	if (c->flags & WG_PEER_HAS_PRESHARED_KEY)
		memcpy(peer->handshake.preshared_key, c->preshared_key, WG_KEY_LEN);
	if (c->flags & WG_PEER_HAS_ENDPOINT) {
		struct wg_endpoint ep;

		memset(&ep, 0, sizeof(ep));
		memcpy(&ep.addr, &c->endpoint, sizeof(ep.addr));
		wg_peer_set_endpoint(peer, &ep);
	}
	if (c->flags & WG_PEER_REPLACE_ALLOWEDIPS)
		wg_allowedips_remove_owner(&dev->allowedips, &peer->allowedips);
	for (ip = c->first_ip; ip; ip = ip->next)
		wg_allowedips_insert(&dev->allowedips, ip->family, &ip->ip6, ip->cidr, &peer->allowedips);
	if (c->flags & WG_PEER_HAS_PERSISTENT_KEEPALIVE) {
		send_keepalive = !peer->persistent_keepalive && c->persistent_keepalive && dev->up;
		peer->persistent_keepalive = c->persistent_keepalive;
	}
	if (send_keepalive)
		wg_send_keepalive(peer);
	if (dev->up)
		wg_send_staged(peer);
	pthread_mutex_unlock(&peer->lock);
}

/* Everything that can fail for a reason other than memory, checked before
 * anything changes. */
static int validate(struct wg_device *dev, const struct wg_config *cfg)
{
	size_t added = 0;

	for (const struct wg_config_peer *c = cfg->first_peer; c; c = c->next) {
		if (c->flags & WG_PEER_HAS_ENDPOINT && c->endpoint.sa.sa_family != AF_INET &&
		    c->endpoint.sa.sa_family != AF_INET6)
			return -EINVAL;
		for (const struct wg_config_ip *ip = c->first_ip; ip; ip = ip->next)
			if ((ip->family != AF_INET || ip->cidr > 32) && (ip->family != AF_INET6 || ip->cidr > 128))
				return -EINVAL;
		if (!(c->flags & (WG_PEER_REMOVE_ME | WG_PEER_UPDATE_ONLY)) &&
		    ((cfg->flags & WG_DEV_REPLACE_PEERS) || !wg_pubkey_lookup(dev, c->public_key)))
			++added;
	}
	if ((cfg->flags & WG_DEV_REPLACE_PEERS ? 0 : dev->npeers) + added > WG_MAX_PEERS)
		return -ENOSPC;
	return 0;
}

int wg_device_set(struct wg_device *dev, const struct wg_config *cfg)
{
	int ret;

	pthread_rwlock_wrlock(&dev->cfg_lock);
	ret = validate(dev, cfg);
	if (ret)
		goto out;
	/* The socket is the one thing outside our control that can refuse; it
	 * goes first, and replaces the old one only when the new one works. */
	if ((cfg->flags & WG_DEV_HAS_LISTEN_PORT && cfg->listen_port != dev->listen_port) ||
	    (cfg->flags & WG_DEV_HAS_FWMARK && cfg->fwmark != dev->fwmark)) {
		uint16_t port = cfg->flags & WG_DEV_HAS_LISTEN_PORT ? cfg->listen_port : dev->listen_port;
		uint32_t fwmark = cfg->flags & WG_DEV_HAS_FWMARK ? cfg->fwmark : dev->fwmark;

		if (dev->up) {
			ret = dev->ops->bind(dev->io, &port, fwmark);
			if (ret)
				goto out;
		}
		dev->listen_port = port;
		if (fwmark != dev->fwmark) {
			struct list *pos;

			dev->fwmark = fwmark;
			list_for_each(pos, &dev->peers) {
				struct wg_peer *peer = list_entry(pos, struct wg_peer, link);

				pthread_mutex_lock(&peer->lock);
				wg_peer_clear_endpoint_src(peer);
				pthread_mutex_unlock(&peer->lock);
			}
		}
	}
	if (cfg->flags & WG_DEV_REPLACE_PEERS)
		wg_peer_remove_all(dev);
	if (cfg->flags & WG_DEV_HAS_PRIVATE_KEY)
		set_private_key(dev, cfg->private_key);
	for (const struct wg_config_peer *c = cfg->first_peer; c; c = c->next)
		set_peer(dev, c);
out:
	pthread_rwlock_unlock(&dev->cfg_lock);
	return ret;
}

static int add_ip(void *ctx, int family, const uint8_t *addr, uint8_t cidr)
{
	return wg_config_add_ip(ctx, family, addr, cidr) ? 0 : -ENOMEM;
}

struct wg_config *wg_device_get(struct wg_device *dev)
{
	struct wg_config *cfg = wg_config_new();
	struct list *pos;

	if (!cfg)
		return NULL;
	pthread_rwlock_rdlock(&dev->cfg_lock);
	if (dev->has_identity) {
		cfg->flags |= WG_DEV_HAS_PRIVATE_KEY | WG_DEV_HAS_PUBLIC_KEY;
		memcpy(cfg->private_key, dev->static_private, WG_KEY_LEN);
		memcpy(cfg->public_key, dev->static_public, WG_KEY_LEN);
	}
	cfg->flags |= WG_DEV_HAS_LISTEN_PORT | WG_DEV_HAS_FWMARK;
	cfg->listen_port = dev->listen_port;
	cfg->fwmark = dev->fwmark;
	list_for_each(pos, &dev->peers) {
		struct wg_peer *peer = list_entry(pos, struct wg_peer, link);
		struct wg_config_peer *c = wg_config_add_peer(cfg);

		if (!c)
			goto fail;
		pthread_mutex_lock(&peer->lock);
		memcpy(c->public_key, peer->handshake.remote_static, WG_KEY_LEN);
		memcpy(c->preshared_key, peer->handshake.preshared_key, WG_KEY_LEN);
		c->flags = WG_PEER_HAS_PRESHARED_KEY | WG_PEER_HAS_PERSISTENT_KEEPALIVE;
		if (peer->has_endpoint) {
			c->flags |= WG_PEER_HAS_ENDPOINT;
			memcpy(&c->endpoint, &peer->endpoint.addr, sizeof(c->endpoint));
		}
		c->persistent_keepalive = peer->persistent_keepalive;
		c->last_handshake = peer->last_handshake_wall;
		pthread_mutex_unlock(&peer->lock);
		c->rx_bytes = atomic_load(&peer->rx_bytes);
		c->tx_bytes = atomic_load(&peer->tx_bytes);
		if (wg_allowedips_walk_owner(&peer->allowedips, add_ip, c))
			goto fail;
	}
	pthread_rwlock_unlock(&dev->cfg_lock);
	return cfg;
fail:
	pthread_rwlock_unlock(&dev->cfg_lock);
	wg_config_free(cfg);
	errno = ENOMEM;
	return NULL;
}

uint64_t wg_device_work(struct wg_device *dev)
{
	uint64_t next;

	/* Handshakes in slices, so that a flood cannot hold off a
	 * configuration change for long. */
	for (;;) {
		unsigned done;

		pthread_rwlock_rdlock(&dev->cfg_lock);
		done = wg_receive_handshakes(dev, 32);
		pthread_rwlock_unlock(&dev->cfg_lock);
		if (done < 32)
			break;
	}
	pthread_rwlock_rdlock(&dev->cfg_lock);
	next = wg_timers_run(dev, wg_now(dev));
	pthread_rwlock_unlock(&dev->cfg_lock);
	if (atomic_load(&dev->hsq_len))
		next = 0;
	return next;
}

void wg_device_get_stats(struct wg_device *dev, struct wg_device_stats *st)
{
	st->rx_dropped = atomic_load(&dev->rx_dropped);
	st->tx_dropped = atomic_load(&dev->tx_dropped);
	st->rx_errors = atomic_load(&dev->rx_errors);
	st->tx_errors = atomic_load(&dev->tx_errors);
	st->handshakes_queued = atomic_load(&dev->hsq_len);
}
