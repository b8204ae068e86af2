// SPDX-License-Identifier: MIT
/* Secrets that rotate (lib/cluster/credentials.c) and a registration sent
 * again after its answer was lost, on an SQLite store in a temporary
 * directory. */
#include "test.h"

#include <stdlib.h>
#include <unistd.h>

#include "cluster/cluster.h"
#include "crypto/crypto.h"

#define KEY1 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
#define KEY2 "BAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
#define SECRET "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static char dir[] = "/tmp/weft-test-credentials.XXXXXX";
static struct kv *kv;
static struct cluster cl;

static struct cluster *setup(void)
{
	char path[128], err[512];

	if (kv)
		return &cl;
	crypto_init();
	if (!mkdtemp(dir))
		return NULL;
	snprintf(path, sizeof(path), "sqlite:%s/store.db", dir);
	if (!(kv = kv_open(path, err, sizeof(err))) ||
	    cluster_init(&cl, kv, "10.92.0.0/16", 24, NULL, 0, 0, err, sizeof(err))) {
		fprintf(stderr, "  %s\n", err);
		return NULL;
	}
	return &cl;
}

static json_t *request(const char *name, const char *key, const char *secret)
{
	json_t *req = json_pack("{s:s, s:s, s:[s]}", "name", name, "publicKey", key, "endpoints", "192.0.2.1:51820");

	if (secret)
		json_object_set_new(req, "registrationSecret", json_string(secret));
	return req;
}

static int reg(const char *name, const char *key, const char *secret, const char *cred, json_t **rec)
{
	char err[512], hash[65];
	json_t *req = request(name, key, secret);
	int ret;

	cluster_hash(cred, hash);
	*rec = NULL;
	ret = cluster_node_register(&cl, req, hash, 100, rec, err, sizeof(err));
	json_decref(req);
	return ret;
}

static enum cluster_match match_at(const char *key, const char *secret)
{
	char hash[65];
	json_t *doc;
	enum cluster_match m;

	cluster_hash(secret, hash);
	if (cluster_secret_read(kv, key, &doc, NULL))
		return CLUSTER_MATCH_NONE;
	m = cluster_secret_match(doc, hash);
	json_decref(doc);
	return m;
}

