// SPDX-License-Identifier: MIT
/*
 * One suite for every store backend (lib/store/kv.h): the semantics the
 * manager relies on, checked the same way against SQLite and a real etcd
 * cluster. Keys live under a prefix unique to the run, so a cluster can be
 * reused.
 *
 *   kvsuite sqlite:/tmp/x.db
 *   kvsuite etcd:http://127.0.0.1:2379,http://127.0.0.1:22379
 */
#include "store/kv.h"
#include "suite.h"
#include "util/clock.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char P[64]; /* this run's prefix */

#define CHECK(name, cond) SUITE_CHECK(name, cond, kv_error())

static const char *k(const char *name)
{
	static __thread char buf[16][128];
	static __thread int i;

	i = (i + 1) % 16;
	snprintf(buf[i], sizeof(buf[i]), "%s%s", P, name);
	return buf[i];
}

static void basics(struct kv *kv)
{
	struct kv_item it;
	int64_t r0, r1, r2, r;
	int ret;

	CHECK("revision readable", !kv_revision(kv, &r0) && r0 > 0);
	CHECK("get of a missing key: ENOENT", kv_get(kv, k("a"), &it) == -ENOENT);
	CHECK("put", !kv_put(kv, k("a"), "one", 3, &r1));
	CHECK("  a put moves the revision forward", r1 > r0);
	ret = kv_get(kv, k("a"), &it);
	CHECK("  get returns the value", !ret && it.len == 3 && !memcmp(it.value, "one", 3));
	CHECK("  created and modified at the put's revision", !ret && it.create_rev == r1 && it.mod_rev == r1);
	kv_item_free(&it);
	CHECK("put again", !kv_put(kv, k("a"), "two!", 4, &r2) && r2 > r1);
	ret = kv_get(kv, k("a"), &it);
	CHECK("  keeps create_rev, moves mod_rev", !ret && it.create_rev == r1 && it.mod_rev == r2 && it.len == 4);
	kv_item_free(&it);
	CHECK("create of an existing key: ECANCELED", kv_create(kv, k("a"), "x", 1, NULL) == -ECANCELED);
	CHECK("  and the revision did not move", !kv_revision(kv, &r) && r == r2);
	ret = kv_get(kv, k("a"), &it);
	CHECK("  nor the value", !ret && it.len == 4 && !memcmp(it.value, "two!", 4));
	kv_item_free(&it);
	CHECK("create of a new key", !kv_create(kv, k("b"), "", 0, NULL));
	ret = kv_get(kv, k("b"), &it);
	CHECK("  an empty value is a value", !ret && it.len == 0 && it.value && !*it.value);
	kv_item_free(&it);

	{
		const char bin[] = { 'x', 0, (char)0xff, '\n', '"', 0 };

		CHECK("binary values", !kv_put(kv, k("bin"), bin, sizeof(bin), NULL));
		ret = kv_get(kv, k("bin"), &it);
		CHECK("  round-trip byte for byte", !ret && it.len == sizeof(bin) && !memcmp(it.value, bin, sizeof(bin)));
		kv_item_free(&it);
	}
	CHECK("delete", !kv_delete(kv, k("b"), NULL) && kv_get(kv, k("b"), &it) == -ENOENT);
	CHECK("delete of a missing key succeeds", !kv_delete(kv, k("never"), NULL));
}

static void transactions(struct kv *kv)
{
	struct kv_item a, b;
	int64_t rev, before;
	int ret;

	kv_get(kv, k("a"), &a);
	{
		struct kv_cond conds[] = { { k("a"), a.mod_rev }, { k("t1"), 0 } };
		struct kv_op ops[] = { { KV_PUT, k("t1"), "1", 1 }, { KV_PUT, k("t2"), "2", 1 }, { KV_DELETE, k("bin"), NULL, 0 } };

		ret = kv_txn(kv, conds, 2, ops, 3, &rev);
		CHECK("txn: conditions hold, every op applies", !ret);
	}
	CHECK("  at one revision", !kv_get(kv, k("t1"), &b) && b.mod_rev == rev);
	kv_item_free(&b);
	CHECK("  to every key", !kv_get(kv, k("t2"), &b) && b.mod_rev == rev);
	kv_item_free(&b);
	CHECK("  deletes too", kv_get(kv, k("bin"), &b) == -ENOENT);
	kv_revision(kv, &before);
	{
		/* a.mod_rev is still right, t1 now exists: the txn must not apply. */
		struct kv_cond conds[] = { { k("a"), a.mod_rev }, { k("t1"), 0 } };
		struct kv_op ops[] = { { KV_PUT, k("t3"), "3", 1 }, { KV_DELETE, k("t2"), NULL, 0 } };

		CHECK("txn: one condition fails: ECANCELED", kv_txn(kv, conds, 2, ops, 2, NULL) == -ECANCELED);
	}
	CHECK("  nothing applied", kv_get(kv, k("t3"), &b) == -ENOENT && !kv_get(kv, k("t2"), &b));
	kv_item_free(&b);
	CHECK("  and the revision did not move", !kv_revision(kv, &rev) && rev == before);
	{
		struct kv_cond cond = { k("a"), a.mod_rev - 1 };
		struct kv_op op = { KV_PUT, k("a"), "stale", 5 };

		CHECK("compare-and-swap on a stale mod_rev fails", kv_txn(kv, &cond, 1, &op, 1, NULL) == -ECANCELED);
	}
	kv_item_free(&a);
}

