// SPDX-License-Identifier: MIT
/*
 * The manager's endpoints for nodes (routes.c routes to them and says who
 * may call which): registration, the list, a node's record, its update,
 * heartbeat (with the handshakes it saw of clients) and removal, whether
 * an admin allows it to be a gateway, and its credential: an admin's
 * request to rotate it, and the new one.
 */
#include "api.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct reply nodes_register(struct manager *m, const struct call *c)
{
	enum role role = c->role;
	char cred[160], hash[65], err[512];
	const char *secret;
	json_t *body, *rec;
	struct reply r;
	int ret;

	if ((r = route_parse_body(c->req, &body)).status)
		return r;
	/* A join token lets a node in, not make itself a gateway. */
	if (role != ROLE_ADMIN && json_object_get(json_object_get(body, "labels"), CLUSTER_GATEWAY_LABEL)) {
		r = route_fail(
			403,
			"label %s: an admin allows a node to be a gateway, once it has joined (weft node gateway "
			"NAME --allow)",
			CLUSTER_GATEWAY_LABEL);
		json_decref(body);
		return r;
	}
	auth_new_credential(json_string_value(json_object_get(body, "name")) ?: "", cred, sizeof(cred), hash);
	ret = cluster_node_register(&m->cluster, body, hash, time(NULL), &rec, err, sizeof(err));
	if ((secret = json_string_value(json_object_get(body, "registrationSecret"))))
		sodium_memzero((char *)secret, strlen(secret));
	json_decref(body);
	if (ret < 0) {
		explicit_bzero(cred, sizeof(cred));
		return route_fail(route_status(ret), "%s", err);
	}
	if (ret == CLUSTER_REGISTERED_AGAIN)
		auth_forget_node(json_string_value(json_object_get(rec, "name")));
	manager_log(m, "registered node %s (%s)%s, by %s", json_string_value(json_object_get(rec, "name")),
		    json_string_value(json_array_get(json_object_get(rec, "subnets"), 0)),
		    ret == CLUSTER_REGISTERED_AGAIN ? " again: its first answer was lost" : "",
		    role == ROLE_ADMIN ? "an admin" : "a join token");
	r = route_ok(201, json_pack("{s:o, s:s}", "node", rec, "credential", cred));
	explicit_bzero(cred, sizeof(cred));
	return r;
}

json_t *nodes_cluster_cidrs(struct manager *m)
{
	json_t *cidrs = json_array();
	char buf[64];

	for (int f = 0; cidrs && f < 2; ++f)
		if (m->cluster.pool[f].count)
			json_array_append_new(cidrs, json_string(ipam_prefix_str(&m->cluster.pool[f].cidr, buf, sizeof(buf))));
	return cidrs;
}

struct reply nodes_list(struct manager *m, const struct call *c)
{
	struct kv_list hb;
	json_t *nodes, *rec;
	int64_t rev;
	size_t i;
	const char *prefix = CLUSTER_PREFIX "heartbeats/";

	if (cluster_nodes(&m->cluster, &nodes, &rev))
		return route_fail(503, "the store: %s", kv_error());
	if (kv_range(m->kv, prefix, &hb)) {
		json_decref(nodes);
		return route_fail(503, "the store: %s", kv_error());
	}
	/* Both lists are sorted by name. */
	for (i = 0; i < json_array_size(nodes); ++i) {
		const char *name;
		size_t j;

		rec = json_array_get(nodes, i);
		name = json_string_value(json_object_get(rec, "name"));
		for (j = 0; j < hb.n; ++j)
			if (!strcmp(hb.items[j].key + strlen(prefix), name ?: ""))
				json_object_set_new(rec, "lastSeen", json_integer(strtoll(hb.items[j].value, NULL, 10)));
	}
	kv_list_free(&hb);
	return route_ok(200, json_pack("{s:I, s:o, s:o}", "revision", (json_int_t)rev, "nodes", nodes, "clusterCIDRs",
				       nodes_cluster_cidrs(m)));
}

struct reply node_get(struct manager *m, const struct call *c)
{
	const char *name = c->name;
	json_t *rec;
	int ret = cluster_node_get(&m->cluster, name, &rec);

	if (ret == -ENOENT)
		return route_fail(404, "no node \"%.63s\"", name);
	if (ret)
		return route_fail(503, "the store: %s", kv_error());
	return route_ok(200, rec);
}

