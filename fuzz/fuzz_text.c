// SPDX-License-Identifier: MIT
/* The small text parsers: endpoints, prefixes, numbers, keys. A value that
 * parses must format back to something that parses to the same value. */
#include <stdlib.h>
#include <string.h>

#include "util/addr.h"
#include "util/key.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), buf[ADDR_STRLEN];
	union sockaddr_any a, b;
	uint8_t key[32], addr[16], cidr;
	uint64_t v;
	int family;

	memcpy(s, data, size);
	s[size] = '\0';
	if (!addr_parse_endpoint(&a, s)) {
		addr_format_endpoint(buf, &a.sa);
		if (addr_parse_endpoint(&b, buf) || memcmp(&a, &b, sizeof(a)))
			abort();
	}
	addr_parse_prefix(s, &family, addr, &cidr);
	addr_parse_u64(s, 65535, &v);
	if (key_from_base64(key, s)) {
		char out[KEY_B64_LEN];

		key_to_base64(out, key);
		if (strcmp(out, s))
			abort();
	}
	key_from_hex(key, s);
	free(s);
	return 0;
}
