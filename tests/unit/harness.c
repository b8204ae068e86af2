// SPDX-License-Identifier: MIT
#include "test.h"

#include <ctype.h>
#include <stdlib.h>

#include "crypto/crypto.h"

static struct test_case *head, **tail = &head;
static int failures_in_case;
static const char *skipped_because;

void test_register(struct test_case *tc)
{
	*tail = tc;
	tail = &tc->next;
}

void test_fail(const char *file, int line, const char *expr)
{
	fprintf(stderr, "  %s:%d: check failed: %s\n", file, line, expr);
	++failures_in_case;
}

void test_skip(const char *why)
{
	skipped_because = why;
}

void test_hexdump(const char *label, const void *p, size_t n)
{
	const unsigned char *b = p;

	fprintf(stderr, "    %-5s ", label);
	for (size_t i = 0; i < n; ++i)
		fprintf(stderr, "%02x", b[i]);
	fputc('\n', stderr);
}

size_t test_unhex(unsigned char *out, size_t cap, const char *hex)
{
	size_t n = 0;
	int hi = -1;

	for (; *hex; ++hex) {
		int v;

		if (isspace((unsigned char)*hex))
			continue;
		v = isdigit((unsigned char)*hex) ? *hex - '0' : (tolower((unsigned char)*hex) - 'a' + 10);
		if (hi < 0) {
			hi = v;
			continue;
		}
		if (n == cap)
			abort();
		out[n++] = (unsigned char)(hi << 4 | v);
		hi = -1;
	}
	return n;
}

int main(int argc, char **argv)
{
	int failed = 0, passed = 0;

	if (crypto_init()) {
		fprintf(stderr, "crypto_init failed\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (struct test_case *tc = head; tc; tc = tc->next) {
		if (argc > 1 && !strstr(tc->name, argv[1]))
			continue;
		failures_in_case = 0;
		skipped_because = NULL;
		tc->fn();
		if (skipped_because && !failures_in_case) {
			printf("SKIP %s (%s)\n", tc->name, skipped_because);
			continue;
		}
		printf("%s %s\n", failures_in_case ? "FAIL" : "PASS", tc->name);
		if (failures_in_case)
			++failed;
		else
			++passed;
	}
	return failed ? 1 : 0;
}
