/* SPDX-License-Identifier: MIT */
/*
 * Per-source token buckets for handshake initiations under load: 20 per
 * second with a burst of 5, keyed by the IPv4 address or the IPv6 /64.
 * Thread-safe.
 */
#ifndef WEFT_WG_RATELIMITER_H
#define WEFT_WG_RATELIMITER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

enum {
	WG_RATELIMIT_PER_SECOND = 20,
	WG_RATELIMIT_BURST = 5,
	WG_RATELIMIT_MAX_ENTRIES = 8192,
};

struct wg_rl_entry;

struct wg_ratelimiter {
	pthread_mutex_t lock;
	struct wg_rl_entry **buckets;
	size_t nbuckets, count;
	uint64_t last_gc;
	uint8_t hash_key[16];
};

int wg_ratelimiter_init(struct wg_ratelimiter *rl);
void wg_ratelimiter_free(struct wg_ratelimiter *rl);
/* sa: the source address (AF_INET or AF_INET6). now: monotonic ns. */
bool wg_ratelimiter_allow(struct wg_ratelimiter *rl, const struct sockaddr *sa, uint64_t now);
size_t wg_ratelimiter_count(struct wg_ratelimiter *rl);

#endif
