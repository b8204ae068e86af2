// SPDX-License-Identifier: MIT
/*
 * The embedded store: one SQLite file, in WAL mode. Table kv holds the
 * keys; table log every change by revision, so a watcher that fell behind
 * gets what it missed. The log keeps the last LOG_KEEP revisions; a watch
 * from before them gets -ERANGE and reads afresh, as with a compacted etcd.
 *
 * One connection, one mutex: every call is short, and SQLite serializes
 * writers anyway. Watchers wait on a condition variable that local commits
 * signal, and look at the file's data_version every POLL_MS, so another
 * process writing the same file (a second manager by mistake, or weft
 * inspecting it) is noticed too.
 */
#include "store/kv.h"
#include "util/clock.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

enum {
	LOG_KEEP = 10000,
	POLL_MS = 100,
	BUSY_MS = 5000,
};

struct kv_sqlite {
	struct kv kv;
	sqlite3 *db;
	char path[512];
	pthread_mutex_t lock;
	pthread_cond_t committed;
};

static const char schema[] =
	"PRAGMA journal_mode=WAL;"
	"PRAGMA synchronous=NORMAL;"
	"CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
	"INSERT OR IGNORE INTO meta VALUES('revision', 1), ('compacted', 0);"
	"CREATE TABLE IF NOT EXISTS kv(key TEXT PRIMARY KEY, value BLOB NOT NULL,"
	" create_rev INTEGER NOT NULL, mod_rev INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS log(rev INTEGER NOT NULL, key TEXT NOT NULL, deleted INTEGER NOT NULL,"
	" value BLOB, create_rev INTEGER NOT NULL, PRIMARY KEY(rev, key));";

static struct kv_sqlite *of(struct kv *kv)
{
	return (struct kv_sqlite *)kv;
}

static int fail(struct kv_sqlite *s, const char *what)
{
	return kv_fail(-EIO, "sqlite %s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
}

static char *dup_bytes(const void *p, size_t len)
{
	char *out = malloc(len + 1);

	if (out) {
		if (len)
			memcpy(out, p, len);
		out[len] = '\0';
	}
	return out;
}

/* key >= prefix AND key < end: end is prefix with its last byte raised,
 * or NULL when every key matches. */
static char *prefix_end(const char *prefix)
{
	size_t n = strlen(prefix);
	char *end;

	while (n && (unsigned char)prefix[n - 1] == 0xff)
		--n;
	if (!n)
		return NULL;
	end = dup_bytes(prefix, n);
	if (end)
		end[n - 1]++;
	return end;
}

static int item_from_row(sqlite3_stmt *st, int col, struct kv_item *it)
{
	const void *v = sqlite3_column_blob(st, col + 1);
	size_t len = (size_t)sqlite3_column_bytes(st, col + 1);

	it->key = dup_bytes(sqlite3_column_text(st, col), (size_t)sqlite3_column_bytes(st, col));
	it->value = dup_bytes(v, len);
	it->len = len;
	it->create_rev = sqlite3_column_int64(st, col + 2);
	it->mod_rev = sqlite3_column_int64(st, col + 3);
	return it->key && it->value ? 0 : -ENOMEM;
}

static int meta(struct kv_sqlite *s, const char *name, int64_t *out)
{
	sqlite3_stmt *st;
	int ret = -EIO;

	if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE name = ?", -1, &st, NULL) != SQLITE_OK)
		return fail(s, "reading the revision");
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*out = sqlite3_column_int64(st, 0);
		ret = 0;
	} else {
		ret = fail(s, "reading the revision");
	}
	sqlite3_finalize(st);
	return ret;
}

static int exec(struct kv_sqlite *s, const char *sql, const char *what)
{
	return sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : fail(s, what);
}

static void sqlite_close(struct kv *kv)
{
	struct kv_sqlite *s = of(kv);

	sqlite3_close(s->db);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->committed);
	free(s);
}

