// SPDX-License-Identifier: MIT
/* The leaky bucket that slows down token guessing, on an injected clock. */
#include "test.h"

#include "util/throttle.h"

TEST(throttle_burst_then_wait_then_forgiven)
{
	struct throttle t;
	int64_t now = 1000000;

	CHECK(throttle_init(&t, 8, 20, 3000) == 0);
	CHECK(throttle_wait(&t, "192.0.2.1", now) == 0);
	for (int i = 0; i < 20; ++i)
		throttle_fail(&t, "192.0.2.1", now);
	CHECK(throttle_wait(&t, "192.0.2.1", now) == 0); /* 20 may fail */
	throttle_fail(&t, "192.0.2.1", now);
	throttle_fail(&t, "192.0.2.1", now);
	/* Two over: six seconds, as the level leaks one every three. */
	CHECK(throttle_wait(&t, "192.0.2.1", now) == 6001);
	CHECK(throttle_wait(&t, "192.0.2.1", now + 3000) == 3001);
	CHECK(throttle_wait(&t, "192.0.2.1", now + 6000) == 0);
	/* Others are not touched. */
	CHECK(throttle_wait(&t, "192.0.2.2", now) == 0);
	/* An hour later all is forgiven: a new burst is allowed. */
	now += 3600 * 1000;
	for (int i = 0; i < 20; ++i)
		throttle_fail(&t, "192.0.2.1", now);
	CHECK(throttle_wait(&t, "192.0.2.1", now) == 0);
	throttle_free(&t);
}

TEST(throttle_table_full_gives_up_the_most_forgiven)
{
	struct throttle t;
	char key[32];

	CHECK(throttle_init(&t, 4, 2, 1000) == 0);
	for (int i = 0; i < 4; ++i) {
		snprintf(key, sizeof(key), "10.0.0.%d", i);
		for (int j = 0; j <= i * 2; ++j)
			throttle_fail(&t, key, 0);
	}
	/* 10.0.0.3 failed 7 times: it waits; 10.0.0.0 failed once. */
	CHECK(throttle_wait(&t, "10.0.0.3", 0) > 0);
	throttle_fail(&t, "10.0.0.9", 0); /* takes 10.0.0.0's place */
	CHECK(throttle_wait(&t, "10.0.0.3", 0) > 0);
	for (int j = 0; j < 4; ++j)
		throttle_fail(&t, "10.0.0.9", 0);
	CHECK(throttle_wait(&t, "10.0.0.9", 0) == 3001);
	throttle_free(&t);
}