struct reply node_update(struct manager *m, const struct call *c)
{
	const char *name = c->name;
	char err[512];
	json_t *body, *rec;
	struct reply r;
	int ret;

	if ((r = route_parse_body(c->req, &body)).status)
		return r;
	ret = cluster_node_update(&m->cluster, name, body, c->role == ROLE_ADMIN, &rec, err, sizeof(err));
	json_decref(body);
	if (ret)
		return route_fail(route_status(ret), "%s", err);
	manager_log(m, "updated node %s", name);
	return route_ok(200, rec);
}

/* {"allowed": true|false}: whether the node may take the gateway lease. */
struct reply node_gateway_candidate(struct manager *m, const struct call *c)
{
	const char *name = c->name;
	char err[512];
	json_t *body, *rec, *allowed;
	struct reply r;
	int ret;

	if ((r = route_parse_body(c->req, &body)).status)
		return r;
	allowed = json_object_get(body, "allowed");
	if (!json_is_boolean(allowed) || json_object_size(body) != 1) {
		json_decref(body);
		return route_fail(400, "give {\"allowed\": true} or {\"allowed\": false}");
	}
	ret = cluster_gateway_grant(&m->cluster, name, json_is_true(allowed), &rec, err, sizeof(err));
	json_decref(body);
	if (ret)
		return route_fail(route_status(ret), "%s", err);
	manager_log(m, "node %s %s to be a gateway, by an admin", name, json_is_true(allowed) ? "allowed" : "no longer allowed");
	return route_ok(200, rec);
}

/* A heartbeat may carry {"clients": {NAME: UNIXTIME}}: the last handshake
 * the node saw of each external client, for weft clients. */
struct reply node_heartbeat(struct manager *m, const struct call *c)
{
	const char *name = c->name;
	json_t *body = NULL;
	char err[512];
	struct reply r;
	int ret;

	if (c->req->len) {
		if ((r = route_parse_body(c->req, &body)).status)
			return r;
		if (json_object_size(body) != 1 || !json_object_get(body, "clients")) {
			json_decref(body);
			return route_fail(400, "a heartbeat's body is {\"clients\": {NAME: UNIXTIME}}, or none");
		}
	}
	ret = cluster_heartbeat(&m->cluster, name, time(NULL));
	if (ret == -ENOENT) {
		json_decref(body);
		return route_fail(404, "no node \"%.63s\"", name);
	}
	if (!ret && body)
		ret = cluster_client_handshakes(&m->cluster, name, json_object_get(body, "clients"), err, sizeof(err));
	json_decref(body);
	if (ret == -EINVAL)
		return route_fail(400, "%s", err);
	if (ret)
		return route_fail(503, "the store: %s", kv_error());
	return route_ok(200, json_pack("{s:I}", "lastSeen", (json_int_t)time(NULL)));
}

struct reply node_remove(struct manager *m, const struct call *c)
{
	const char *name = c->name;
	char err[512];
	int ret = cluster_node_remove(&m->cluster, name, time(NULL), err, sizeof(err));

	if (ret)
		return route_fail(route_status(ret), "%s", err);
	manager_log(m, "removed node %s, by %s", name, c->role == ROLE_ADMIN ? "an admin" : "itself");
	return route_ok(200, json_pack("{s:s}", "removed", name));
}

/* An admin asks a node to rotate its credential: its agent sees its
 * record change and fetches a new one (node_credentials). */
struct reply node_credential_rotation(struct manager *m, const struct call *c)
{
	char err[512];
	json_t *rec;
	int ret = cluster_credential_request(&m->cluster, c->name, time(NULL), &rec, err, sizeof(err));

	if (ret)
		return route_fail(route_status(ret), "%s", err);
	manager_log(m, "asked node %s to rotate its credential, by an admin", c->name);
	return route_ok(202, rec);
}

/* The node itself, with its current credential: a new one, pending until
 * the node's first request with it. */
struct reply node_credentials(struct manager *m, const struct call *c)
{
	char cred[160];
	struct reply r;
	int ret = auth_rotate_credential(m, c->name, cred, sizeof(cred));

	if (ret == -ENOENT)
		return route_fail(404, "no node \"%.63s\"", c->name);
	if (ret)
		return route_fail(503, "the store: %s", kv_error());
	manager_log(m, "node %s took a new credential, pending until it uses it", c->name);
	r = route_ok(201, json_pack("{s:s, s:b}", "credential", cred, "pending", true));
	sodium_memzero(cred, sizeof(cred));
	return r;
}