static int sqlite_get(struct kv *kv, const char *key, struct kv_item *out)
{
	struct kv_sqlite *s = of(kv);
	sqlite3_stmt *st = NULL;
	int ret;

	pthread_mutex_lock(&s->lock);
	if (sqlite3_prepare_v2(s->db, "SELECT key, value, create_rev, mod_rev FROM kv WHERE key = ?", -1, &st,
			       NULL) != SQLITE_OK) {
		ret = fail(s, "get");
		goto out;
	}
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	ret = sqlite3_step(st);
	if (ret == SQLITE_ROW)
		ret = item_from_row(st, 0, out);
	else if (ret == SQLITE_DONE)
		ret = -ENOENT;
	else
		ret = fail(s, "get");
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->lock);
	if (ret && ret != -ENOENT)
		kv_item_free(out);
	return ret;
}

static int grow(void **arr, size_t *cap, size_t n, size_t size)
{
	void *p;

	if (n < *cap)
		return 0;
	*cap = *cap ? 2 * *cap : 16;
	p = realloc(*arr, *cap * size);
	if (!p)
		return -ENOMEM;
	*arr = p;
	return 0;
}

static int sqlite_range(struct kv *kv, const char *prefix, struct kv_list *out)
{
	struct kv_sqlite *s = of(kv);
	char *end = prefix_end(prefix);
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	int ret, rc;

	pthread_mutex_lock(&s->lock);
	if ((ret = exec(s, "BEGIN", "range")))
		goto out;
	if ((ret = meta(s, "revision", &out->rev)))
		goto rollback;
	if (sqlite3_prepare_v2(s->db,
			       end ? "SELECT key, value, create_rev, mod_rev FROM kv WHERE key >= ?1 AND key < ?2 ORDER BY key"
				   : "SELECT key, value, create_rev, mod_rev FROM kv WHERE key >= ?1 ORDER BY key",
			       -1, &st, NULL) != SQLITE_OK) {
		ret = fail(s, "range");
		goto rollback;
	}
	sqlite3_bind_text(st, 1, prefix, -1, SQLITE_STATIC);
	if (end)
		sqlite3_bind_text(st, 2, end, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((ret = grow((void **)&out->items, &cap, out->n, sizeof(*out->items))))
			goto rollback;
		memset(&out->items[out->n], 0, sizeof(*out->items));
		ret = item_from_row(st, 0, &out->items[out->n++]);
		if (ret)
			goto rollback;
	}
	if (rc != SQLITE_DONE)
		ret = fail(s, "range");
rollback:
	sqlite3_finalize(st);
	sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL); /* read only */
out:
	pthread_mutex_unlock(&s->lock);
	free(end);
	if (ret)
		kv_list_free(out);
	return ret;
}

static int sqlite_revision(struct kv *kv, int64_t *rev)
{
	struct kv_sqlite *s = of(kv);
	int ret;

	pthread_mutex_lock(&s->lock);
	ret = meta(s, "revision", rev);
	pthread_mutex_unlock(&s->lock);
	return ret;
}

/* A key's mod_rev now, 0 if absent; negative on error. */
static int64_t mod_rev_of(struct kv_sqlite *s, const char *key, int64_t *create_rev)
{
	sqlite3_stmt *st;
	int64_t rev = 0;
	int rc;

	if (sqlite3_prepare_v2(s->db, "SELECT mod_rev, create_rev FROM kv WHERE key = ?", -1, &st, NULL) != SQLITE_OK)
		return fail(s, "txn");
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		rev = sqlite3_column_int64(st, 0);
		if (create_rev)
			*create_rev = sqlite3_column_int64(st, 1);
	} else if (rc != SQLITE_DONE) {
		rev = fail(s, "txn");
	}
	sqlite3_finalize(st);
	return rev;
}

