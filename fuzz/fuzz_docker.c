// SPDX-License-Identifier: MIT
/* Docker's plugin calls: the first byte picks the call, the rest is its
 * body. Whatever docker_request_parse accepts must be a request weftd can
 * act on without checking again (IDs of 64 hex digits, an absolute
 * SandboxKey that climbs nowhere, prefixes of the right family and length,
 * an MTU weft can use), the same twice, and agree with the JSON it came
 * from; whatever it refuses must say why in a message Docker can be given.
 * The same bytes as a path for docker_call_parse, and as a message for
 * docker_error_body, which must give back JSON that reads as the message. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "docker/docker.h"
#include "util/text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
	if (!ok)
		__builtin_trap();
}

static bool zero(const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; ++i)
		if (b[i])
			return false;
	return true;
}

#define ZERO(field) zero(&(field), sizeof(field))

/* {"Err": msg} that reads back as msg, its bytes that are not UTF-8 made
 * '?' (and nothing else changed). */
static void error_body(const char *msg)
{
	char *body = docker_error_body(msg), *want = strdup(msg);
	json_t *o;

	check(body && want);
	text_utf8_clean(want);
	check(text_utf8_valid(want) && strlen(want) == strlen(msg));
	o = json_loads(body, 0, NULL);
	check(json_is_object(o) && json_object_size(o) == 1);
	check(!strcmp(json_string_value(json_object_get(o, "Err")) ?: "(none)", want));
	json_decref(o);
	free(body);
	free(want);
}

static bool docker_id(const char *s)
{
	return strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

/* family 0 is nothing at all; otherwise f (or either, when f is 0), a
 * length the family has, and text that parses back to the same. */
static void prefix(const struct ipam_prefix *p, int f)
{
	struct ipam_prefix back;
	char s[80];

	if (!p->family) {
		check(zero(p, sizeof(*p)));
		return;
	}
	check(p->family == AF_INET || p->family == AF_INET6);
	check(!f || p->family == f);
	check(p->len <= (p->family == AF_INET ? 32 : 128));
	check(!ipam_prefix_parse(&back, ipam_prefix_str(p, s, sizeof(s))));
	check(back.family == p->family && back.len == p->len &&
	      !memcmp(&back.addr, &p->addr, p->family == AF_INET ? 4 : 16));
}

/* A string field the JSON gave (or "" when it gave none). */
static const char *field(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key)) ?: "";
}

