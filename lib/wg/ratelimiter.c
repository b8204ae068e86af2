// SPDX-License-Identifier: MIT
#include "ratelimiter.h"

#include <errno.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "messages.h"

#define PACKET_COST (NSEC_PER_SEC / WG_RATELIMIT_PER_SECOND)
#define TOKEN_MAX (PACKET_COST * WG_RATELIMIT_BURST)
/* An entry untouched this long has a full bucket again and can go. */
#define IDLE_EXPIRY NSEC_PER_SEC

struct wg_rl_entry {
	struct wg_rl_entry *next;
	uint64_t last;
	uint64_t tokens;
	uint8_t family;
	uint8_t ip[8]; /* IPv4 address, or the IPv6 /64 */
};

int wg_ratelimiter_init(struct wg_ratelimiter *rl)
{
	memset(rl, 0, sizeof(*rl));
	rl->nbuckets = 1024;
	rl->buckets = calloc(rl->nbuckets, sizeof(*rl->buckets));
	if (!rl->buckets)
		return -ENOMEM;
	crypto_random(rl->hash_key, sizeof(rl->hash_key));
	pthread_mutex_init(&rl->lock, NULL);
	return 0;
}

static void drop_where(struct wg_ratelimiter *rl, uint64_t now, bool all)
{
	for (size_t i = 0; i < rl->nbuckets; ++i) {
		struct wg_rl_entry **pp = &rl->buckets[i], *e;

		while ((e = *pp)) {
			if (all || now - e->last > IDLE_EXPIRY) {
				*pp = e->next;
				free(e);
				--rl->count;
			} else {
				pp = &e->next;
			}
		}
	}
}

void wg_ratelimiter_free(struct wg_ratelimiter *rl)
{
	if (!rl->buckets)
		return;
	drop_where(rl, 0, true);
	free(rl->buckets);
	rl->buckets = NULL;
	pthread_mutex_destroy(&rl->lock);
}

bool wg_ratelimiter_allow(struct wg_ratelimiter *rl, const struct sockaddr *sa, uint64_t now)
{
	uint8_t ip[8] = { 0 }, family;
	uint64_t h;
	struct wg_rl_entry *e;
	bool ok = false;

	if (sa->sa_family == AF_INET) {
		memcpy(ip, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		family = 4;
	} else if (sa->sa_family == AF_INET6) {
		memcpy(ip, &((const struct sockaddr_in6 *)sa)->sin6_addr, 8);
		family = 6;
	} else {
		return false;
	}
	crypto_shorthash((unsigned char *)&h, ip, sizeof(ip), rl->hash_key);
	h ^= family;

	pthread_mutex_lock(&rl->lock);
	if (now - rl->last_gc > NSEC_PER_SEC) {
		drop_where(rl, now, false);
		rl->last_gc = now;
	}
	for (e = rl->buckets[h % rl->nbuckets]; e; e = e->next)
		if (e->family == family && !memcmp(e->ip, ip, sizeof(ip)))
			break;
	if (e) {
		uint64_t tokens = e->tokens + (now - e->last);

		e->last = now;
		if (tokens > TOKEN_MAX)
			tokens = TOKEN_MAX;
		ok = tokens >= PACKET_COST;
		e->tokens = ok ? tokens - PACKET_COST : tokens;
	} else if (rl->count < WG_RATELIMIT_MAX_ENTRIES && (e = calloc(1, sizeof(*e)))) {
		e->family = family;
		memcpy(e->ip, ip, sizeof(ip));
		e->last = now;
		e->tokens = TOKEN_MAX - PACKET_COST;
		e->next = rl->buckets[h % rl->nbuckets];
		rl->buckets[h % rl->nbuckets] = e;
		++rl->count;
		ok = true;
	}
	pthread_mutex_unlock(&rl->lock);
	return ok;
}

size_t wg_ratelimiter_count(struct wg_ratelimiter *rl)
{
	size_t n;

	pthread_mutex_lock(&rl->lock);
	n = rl->count;
	pthread_mutex_unlock(&rl->lock);
	return n;
}