static int run(struct kv_sqlite *s, const char *sql, const char *key, const void *value, size_t len, int64_t a,
	       int64_t b)
{
	sqlite3_stmt *st;
	int rc;

	/* Parameters a statement lacks are refused by bind, harmlessly. */
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return fail(s, "txn");
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (value)
		sqlite3_bind_blob64(st, 2, len ? value : "", len, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 2);
	sqlite3_bind_int64(st, 3, a);
	sqlite3_bind_int64(st, 4, b);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : fail(s, "txn");
}

static int apply(struct kv_sqlite *s, const struct kv_op *op, int64_t rev, bool *changed)
{
	int64_t create_rev = rev, cur = mod_rev_of(s, op->key, &create_rev);
	int ret;

	if (cur < 0)
		return (int)cur;
	if (op->type == KV_DELETE) {
		if (!cur)
			return 0; /* nothing to delete: no change, as in etcd */
		ret = run(s, "DELETE FROM kv WHERE key = ?1", op->key, NULL, 0, 0, 0);
		if (!ret)
			ret = run(s, "INSERT OR REPLACE INTO log VALUES(?3, ?1, 1, ?2, ?4)", op->key, NULL, 0, rev,
				  create_rev);
	} else {
		if (!cur)
			create_rev = rev;
		ret = run(s, "INSERT OR REPLACE INTO kv VALUES(?1, ?2, ?3, ?4)", op->key, op->value, op->len,
			  create_rev, rev);
		if (!ret)
			ret = run(s, "INSERT OR REPLACE INTO log VALUES(?3, ?1, 0, ?2, ?4)", op->key, op->value,
				  op->len, rev, create_rev);
	}
	if (!ret)
		*changed = true;
	return ret;
}

static int sqlite_txn(struct kv *kv, const struct kv_cond *conds, size_t nconds, const struct kv_op *ops, size_t nops,
		      int64_t *rev)
{
	struct kv_sqlite *s = of(kv);
	bool changed = false;
	int64_t cur, next;
	char sql[128];
	int ret;

	pthread_mutex_lock(&s->lock);
	if ((ret = exec(s, "BEGIN IMMEDIATE", "txn")))
		goto out;
	if ((ret = meta(s, "revision", &cur)))
		goto rollback;
	for (size_t i = 0; i < nconds; ++i) {
		int64_t have = mod_rev_of(s, conds[i].key, NULL);

		if (have < 0) {
			ret = (int)have;
			goto rollback;
		}
		if (have != conds[i].mod_rev) {
			ret = -ECANCELED;
			goto rollback;
		}
	}
	next = cur + 1;
	for (size_t i = 0; i < nops; ++i)
		if ((ret = apply(s, &ops[i], next, &changed)))
			goto rollback;
	if (!changed) {
		*rev = cur;
		goto rollback; /* nothing to commit */
	}
	snprintf(sql, sizeof(sql), "UPDATE meta SET value = %lld WHERE name = 'revision'", (long long)next);
	if ((ret = exec(s, sql, "txn")))
		goto rollback;
	if (next % 1000 == 0 && next > LOG_KEEP) {
		snprintf(sql, sizeof(sql),
			 "DELETE FROM log WHERE rev <= %lld; UPDATE meta SET value = %lld WHERE name = 'compacted'",
			 (long long)(next - LOG_KEEP), (long long)(next - LOG_KEEP));
		if ((ret = exec(s, sql, "compacting the log")))
			goto rollback;
	}
	if ((ret = exec(s, "COMMIT", "commit")))
		goto rollback;
	*rev = next;
	pthread_cond_broadcast(&s->committed);
	goto out;
rollback:
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
out:
	pthread_mutex_unlock(&s->lock);
	return ret;
}

