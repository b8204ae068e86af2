// SPDX-License-Identifier: MIT
#include "text.h"

#include <stdint.h>

/* The length of the valid sequence at p, or 0. */
static size_t sequence(const unsigned char *p)
{
	unsigned n, min;
	uint32_t c = p[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 1, min = 0x80, c &= 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 2, min = 0x800, c &= 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 3, min = 0x10000, c &= 0x07;
	else
		return 0;
	for (unsigned i = 1; i <= n; ++i) {
		if ((p[i] & 0xc0) != 0x80) /* a NUL ends it too */
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	return n + 1;
}

bool text_utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		size_t n = sequence(p);

		if (!n)
			return false;
		p += n;
	}
	return true;
}

void text_utf8_clean(char *s)
{
	unsigned char *p = (unsigned char *)s;

	while (*p) {
		size_t n = sequence(p);

		if (!n) {
			*p++ = '?';
			continue;
		}
		p += n;
	}
}
