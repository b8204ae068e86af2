// SPDX-License-Identifier: MIT
/*
 * weft-manager's token cache (src/weft-manager/auth.c, included here: its
 * cache is static), and a check that races a rotation, on an SQLite store
 * in a temporary directory.
 */
#include "test.h"

#include "../../src/weft-manager/auth.c"

/* auth.c logs through main.c's; the tests have no log. */
void manager_logl(struct manager *m, enum manager_level level, const char *fmt, ...)
{
}

static void digest_of(const char *token, uint8_t out[crypto_hash_sha256_BYTES])
{
	token_digest(token, out);
}

TEST(auth_cache_roles_and_times)
{
	uint8_t node[crypto_hash_sha256_BYTES], admin[crypto_hash_sha256_BYTES];
	char name[64];

	digest_of("weftn1:n1:secret", node);
	digest_of("wefta1:secret", admin);
	CHECK(remember(node, ROLE_NODE, "n1", 1000, generation()));
	CHECK(remember(admin, ROLE_ADMIN, "", 1000, generation()));
	CHECK(cached(node, 1000 + CACHE_SECONDS - 1, true, name, sizeof(name)) == ROLE_NODE);
	CHECK(!strcmp(name, "n1"));
	/* The admin token is read again after RECHECK_SECONDS, but still
	 * passes the throttle until CACHE_SECONDS. */
	CHECK(cached(admin, 1000 + RECHECK_SECONDS - 1, true, name, sizeof(name)) == ROLE_ADMIN);
	CHECK(!strcmp(name, ""));
	CHECK(cached(admin, 1000 + RECHECK_SECONDS, true, name, sizeof(name)) == ROLE_NONE);
	CHECK(cached(admin, 1000 + RECHECK_SECONDS, false, name, sizeof(name)) == ROLE_ADMIN);
	/* Past their time, both go when their chains are walked. */
	CHECK(cached(node, 1000 + CACHE_SECONDS, false, name, sizeof(name)) == ROLE_NONE);
	CHECK(cached(admin, 1000 + CACHE_SECONDS, false, name, sizeof(name)) == ROLE_NONE);
	CHECK(cache_count == 0);
	auth_free();
}

TEST(auth_cache_forget)
{
	uint8_t n1[crypto_hash_sha256_BYTES], n1b[crypto_hash_sha256_BYTES], n2[crypto_hash_sha256_BYTES],
		admin[crypto_hash_sha256_BYTES], reader[crypto_hash_sha256_BYTES];
	char name[64];

	digest_of("weftn1:n1:old", n1);
	digest_of("weftn1:n1:new", n1b);
	digest_of("weftn1:n2:secret", n2);
	digest_of("wefta1:secret", admin);
	digest_of("weftr1:secret", reader);
	CHECK(remember(n1, ROLE_NODE, "n1", 1000, generation()));
	CHECK(remember(n1b, ROLE_NODE, "n1", 1000, generation()));
	CHECK(remember(n2, ROLE_NODE, "n2", 1000, generation()));
	CHECK(remember(admin, ROLE_ADMIN, "", 1000, generation()));
	CHECK(remember(reader, ROLE_READER, "", 1000, generation()));
	/* The same token again is one entry. */
	CHECK(remember(n2, ROLE_NODE, "n2", 1001, generation()));
	CHECK(cache_count == 5);
	auth_forget_node("n1");
	CHECK(cached(n1, 1001, true, name, sizeof(name)) == ROLE_NONE);
	CHECK(cached(n1b, 1001, true, name, sizeof(name)) == ROLE_NONE);
	CHECK(cached(n2, 1001, true, name, sizeof(name)) == ROLE_NODE);
	forget(ROLE_ADMIN, NULL);
	CHECK(cached(admin, 1001, true, name, sizeof(name)) == ROLE_NONE);
	CHECK(cached(reader, 1001, true, name, sizeof(name)) == ROLE_READER);
	CHECK(cache_count == 2);
	auth_free();
	CHECK(cache_count == 0);
}

