// SPDX-License-Identifier: MIT
/* The replay window at its edges. */
#include "test.h"

#include "wg/replay.h"

TEST(replay_in_order_and_duplicates)
{
	struct wg_replay r;

	wg_replay_init(&r);
	for (uint64_t i = 0; i < 20000; ++i)
		CHECK(wg_replay_check(&r, i));
	for (uint64_t i = 0; i < 20000; ++i)
		CHECK(!wg_replay_check(&r, i));
}

TEST(replay_window_edges)
{
	struct wg_replay r;
	const uint64_t w = WG_COUNTER_WINDOW_SIZE;

	wg_replay_init(&r);
	CHECK(wg_replay_check(&r, 0));
	CHECK(!wg_replay_check(&r, 0));
	CHECK(wg_replay_check(&r, w + 10));
	/* Exactly a window behind the newest is still accepted once; one
	 * more is too old. */
	CHECK(wg_replay_check(&r, 10));
	CHECK(!wg_replay_check(&r, 10));
	CHECK(!wg_replay_check(&r, 9));
	CHECK(wg_replay_check(&r, 11));
	/* Out of order inside the window. */
	CHECK(wg_replay_check(&r, w + 5));
	CHECK(!wg_replay_check(&r, w + 5));
	CHECK(wg_replay_check(&r, w + 9));
	/* A jump far ahead clears the whole window. */
	CHECK(wg_replay_check(&r, 10 * w));
	CHECK(!wg_replay_check(&r, w + 11));
	CHECK(wg_replay_check(&r, 10 * w - 1));
	CHECK(wg_replay_check(&r, 9 * w + 1));
	CHECK(!wg_replay_check(&r, 9 * w - 1));
}

TEST(replay_at_least_2048_out_of_order)
{
	struct wg_replay r;

	wg_replay_init(&r);
	CHECK(wg_replay_check(&r, 5000));
	for (uint64_t i = 5000 - 2048; i < 5000; ++i)
		CHECK(wg_replay_check(&r, i));
}

TEST(replay_reject_after_messages)
{
	struct wg_replay r;

	wg_replay_init(&r);
	CHECK(wg_replay_check(&r, WG_REJECT_AFTER_MESSAGES - 1));
	CHECK(!wg_replay_check(&r, WG_REJECT_AFTER_MESSAGES));
	CHECK(!wg_replay_check(&r, UINT64_MAX));
	CHECK(wg_replay_check(&r, WG_REJECT_AFTER_MESSAGES - 2));
}
