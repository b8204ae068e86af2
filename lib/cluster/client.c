// SPDX-License-Identifier: MIT
/* An external client's record, checked and written (client.h). */
#include "cluster/client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cluster/cluster.h"
#include "util/key.h"

static int invalid(char *err, size_t errlen, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* "client NAME: what", -EINVAL. */
static int invalid(char *err, size_t errlen, const char *name, const char *fmt, ...)
{
	char what[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "client \"%.63s\": %s", name, what);
	return -EINVAL;
}

static int parse_addresses(json_t *list, struct cluster_client *c, char *err, size_t errlen)
{
	json_t *v;
	size_t i;

	if (!json_is_array(list) || !json_array_size(list) || json_array_size(list) > 2)
		return invalid(err, errlen, c->name, "addresses: give one or two (an IPv4 /32, an IPv6 /128)");
	json_array_foreach(list, i, v) {
		const char *s = json_string_value(v);
		struct ipam_prefix p;

		if (!s || ipam_prefix_parse(&p, s))
			return invalid(err, errlen, c->name, "address \"%.60s\" is not an address with its prefix length "
					"(10.244.255.2/32)", s ?: "(not a string)");
		if (p.len != (p.family == AF_INET ? 32 : 128))
			return invalid(err, errlen, c->name, "address %.60s: give one host (/32 or /128)", s);
		for (size_t k = 0; k < c->naddresses; ++k)
			if (c->addresses[k].family == p.family)
				return invalid(err, errlen, c->name, "address %.60s: two of one family", s);
		c->addresses[c->naddresses++] = p;
	}
	return 0;
}

int cluster_client_parse(json_t *rec, struct cluster_client *c, char *err, size_t errlen)
{
	const char *name = json_string_value(json_object_get(rec, "name"));
	const char *pub = json_string_value(json_object_get(rec, "publicKey"));
	json_t *created = json_object_get(rec, "created"), *v;
	const char *field;

	memset(c, 0, sizeof(*c));
	if (!json_is_object(rec)) {
		snprintf(err, errlen, "a client's record must be a JSON object");
		return -EINVAL;
	}
	if (!name || !cluster_name_valid(name)) {
		snprintf(err, errlen, "client name \"%.63s\": give a DNS label (1 to 63 of a-z, 0-9 and '-', not at "
			 "either end)", name ?: "(missing)");
		return -EINVAL;
	}
	snprintf(c->name, sizeof(c->name), "%s", name);
	json_object_foreach(rec, field, v)
		if (strcmp(field, "name") && strcmp(field, "publicKey") && strcmp(field, "addresses") &&
		    strcmp(field, "created"))
			return invalid(err, errlen, name, "unknown field \"%.60s\"", field);
	if (!pub || !key_from_base64(c->key, pub))
		return invalid(err, errlen, name, "publicKey \"%.60s\" is not a base64 WireGuard key", pub ?: "(missing)");
	if (!json_is_integer(created) || json_integer_value(created) < 0)
		return invalid(err, errlen, name, "created: give a Unix time");
	c->created = json_integer_value(created);
	return parse_addresses(json_object_get(rec, "addresses"), c, err, errlen);
}

json_t *cluster_client_json(const struct cluster_client *c)
{
	char pub[KEY_B64_LEN], buf[64];
	json_t *addrs = json_array();

	key_to_base64(pub, c->key);
	for (size_t i = 0; i < c->naddresses; ++i)
		json_array_append_new(addrs, json_string(ipam_prefix_str(&c->addresses[i], buf, sizeof(buf))));
	return json_pack("{s:s, s:s, s:o, s:I}", "name", c->name, "publicKey", pub, "addresses", addrs, "created",
			 (json_int_t)c->created);
}

bool cluster_client_equal(const struct cluster_client *a, const struct cluster_client *b)
{
	if (strcmp(a->name, b->name) || memcmp(a->key, b->key, 32) || a->created != b->created ||
	    a->naddresses != b->naddresses)
		return false;
	for (size_t i = 0; i < a->naddresses; ++i)
		if (a->addresses[i].family != b->addresses[i].family || a->addresses[i].len != b->addresses[i].len ||
		    memcmp(&a->addresses[i].addr, &b->addresses[i].addr,
			   a->addresses[i].family == AF_INET ? 4 : 16))
			return false;
	return true;
}
