// SPDX-License-Identifier: MIT
#include "addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>

int addr_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; ++s) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (v > (max - (uint64_t)(*s - '0')) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

int addr_parse_endpoint(union sockaddr_any *out, const char *s)
{
	char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
	const char *colon, *port_str;
	uint64_t port;
	size_t len;

	memset(out, 0, sizeof(*out));
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		len = (size_t)(close - s - 1);
		port_str = close + 2;
		if (len == 0 || len >= sizeof(host))
			return -EINVAL;
		memcpy(host, s + 1, len);
		host[len] = '\0';
		char *zone = strchr(host, '%');

		if (zone) {
			uint64_t idx;

			*zone++ = '\0';
			if (addr_parse_u64(zone, UINT32_MAX, &idx) == 0)
				out->in6.sin6_scope_id = (uint32_t)idx;
			else if (!(out->in6.sin6_scope_id = if_nametoindex(zone)))
				return -EINVAL;
		}
		if (inet_pton(AF_INET6, host, &out->in6.sin6_addr) != 1)
			return -EINVAL;
		out->in6.sin6_family = AF_INET6;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -EINVAL;
		len = (size_t)(colon - s);
		if (len == 0 || len >= sizeof(host))
			return -EINVAL;
		memcpy(host, s, len);
		host[len] = '\0';
		if (inet_pton(AF_INET, host, &out->in4.sin_addr) != 1)
			return -EINVAL;
		out->in4.sin_family = AF_INET;
		port_str = colon + 1;
	}
	if (addr_parse_u64(port_str, 65535, &port))
		return -EINVAL;
	if (out->sa.sa_family == AF_INET)
		out->in4.sin_port = htons((uint16_t)port);
	else
		out->in6.sin6_port = htons((uint16_t)port);
	return 0;
}

const char *addr_format_endpoint(char buf[ADDR_STRLEN], const struct sockaddr *sa)
{
	char ip[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		snprintf(buf, ADDR_STRLEN, "%s:%u", ip, ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		if (in6->sin6_scope_id)
			snprintf(buf, ADDR_STRLEN, "[%s%%%u]:%u", ip, in6->sin6_scope_id, ntohs(in6->sin6_port));
		else
			snprintf(buf, ADDR_STRLEN, "[%s]:%u", ip, ntohs(in6->sin6_port));
	} else {
		snprintf(buf, ADDR_STRLEN, "(none)");
	}
	return buf;
}

int addr_parse_prefix(const char *s, int *family, void *addr, uint8_t *cidr)
{
	char host[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	uint64_t bits;
	size_t len;

	if (!slash)
		return -EINVAL;
	len = (size_t)(slash - s);
	if (len == 0 || len >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, len);
	host[len] = '\0';
	if (inet_pton(AF_INET, host, addr) == 1)
		*family = AF_INET;
	else if (inet_pton(AF_INET6, host, addr) == 1)
		*family = AF_INET6;
	else
		return -EINVAL;
	if (addr_parse_u64(slash + 1, *family == AF_INET ? 32 : 128, &bits))
		return -EINVAL;
	*cidr = (uint8_t)bits;
	return 0;
}
