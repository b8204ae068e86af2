// SPDX-License-Identifier: MIT
/* Following a manager: tell, heartbeat, long poll, back off (follow.h). */
#include "api/follow.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "util/clock.h"

void follow_init(struct follow *f, const struct follow_ops *ops, void *ctx, struct api_client *client,
		 const char *heartbeat, int64_t rev)
{
	pthread_condattr_t ca;

	memset(f, 0, sizeof(*f));
	f->ops = ops;
	f->ctx = ctx;
	f->client = client;
	f->rev = rev;
	f->backoff_ms = FOLLOW_RETRY_MIN_MS;
	snprintf(f->heartbeat, sizeof(f->heartbeat), "%s", heartbeat ?: "");
	if (getrandom(&f->rng, sizeof(f->rng), GRND_NONBLOCK) != sizeof(f->rng))
		f->rng = (uint64_t)clock_ms() ^ (uint64_t)(uintptr_t)f;
	f->rng |= 1;
	atomic_init(&f->stop, false);
	pthread_mutex_init(&f->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&f->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (client)
		api_client_stop_flag(client, &f->stop);
}

void follow_destroy(struct follow *f)
{
	pthread_mutex_destroy(&f->lock);
	pthread_cond_destroy(&f->cond);
}

bool follow_stopping(struct follow *f)
{
	return atomic_load(&f->stop);
}

void follow_stop(struct follow *f)
{
	pthread_mutex_lock(&f->lock);
	atomic_store(&f->stop, true);
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	api_client_wake(f->client);
}

void follow_pause(struct follow *f, int64_t ms)
{
	struct timespec until;

	if (ms <= 0)
		return;
	if (f->ops->pause_ms) {
		f->ops->pause_ms(f->ctx, ms);
		return;
	}
	until = clock_after_ms(ms);
	pthread_mutex_lock(&f->lock);
	while (!atomic_load(&f->stop) && pthread_cond_timedwait(&f->cond, &f->lock, &until) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&f->lock);
}

static int64_t now(struct follow *f)
{
	return f->ops->now_ms ? f->ops->now_ms(f->ctx) : clock_ms();
}

static int call(struct follow *f, const char *method, const char *path, json_t *body, long timeout_s, json_t **reply,
		char *err, size_t errlen)
{
	if (f->ops->call)
		return f->ops->call(f->ctx, method, path, body, timeout_s, reply, err, errlen);
	return api_call(f->client, method, path, body, timeout_s, reply, err, errlen);
}

int64_t follow_backoff(struct follow *f)
{
	int64_t base = f->backoff_ms, pause;

	/* xorshift64: jitter needs no secrecy */
	f->rng ^= f->rng << 13;
	f->rng ^= f->rng >> 7;
	f->rng ^= f->rng << 17;
	pause = base / 2 + (int64_t)(f->rng % (uint64_t)(base / 2 + 1));
	f->backoff_ms = base * 2 > FOLLOW_RETRY_MAX_MS ? FOLLOW_RETRY_MAX_MS : base * 2;
	return pause;
}

int64_t follow_step(struct follow *f)
{
	char path[200], err[700] = "";
	json_t *reply = NULL;
	int status, taken;

	if (!f->told) {
		int why = f->why;

		f->why = 0; /* said once: a later try is not another 401 */
		switch (f->ops->tell(f->ctx, why)) {
		case FOLLOW_TOLD:
			f->told = true;
			break;
		case FOLLOW_AGAIN:
			return 0;
		case FOLLOW_LATER:
			return follow_backoff(f);
		}
	}
	if (f->heartbeat[0] && (!f->beaten || now(f) - f->last_beat_ms >= FOLLOW_HEARTBEAT_MS)) {
		json_t *body = f->ops->beat ? f->ops->beat(f->ctx) : NULL;
		int64_t at = now(f);

		if (call(f, "PUT", f->heartbeat, body, 15, &reply, err, sizeof(err)) == 200) {
			f->beaten = true;
			f->last_beat_ms = at;
		}
		json_decref(body);
		json_decref(reply);
		reply = NULL;
	}
	if (follow_stopping(f))
		return 0;
	snprintf(path, sizeof(path), "/v1/peers?since=%lld&wait=%d", (long long)f->rev, FOLLOW_POLL_WAIT_S);
	status = call(f, "GET", path, NULL, FOLLOW_POLL_WAIT_S + 15, &reply, err, sizeof(err));
	if (follow_stopping(f)) {
		json_decref(reply);
		return 0;
	}
	if (status == 200 && json_is_object(reply) && json_is_integer(json_object_get(reply, "revision"))) {
		f->ops->contact(f->ctx, true, status, NULL);
		taken = f->ops->take(f->ctx, reply);
		if (taken >= 0) {
			f->rev = json_integer_value(json_object_get(reply, "revision"));
			f->backoff_ms = FOLLOW_RETRY_MIN_MS;
			if (taken == FOLLOW_RETELL)
				f->told = false;
		}
		json_decref(reply);
		return taken >= 0 ? 0 : follow_backoff(f);
	}
	json_decref(reply);
	if (status == 200)
		snprintf(err, sizeof(err), "the change list has no revision");
	f->ops->contact(f->ctx, false, status, err);
	if (status == 401) {
		/* It does not know our credential (any more): tell it again. */
		f->told = false;
		f->why = 401;
	}
	return follow_backoff(f);
}

void follow_run(struct follow *f)
{
	while (!follow_stopping(f))
		follow_pause(f, follow_step(f));
}