TEST(credentials_hash_and_match)
{
	char hash[65], other[65];
	json_t *doc;

	cluster_hash("abc", hash);
	/* SHA-256("abc"), as auth.c hashed it with OpenSSL before. */
	CHECK(!strcmp(hash, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
	cluster_hash("abd", other);
	doc = json_pack("{s:s}", "hash", hash);
	CHECK(cluster_secret_match(doc, hash) == CLUSTER_MATCH_CURRENT);
	CHECK(cluster_secret_match(doc, other) == CLUSTER_MATCH_NONE);
	json_object_set_new(doc, "next", json_string(other));
	CHECK(cluster_secret_match(doc, other) == CLUSTER_MATCH_NEXT);
	CHECK(cluster_secret_match(doc, hash) == CLUSTER_MATCH_CURRENT);
	json_object_set_new(doc, "next", json_string("short"));
	CHECK(cluster_secret_match(doc, other) == CLUSTER_MATCH_NONE);
	json_decref(doc);
}

TEST(credentials_admin_token_rotates)
{
	char old[65], new[65], newer[65];
	struct kv_item it;

	CHECK(setup());
	cluster_hash("old", old);
	CHECK(!kv_create(kv, CLUSTER_PREFIX "admin/admin", old, strlen(old), NULL)); /* a plain hash, as before */
	CHECK(match_at(CLUSTER_PREFIX "admin/admin", "old") == CLUSTER_MATCH_CURRENT);
	cluster_hash("new", new);
	CHECK(!cluster_secret_next(kv, CLUSTER_PREFIX "admin/admin", new));
	CHECK(match_at(CLUSTER_PREFIX "admin/admin", "old") == CLUSTER_MATCH_CURRENT);
	CHECK(match_at(CLUSTER_PREFIX "admin/admin", "new") == CLUSTER_MATCH_NEXT);
	/* Asked again: the newer one replaces the pending one. */
	cluster_hash("newer", newer);
	CHECK(!cluster_secret_next(kv, CLUSTER_PREFIX "admin/admin", newer));
	CHECK(match_at(CLUSTER_PREFIX "admin/admin", "new") == CLUSTER_MATCH_NONE);
	CHECK(cluster_secret_confirm(kv, CLUSTER_PREFIX "admin/admin", new, NULL, 5) == -ESTALE);
	CHECK(!cluster_secret_confirm(kv, CLUSTER_PREFIX "admin/admin", newer, NULL, 5));
	CHECK(match_at(CLUSTER_PREFIX "admin/admin", "newer") == CLUSTER_MATCH_CURRENT);
	CHECK(match_at(CLUSTER_PREFIX "admin/admin", "old") == CLUSTER_MATCH_NONE);
	/* Confirmed twice (two requests at once): the second is a no-op. */
	CHECK(!cluster_secret_confirm(kv, CLUSTER_PREFIX "admin/admin", newer, NULL, 6));
	CHECK(!kv_get(kv, CLUSTER_PREFIX "admin/admin", &it));
	CHECK(!strstr(it.value, "\"next\"") && strstr(it.value, "\"rotated\":5"));
	kv_item_free(&it);
	CHECK(cluster_secret_next(kv, CLUSTER_PREFIX "admin/nobody", new) == -ENOENT);
}

TEST(credentials_node_rotates)
{
	char err[512], new[65];
	json_t *rec = NULL, *got = NULL;
	const char *key = CLUSTER_PREFIX "credentials/rot";

	CHECK(setup());
	CHECK(!reg("rot", KEY1, NULL, "cred-1", &rec));
	json_decref(rec);
	CHECK(match_at(key, "cred-1") == CLUSTER_MATCH_CURRENT);
	CHECK(!cluster_credential_request(&cl, "rot", 200, &rec, err, sizeof(err)));
	CHECK(json_integer_value(json_object_get(json_object_get(rec, "credentialRotation"), "requested")) == 200);
	json_decref(rec);
	CHECK(cluster_credential_request(&cl, "none", 200, &rec, err, sizeof(err)) == -ENOENT && strstr(err, "none"));
	cluster_hash("cred-2", new);
	CHECK(!cluster_secret_next(kv, key, new));
	CHECK(match_at(key, "cred-1") == CLUSTER_MATCH_CURRENT && match_at(key, "cred-2") == CLUSTER_MATCH_NEXT);
	CHECK(!cluster_secret_confirm(kv, key, new, "rot", 210));
	CHECK(match_at(key, "cred-1") == CLUSTER_MATCH_NONE && match_at(key, "cred-2") == CLUSTER_MATCH_CURRENT);
	/* The record says when, and asks no more. */
	CHECK(!cluster_node_get(&cl, "rot", &got));
	CHECK(json_integer_value(json_object_get(json_object_get(got, "credentialRotation"), "rotated")) == 210);
	CHECK(!json_object_get(json_object_get(got, "credentialRotation"), "requested"));
	CHECK(json_is_string(json_object_get(got, "publicKey")));
	json_decref(got);
	CHECK(!cluster_node_remove(&cl, "rot", 300, err, sizeof(err)));
}

TEST(credentials_registration_again)
{
	char err[512];
	json_t *first = NULL, *again = NULL, *req;

	CHECK(setup());
	CHECK(!reg("again", KEY2, SECRET, "lost", &first));
	/* The answer was lost: the same name, key and secret. */
	CHECK(reg("again", KEY2, SECRET, "second", &again) == CLUSTER_REGISTERED_AGAIN);
	CHECK(json_equal(json_object_get(first, "subnets"), json_object_get(again, "subnets")));
	CHECK(json_equal(json_object_get(first, "publicKey"), json_object_get(again, "publicKey")));
	/* The record says the credential changed: every manager's watch
	 * drops the old one from its cache. */
	CHECK(json_integer_value(json_object_get(json_object_get(again, "credentialRotation"), "rotated")) == 100);
	json_decref(again);
	/* As weftd asks once it has joined: for the subnets it holds, which
	 * its first registration holds already. */
	{
		json_t *with = request("again", KEY2, SECRET);
		char hash[65];

		json_object_set(with, "subnets", json_object_get(first, "subnets"));
		cluster_hash("third-try", hash);
		CHECK(cluster_node_register(&cl, with, hash, 100, &again, err, sizeof(err)) == CLUSTER_REGISTERED_AGAIN);
		CHECK(json_equal(json_object_get(first, "subnets"), json_object_get(again, "subnets")));
		json_decref(again);
		json_decref(with);
		CHECK(reg("again", KEY2, SECRET, "second", &again) == CLUSTER_REGISTERED_AGAIN);
		json_decref(again);
	}
	CHECK(match_at(CLUSTER_PREFIX "credentials/again", "second") == CLUSTER_MATCH_CURRENT);
	CHECK(match_at(CLUSTER_PREFIX "credentials/again", "lost") == CLUSTER_MATCH_NONE);
	/* Anyone else: refused as before. */
	CHECK(reg("again", KEY2, NULL, "x", &again) == -EEXIST && !again);
	CHECK(reg("again", KEY2, "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", "x", &again) == -EEXIST);
	CHECK(reg("again", KEY1, SECRET, "x", &again) == -EEXIST);
	CHECK(match_at(CLUSTER_PREFIX "credentials/again", "second") == CLUSTER_MATCH_CURRENT);
	/* A bad secret is refused, and not quoted. */
	req = request("bad", KEY1, "not-hex-" SECRET);
	CHECK(cluster_node_register(&cl, req, "h", 1, &again, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "registrationSecret") && !strstr(err, SECRET));
	json_decref(req);
	json_decref(first);
	CHECK(!cluster_node_remove(&cl, "again", 300, err, sizeof(err)));
	/* Removed, then registered anew with the same secret: a new node. */
	CHECK(!reg("again", KEY2, SECRET, "third", &first));
	json_decref(first);
}

/* After every test: the store goes. */
__attribute__((destructor)) static void teardown(void)
{
	static const char *const files[] = { "store.db", "store.db-wal", "store.db-shm" };
	char path[128];

	if (!kv)
		return;
	kv_close(kv);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); ++i) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		unlink(path);
	}
	if (rmdir(dir))
		fprintf(stderr, "  cannot remove %s: %s\n", dir, strerror(errno));
}
