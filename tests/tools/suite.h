/* SPDX-License-Identifier: MIT */
/* What the store suites (kvsuite, clustersuite) share: PASS/FAIL lines as
 * tests/net's scripts print them, and emptying a prefix. */
#ifndef WEFT_TESTS_SUITE_H
#define WEFT_TESTS_SUITE_H

#include <stdio.h>

#include "store/kv.h"

static int passed, failed;

/* why: a string saying what the code under test last said. */
#define SUITE_CHECK(name, cond, why)                                                       \
	do {                                                                               \
		if (cond) {                                                                \
			++passed;                                                          \
			printf("PASS %s\n", name);                                         \
		} else {                                                                   \
			++failed;                                                          \
			printf("FAIL %s (%s:%d; %s)\n", name, __FILE__, __LINE__, why);    \
		}                                                                          \
		fflush(stdout);                                                            \
	} while (0)

static inline void suite_wipe(struct kv *kv, const char *prefix)
{
	struct kv_list l;

	if (kv_range(kv, prefix, &l))
		return;
	for (size_t i = 0; i < l.n; ++i)
		kv_delete(kv, l.items[i].key, NULL);
	kv_list_free(&l);
}

#endif
