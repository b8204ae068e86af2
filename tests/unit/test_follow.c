// SPDX-License-Identifier: MIT
/* The follower (lib/api/follow): tell, heartbeat, long poll and backoff,
 * against a scripted manager on the test's own clock. */
#include "test.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "api/follow.h"
#include "util/clock.h"

struct fake {
	int64_t now;
	int statuses[32]; /* what GET /v1/peers answers, in turn (0: 200) */
	size_t nstatus, at;
	int64_t revision;
	int tells, tell_answer[8], takes, beats, contacts_bad;
	int64_t pauses[64];
	size_t npauses;
	int last_why;
	char last_path[200];
};

static enum follow_told tell(void *ctx, int why)
{
	struct fake *f = ctx;

	f->last_why = why;
	return (enum follow_told)f->tell_answer[f->tells++ % 8];
}

static int take(void *ctx, json_t *reply)
{
	struct fake *f = ctx;

	f->takes++;
	return json_is_true(json_object_get(reply, "retell")) ? FOLLOW_RETELL : 0;
}

static void contact(void *ctx, bool ok, int status, const char *err)
{
	struct fake *f = ctx;

	if (!ok)
		f->contacts_bad++;
}

static int call(void *ctx, const char *method, const char *path, json_t *body, long timeout_s, json_t **reply, char *err,
		size_t errlen)
{
	struct fake *f = ctx;
	int status;

	*reply = NULL;
	if (!strcmp(method, "PUT")) {
		f->beats++;
		return 200;
	}
	snprintf(f->last_path, sizeof(f->last_path), "%s", path);
	status = f->at < f->nstatus ? f->statuses[f->at++] : 0;
	if (status == -1) { /* our own record removed */
		*reply = json_pack("{s:I, s:b, s:b}", "revision", (json_int_t)++f->revision, "full", 0, "retell", 1);
		return 200;
	}
	if (status)
		snprintf(err, errlen, "https://manager: %d", status);
	else
		*reply = json_pack("{s:I, s:b}", "revision", (json_int_t)++f->revision, "full", 0);
	f->now += 1000; /* a long poll takes time */
	return status ?: 200;
}

static int64_t now(void *ctx)
{
	return ((struct fake *)ctx)->now;
}

static void pause_ms(void *ctx, int64_t ms)
{
	struct fake *f = ctx;

	if (f->npauses < 64)
		f->pauses[f->npauses++] = ms;
	f->now += ms;
}

static const struct follow_ops ops = { .tell = tell, .take = take, .contact = contact, .call = call, .now_ms = now,
				       .pause_ms = pause_ms };

TEST(follow_polls_from_the_revision_taken)
{
	struct fake fk = { .now = 1000000, .revision = 41 };
	struct follow f;

	follow_init(&f, &ops, &fk, NULL, "/v1/nodes/n1/heartbeat", 41);
	CHECK(follow_step(&f) == 0);
	CHECK(fk.tells == 1 && fk.last_why == 0 && fk.beats == 1 && fk.takes == 1);
	CHECK(!strcmp(fk.last_path, "/v1/peers?since=41&wait=25"));
	CHECK(f.rev == 42);
	CHECK(follow_step(&f) == 0);
	CHECK(!strcmp(fk.last_path, "/v1/peers?since=42&wait=25"));
	CHECK(fk.tells == 1); /* told once */
	follow_destroy(&f);
}

TEST(follow_heartbeats_by_the_monotonic_clock)
{
	struct fake fk = { .now = 5000 };
	struct follow f;

	follow_init(&f, &ops, &fk, NULL, "/v1/nodes/n1/heartbeat", 0);
	for (int i = 0; i < 30; ++i) /* each poll takes 1 s on this clock */
		follow_step(&f);
	CHECK(fk.beats == 1);
	follow_step(&f); /* 30 s after the first */
	CHECK(fk.beats == 2);
	follow_destroy(&f);
}

TEST(follow_backs_off_with_jitter_when_the_manager_is_away)
{
	struct fake fk = { .now = 0, .nstatus = 8, .statuses = { 503, 503, 503, 503, 503, 503, 0, 503 } };
	struct follow f;
	int64_t lo[] = { 500, 1000, 2000, 4000, 4000, 4000 }, hi[] = { 1000, 2000, 4000, 8000, 8000, 8000 };

	follow_init(&f, &ops, &fk, NULL, NULL, 0);
	for (int i = 0; i < 6; ++i) {
		int64_t pause = follow_step(&f);

		CHECK(pause >= lo[i] && pause <= hi[i]);
	}
	CHECK(fk.contacts_bad == 6 && fk.takes == 0 && f.rev == 0);
	CHECK(follow_step(&f) == 0); /* the manager is back */
	CHECK(fk.takes == 1 && f.rev == 1);
	{
		int64_t pause = follow_step(&f); /* and the backoff starts again small */

		CHECK(pause >= 500 && pause <= 1000);
	}
	follow_destroy(&f);
}

TEST(follow_jitter_differs_between_followers)
{
	struct fake a = { .nstatus = 32 }, b = { .nstatus = 32 };
	struct follow fa, fb;
	int same = 0;

	for (int i = 0; i < 32; ++i)
		a.statuses[i] = b.statuses[i] = 503;
	follow_init(&fa, &ops, &a, NULL, NULL, 0);
	follow_init(&fb, &ops, &b, NULL, NULL, 0);
	for (int i = 0; i < 20; ++i)
		same += follow_step(&fa) == follow_step(&fb);
	CHECK(same < 20); /* two nodes do not come back in step */
	follow_destroy(&fa);
	follow_destroy(&fb);
}

TEST(follow_tells_again_after_401_and_when_its_record_went)
{
	struct fake fk = { .nstatus = 3, .statuses = { 401, 0, -1 } };
	struct follow f;

	follow_init(&f, &ops, &fk, NULL, NULL, 0);
	CHECK(follow_step(&f) > 0); /* 401: back off, then tell again */
	CHECK(fk.tells == 1);
	follow_step(&f);
	CHECK(fk.tells == 2 && fk.last_why == 401);
	follow_step(&f); /* our record was removed: tell again */
	follow_step(&f);
	CHECK(fk.tells == 3 && fk.last_why == 0);
	follow_destroy(&f);
}

TEST(follow_tell_later_backs_off_and_again_does_not)
{
	struct fake fk = { .tell_answer = { FOLLOW_LATER, FOLLOW_AGAIN, FOLLOW_TOLD } };
	struct follow f;

	follow_init(&f, &ops, &fk, NULL, NULL, 0);
	CHECK(follow_step(&f) >= 500);
	CHECK(follow_step(&f) == 0 && fk.takes == 0);
	CHECK(follow_step(&f) == 0 && fk.takes == 1 && fk.tells == 3);
	follow_destroy(&f);
}

/* follow_stop ends a pause at once (the real pause, on the real clock). */
static void *stopper(void *arg)
{
	usleep(100000);
	follow_stop(arg);
	return NULL;
}

TEST(follow_stop_ends_a_pause_at_once)
{
	struct fake fk = { 0 };
	struct follow_ops real = ops;
	struct follow f;
	pthread_t t;
	int64_t started;

	real.pause_ms = NULL;
	follow_init(&f, &real, &fk, NULL, NULL, 0);
	started = clock_ms();
	CHECK(pthread_create(&t, NULL, stopper, &f) == 0);
	follow_pause(&f, 60000);
	CHECK(follow_stopping(&f));
	/* Not a timing assertion: a pause not ended by the stop lasts a minute. */
	CHECK(clock_ms() - started < 50000);
	pthread_join(t, NULL);
	follow_destroy(&f);
}