static void ranges(struct kv *kv)
{
	struct kv_list l;
	int64_t rev;
	bool sorted = true;

	kv_put(kv, k("r/b"), "2", 1, NULL);
	kv_put(kv, k("r/a"), "1", 1, NULL);
	kv_put(kv, k("r/c"), "3", 1, &rev);
	kv_put(kv, k("r0"), "not under r/", 12, NULL);
	kv_put(kv, k("r"), "nor this", 8, NULL);
	CHECK("range over a prefix", !kv_range(kv, k("r/"), &l));
	CHECK("  exactly its keys", l.n == 3);
	for (size_t i = 1; i < l.n; ++i)
		sorted &= strcmp(l.items[i - 1].key, l.items[i].key) < 0;
	CHECK("  sorted by key", sorted && l.n == 3 && !strcmp(l.items[0].key, k("r/a")) && l.items[0].len == 1);
	CHECK("  read at the store's revision", l.rev >= rev);
	kv_list_free(&l);
	CHECK("range over an empty prefix", !kv_range(kv, k("nothing/"), &l) && l.n == 0 && l.rev > 0);
	kv_list_free(&l);
}

static void watches(struct kv *kv)
{
	struct kv_events ev;
	int64_t from, r1, r2;
	int64_t t0;
	int ret;

	kv_revision(kv, &from);
	kv_put(kv, k("w/x"), "1", 1, &r1);
	kv_put(kv, k("other"), "-", 1, NULL);
	kv_delete(kv, k("w/x"), &r2);
	ret = kv_watch(kv, k("w/"), from, 2000, &ev);
	CHECK("watch returns what happened since a revision", !ret && ev.n >= 1);
	if (!ret && ev.n == 1) { /* a backend may return the first revision only */
		kv_events_free(&ev);
		ret = kv_watch(kv, k("w/"), r1, 2000, &ev);
		CHECK("  then the rest", !ret && ev.n == 1 && ev.events[0].deleted);
	} else {
		CHECK("  a put then a deletion, in order, only under the prefix",
		      !ret && ev.n == 2 && !ev.events[0].deleted && ev.events[0].item.mod_rev == r1 &&
			      ev.events[0].item.len == 1 && ev.events[1].deleted && ev.events[1].item.mod_rev == r2);
	}
	CHECK("  up to the last revision seen", ev.rev == r2);
	kv_events_free(&ev);
	t0 = clock_ms();
	ret = kv_watch(kv, k("w/"), r2, 300, &ev);
	CHECK("a watch with nothing new times out empty", !ret && ev.n == 0 && ev.rev == r2);
	CHECK("  after about its timeout", clock_ms() - t0 >= 250);
	kv_events_free(&ev);
}

struct waiter {
	struct kv *kv;
	int64_t after;
	int ret;
	struct kv_events ev;
	int64_t woke_ms;
};

static void *wait_thread(void *arg)
{
	struct waiter *w = arg;

	w->ret = kv_watch(w->kv, k("live/"), w->after, 5000, &w->ev);
	w->woke_ms = clock_ms();
	return NULL;
}

static void live_watch(struct kv *kv)
{
	struct waiter w = { .kv = kv };
	pthread_t t;
	int64_t put_ms;

	kv_revision(kv, &w.after);
	pthread_create(&t, NULL, wait_thread, &w);
	usleep(200000);
	put_ms = clock_ms();
	kv_put(kv, k("live/n1"), "endpoint", 8, NULL);
	pthread_join(t, NULL);
	CHECK("a waiting watch wakes on a change", !w.ret && w.ev.n == 1 && !strcmp(w.ev.events[0].item.key, k("live/n1")));
	printf("  (woke %lld ms after the put)\n", (long long)(w.woke_ms - put_ms));
	CHECK("  well before its timeout", w.woke_ms - put_ms < 2000);
	kv_events_free(&w.ev);
}