/* Under the lock: events after `after` under the prefix, if any. */
static int events_since(struct kv_sqlite *s, const char *prefix, const char *end, int64_t after, struct kv_events *out)
{
	sqlite3_stmt *st = NULL;
	int64_t compacted;
	size_t cap = 0;
	int ret, rc;

	if ((ret = meta(s, "compacted", &compacted)))
		return ret;
	if (after < compacted)
		return kv_fail(-ERANGE, "sqlite %s: revision %lld is compacted (history starts after %lld)", s->path,
			       (long long)after, (long long)compacted);
	if (sqlite3_prepare_v2(s->db,
			       end ? "SELECT key, value, create_rev, rev, deleted FROM log WHERE rev > ?3 AND key >= ?1 AND key < ?2 ORDER BY rev, key"
				   : "SELECT key, value, create_rev, rev, deleted FROM log WHERE rev > ?3 AND key >= ?1 ORDER BY rev, key",
			       -1, &st, NULL) != SQLITE_OK)
		return fail(s, "watch");
	sqlite3_bind_text(st, 1, prefix, -1, SQLITE_STATIC);
	if (end)
		sqlite3_bind_text(st, 2, end, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, after);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct kv_event *e;

		if ((ret = grow((void **)&out->events, &cap, out->n, sizeof(*out->events))))
			break;
		e = &out->events[out->n++];
		memset(e, 0, sizeof(*e));
		e->deleted = sqlite3_column_int(st, 4);
		if ((ret = item_from_row(st, 0, &e->item)))
			break;
		out->rev = e->item.mod_rev;
	}
	if (!ret && rc != SQLITE_DONE)
		ret = fail(s, "watch");
	sqlite3_finalize(st);
	return ret;
}

static int sqlite_watch(struct kv *kv, const char *prefix, int64_t after, int timeout_ms, struct kv_events *out)
{
	struct kv_sqlite *s = of(kv);
	char *end = prefix_end(prefix);
	struct timespec now, deadline;
	int ret;

	deadline = clock_after_ms(timeout_ms > 0 ? timeout_ms : 0);
	out->rev = after;
	pthread_mutex_lock(&s->lock);
	for (;;) {
		struct timespec wake;

		if ((ret = events_since(s, prefix, end, after, out)) || out->n)
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > deadline.tv_sec || (now.tv_sec == deadline.tv_sec && now.tv_nsec >= deadline.tv_nsec))
			break;
		/* Local commits wake us at once; another process's within POLL_MS. */
		wake = now;
		wake.tv_nsec += POLL_MS * 1000000L;
		if (wake.tv_nsec >= 1000000000) {
			wake.tv_sec++;
			wake.tv_nsec -= 1000000000;
		}
		if (wake.tv_sec > deadline.tv_sec || (wake.tv_sec == deadline.tv_sec && wake.tv_nsec > deadline.tv_nsec))
			wake = deadline;
		pthread_cond_timedwait(&s->committed, &s->lock, &wake);
	}
	pthread_mutex_unlock(&s->lock);
	free(end);
	if (ret)
		kv_events_free(out);
	return ret;
}

static const struct kv_ops sqlite_ops = {
	.close = sqlite_close,
	.get = sqlite_get,
	.range = sqlite_range,
	.revision = sqlite_revision,
	.txn = sqlite_txn,
	.watch = sqlite_watch,
};

struct kv *kv_sqlite_open(const char *path, char *err, size_t errlen)
{
	struct kv_sqlite *s = calloc(1, sizeof(*s));
	pthread_condattr_t ca;

	if (!s)
		return NULL;
	s->kv.ops = &sqlite_ops;
	snprintf(s->path, sizeof(s->path), "%s", path);
	if (!*path || sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
				      NULL) != SQLITE_OK) {
		snprintf(err, errlen, "sqlite \"%s\": %s; give a file in a writable directory", path,
			 s->db ? sqlite3_errmsg(s->db) : "no path");
		goto fail;
	}
	sqlite3_busy_timeout(s->db, BUSY_MS);
	if (sqlite3_exec(s->db, schema, NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "sqlite \"%s\": %s", path, sqlite3_errmsg(s->db));
		goto fail;
	}
	chmod(path, 0600); /* it holds credentials' hashes and tokens */
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->committed, &ca);
	pthread_condattr_destroy(&ca);
	return &s->kv;
fail:
	sqlite3_close(s->db);
	free(s);
	errno = EINVAL;
	return NULL;
}
