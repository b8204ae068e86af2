// SPDX-License-Identifier: MIT
/*
 * The manager's endpoints for external clients (lib/cluster/clients.c;
 * routes.c says who may call which): an admin adds and removes them,
 * anyone who may read lists them. The nodes learn of them through the
 * long poll (watch.c) and report their handshakes with their heartbeats
 * (node_heartbeat, in nodes.c).
 */
#include "api.h"

#include <errno.h>
#include <time.h>

struct reply clients_add(struct manager *m, const struct call *c)
{
	char err[512];
	json_t *body, *rec;
	struct reply r;
	int ret;

	if ((r = route_parse_body(c->req, &body)).status)
		return r;
	ret = cluster_client_add(&m->cluster, body, time(NULL), &rec, err, sizeof(err));
	json_decref(body);
	if (ret)
		return route_fail(route_status(ret), "%s", err);
	manager_log(m, "added client %s (%s)", json_string_value(json_object_get(rec, "name")),
		    json_string_value(json_array_get(json_object_get(rec, "addresses"), 0)));
	return route_ok(201, rec);
}

struct reply clients_list(struct manager *m, const struct call *c)
{
	json_t *clients;
	int64_t rev;

	if (cluster_clients(&m->cluster, &clients, &rev))
		return route_fail(503, "the store: %s", kv_error());
	return route_ok(200, json_pack("{s:I, s:o}", "revision", (json_int_t)rev, "clients", clients));
}

struct reply client_get(struct manager *m, const struct call *c)
{
	struct cluster_client cl;
	int ret = cluster_client_get(&m->cluster, c->name, &cl, NULL);

	if (ret == -ENOENT)
		return route_fail(404, "no client \"%.63s\" (weft clients lists them)", c->name);
	if (ret == -EIO)
		return route_fail(503, "the store's record of client \"%.63s\" does not parse: remove the client and "
				  "add it again", c->name);
	if (ret)
		return route_fail(503, "the store: %s", kv_error());
	return route_ok(200, cluster_client_json(&cl));
}

struct reply client_remove(struct manager *m, const struct call *c)
{
	char err[512];
	int ret = cluster_client_remove(&m->cluster, c->name, err, sizeof(err));

	if (ret)
		return route_fail(route_status(ret), "%s", err);
	manager_log(m, "removed client %s, by an admin", c->name);
	return route_ok(200, json_pack("{s:s}", "removed", c->name));
}