/* The race the manager's IPAM must win: many claimants, few slots. */
enum { THREADS = 8, SLOTS = 20, INCREMENTS = 25 };

struct racer {
	struct kv *kv;
	int won[SLOTS];
	int errors;
};

static void *race_thread(void *arg)
{
	struct racer *r = arg;
	char name[32];

	for (int s = 0; s < SLOTS; ++s) {
		int ret;

		snprintf(name, sizeof(name), "slot/%02d", s);
		ret = kv_create(r->kv, k(name), "mine", 4, NULL);
		if (!ret)
			r->won[s]++;
		else if (ret != -ECANCELED)
			r->errors++;
	}
	/* A counter through compare-and-swap: read, add one, write if unchanged. */
	for (int i = 0; i < INCREMENTS; ++i) {
		for (;;) {
			struct kv_item it;
			char buf[16];
			int n = 0, ret = kv_get(r->kv, k("counter"), &it);
			struct kv_cond cond = { k("counter"), ret ? 0 : it.mod_rev };
			struct kv_op op = { KV_PUT, k("counter"), buf, 0 };

			if (ret == -ENOENT || !ret) {
				if (!ret)
					n = atoi(it.value);
				op.len = (size_t)snprintf(buf, sizeof(buf), "%d", n + 1);
				ret = kv_txn(r->kv, &cond, 1, &op, 1, NULL);
			}
			kv_item_free(&it);
			if (!ret)
				break;
			if (ret != -ECANCELED) {
				r->errors++;
				break;
			}
		}
	}
	return NULL;
}

static void races(struct kv *kv)
{
	struct racer r[THREADS];
	pthread_t t[THREADS];
	struct kv_item it;
	int total = 0, twice = 0, errors = 0;
	char name[64];

	memset(r, 0, sizeof(r));
	for (int i = 0; i < THREADS; ++i) {
		r[i].kv = kv;
		pthread_create(&t[i], NULL, race_thread, &r[i]);
	}
	for (int i = 0; i < THREADS; ++i)
		pthread_join(t[i], NULL);
	for (int s = 0; s < SLOTS; ++s) {
		int n = 0;

		for (int i = 0; i < THREADS; ++i)
			n += r[i].won[s];
		total += n;
		twice += n > 1;
	}
	for (int i = 0; i < THREADS; ++i)
		errors += r[i].errors;
	snprintf(name, sizeof(name), "%d threads racing for %d slots: each won once", THREADS, SLOTS);
	CHECK(name, total == SLOTS && !twice);
	CHECK("  and no store error", !errors);
	snprintf(name, sizeof(name), "%d compare-and-swap increments from %d threads: none lost", THREADS * INCREMENTS,
		 THREADS);
	CHECK(name, !kv_get(kv, k("counter"), &it) && atoi(it.value) == THREADS * INCREMENTS);
	kv_item_free(&it);
}

static void cleanup_prefix(struct kv *kv)
{
	struct kv_list l;

	suite_wipe(kv, P);
	CHECK("everything this run wrote is deleted", !kv_range(kv, P, &l) && l.n == 0);
	kv_list_free(&l);
}

int main(int argc, char **argv)
{
	char err[512];
	struct kv *kv;

	if (argc != 2) {
		fprintf(stderr, "usage: kvsuite sqlite:PATH | etcd:URL[,URL...]\n");
		return 2;
	}
	kv = kv_open(argv[1], err, sizeof(err));
	if (!kv) {
		fprintf(stderr, "kvsuite: %s\n", err);
		return 2;
	}
	snprintf(P, sizeof(P), "kvsuite/%d-%lld/", (int)getpid(), (long long)time(NULL));
	basics(kv);
	transactions(kv);
	ranges(kv);
	watches(kv);
	live_watch(kv);
	races(kv);
	cleanup_prefix(kv);
	kv_close(kv);
	{
		char bad[256];

		CHECK("a bad store URL is refused, naming it", !kv_open("mysql://x", bad, sizeof(bad)) && strstr(bad, "mysql://x"));
	}
	printf("# %d passed, %d failed (%s)\n", passed, failed, argv[1]);
	return failed ? 1 : 0;
}
