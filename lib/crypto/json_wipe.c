// SPDX-License-Identifier: MIT
/*
 * jansson's memory wiped when it is freed. A manager's reply carries a
 * credential or a token, a join request a registration secret; jansson
 * copies each string it parses or is given, and frees those copies without
 * clearing them. Rather than chase every json_t that may have held a
 * secret, the programs that handle them route all of jansson's frees
 * through here (json_set_alloc_funcs), once, before any JSON is made.
 */
#include <malloc.h>
#include <stdlib.h>

#include <jansson.h>

#include "crypto/crypto.h"

static void *json_alloc(size_t n)
{
	return malloc(n);
}

static void json_release(void *p)
{
	if (p)
		crypto_wipe(p, malloc_usable_size(p));
	free(p);
}

void crypto_wipe_json_frees(void)
{
	json_set_alloc_funcs(json_alloc, json_release);
}

bool crypto_json_frees_wiped(void)
{
	json_malloc_t m;
	json_free_t f;

	json_get_alloc_funcs(&m, &f);
	return f == json_release;
}
