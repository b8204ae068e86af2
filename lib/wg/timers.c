// SPDX-License-Identifier: MIT
/*
 * The per-peer timers of whitepaper section 6, driven only through the event
 * hooks below, each documented with when it must be called (peer->lock
 * held). Deadlines are CLOCK_BOOTTIME nanoseconds from the device's clock,
 * so tests can run them on an injected one.
 *
 *   retransmit_handshake  REKEY_TIMEOUT (+jitter) after an initiation:
 *                         resend, up to MAX_TIMER_HANDSHAKES times.
 *   send_keepalive        KEEPALIVE_TIMEOUT after data arrived with
 *                         nothing sent back: send an empty packet.
 *   new_handshake         KEEPALIVE_TIMEOUT + REKEY_TIMEOUT (+jitter) after
 *                         data was sent with nothing heard back: rekey.
 *   zero_key_material     3 * REJECT_AFTER_TIME after the last session was
 *                         made: wipe every key.
 *   persistent_keepalive  the configured interval after any authenticated
 *                         packet: send an empty packet.
 *
 * The device keeps its peers in a binary min-heap by earliest deadline, so
 * a pass over expired timers costs O(log n) per due peer, not O(peers).
 */
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "crypto/crypto.h"

static uint64_t jitter(void)
{
	return crypto_random_below((uint32_t)WG_REKEY_TIMEOUT_JITTER_MAX);
}

static bool heap_less(const struct wg_peer *a, const struct wg_peer *b)
{
	return a->heap_key < b->heap_key;
}

static void heap_set(struct wg_device *dev, size_t i, struct wg_peer *p)
{
	dev->heap[i] = p;
	p->heap_index = i;
}

static void sift_up(struct wg_device *dev, size_t i)
{
	struct wg_peer *p = dev->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (!heap_less(p, dev->heap[parent]))
			break;
		heap_set(dev, i, dev->heap[parent]);
		i = parent;
	}
	heap_set(dev, i, p);
}

static void sift_down(struct wg_device *dev, size_t i)
{
	struct wg_peer *p = dev->heap[i];

	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		struct wg_peer *best = p;

		if (l < dev->heap_len && heap_less(dev->heap[l], best)) {
			m = l;
			best = dev->heap[l];
		}
		if (r < dev->heap_len && heap_less(dev->heap[r], best)) {
			m = r;
			best = dev->heap[r];
		}
		if (m == i)
			break;
		heap_set(dev, i, best);
		i = m;
	}
	heap_set(dev, i, p);
}

static void heap_remove(struct wg_device *dev, struct wg_peer *p)
{
	size_t i = p->heap_index;

	if (i == SIZE_MAX)
		return;
	p->heap_index = SIZE_MAX;
	if (--dev->heap_len == i)
		return;
	heap_set(dev, i, dev->heap[dev->heap_len]);
	sift_down(dev, i);
	sift_up(dev, dev->heap[i]->heap_index);
}

/* Re-files the peer under its earliest deadline, and wakes the host if
 * that is sooner than the deadline it is sleeping towards. */
static void reschedule(struct wg_peer *peer)
{
	struct wg_device *dev = peer->dev;
	uint64_t key = UINT64_MAX;
	bool wake = false;

	for (int i = 0; i < TIMER_COUNT; ++i)
		if (peer->timer[i] && peer->timer[i] < key)
			key = peer->timer[i];

	pthread_mutex_lock(&dev->timer_lock);
	if (key == UINT64_MAX) {
		heap_remove(dev, peer);
	} else if (peer->heap_index == SIZE_MAX) {
		if (dev->heap_len == dev->heap_cap) {
			size_t cap = dev->heap_cap ? dev->heap_cap * 2 : 16;
			struct wg_peer **h = realloc(dev->heap, cap * sizeof(*h));

			if (!h) {
				pthread_mutex_unlock(&dev->timer_lock);
				return;
			}
			dev->heap = h;
			dev->heap_cap = cap;
		}
		peer->heap_key = key;
		heap_set(dev, dev->heap_len++, peer);
		sift_up(dev, peer->heap_index);
	} else if (key != peer->heap_key) {
		bool earlier = key < peer->heap_key;

		peer->heap_key = key;
		if (earlier)
			sift_up(dev, peer->heap_index);
		else
			sift_down(dev, peer->heap_index);
	}
	if (key < dev->next_wake) {
		dev->next_wake = key;
		wake = true;
	}
	pthread_mutex_unlock(&dev->timer_lock);
	if (wake)
		dev->ops->wake(dev->io);
}

