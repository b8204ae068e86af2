/* SPDX-License-Identifier: MIT */
/*
 * The receive-side nonce window (RFC 6479's bitmap scheme): accepts each
 * counter at most once, and none older than WG_COUNTER_WINDOW_SIZE behind
 * the greatest seen. Call only for packets that authenticated.
 */
#ifndef WEFT_WG_REPLAY_H
#define WEFT_WG_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#include "messages.h"

struct wg_replay {
	uint64_t next; /* one past the greatest accepted counter */
	uint64_t bitmap[WG_COUNTER_BITS_TOTAL / 64];
};

void wg_replay_init(struct wg_replay *r);
bool wg_replay_check(struct wg_replay *r, uint64_t counter);

#endif
