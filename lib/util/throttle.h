/* SPDX-License-Identifier: MIT */
/*
 * Slowing down whoever keeps failing: a leaky bucket per key (a source
 * address). Each failure adds one; the level leaks one every leak_ms; a
 * key whose level is above burst waits until it is back there. Bounded in
 * memory: when the table is full, the key with the lowest level gives its
 * place. The clock is the caller's (milliseconds), so it can be tested.
 */
#ifndef WEFT_THROTTLE_H
#define WEFT_THROTTLE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct throttle_entry {
	char key[48]; /* an address as text; "" for a free slot */
	double level;
	int64_t at; /* when level was last brought up to date */
};

struct throttle {
	pthread_mutex_t lock;
	struct throttle_entry *e;
	size_t cap;
	unsigned burst;
	int64_t leak_ms;
};

/* 0, or -ENOMEM. */
int throttle_init(struct throttle *t, size_t cap, unsigned burst, int64_t leak_ms);
void throttle_free(struct throttle *t);
/* How long key must wait before it may try (ms); 0: it may now. */
int64_t throttle_wait(struct throttle *t, const char *key, int64_t now_ms);
/* key failed once more. */
void throttle_fail(struct throttle *t, const char *key, int64_t now_ms);

#endif
