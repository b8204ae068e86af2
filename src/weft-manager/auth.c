// SPDX-License-Identifier: MIT
/*
 * Who may do what. Every request carries "Authorization: Bearer TOKEN":
 *
 *   wefta1:SECRET          admin: everything
 *   weftr1:SECRET          reader: reads everything, writes nothing
 *   weftj1:ID:SECRET       join token: registers a node, until it expires
 *   weftn1:NAME:SECRET     a node's credential: its own record, and reads
 *
 * The store keeps only SHA-256 hashes (/weft/admin/{admin,reader},
 * /weft/tokens/ID, /weft/credentials/NAME), compared in constant time, so
 * reading the store does not give access. The admin and reader tokens are
 * made by the first manager and written to its state directory (0600);
 * managers sharing a store share them.
 *
 * The admin and reader tokens and node credentials rotate (lib/cluster/
 * credentials.c): a new one is pending beside the old until the first
 * request made with it, which confirms it here; the old one is refused
 * from then on, by this manager at once (its cache forgets it) and by the
 * others within RECHECK_SECONDS (admin, reader) or as soon as their watch
 * sees the node's record change (credentials).
 */
#include "manager.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "util/file.h"

enum { SECRET_BYTES = 32 };

void auth_hash(const char *secret, char hex[65])
{
	cluster_hash(secret, hex);
}

static void new_secret(char *out, size_t len)
{
	uint8_t raw[SECRET_BYTES];

	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(out, len, raw, sizeof(raw), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof(raw));
}

/* Which of the stored hashes at key is secret's, if it has not expired.
 * *down is set when the store could not be read. */
static enum cluster_match matches(struct manager *m, const char *key, const char *secret, int64_t now, bool *down)
{
	char want[65];
	json_t *doc, *expires;
	enum cluster_match match;
	int ret;

	if ((ret = cluster_secret_read(m->kv, key, &doc, NULL))) {
		if (ret != -ENOENT)
			*down = true;
		return CLUSTER_MATCH_NONE;
	}
	auth_hash(secret, want);
	match = cluster_secret_match(doc, want);
	expires = json_object_get(doc, "expires");
	if (expires && json_integer_value(expires) <= now)
		match = CLUSTER_MATCH_NONE;
	json_decref(doc);
	sodium_memzero(want, sizeof(want));
	return match;
}

/*
 * Verified tokens, by the SHA-256 of the whole token: a thousand agents
 * long-polling would otherwise cost a thousand store reads a round (on
 * etcd, a thousand HTTP requests). Only node credentials and the admin and
 * reader tokens are kept, for CACHE_SECONDS at most; a node's entries go
 * as soon as the watch sees the node removed or its credential rotated
 * (auth_forget_node). The admin and reader tokens, which are few and
 * used rarely, are read again after RECHECK_SECONDS, so that another
 * manager's rotation is seen that fast. Join tokens, which may be
 * deleted at any time, are always read afresh.
 *
 * The entries hang in chains off CACHE_BUCKETS buckets, chosen by the
 * digest's first bytes: a digest of a secret the manager made, so nobody
 * can crowd one chain, and which bucket says nothing of the token. An
 * entry past its time is dropped when its chain is walked.
 *
 * A check races with a rotation: a request with the old credential reads
 * the store before the new one is confirmed, and stores its finding after
 * the confirmation has dropped the cache's entries, so the old one would
 * be let in for another CACHE_SECONDS. Hence cache_gen, bumped with every
 * drop (forget): a check takes it before reading the store, and what it
 * found is remembered only if nothing was dropped since. The store is
 * written before the bump: a check that took the generation after it
 * reads the new state, and one that took it before either remembers
 * before the drop (and goes with it) or is refused. A global count, not
 * one per node: a drop is rare (a rotation confirmed, a node removed or
 * registered again), and a finding refused costs a store read, not a
 * refusal.
 */
enum { CACHE_SECONDS = 60, RECHECK_SECONDS = 5, CACHE_MAX = 100000, CACHE_BUCKETS = 4096 };

