// SPDX-License-Identifier: MIT
/* The trie against a deliberately naive model: a list scanned for the
 * longest matching prefix. */
#include "test.h"

#include <arpa/inet.h>
#include <stdlib.h>

#include "wg/allowedips.h"

enum { OWNERS = 16, MAX_ENTRIES = 4096 };

struct model_entry {
	int family;
	uint8_t key[16];
	uint8_t cidr;
	int owner;
	bool live;
};

static struct model_entry model[MAX_ENTRIES];
static unsigned nmodel;
static struct wg_aip_owner owners[OWNERS];

static bool prefix_match(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	for (unsigned i = 0; i < bits; ++i)
		if (((a[i / 8] >> (7 - i % 8)) & 1) != ((b[i / 8] >> (7 - i % 8)) & 1))
			return false;
	return true;
}

static void mask(uint8_t *k, unsigned cidr, unsigned bytes)
{
	for (unsigned i = 0; i < bytes * 8; ++i)
		if (i >= cidr)
			k[i / 8] &= (uint8_t)~(1 << (7 - i % 8));
}

static int model_lookup(int family, const uint8_t *addr)
{
	int best = -1, best_cidr = -1;

	for (unsigned i = 0; i < nmodel; ++i)
		if (model[i].live && model[i].family == family && model[i].cidr > best_cidr &&
		    prefix_match(model[i].key, addr, model[i].cidr)) {
			best = model[i].owner;
			best_cidr = model[i].cidr;
		}
	return best;
}

static void model_insert(int family, const uint8_t *key, uint8_t cidr, int owner)
{
	uint8_t k[16] = { 0 };

	memcpy(k, key, family == AF_INET ? 4 : 16);
	mask(k, cidr, family == AF_INET ? 4 : 16);
	for (unsigned i = 0; i < nmodel; ++i)
		if (model[i].live && model[i].family == family && model[i].cidr == cidr && !memcmp(model[i].key, k, 16)) {
			model[i].owner = owner;
			return;
		}
	model[nmodel].family = family;
	memcpy(model[nmodel].key, k, 16);
	model[nmodel].cidr = cidr;
	model[nmodel].owner = owner;
	model[nmodel].live = true;
	++nmodel;
}

static int owner_index(struct wg_aip_owner *o)
{
	return o ? (int)(o - owners) : -1;
}

/* Random addresses clustered in a few regions, so prefixes overlap. */
static void random_addr(int family, uint8_t *a)
{
	unsigned bytes = family == AF_INET ? 4 : 16;

	for (unsigned i = 0; i < bytes; ++i)
		a[i] = (uint8_t)rand();
	a[0] = (uint8_t)(10 + rand() % 3);
	if (rand() % 2)
		a[1] = 0;
}

TEST(allowedips_random_against_model)
{
	struct wg_allowedips t;

	srand(12345);
	for (int round = 0; round < 4; ++round) {
		wg_allowedips_init(&t);
		nmodel = 0;
		for (int i = 0; i < OWNERS; ++i)
			wg_aip_owner_init(&owners[i]);
		for (int i = 0; i < 1500; ++i) {
			int family = rand() % 2 ? AF_INET : AF_INET6;
			uint8_t a[16];
			uint8_t cidr = (uint8_t)(rand() % ((family == AF_INET ? 32 : 128) + 1));
			int owner = rand() % OWNERS;

			random_addr(family, a);
			CHECK(wg_allowedips_insert(&t, family, a, cidr, &owners[owner]) == 0);
			model_insert(family, a, cidr, owner);
		}
		/* Remove a third of the entries, some by owner. */
		for (unsigned i = 0; i < nmodel; i += 3) {
			CHECK(wg_allowedips_remove(&t, model[i].family, model[i].key, model[i].cidr,
						   &owners[model[i].owner]));
			model[i].live = false;
		}
		wg_allowedips_remove_owner(&t, &owners[round]);
		for (unsigned i = 0; i < nmodel; ++i)
			if (model[i].owner == round)
				model[i].live = false;
		for (int i = 0; i < 20000; ++i) {
			int family = rand() % 2 ? AF_INET : AF_INET6;
			uint8_t a[16];

			random_addr(family, a);
			if (owner_index(wg_allowedips_lookup(&t, family, a)) != model_lookup(family, a)) {
				CHECK(!"lookup differs from the model");
				break;
			}
		}
		wg_allowedips_free(&t);
	}
}

