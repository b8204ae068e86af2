/* SPDX-License-Identifier: MIT */
/*
 * A minimal unit-test harness. Each TEST() registers itself; the runner
 * prints one "PASS name" or "FAIL name" line per test, which tests/run counts.
 */
#ifndef WEFT_TEST_H
#define WEFT_TEST_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct test_case {
	const char *name;
	void (*fn)(void);
	struct test_case *next;
};

void test_register(struct test_case *tc);
void test_fail(const char *file, int line, const char *expr);
/* Marks the running test skipped: the runner prints "SKIP name (why)", not
 * PASS, since a test that returned before its checks proved nothing. */
void test_skip(const char *why);
void test_hexdump(const char *label, const void *p, size_t n);
/* Parses hex (whitespace ignored) into out; returns the byte count. */
size_t test_unhex(unsigned char *out, size_t cap, const char *hex);

#define TEST(name)                                                                       \
	static void test_##name(void);                                                   \
	static struct test_case tc_##name = { #name, test_##name, NULL };                \
	__attribute__((constructor)) static void reg_##name(void) { test_register(&tc_##name); } \
	static void test_##name(void)

#define CHECK(cond)                                                                      \
	do {                                                                             \
		if (!(cond))                                                             \
			test_fail(__FILE__, __LINE__, #cond);                            \
	} while (0)

#define CHECK_MEM(a, b, n)                                                               \
	do {                                                                             \
		if (memcmp((a), (b), (n))) {                                             \
			test_fail(__FILE__, __LINE__, "memcmp(" #a ", " #b ")");         \
			test_hexdump("got", (a), (n));                                   \
			test_hexdump("want", (b), (n));                                  \
		}                                                                        \
	} while (0)

#endif