struct cached_token {
	struct cached_token *next;
	uint8_t digest[crypto_hash_sha256_BYTES]; /* of the whole token */
	enum role role;
	char node[64];	 /* ROLE_NODE: whose credential (a DNS label) */
	int64_t recheck; /* until then, let in without reading the store */
	int64_t until;	 /* until then, let past the throttle (auth_known) */
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cached_token **cache; /* CACHE_BUCKETS chains, or NULL */
static size_t cache_count;
static uint64_t cache_gen; /* bumped by every forget() */

static void token_digest(const char *token, uint8_t digest[crypto_hash_sha256_BYTES])
{
	crypto_hash_sha256(digest, (const uint8_t *)token, strlen(token));
}

static struct cached_token **bucket(const uint8_t digest[crypto_hash_sha256_BYTES])
{
	return &cache[(digest[0] | digest[1] << 8) % CACHE_BUCKETS];
}

/* Unlinks *link and wipes it: a live token's digest is not left in freed
 * memory (a core dump) any more than the token is. */
static void drop(struct cached_token **link)
{
	struct cached_token *e = *link;

	*link = e->next;
	crypto_wipe(e, sizeof(*e));
	free(e);
	--cache_count;
}

/* Empties the cache. With cache_lock held. */
static void drop_all(void)
{
	for (size_t i = 0; cache && i < CACHE_BUCKETS; ++i)
		while (cache[i])
			drop(&cache[i]);
}

/* A token seen valid: until its recheck (fresh) to be let in without the
 * store, until its end to pass the throttle (auth_known). */
static enum role cached(const uint8_t digest[crypto_hash_sha256_BYTES], int64_t now, bool fresh, char *node,
			size_t nodelen)
{
	struct cached_token **link, *e;
	enum role role = ROLE_NONE;

	pthread_mutex_lock(&cache_lock);
	for (link = cache ? bucket(digest) : NULL; link && (e = *link);) {
		if (e->until <= now) {
			drop(link);
			continue;
		}
		if (crypto_equal(e->digest, digest, sizeof(e->digest)) && (fresh ? e->recheck : e->until) > now) {
			role = e->role;
			snprintf(node, nodelen, "%s", e->node);
		}
		link = &e->next;
	}
	pthread_mutex_unlock(&cache_lock);
	return role;
}

/* The generation a check reads the store in; remember() wants it back. */
static uint64_t generation(void)
{
	uint64_t gen;

	pthread_mutex_lock(&cache_lock);
	gen = cache_gen;
	pthread_mutex_unlock(&cache_lock);
	return gen;
}

/* Refused (false) if something was dropped since gen, since what the store
 * said then may be what was dropped; false also without memory. */
static bool remember(const uint8_t digest[crypto_hash_sha256_BYTES], enum role role, const char *node, int64_t now,
		     uint64_t gen)
{
	struct cached_token **link, *e = NULL;

	pthread_mutex_lock(&cache_lock);
	if (gen != cache_gen)
		goto out;
	if (!cache && !(cache = calloc(CACHE_BUCKETS, sizeof(*cache))))
		goto out; /* only slower: every request reads the store */
	for (link = bucket(digest); *link && !e; link = &(*link)->next)
		if (crypto_equal((*link)->digest, digest, sizeof((*link)->digest)))
			e = *link;
	if (!e) {
		/* Full: start over rather than choose whom to evict (each
		 * is read from the store once more). */
		if (cache_count >= CACHE_MAX)
			drop_all();
		if (!(e = calloc(1, sizeof(*e))))
			goto out;
		memcpy(e->digest, digest, sizeof(e->digest));
		link = bucket(digest);
		e->next = *link;
		*link = e;
		++cache_count;
	}
	e->role = role;
	snprintf(e->node, sizeof(e->node), "%s", node);
	e->until = now + CACHE_SECONDS;
	e->recheck = now + (role == ROLE_NODE ? CACHE_SECONDS : RECHECK_SECONDS);
out:
	pthread_mutex_unlock(&cache_lock);
	return e;
}

/* Drops the entries of a role (node NULL) or of a node's credentials, and
 * refuses what checks begun before find: the new generation. */
static uint64_t forget(enum role role, const char *node)
{
	struct cached_token **link;
	uint64_t gen;

	pthread_mutex_lock(&cache_lock);
	gen = ++cache_gen;
	for (size_t i = 0; cache && i < CACHE_BUCKETS; ++i) {
		for (link = &cache[i]; *link;) {
			if (node ? (*link)->role == ROLE_NODE && !strcmp((*link)->node, node) : (*link)->role == role)
				drop(link);
			else
				link = &(*link)->next;
		}
	}
	pthread_mutex_unlock(&cache_lock);
	return gen;
}

void auth_forget_node(const char *name)
{
	forget(ROLE_NODE, name);
}

void auth_free(void)
{
	pthread_mutex_lock(&cache_lock);
	drop_all();
	free(cache);
	cache = NULL;
	pthread_mutex_unlock(&cache_lock);
}

enum role auth_known(const char *authorization, char *node, size_t nodelen)
{
	uint8_t whole[crypto_hash_sha256_BYTES];
	enum role role;