/* A check that read the store before a drop may not remember what it read. */
TEST(auth_cache_generation)
{
	uint8_t old[crypto_hash_sha256_BYTES];
	char name[64];
	uint64_t gen;

	digest_of("weftn1:n1:old", old);
	gen = generation();
	auth_forget_node("n1"); /* the new credential confirmed meanwhile */
	CHECK(!remember(old, ROLE_NODE, "n1", 1000, gen));
	CHECK(cached(old, 1000, true, name, sizeof(name)) == ROLE_NONE);
	CHECK(remember(old, ROLE_NODE, "n1", 1000, generation()));
	auth_free();
}

static char *read_token(const char *dir, const char *name, char *out, size_t len)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.token", dir, name);
	if (!(f = fopen(path, "r")))
		return NULL;
	if (!fgets(out, (int)len, f))
		*out = '\0';
	fclose(f);
	out[strcspn(out, "\n")] = '\0';
	return out;
}

static void bearer(char *out, size_t len, const char *token)
{
	snprintf(out, len, "Bearer %s", token);
}

/*
 * The race itself, on a store: a check with the old admin token reads
 * it current, then the new token is confirmed, then the check would
 * remember the old one. It may not, and the old one is refused at once.
 */
TEST(auth_rotation_race)
{
	static const char *const files[] = { "store.db", "store.db-wal", "store.db-shm", "admin.token",
					     "reader.token" };
	char dir[] = "/tmp/weft-test-auth.XXXXXX", url[128], err[512], old[160], new[160], auth[200], name[64],
	     path[256];
	uint8_t old_digest[crypto_hash_sha256_BYTES], new_digest[crypto_hash_sha256_BYTES];
	static struct manager m;
	bool down = false;
	uint64_t gen;

	crypto_init();
	if (!mkdtemp(dir)) {
		test_skip("no temporary directory");
		return;
	}
	snprintf(url, sizeof(url), "sqlite:%s/store.db", dir);
	snprintf(m.state_dir, sizeof(m.state_dir), "%s", dir);
	CHECK((m.kv = kv_open(url, err, sizeof(err))));
	if (!m.kv)
		goto out;
	CHECK(!auth_bootstrap(&m, err, sizeof(err)));
	CHECK(read_token(dir, "admin", old, sizeof(old)));
	bearer(auth, sizeof(auth), old);
	CHECK(auth_check(&m, auth, name, sizeof(name)) == ROLE_ADMIN);
	CHECK(!auth_rotate(&m, ROLE_ADMIN, new, sizeof(new)));
	CHECK(strcmp(old, new));

	/* A check with the old token, cached no more (its recheck is due),
	 * reads the store: still current. */
	auth_free();
	gen = generation();
	CHECK(matches(&m, CLUSTER_PREFIX "admin/admin", old + 7, time(NULL), &down) == CLUSTER_MATCH_CURRENT);
	/* Meanwhile the new one is used, and confirmed. */
	bearer(auth, sizeof(auth), new);
	CHECK(auth_check(&m, auth, name, sizeof(name)) == ROLE_ADMIN);
	/* The confirming check remembered the new one... */
	digest_of(new, new_digest);
	CHECK(cached(new_digest, time(NULL), true, name, sizeof(name)) == ROLE_ADMIN);
	/* ...and the late one may not bring the old one back. */
	digest_of(old, old_digest);
	CHECK(!remember(old_digest, ROLE_ADMIN, "", time(NULL), gen));
	bearer(auth, sizeof(auth), old);
	CHECK(auth_check(&m, auth, name, sizeof(name)) == ROLE_NONE);
	CHECK(auth_known(auth, name, sizeof(name)) == ROLE_NONE);
	bearer(auth, sizeof(auth), new);
	CHECK(auth_check(&m, auth, name, sizeof(name)) == ROLE_ADMIN);
	CHECK(!down);
	crypto_wipe(old, sizeof(old));
	crypto_wipe(new, sizeof(new));
out:
	auth_free();
	kv_close(m.kv);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); ++i) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		unlink(path);
	}
	if (rmdir(dir))
		fprintf(stderr, "  cannot remove %s: %s\n", dir, strerror(errno));
}