/* Timers only run while the interface is up. */
static void mod_timer(struct wg_peer *peer, enum wg_timer t, uint64_t deadline)
{
	if (!peer->dev->up)
		return;
	peer->timer[t] = deadline ? deadline : 1;
	reschedule(peer);
}

static void del_timer(struct wg_peer *peer, enum wg_timer t)
{
	if (!peer->timer[t])
		return;
	peer->timer[t] = 0;
	reschedule(peer);
}

static bool pending(const struct wg_peer *peer, enum wg_timer t)
{
	return peer->timer[t] != 0;
}

void wg_timers_init(struct wg_peer *peer)
{
	memset(peer->timer, 0, sizeof(peer->timer));
	peer->heap_index = SIZE_MAX;
	peer->heap_key = UINT64_MAX;
	peer->handshake_attempts = 0;
	peer->need_another_keepalive = false;
	peer->sent_lastminute_handshake = false;
}

void wg_timers_stop(struct wg_peer *peer)
{
	memset(peer->timer, 0, sizeof(peer->timer));
	reschedule(peer);
	peer->need_another_keepalive = false;
}

/* After an authenticated data packet is sent. */
void wg_timers_data_sent(struct wg_peer *peer, uint64_t now)
{
	if (!pending(peer, TIMER_NEW_HANDSHAKE))
		mod_timer(peer, TIMER_NEW_HANDSHAKE,
			  now + WG_KEEPALIVE_TIMEOUT + WG_REKEY_TIMEOUT + jitter());
}

/* After an authenticated data packet is received. */
void wg_timers_data_received(struct wg_peer *peer, uint64_t now)
{
	if (!pending(peer, TIMER_SEND_KEEPALIVE))
		mod_timer(peer, TIMER_SEND_KEEPALIVE, now + WG_KEEPALIVE_TIMEOUT);
	else
		peer->need_another_keepalive = true;
}

/* After any authenticated packet is sent: data, keepalive or handshake. */
void wg_timers_any_authenticated_packet_sent(struct wg_peer *peer)
{
	del_timer(peer, TIMER_SEND_KEEPALIVE);
}

/* After any authenticated packet is received: data, keepalive or handshake. */
void wg_timers_any_authenticated_packet_received(struct wg_peer *peer)
{
	del_timer(peer, TIMER_NEW_HANDSHAKE);
}

/* After a handshake initiation is sent. */
void wg_timers_handshake_initiated(struct wg_peer *peer, uint64_t now)
{
	mod_timer(peer, TIMER_RETRANSMIT_HANDSHAKE, now + WG_REKEY_TIMEOUT + jitter());
}

/* After a handshake response is consumed, or the first data packet of a
 * session we responded to arrives (key confirmation). */
void wg_timers_handshake_complete(struct wg_peer *peer)
{
	del_timer(peer, TIMER_RETRANSMIT_HANDSHAKE);
	peer->handshake_attempts = 0;
	peer->sent_lastminute_handshake = false;
	peer->dev->ops->walltime(peer->dev->io, &peer->last_handshake_wall);
}

/* After a session is derived: before sending a response, or after
 * consuming one. */
void wg_timers_session_derived(struct wg_peer *peer, uint64_t now)
{
	mod_timer(peer, TIMER_ZERO_KEY_MATERIAL, now + 3 * WG_REJECT_AFTER_TIME);
}

/* Before any authenticated packet is sent, and after one is received. */
void wg_timers_any_authenticated_packet_traversal(struct wg_peer *peer, uint64_t now)
{
	if (peer->persistent_keepalive)
		mod_timer(peer, TIMER_PERSISTENT_KEEPALIVE,
			  now + (uint64_t)peer->persistent_keepalive * NSEC_PER_SEC);
}