	*node = '\0';
	if (!authorization || strncmp(authorization, "Bearer ", 7) || strlen(authorization + 7) >= 256)
		return ROLE_NONE;
	token_digest(authorization + 7, whole);
	role = cached(whole, time(NULL), false, node, nodelen);
	crypto_wipe(whole, sizeof(whole));
	return role;
}

/* The first request with a pending secret makes it the current one, which
 * its check may then remember: *gen is the generation it read the store
 * in, moved past our own drop if nothing else was dropped meanwhile (else
 * what the store said may be stale, and the entry is refused). */
static bool confirm(struct manager *m, const char *key, const char *secret, enum role role, const char *node,
		    uint64_t *gen)
{
	char hash[65];
	uint64_t after;
	int ret;

	auth_hash(secret, hash);
	ret = cluster_secret_confirm(m->kv, key, hash, role == ROLE_NODE ? node : NULL, time(NULL));
	sodium_memzero(hash, sizeof(hash));
	if (ret) {
		/* Still pending: it works, and the next request tries again. */
		manager_logl(m, LOG_ERROR, "cannot confirm the new %s: %s", role == ROLE_NODE ? "credential" : "token",
			    ret == -ESTALE ? "replaced by a newer rotation" : kv_error());
		return false;
	}
	/* The old one is refused from now on: not from our cache either. */
	if ((after = forget(role, role == ROLE_NODE ? node : NULL)) == *gen + 1)
		*gen = after;
	if (role == ROLE_NODE)
		manager_log(m, "node %s confirmed its new credential; the old one no longer works", node);
	else
		manager_log(m, "the new %s token is confirmed; the old one no longer works",
			    role == ROLE_ADMIN ? "admin" : "reader");
	return true;
}

enum role auth_check(struct manager *m, const char *authorization, char *node, size_t nodelen)
{
	char buf[256], key[300], *tok, *id, *secret = NULL;
	uint8_t whole[crypto_hash_sha256_BYTES];
	enum cluster_match match = CLUSTER_MATCH_NONE;
	enum role role = ROLE_NONE;
	int64_t now = time(NULL);
	bool down = false;
	uint64_t gen;

	*node = '\0';
	if (!authorization || strncmp(authorization, "Bearer ", 7) || strlen(authorization + 7) >= sizeof(buf))
		return ROLE_NONE;
	snprintf(buf, sizeof(buf), "%s", authorization + 7);
	tok = buf;
	token_digest(tok, whole);
	if ((role = cached(whole, now, true, node, nodelen)) != ROLE_NONE)
		goto out;
	gen = generation(); /* before the store is read: see cache_gen */
	if (!strncmp(tok, "wefta1:", 7) || !strncmp(tok, "weftr1:", 7)) {
		snprintf(key, sizeof(key), CLUSTER_PREFIX "admin/%s", tok[4] == 'a' ? "admin" : "reader");
		secret = tok + 7;
		if ((match = matches(m, key, secret, now, &down)))
			role = tok[4] == 'a' ? ROLE_ADMIN : ROLE_READER;
	} else if ((!strncmp(tok, "weftj1:", 7) || !strncmp(tok, "weftn1:", 7)) && (secret = strchr(tok + 7, ':'))) {
		id = tok + 7;
		*secret++ = '\0';
		if (tok[4] == 'j' && strspn(id, "abcdefghijklmnopqrstuvwxyz0123456789") == strlen(id) && *id) {
			snprintf(key, sizeof(key), CLUSTER_PREFIX "tokens/%s", id);
			role = matches(m, key, secret, now, &down) == CLUSTER_MATCH_CURRENT ? ROLE_JOIN : ROLE_NONE;
		} else if (tok[4] == 'n' && cluster_name_valid(id)) {
			snprintf(key, sizeof(key), CLUSTER_PREFIX "credentials/%s", id);
			if ((match = matches(m, key, secret, now, &down))) {
				role = ROLE_NODE;
				snprintf(node, nodelen, "%s", id);
			}
		}
	}
	/* Remembered once current: a pending one is confirmed first. */
	if ((role == ROLE_ADMIN || role == ROLE_READER || role == ROLE_NODE) &&
	    (match == CLUSTER_MATCH_CURRENT || confirm(m, key, secret, role, node, &gen)))
		remember(whole, role, node, now, gen);
	if (role == ROLE_NONE && down)
		role = ROLE_UNKNOWN;
out:
	sodium_memzero(buf, sizeof(buf));
	crypto_wipe(whole, sizeof(whole));
	return role;
}

static int write_secret_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	if (n >= 0)
		n = write(fd, "\n", 1);
	close(fd);
	return n < 0 ? -EIO : 0;
}

