// SPDX-License-Identifier: MIT
/* The two hash tables: receiver index -> handshake or session, and public
 * key -> peer. */
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "crypto/crypto.h"

/* Indices are random, so their low bits already spread well. */
static size_t index_slot(const struct wg_device *dev, uint32_t index)
{
	return index & (dev->nindex_buckets - 1);
}

int wg_index_init(struct wg_device *dev)
{
	dev->nindex_buckets = 256;
	dev->nindices = 0;
	dev->index_buckets = calloc(dev->nindex_buckets, sizeof(*dev->index_buckets));
	return dev->index_buckets ? 0 : -ENOMEM;
}

void wg_index_free(struct wg_device *dev)
{
	free(dev->index_buckets);
	dev->index_buckets = NULL;
}

static struct wg_index_entry *find(struct wg_device *dev, uint32_t index)
{
	struct wg_index_entry *e;

	for (e = dev->index_buckets[index_slot(dev, index)]; e; e = e->next)
		if (e->index == index)
			return e;
	return NULL;
}

static void unlink_entry(struct wg_device *dev, struct wg_index_entry *entry)
{
	struct wg_index_entry **pp = &dev->index_buckets[index_slot(dev, entry->index)];

	for (; *pp; pp = &(*pp)->next) {
		if (*pp == entry) {
			*pp = entry->next;
			--dev->nindices;
			break;
		}
	}
	entry->next = NULL;
	entry->index = 0;
}

static void link_entry(struct wg_device *dev, struct wg_index_entry *entry)
{
	size_t slot = index_slot(dev, entry->index);

	entry->next = dev->index_buckets[slot];
	dev->index_buckets[slot] = entry;
	++dev->nindices;
}

static void grow(struct wg_device *dev)
{
	size_t old_n = dev->nindex_buckets;
	struct wg_index_entry **old = dev->index_buckets, **fresh;

	fresh = calloc(old_n * 2, sizeof(*fresh));
	if (!fresh)
		return; /* chains just get longer */
	dev->index_buckets = fresh;
	dev->nindex_buckets = old_n * 2;
	dev->nindices = 0;
	for (size_t i = 0; i < old_n; ++i) {
		struct wg_index_entry *e = old[i], *next;

		for (; e; e = next) {
			next = e->next;
			link_entry(dev, e);
		}
	}
	free(old);
}

int wg_index_insert(struct wg_device *dev, struct wg_index_entry *entry)
{
	uint32_t index;

	pthread_mutex_lock(&dev->index_lock);
	if (entry->index)
		unlink_entry(dev, entry);
	if (dev->nindices >= dev->nindex_buckets)
		grow(dev);
	/* Random, never a counter: indices must not reveal how many sessions
	 * exist or let an observer link them. 0 means "none". */
	do
		index = crypto_random_u32();
	while (!index || find(dev, index));
	entry->index = index;
	link_entry(dev, entry);
	pthread_mutex_unlock(&dev->index_lock);
	return 0;
}

void wg_index_replace(struct wg_device *dev, struct wg_index_entry *old, struct wg_index_entry *new)
{
	pthread_mutex_lock(&dev->index_lock);
	if (new->index)
		unlink_entry(dev, new);
	if (old->index) {
		uint32_t index = old->index;

		unlink_entry(dev, old);
		new->index = index;
		link_entry(dev, new);
	}
	pthread_mutex_unlock(&dev->index_lock);
}

void wg_index_remove(struct wg_device *dev, struct wg_index_entry *entry)
{
	pthread_mutex_lock(&dev->index_lock);
	if (entry->index)
		unlink_entry(dev, entry);
	pthread_mutex_unlock(&dev->index_lock);
}

struct wg_peer *wg_index_lookup_handshake(struct wg_device *dev, uint32_t index)
{
	struct wg_index_entry *e;
	struct wg_peer *peer = NULL;

	pthread_mutex_lock(&dev->index_lock);
	e = find(dev, index);
	if (e && !e->keypair)
		peer = e->peer;
	pthread_mutex_unlock(&dev->index_lock);
	return peer;
}

struct wg_peer *wg_index_lookup_peer(struct wg_device *dev, uint32_t index)
{
	struct wg_index_entry *e;
	struct wg_peer *peer = NULL;

	pthread_mutex_lock(&dev->index_lock);
	e = find(dev, index);
	if (e)
		peer = e->peer;
	pthread_mutex_unlock(&dev->index_lock);
	return peer;
}

struct wg_keypair *wg_index_lookup_keypair(struct wg_device *dev, uint32_t index)
{
	struct wg_index_entry *e;
	struct wg_keypair *kp = NULL;

	pthread_mutex_lock(&dev->index_lock);
	e = find(dev, index);
	if (e && e->keypair)
		kp = wg_keypair_get(e->keypair);
	pthread_mutex_unlock(&dev->index_lock);
	return kp;
}

/* Public keys are chosen by whoever configures peers, so hash them with a
 * secret key (SipHash) rather than trusting their bits. */
static size_t key_slot(const struct wg_device *dev, const uint8_t key[WG_KEY_LEN])
{
	uint64_t h;

	crypto_shorthash((unsigned char *)&h, key, WG_KEY_LEN, dev->peer_hash_key);
	return h & (dev->npeer_buckets - 1);
}

int wg_pubkey_table_init(struct wg_device *dev)
{
	dev->npeer_buckets = 64;
	dev->peer_buckets = calloc(dev->npeer_buckets, sizeof(*dev->peer_buckets));
	crypto_random(dev->peer_hash_key, sizeof(dev->peer_hash_key));
	return dev->peer_buckets ? 0 : -ENOMEM;
}

void wg_pubkey_table_free(struct wg_device *dev)
{
	free(dev->peer_buckets);
	dev->peer_buckets = NULL;
}

struct wg_peer *wg_pubkey_lookup(struct wg_device *dev, const uint8_t key[WG_KEY_LEN])
{
	struct wg_peer *p;

	for (p = dev->peer_buckets[key_slot(dev, key)]; p; p = p->hash_next)
		if (crypto_equal(p->handshake.remote_static, key, WG_KEY_LEN))
			return p;
	return NULL;
}

int wg_pubkey_insert(struct wg_device *dev, struct wg_peer *peer)
{
	size_t slot;

	if (dev->npeers >= dev->npeer_buckets) {
		size_t n = dev->npeer_buckets * 2;
		struct wg_peer **fresh = calloc(n, sizeof(*fresh)), **old = dev->peer_buckets;
		size_t old_n = dev->npeer_buckets;

		if (fresh) {
			dev->peer_buckets = fresh;
			dev->npeer_buckets = n;
			for (size_t i = 0; i < old_n; ++i) {
				struct wg_peer *p = old[i], *next;

				for (; p; p = next) {
					next = p->hash_next;
					slot = key_slot(dev, p->handshake.remote_static);
					p->hash_next = fresh[slot];
					fresh[slot] = p;
				}
			}
			free(old);
		}
	}
	slot = key_slot(dev, peer->handshake.remote_static);
	peer->hash_next = dev->peer_buckets[slot];
	dev->peer_buckets[slot] = peer;
	return 0;
}

void wg_pubkey_remove(struct wg_device *dev, struct wg_peer *peer)
{
	struct wg_peer **pp = &dev->peer_buckets[key_slot(dev, peer->handshake.remote_static)];

	for (; *pp; pp = &(*pp)->hash_next) {
		if (*pp == peer) {
			*pp = peer->hash_next;
			break;
		}
	}
	peer->hash_next = NULL;
}