static int count_cb(void *ctx, int family, const uint8_t *addr, uint8_t cidr)
{
	++*(int *)ctx;
	return 0;
}

static struct wg_aip_owner *lookup4(struct wg_allowedips *t, const char *s)
{
	struct in_addr a;

	inet_pton(AF_INET, s, &a);
	return wg_allowedips_lookup(t, AF_INET, &a);
}

static void insert4(struct wg_allowedips *t, const char *s, uint8_t cidr, struct wg_aip_owner *o)
{
	struct in_addr a;

	inet_pton(AF_INET, s, &a);
	CHECK(wg_allowedips_insert(t, AF_INET, &a, cidr, o) == 0);
}

TEST(allowedips_basics)
{
	struct wg_allowedips t;
	struct wg_aip_owner a, b;
	struct in_addr x;
	int n = 0;

	wg_allowedips_init(&t);
	wg_aip_owner_init(&a);
	wg_aip_owner_init(&b);
	insert4(&t, "10.0.0.0", 8, &a);
	insert4(&t, "10.1.2.3", 24, &b); /* host bits are ignored */
	insert4(&t, "0.0.0.0", 0, &a);
	CHECK(lookup4(&t, "10.1.2.200") == &b);
	CHECK(lookup4(&t, "10.1.3.1") == &a);
	CHECK(lookup4(&t, "192.168.0.1") == &a);
	/* The same prefix moves to a new owner. */
	insert4(&t, "10.1.2.0", 24, &a);
	CHECK(lookup4(&t, "10.1.2.200") == &a);
	wg_allowedips_walk_owner(&b, count_cb, &n);
	CHECK(n == 0);
	n = 0;
	wg_allowedips_walk_owner(&a, count_cb, &n);
	CHECK(n == 3);
	inet_pton(AF_INET, "10.1.2.0", &x);
	CHECK(!wg_allowedips_remove(&t, AF_INET, &x, 24, &b));
	CHECK(wg_allowedips_remove(&t, AF_INET, &x, 24, &a));
	CHECK(lookup4(&t, "10.1.2.200") == &a); /* the /8 */
	CHECK(wg_allowedips_insert(&t, AF_INET, &x, 33, &a) == -EINVAL);
	CHECK(wg_allowedips_insert(&t, AF_UNIX, &x, 3, &a) == -EINVAL);
	wg_allowedips_remove_owner(&t, &a);
	CHECK(lookup4(&t, "10.1.2.200") == NULL);
	CHECK(t.count == 0 && t.root4 == NULL);
	wg_allowedips_free(&t);
}

/* A peer with thousands of prefixes, added and removed, leaves nothing. */
TEST(allowedips_many_then_empty)
{
	struct wg_allowedips t;
	struct wg_aip_owner a;
	uint8_t addr[16] = { 0xfd };

	wg_allowedips_init(&t);
	wg_aip_owner_init(&a);
	for (unsigned i = 0; i < 5000; ++i) {
		addr[14] = (uint8_t)(i >> 8);
		addr[15] = (uint8_t)i;
		CHECK(wg_allowedips_insert(&t, AF_INET6, addr, 128, &a) == 0);
	}
	CHECK(t.count == 5000);
	CHECK(wg_allowedips_lookup(&t, AF_INET6, addr) == &a);
	wg_allowedips_remove_owner(&t, &a);
	CHECK(t.count == 0 && t.root6 == NULL);
	wg_allowedips_free(&t);
}