/* The first manager on a store makes the admin and reader tokens. */
int auth_bootstrap(struct manager *m, char *err, size_t errlen)
{
	static const char *const names[] = { "admin", "reader" };

	for (int i = 0; i < 2; ++i) {
		char secret[64], token[80], hash[65], key[64], path[PATH_MAX_LEN + 16], *doc;
		int ret;

		snprintf(key, sizeof(key), CLUSTER_PREFIX "admin/%s", names[i]);
		new_secret(secret, sizeof(secret));
		snprintf(token, sizeof(token), "weft%c1:%s", i ? 'r' : 'a', secret);
		auth_hash(secret, hash);
		if (asprintf(&doc, "{\"hash\":\"%s\"}", hash) < 0)
			return -ENOMEM;
		ret = kv_create(m->kv, key, doc, strlen(doc), NULL);
		free(doc);
		if (!ret) {
			snprintf(path, sizeof(path), "%s/%s.token", m->state_dir, names[i]);
			unlink(path);
			if ((ret = write_secret_file(path, token))) {
				snprintf(err, errlen, "cannot write %s: %s", path, strerror(-ret));
				return ret;
			}
			manager_log(m, "made the %s token: %s", names[i], path);
		} else if (ret != -ECANCELED) {
			snprintf(err, errlen, "%s", kv_error());
			return ret;
		}
		sodium_memzero(secret, sizeof(secret));
		sodium_memzero(token, sizeof(token));
	}
	return 0;
}

int auth_join_token(struct manager *m, int64_t ttl, char *out, size_t outlen, json_t **info)
{
	char id[16], secret[64], hash[65], key[64], *doc;
	uint8_t raw[5];
	int64_t expires = time(NULL) + ttl;
	int ret;

	randombytes_buf(raw, sizeof(raw));
	for (size_t i = 0; i < sizeof(raw) * 2; ++i)
		id[i] = "0123456789abcdefghijklmnopqrstuv"[(raw[i / 2] >> (i % 2 ? 0 : 4)) & 0x0f];
	id[sizeof(raw) * 2] = '\0';
	new_secret(secret, sizeof(secret));
	auth_hash(secret, hash);
	snprintf(key, sizeof(key), CLUSTER_PREFIX "tokens/%s", id);
	if (asprintf(&doc, "{\"hash\":\"%s\",\"expires\":%lld}", hash, (long long)expires) < 0)
		return -ENOMEM;
	ret = kv_create(m->kv, key, doc, strlen(doc), NULL);
	free(doc);
	if (!ret) {
		snprintf(out, outlen, "weftj1:%s:%s", id, secret);
		*info = json_pack("{s:s, s:I}", "id", id, "expires", (json_int_t)expires);
	}
	sodium_memzero(secret, sizeof(secret));
	return ret;
}

int auth_new_credential(const char *node, char *out, size_t outlen, char hash[65])
{
	char secret[64];

	new_secret(secret, sizeof(secret));
	auth_hash(secret, hash);
	snprintf(out, outlen, "weftn1:%s:%s", node, secret);
	sodium_memzero(secret, sizeof(secret));
	return 0;
}

int auth_rotate(struct manager *m, enum role role, char *out, size_t outlen)
{
	const char *name = role == ROLE_ADMIN ? "admin" : "reader";
	char secret[64], hash[65], key[64], path[PATH_MAX_LEN + 16];
	int ret;

	new_secret(secret, sizeof(secret));
	auth_hash(secret, hash);
	snprintf(key, sizeof(key), CLUSTER_PREFIX "admin/%s", name);
	snprintf(out, outlen, "weft%c1:%s", role == ROLE_ADMIN ? 'a' : 'r', secret);
	sodium_memzero(secret, sizeof(secret));
	if ((ret = cluster_secret_next(m->kv, key, hash)))
		goto out;
	/* The file the first manager wrote gets the new token: a restarted
	 * manager, or someone reading it, must not find the old one. */
	snprintf(path, sizeof(path), "%s/%s.token", m->state_dir, name);
	if (!access(path, F_OK)) {
		size_t n = strlen(out);

		out[n] = '\n';
		ret = file_replace(path, out, n + 1, 0600);
		out[n] = '\0';
		if (ret)
			manager_logl(m, LOG_ERROR, "cannot write the new %s token to %s: %s", name, path, strerror(-ret));
		ret = 0;
	}
out:
	if (ret)
		sodium_memzero(out, outlen);
	return ret;
}

int auth_rotate_credential(struct manager *m, const char *node, char *out, size_t outlen)
{
	char hash[65], key[128];
	int ret;

	auth_new_credential(node, out, outlen, hash);
	snprintf(key, sizeof(key), CLUSTER_PREFIX "credentials/%s", node);
	if ((ret = cluster_secret_next(m->kv, key, hash)))
		sodium_memzero(out, outlen);
	return ret;
}