static void expired_retransmit_handshake(struct wg_peer *peer, uint64_t now)
{
	struct wg_device *dev = peer->dev;

	if (peer->handshake_attempts > WG_MAX_TIMER_HANDSHAKES) {
		wg_log(dev, WG_LOG_VERBOSE, "%s - Handshake did not complete after %u attempts, giving up",
		       peer->name, (unsigned)WG_MAX_TIMER_HANDSHAKES + 2);
		del_timer(peer, TIMER_SEND_KEEPALIVE);
		/* Drop what waited for a session that will not come, and wipe
		 * the remains of the attempt in a while. */
		wg_peer_purge_staged(peer);
		if (!pending(peer, TIMER_ZERO_KEY_MATERIAL))
			mod_timer(peer, TIMER_ZERO_KEY_MATERIAL, now + 3 * WG_REJECT_AFTER_TIME);
	} else {
		++peer->handshake_attempts;
		wg_log(dev, WG_LOG_VERBOSE,
		       "%s - Handshake did not complete after %llu seconds, retrying (try %u)", peer->name,
		       (unsigned long long)(WG_REKEY_TIMEOUT / NSEC_PER_SEC), peer->handshake_attempts + 1);
		/* The source address we reply from may be the trouble. */
		wg_peer_clear_endpoint_src(peer);
		wg_send_handshake_initiation(peer, true);
	}
}

static void expired_send_keepalive(struct wg_peer *peer, uint64_t now)
{
	wg_send_keepalive(peer);
	if (peer->need_another_keepalive) {
		peer->need_another_keepalive = false;
		mod_timer(peer, TIMER_SEND_KEEPALIVE, now + WG_KEEPALIVE_TIMEOUT);
	}
}

static void expired_new_handshake(struct wg_peer *peer, uint64_t now)
{
	wg_log(peer->dev, WG_LOG_VERBOSE,
	       "%s - Retrying handshake because we stopped hearing back after %llu seconds", peer->name,
	       (unsigned long long)((WG_KEEPALIVE_TIMEOUT + WG_REKEY_TIMEOUT) / NSEC_PER_SEC));
	wg_peer_clear_endpoint_src(peer);
	wg_send_handshake_initiation(peer, false);
}

static void expired_zero_key_material(struct wg_peer *peer, uint64_t now)
{
	wg_log(peer->dev, WG_LOG_VERBOSE, "%s - Zeroing out all keys for peer after %llu seconds",
	       peer->name, (unsigned long long)(3 * WG_REJECT_AFTER_TIME / NSEC_PER_SEC));
	wg_noise_handshake_clear(peer);
	wg_noise_keypairs_clear(peer);
}

static void expired_persistent_keepalive(struct wg_peer *peer, uint64_t now)
{
	if (peer->persistent_keepalive)
		wg_send_keepalive(peer);
}

static void (*const expired[TIMER_COUNT])(struct wg_peer *, uint64_t) = {
	[TIMER_RETRANSMIT_HANDSHAKE] = expired_retransmit_handshake,
	[TIMER_SEND_KEEPALIVE] = expired_send_keepalive,
	[TIMER_NEW_HANDSHAKE] = expired_new_handshake,
	[TIMER_ZERO_KEY_MATERIAL] = expired_zero_key_material,
	[TIMER_PERSISTENT_KEEPALIVE] = expired_persistent_keepalive,
};

uint64_t wg_timers_run(struct wg_device *dev, uint64_t now)
{
	struct wg_peer *due[64];
	size_t n;
	uint64_t next;

	/* Rescheduling below must not wake the host: we report the next
	 * deadline ourselves when done. */
	pthread_mutex_lock(&dev->timer_lock);
	dev->next_wake = 0;
	pthread_mutex_unlock(&dev->timer_lock);
	do {
		/* Take a handful of due peers off the heap, then run them with
		 * only their own lock held. */
		n = 0;
		pthread_mutex_lock(&dev->timer_lock);
		while (n < 64 && dev->heap_len && dev->heap[0]->heap_key <= now) {
			due[n] = dev->heap[0];
			heap_remove(dev, due[n]);
			due[n]->heap_key = UINT64_MAX;
			++n;
		}
		pthread_mutex_unlock(&dev->timer_lock);
		for (size_t i = 0; i < n; ++i) {
			struct wg_peer *peer = due[i];

			pthread_mutex_lock(&peer->lock);
			for (int t = 0; t < TIMER_COUNT; ++t) {
				if (peer->timer[t] && peer->timer[t] <= now) {
					peer->timer[t] = 0;
					expired[t](peer, now);
				}
			}
			reschedule(peer);
			pthread_mutex_unlock(&peer->lock);
		}
	} while (n == 64);

	pthread_mutex_lock(&dev->timer_lock);
	next = dev->heap_len ? dev->heap[0]->heap_key : UINT64_MAX;
	dev->next_wake = next;
	pthread_mutex_unlock(&dev->timer_lock);
	return next;
}

void wg_timers_heap_free(struct wg_device *dev)
{
	free(dev->heap);
	dev->heap = NULL;
	dev->heap_len = dev->heap_cap = 0;
}
