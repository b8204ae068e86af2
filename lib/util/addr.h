/* SPDX-License-Identifier: MIT */
/* Numeric IP endpoints and prefixes as text, both ways. */
#ifndef WEFT_ADDR_H
#define WEFT_ADDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

union sockaddr_any {
	struct sockaddr sa;
	struct sockaddr_in in4;
	struct sockaddr_in6 in6;
};

enum { ADDR_STRLEN = 80 };

/* "1.2.3.4:51820" or "[2001:db8::1]:51820" (a %zone allowed inside the
 * brackets, by name or number). Returns 0 or -EINVAL. */
int addr_parse_endpoint(union sockaddr_any *out, const char *s);
/* Writes the same forms (numeric, with %scope as a number). */
const char *addr_format_endpoint(char buf[ADDR_STRLEN], const struct sockaddr *sa);
/* "10.0.0.0/8" or "fd00::/64": the mask is required. Returns 0 or -EINVAL. */
int addr_parse_prefix(const char *s, int *family, void *addr, uint8_t *cidr);
/* Unsigned decimal, digits only, at most max. Returns 0 or -EINVAL. */
int addr_parse_u64(const char *s, uint64_t max, uint64_t *out);

#endif