static void accepted(enum docker_call call, const struct docker_request *q, json_t *body)
{
	bool net = false, ep = false;

	check(q->call == call);
	check(memchr(q->network_id, 0, sizeof(q->network_id)) && memchr(q->endpoint_id, 0, sizeof(q->endpoint_id)) &&
	      memchr(q->sandbox_key, 0, sizeof(q->sandbox_key)) && memchr(q->pool_id, 0, sizeof(q->pool_id)));
	switch (call) {
	case DOCKER_CREATE_ENDPOINT:
	case DOCKER_ENDPOINT_INFO:
	case DOCKER_DELETE_ENDPOINT:
	case DOCKER_JOIN:
	case DOCKER_LEAVE:
	case DOCKER_PROGRAM_EXTERNAL:
	case DOCKER_REVOKE_EXTERNAL:
		ep = true;
		/* fall through */
	case DOCKER_CREATE_NETWORK:
	case DOCKER_DELETE_NETWORK:
	case DOCKER_ALLOCATE_NETWORK:
	case DOCKER_FREE_NETWORK:
		net = true;
		break;
	default:
		break;
	}
	/* The IDs weftd names its devices and records after. */
	check(net ? docker_id(q->network_id) && !strcmp(q->network_id, field(body, "NetworkID")) : !q->network_id[0]);
	check(ep ? docker_id(q->endpoint_id) && !strcmp(q->endpoint_id, field(body, "EndpointID")) : !q->endpoint_id[0]);

	/* The namespace weftd opens. */
	if (call == DOCKER_JOIN) {
		size_t n = strlen(q->sandbox_key);

		check(q->sandbox_key[0] == '/' && !strstr(q->sandbox_key, "/../"));
		check(strspn(q->sandbox_key, "/abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n);
		check(!strcmp(q->sandbox_key, field(body, "SandboxKey")));
		/* Not "/.." either, as a whole path or its last part. */
		check(!(n >= 3 && !strcmp(q->sandbox_key + n - 3, "/..")));
	} else {
		check(!q->sandbox_key[0]);
	}

	/* What a network is created with. */
	if (call == DOCKER_CREATE_NETWORK || call == DOCKER_ALLOCATE_NETWORK) {
		check(q->net.mode == DOCKER_MESH || q->net.mode == DOCKER_HUB);
		check(q->net.mtu == 0 || (q->net.mtu >= 1280 && q->net.mtu <= 65535));
		prefix(&q->net.pool[0], AF_INET);
		prefix(&q->net.gateway[0], AF_INET);
		prefix(&q->net.pool[1], AF_INET6);
		prefix(&q->net.gateway[1], AF_INET6);
	} else {
		check(ZERO(q->net));
	}

	/* What Docker has for an endpoint's interface. */
	if (call == DOCKER_CREATE_ENDPOINT) {
		prefix(&q->address[0], AF_INET);
		prefix(&q->address[1], AF_INET6);
		check(q->has_mac || ZERO(q->mac));
		/* The MAC as Docker writes one: six pairs of hex digits. */
		if (q->has_mac) {
			const char *s = field(json_object_get(body, "Interface"), "MacAddress");
			char want[18];

			snprintf(want, sizeof(want), "%02x:%02x:%02x:%02x:%02x:%02x", q->mac[0], q->mac[1], q->mac[2],
				 q->mac[3], q->mac[4], q->mac[5]);
			check(!strcasecmp(s, want));
		}
	} else {
		check(ZERO(q->address) && ZERO(q->mac) && !q->has_mac);
	}

	/* IpamDriver. */
	if (call == DOCKER_REQUEST_POOL) {
		prefix(&q->pool, q->v6 ? AF_INET6 : AF_INET);
		prefix(&q->sub_pool, 0);
		check(!q->sub_pool.family || q->pool.family);
	} else {
		check(ZERO(q->pool) && ZERO(q->sub_pool) && !q->v6);
	}
	if (call == DOCKER_RELEASE_POOL || call == DOCKER_REQUEST_ADDRESS || call == DOCKER_RELEASE_ADDRESS)
		check(!strcmp(q->pool_id, field(body, "PoolID")));
	else
		check(!q->pool_id[0]);
	if (call == DOCKER_REQUEST_ADDRESS || call == DOCKER_RELEASE_ADDRESS) {
		/* One address: a host prefix. */
		prefix(&q->want, 0);
		check(!q->want.family || q->want.len == (q->want.family == AF_INET ? 32 : 128));
	} else {
		check(ZERO(q->want) && !q->gateway);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct docker_request q, again;
	enum docker_call call;
	char err[600], err2[600], *copy;
	int ret, path;

	if (size) {
		const char *body = (const char *)data + 1;
		size_t len = size - 1;

		call = (enum docker_call)(data[0] % DOCKER_CALLS);
		err[0] = '\0';
		ret = docker_request_parse(call, body, len, &q, err, sizeof(err));
		check(ret == 0 || ret == -EINVAL);
		/* The same bytes, the same request: nothing read that was not set. */
		check(docker_request_parse(call, body, len, &again, err2, sizeof(err2)) == ret);
		if (!ret) {
			json_t *o = len ? json_loadb(body, len, JSON_DECODE_ANY, NULL) : NULL;

			check(!memcmp(&q, &again, sizeof(q)));
			check(!len || o);
			accepted(call, &q, json_is_object(o) ? o : NULL);
			json_decref(o);
		} else {
			check(err[0] && !strcmp(err, err2));
			/* weftd hands err to Docker as {"Err": err}. */
			check(text_utf8_valid(err));
			error_body(err);
		}
	}

	copy = malloc(size + 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	path = docker_call_parse(copy);
	check(path >= -1 && path < DOCKER_CALLS);
	if (path >= 0)
		check(copy[0] == '/' && !strcmp(copy + 1, docker_call_name((enum docker_call)path)));
	error_body(copy);
	free(copy);
	return 0;
}
