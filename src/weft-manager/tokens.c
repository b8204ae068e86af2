// SPDX-License-Identifier: MIT
/*
 * The manager's endpoints for tokens (routes.c routes to them, admins
 * only): join tokens made, listed and deleted, and a new admin or reader
 * token, pending beside the old until its first use (auth.c keeps them).
 */
#include "api.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

enum {
	TOKEN_TTL_DEFAULT = 86400,
	TOKEN_TTL_MAX = 366 * 86400,
};

struct reply tokens_create(struct manager *m, const struct call *c)
{
	struct request *req = c->req;
	json_t *body = NULL, *info = NULL, *ttl;
	struct reply r;
	char token[160];
	int64_t seconds = TOKEN_TTL_DEFAULT;
	int ret;

	if (req->len) {
		if ((r = route_parse_body(req, &body)).status)
			return r;
		ttl = json_object_get(body, "ttl");
		if (ttl && (!json_is_integer(ttl) || json_integer_value(ttl) < 60 ||
			    json_integer_value(ttl) > TOKEN_TTL_MAX)) {
			json_decref(body);
			return route_fail(400, "ttl: give seconds, from 60 to %d", TOKEN_TTL_MAX);
		}
		if (ttl)
			seconds = json_integer_value(ttl);
		if (json_object_size(body) > (ttl ? 1 : 0)) {
			json_decref(body);
			return route_fail(400, "a token takes only \"ttl\"");
		}
		json_decref(body);
	}
	if ((ret = auth_join_token(m, seconds, token, sizeof(token), &info)))
		return route_fail(503, "the store: %s", kv_error());
	json_object_set_new(info, "token", json_string(token));
	manager_log(m, "made join token %s", json_string_value(json_object_get(info, "id")));
	return route_ok(201, info);
}

struct reply tokens_list(struct manager *m, const struct call *c)
{
	struct kv_list l;
	json_t *list;
	const char *prefix = CLUSTER_PREFIX "tokens/";

	if (kv_range(m->kv, prefix, &l))
		return route_fail(503, "the store: %s", kv_error());
	list = json_array();
	for (size_t i = 0; i < l.n; ++i) {
		json_t *v = json_loads(l.items[i].value, 0, NULL);

		json_array_append_new(list, json_pack("{s:s, s:O?}", "id", l.items[i].key + strlen(prefix), "expires",
						      json_object_get(v, "expires")));
		json_decref(v);
	}
	kv_list_free(&l);
	return route_ok(200, json_pack("{s:o}", "tokens", list));
}

struct reply tokens_delete(struct manager *m, const struct call *c)
{
	const char *id = c->name;
	char key[192];
	struct kv_item it;
	int ret;

	if (strlen(id) > 32 || strspn(id, "abcdefghijklmnopqrstuvwxyz0123456789") != strlen(id))
		return route_fail(404, "no token \"%.40s\"", id);
	snprintf(key, sizeof(key), CLUSTER_PREFIX "tokens/%s", id);
	if ((ret = kv_get(m->kv, key, &it)) == -ENOENT)
		return route_fail(404, "no token \"%s\"", id);
	if (ret || kv_delete(m->kv, key, NULL))
		return route_fail(503, "the store: %s", kv_error());
	kv_item_free(&it);
	manager_log(m, "deleted join token %s", id);
	return route_ok(200, json_pack("{s:s}", "deleted", id));
}

/* {"role": "admin"|"reader"}: a new token, pending beside the old until
 * its first use. */
struct reply tokens_rotate(struct manager *m, const struct call *c)
{
	json_t *body;
	const char *name;
	struct reply r;
	enum role role;
	char token[160];

	if ((r = route_parse_body(c->req, &body)).status)
		return r;
	name = json_string_value(json_object_get(body, "role"));
	if (!name || (strcmp(name, "admin") && strcmp(name, "reader")) || json_object_size(body) != 1) {
		json_decref(body);
		return route_fail(400, "give {\"role\": \"admin\"} or {\"role\": \"reader\"}");
	}
	role = !strcmp(name, "admin") ? ROLE_ADMIN : ROLE_READER;
	json_decref(body);
	if (auth_rotate(m, role, token, sizeof(token)))
		return route_fail(503, "the store: %s", kv_error());
	manager_log(m, "made a new %s token, pending until first used", role == ROLE_ADMIN ? "admin" : "reader");
	r = route_ok(201, json_pack("{s:s, s:s, s:b}", "role", role == ROLE_ADMIN ? "admin" : "reader", "token", token,
				    "pending", true));
	sodium_memzero(token, sizeof(token));
	return r;
}
