// SPDX-License-Identifier: MIT
#include "throttle.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int throttle_init(struct throttle *t, size_t cap, unsigned burst, int64_t leak_ms)
{
	memset(t, 0, sizeof(*t));
	t->e = calloc(cap, sizeof(*t->e));
	if (!t->e)
		return -ENOMEM;
	t->cap = cap;
	t->burst = burst;
	t->leak_ms = leak_ms > 0 ? leak_ms : 1;
	pthread_mutex_init(&t->lock, NULL);
	return 0;
}

void throttle_free(struct throttle *t)
{
	if (!t->e)
		return;
	pthread_mutex_destroy(&t->lock);
	free(t->e);
	t->e = NULL;
}

/* e's level at now. */
static double level(const struct throttle *t, const struct throttle_entry *e, int64_t now)
{
	double l = e->level - (double)(now - e->at) / (double)t->leak_ms;

	return l > 0 ? l : 0;
}

static struct throttle_entry *find(struct throttle *t, const char *key)
{
	for (size_t i = 0; i < t->cap; ++i)
		if (t->e[i].key[0] && !strncmp(t->e[i].key, key, sizeof(t->e[i].key) - 1))
			return &t->e[i];
	return NULL;
}

int64_t throttle_wait(struct throttle *t, const char *key, int64_t now_ms)
{
	struct throttle_entry *e;
	int64_t wait = 0;
	double l;

	pthread_mutex_lock(&t->lock);
	if ((e = find(t, key)) && (l = level(t, e, now_ms)) > t->burst)
		wait = (int64_t)((l - t->burst) * (double)t->leak_ms) + 1;
	pthread_mutex_unlock(&t->lock);
	return wait;
}

void throttle_fail(struct throttle *t, const char *key, int64_t now_ms)
{
	struct throttle_entry *e;

	pthread_mutex_lock(&t->lock);
	if (!(e = find(t, key))) {
		/* A free slot, else the one that has forgiven the most. */
		struct throttle_entry *low = NULL;
		double lowest = 0;

		for (size_t i = 0; i < t->cap; ++i) {
			double l = t->e[i].key[0] ? level(t, &t->e[i], now_ms) : -1;

			if (!low || l < lowest) {
				low = &t->e[i];
				lowest = l;
			}
		}
		if (!low) { /* no table at all */
			pthread_mutex_unlock(&t->lock);
			return;
		}
		e = low;
		snprintf(e->key, sizeof(e->key), "%s", key);
		e->level = 0;
		e->at = now_ms;
	}
	e->level = level(t, e, now_ms) + 1;
	e->at = now_ms;
	pthread_mutex_unlock(&t->lock);
}
