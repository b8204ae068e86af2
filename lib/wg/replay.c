// SPDX-License-Identifier: MIT
#include "replay.h"

#include <string.h>

enum { WORDS = WG_COUNTER_BITS_TOTAL / 64 };

void wg_replay_init(struct wg_replay *r)
{
	memset(r, 0, sizeof(*r));
}

bool wg_replay_check(struct wg_replay *r, uint64_t counter)
{
	uint64_t pos, word, top_word;

	if (counter >= WG_REJECT_AFTER_MESSAGES)
		return false;
	pos = counter + 1; /* position 0 stands for "nothing seen" */
	if (pos + WG_COUNTER_WINDOW_SIZE < r->next)
		return false;
	word = pos / 64;
	if (pos > r->next) {
		/* Moving forward: clear the words we skip over, at most all of them. */
		top_word = r->next / 64;
		uint64_t n = word - top_word;

		if (n > WORDS)
			n = WORDS;
		for (uint64_t i = 1; i <= n; ++i)
			r->bitmap[(top_word + i) % WORDS] = 0;
		r->next = pos;
	}
	word %= WORDS;
	if (r->bitmap[word] & (1ULL << (pos % 64)))
		return false;
	r->bitmap[word] |= 1ULL << (pos % 64);
	return true;
}
