// SPDX-License-Identifier: MIT
/*
 * What the manager's API answers (docs/manager.md, "The API"):
 *
 *   GET    /v1/health                      anyone
 *   POST   /v1/tokens         {"ttl"}      admin: a join token
 *   GET    /v1/tokens                      admin
 *   DELETE /v1/tokens/ID                   admin
 *   POST   /v1/tokens/rotate  {"role"}     admin: a new admin or reader token
 *   POST   /v1/nodes          {...}        join token or admin: register
 *   GET    /v1/nodes                       node, reader, admin
 *   GET    /v1/nodes/NAME                  node, reader, admin
 *   PATCH  /v1/nodes/NAME     {...}        the node itself or admin
 *   PUT    /v1/nodes/NAME/heartbeat        the node itself or admin
 *   DELETE /v1/nodes/NAME                  the node itself or admin
 *   POST   /v1/nodes/NAME/credential-rotation  admin: asks the node to rotate
 *   POST   /v1/nodes/NAME/credentials      the node itself: a new credential
 *   GET    /v1/peers?since=REV&wait=SEC    node, reader, admin: a long poll
 *   POST   /v1/clients        {...}        admin: add an external client
 *   GET    /v1/clients                     node, reader, admin
 *   GET    /v1/clients/NAME                node, reader, admin
 *   DELETE /v1/clients/NAME                admin: revoke it on every node
 *   PUT    /v1/nodes/NAME/gateway-candidate {"allowed"}  admin: may it be a gateway
 *   PUT    /v1/nodes/NAME/gateway          the node itself: the gateway lease
 *   DELETE /v1/nodes/NAME/gateway          the node itself: hand it back
 *   POST   /v1/federation     {...}        admin: join a broker (docs/clusters.md)
 *   GET    /v1/federation                  node, reader, admin
 *   DELETE /v1/federation                  admin: leave the broker
 *
 * The table `routes` below says the same to the program: each endpoint's
 * method, path, who may call it and its handler; route() finds a
 * request's entry and checks the token. The handlers of /v1/tokens are in
 * tokens.c, those of /v1/nodes in nodes.c (but the gateway lease's),
 * those of /v1/clients in clients.c, the rest here; server.c serves the HTTP.
 */
#include "api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "util/addr.h"
#include "util/clock.h"

enum {
	WAIT_DEFAULT = 30,	/* seconds a long poll waits unless told */
	WAIT_MAX = 300,
};

/* --- replies, for every handler -------------------------------------------- */

struct reply route_ok(unsigned status, json_t *body)
{
	return (struct reply){ .status = status, .body = body };
}

struct reply route_fail(unsigned status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return (struct reply){ .status = status, .body = json_pack("{s:s}", "error", msg) };
}

/* An errno from lib/cluster as a status. */
unsigned route_status(int ret)
{
	switch (ret) {
	case -EINVAL:
		return 400;
	case -ENOENT:
		return 404;
	case -EPERM:
		return 403;
	case -EEXIST:
		return 409;
	case -ENOSPC:
		return 507;
	default:
		return 503;
	}
}

struct reply route_parse_body(struct request *req, json_t **out)
{
	json_error_t jerr;

	*out = NULL;
	if (!req->len)
		return route_fail(400, "the request has no body: send a JSON object");
	*out = json_loadb(req->body, req->len, JSON_REJECT_DUPLICATES, &jerr);
	if (!*out)
		return route_fail(400, "the body is not valid JSON (line %d, column %d): %s", jerr.line, jerr.column,
				  jerr.text);
	if (!json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return route_fail(400, "the body must be a JSON object");
	}
	return route_ok(0, NULL);
}

/* --- the long poll --------------------------------------------------------- */

static struct reply peers(struct manager *m, const struct call *c)
{
	struct request *req = c->req;
	const char *since_s = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "since");
	const char *wait_s = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "wait");
	uint64_t since = 0, wait = WAIT_DEFAULT;
	struct reply r = { 0 };

	if (!req->waiting && !req->woken) {
		if (since_s && addr_parse_u64(since_s, INT64_MAX, &since))
			return route_fail(
				400, "since \"%.40s\": give a revision from an earlier answer (an integer, 0 for all)",
				since_s);
		if (wait_s && addr_parse_u64(wait_s, WAIT_MAX, &wait))
			return route_fail(400, "wait \"%.40s\": give seconds, from 0 to %d", wait_s, WAIT_MAX);
		req->since = (int64_t)since;
		req->deadline = clock_ms() + (int64_t)wait * 1000;
	}
	pthread_mutex_lock(&m->lock);
	if (m->rev == req->since && req->since >= m->base && !m->stopping && clock_ms() < req->deadline) {
		/* Nothing new: wait, suspended, until watch.c wakes us. */
		req->waiting = true;
		list_add_tail(&req->waiter, &m->waiters);
		MHD_suspend_connection(req->conn);
		pthread_mutex_unlock(&m->lock);
		*c->suspended = true;
		return route_ok(0, NULL);
	}
	r.text = watch_changes_text(m, req->since);
	pthread_mutex_unlock(&m->lock);
	if (!r.text)
		return route_fail(500, "out of memory");
	r.status = 200;
	return r;
}

/* --- the rest of the endpoints --------------------------------------------- */

static struct reply health(struct manager *m, const struct call *c)
{
	int64_t rev;

	pthread_mutex_lock(&m->lock);
	rev = m->rev;
	pthread_mutex_unlock(&m->lock);
	return route_ok(200, json_pack("{s:s, s:I}", "status", "ok", "revision", (json_int_t)rev));
}

static struct reply federation_show(struct manager *m, const struct call *c)
{
	json_t *body = NULL;
	unsigned status = federation_get(m, false, &body);

	return route_ok(status, body);
}

/* federation.c's two endpoints with a body: joining a broker (POST
 * /v1/federation), taking the gateway lease (PUT /v1/nodes/NAME/gateway). */
static struct reply federation_body(struct manager *m, const struct call *c, bool lease)
{
	json_t *body = NULL, *answer = NULL;
	struct reply r = route_parse_body(c->req, &body);
	unsigned status;

	if (r.status)
		return r;
	status = lease ? federation_lease_claim(m, c->name, body, &answer) : federation_join(m, body, &answer);
	json_decref(body);
	return route_ok(status, answer);
}

static struct reply federation_enter(struct manager *m, const struct call *c)
{
	return federation_body(m, c, false);
}

static struct reply federation_exit(struct manager *m, const struct call *c)
{
	json_t *body = NULL;
	unsigned status = federation_leave(m, &body);

	return route_ok(status, body);
}

static struct reply lease_claim(struct manager *m, const struct call *c)
{
	return federation_body(m, c, true);
}

static struct reply lease_release(struct manager *m, const struct call *c)
{
	json_t *body = NULL;
	unsigned status = federation_lease_release(m, c->name, &body);

	return route_ok(status, body);
}

/* --- routing --------------------------------------------------------------- */

/* A request's method as a bit; the table's methods are sets of them. */
enum {
	M_GET = 1 << 0,
	M_POST = 1 << 1,
	M_PUT = 1 << 2,
	M_PATCH = 1 << 3,
	M_DELETE = 1 << 4,
	M_OTHER = 1 << 5, /* HEAD, OPTIONS and the rest: no endpoint takes them */
	M_ANY = (1 << 6) - 1,
	M_CHANGE = M_ANY & ~M_GET,
};

static const char *const method_names[] = { "GET", "POST", "PUT", "PATCH", "DELETE" };

/* Who may: the roles of auth.c as bits; BY_SELF is a node's credential for
 * the node the path names; BY_ANYONE takes no token at all. */
enum {
	BY_JOIN = 1 << ROLE_JOIN,
	BY_NODE = 1 << ROLE_NODE,
	BY_READER = 1 << ROLE_READER,
	BY_ADMIN = 1 << ROLE_ADMIN,
	BY_SELF = 1 << 5,
	BY_ANYONE = 1 << 6,
	BY_READERS = BY_NODE | BY_READER | BY_ADMIN,
};

struct route {
	unsigned methods; /* M_*: an endpoint's one, or a check's several */
	const char *path; /* after /v1/; "*" is one segment: NAME, ID */
	unsigned by;	  /* BY_*: who may; anyone else is refused (403) */
	struct reply (*handler)(struct manager *m, const struct call *c); /* NULL: a check only */
	const char *refusal; /* the 403's text; NULL: which node may change which */
};

static const char join_only[] = "a join token may only register a node";

/*
 * The API (docs/manager.md). Of the entries whose path is the request's,
 * in order, the first whose methods take the request's and whose `by`
 * leaves the caller out refuses it (403); else the first of them with a
 * handler answers. An entry without a handler is a check on the path,
 * made before its methods are: tokens are an admin's whatever the
 * method, and a change under nodes/NAME is that node's own or an admin's.
 * A path with no entry for the method: 405, with the methods it has; a
 * path with no entry at all: 404. Only a path open to anyone (BY_ANYONE)
 * is answered without a token; every other asks for one first (401).
 */
static const struct route routes[] = {
	{ M_GET, "health", BY_ANYONE, health, NULL },

	{ M_ANY, "tokens", BY_ADMIN, NULL, "tokens are for admins only" },
	{ M_GET, "tokens", BY_ADMIN, tokens_list, NULL },
	{ M_POST, "tokens", BY_ADMIN, tokens_create, NULL },
	{ M_ANY, "tokens/*", BY_ADMIN, NULL, "tokens are for admins only" },
	{ M_DELETE, "tokens/*", BY_ADMIN, tokens_delete, NULL },
	{ M_POST, "tokens/rotate", BY_ADMIN, tokens_rotate, NULL },

	{ M_GET, "peers", BY_READERS, peers, join_only },

	{ M_GET, "federation", BY_READERS, federation_show, join_only },
	{ M_POST, "federation", BY_ADMIN, federation_enter, "joining and leaving a broker are for admins only" },
	{ M_DELETE, "federation", BY_ADMIN, federation_exit, "joining and leaving a broker are for admins only" },

	{ M_GET, "clients", BY_READERS, clients_list, join_only },
	{ M_POST, "clients", BY_ADMIN, clients_add, "adding a client takes the admin token" },
	{ M_GET, "clients/*", BY_READERS, client_get, join_only },
	{ M_DELETE, "clients/*", BY_ADMIN, client_remove, "removing a client takes the admin token" },

	{ M_GET, "nodes", BY_READERS, nodes_list, join_only },
	{ M_POST, "nodes", BY_JOIN | BY_ADMIN, nodes_register, "registering a node takes a join token (weft token create)" },
	{ M_CHANGE, "nodes/*", BY_SELF | BY_ADMIN, NULL, NULL },
	{ M_GET, "nodes/*", BY_READERS, node_get, join_only },
	{ M_PATCH, "nodes/*", BY_SELF | BY_ADMIN, node_update, NULL },
	{ M_DELETE, "nodes/*", BY_SELF | BY_ADMIN, node_remove, NULL },
	{ M_CHANGE, "nodes/*/heartbeat", BY_SELF | BY_ADMIN, NULL, NULL },
	{ M_PUT, "nodes/*/heartbeat", BY_SELF | BY_ADMIN, node_heartbeat, NULL },
	{ M_PUT, "nodes/*/gateway-candidate", BY_ADMIN, node_gateway_candidate,
	  "only an admin allows a node to be a gateway" },
	{ M_POST, "nodes/*/credential-rotation", BY_ADMIN, node_credential_rotation,
	  "only an admin asks a node to rotate its credential" },
	{ M_POST, "nodes/*/credentials", BY_SELF, node_credentials,
	  "a node's new credential goes to that node only, with its current credential (an admin asks for one with "
	  "weft node credentials rotate NAME)" },
	{ M_CHANGE, "nodes/*/gateway", BY_SELF | BY_ADMIN, NULL, NULL },
	{ M_ANY, "nodes/*/gateway", BY_NODE, NULL,
	  "the gateway lease is taken by the gateway node itself, with its credential" },
	{ M_PUT, "nodes/*/gateway", BY_SELF, lease_claim, NULL },
	{ M_DELETE, "nodes/*/gateway", BY_SELF, lease_release, NULL },
};

enum { SEGMENTS = 3, SEGMENT_MAX = 128 };

static unsigned method_bit(const char *method)
{
	for (size_t i = 0; i < sizeof(method_names) / sizeof(method_names[0]); ++i)
		if (!strcmp(method, method_names[i]))
			return 1u << i;
	return M_OTHER;
}

/* Is the path seg[0..nseg) the pattern's? Then *star is what its "*"
 * stands for (NULL: it has none). */
static bool path_is(const char *pattern, char seg[][SEGMENT_MAX], int nseg, const char **star)
{
	const char *p = pattern, *found = NULL;
	int i;

	for (i = 0; *p; ++i) {
		size_t n = strcspn(p, "/");

		if (i == nseg)
			return false;
		if (n == 1 && *p == '*')
			found = seg[i];
		else if (strlen(seg[i]) != n || strncmp(seg[i], p, n))
			return false;
		p += n + (p[n] == '/');
	}
	if (i != nseg)
		return false;
	*star = found;
	return true;
}

/* Does the path need a token? Unless every entry for it is open to anyone. */
static bool needs_token(char seg[][SEGMENT_MAX], int nseg)
{
	const char *star;
	bool some = false;

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); ++i)
		if (path_is(routes[i].path, seg, nseg, &star)) {
			if (!(routes[i].by & BY_ANYONE))
				return true;
			some = true;
		}
	return !some;
}

/* Authorization, all of it: may this caller pass this entry? */
static bool may(const struct route *e, const struct call *c)
{
	return (e->by & BY_ANYONE) || (e->by & (1u << c->role)) ||
	       ((e->by & BY_SELF) && c->role == ROLE_NODE && c->name && !strcmp(c->node, c->name));
}

static struct reply refuse(const struct route *e, const struct call *c)
{
	if (e->refusal)
		return route_fail(403, "%s", e->refusal);
	return route_fail(403, c->role == ROLE_NODE ? "node \"%s\" may change only its own record, not \"%s\""
						 : "%s may not change node \"%s\"",
			  c->role == ROLE_NODE ? c->node : c->role == ROLE_JOIN ? "a join token" : "a reader",
			  c->name);
}

static struct reply method_not_allowed(const char *method, const char *path, unsigned methods)
{
	char allow[sizeof(((struct reply *)0)->allow)] = "";
	struct reply r;

	for (size_t i = 0; i < sizeof(method_names) / sizeof(method_names[0]); ++i)
		if (methods & (1u << i))
			snprintf(allow + strlen(allow), sizeof(allow) - strlen(allow), "%s%s", *allow ? ", " : "",
				 method_names[i]);
	r = route_fail(405, "%s %s: use %s", method, path, allow);
	memcpy(r.allow, allow, sizeof(allow));
	return r;
}

/* The request to the table's entries for its path (the comment above it). */
static struct reply dispatch(struct manager *m, struct call *c, const char *method, const char *url,
			     char seg[][SEGMENT_MAX], int nseg)
{
	unsigned bit = method_bit(method), methods = 0;
	bool found = false;

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); ++i) {
		const struct route *e = &routes[i];

		if (!path_is(e->path, seg, nseg, &c->name))
			continue;
		found = true;
		if (e->handler)
			methods |= e->methods;
		if (!(e->methods & bit))
			continue;
		if (!may(e, c))
			return refuse(e, c);
		if (e->handler)
			return e->handler(m, c);
	}
	if (!found)
		return route_fail(404, "%.100s: no such resource", url);
	return method_not_allowed(method, url, methods);
}

/* Who is asking, as the throttle counts sources: an IPv4 address, or an
 * IPv6 /64 (one host has a whole one to change addresses in). */
static void source_of(struct MHD_Connection *conn, char *out, size_t len)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;
	char buf[INET6_ADDRSTRLEN];

	snprintf(out, len, "?");
	if (sa && sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, sizeof(buf));
		snprintf(out, len, "%s", buf);
	} else if (sa && sa->sa_family == AF_INET6) {
		struct in6_addr a = ((const struct sockaddr_in6 *)sa)->sin6_addr;

		memset(a.s6_addr + 8, 0, 8);
		inet_ntop(AF_INET6, &a, buf, sizeof(buf));
		snprintf(out, len, "%s/64", buf);
	}
}

struct reply route(struct manager *m, struct request *req, const char *method, const char *url, bool *suspended)
{
	const char *auth = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	char node[64] = "", seg[SEGMENTS][SEGMENT_MAX] = { "" }, from[64];
	struct call c = { .req = req, .role = ROLE_NONE, .node = node, .suspended = suspended };
	int64_t wait;
	int nseg = 0;
	const char *p = url;

	if (req->too_big)
		return route_fail(413, "the body is over %d bytes", BODY_MAX);
	/* /v1/a/b/c: at most three segments after the version. */
	if (strncmp(p, "/v1/", 4))
		return route_fail(404, "%.100s: the API lives under /v1/ (docs/manager.md)", url);
	for (p += 4; *p && nseg < SEGMENTS; ++nseg) {
		size_t n = strcspn(p, "/");

		if (!n || n >= sizeof(seg[0]))
			return route_fail(404, "%.100s: no such resource", url);
		memcpy(seg[nseg], p, n);
		seg[nseg][n] = '\0';
		p += n;
		if (*p == '/' && p[1])
			++p;
		else if (*p == '/')
			++p;
	}
	if (*p)
		return route_fail(404, "%.100s: no such resource", url);
	if (!needs_token(seg, nseg))
		return dispatch(m, &c, method, url, seg, nseg);

	/* A source that sent too many bad tokens is told to wait, unless it
	 * shows one seen valid lately (a node behind the same address). */
	source_of(req->conn, from, sizeof(from));
	if (auth && (wait = throttle_wait(&m->bad_tokens, from, clock_ms())) > 0 &&
	    auth_known(auth, node, sizeof(node)) == ROLE_NONE) {
		struct reply r = route_fail(429, "too many bad tokens from %s: try again in %lld s", from,
					    (long long)((wait + 999) / 1000));

		r.retry_after = (wait + 999) / 1000;
		return r;
	}
	c.role = auth_check(m, auth, node, sizeof(node));
	if (c.role == ROLE_UNKNOWN) {
		struct reply r = route_fail(503, "the store cannot be read to check the token (%s): try again",
					    kv_error());

		r.retry_after = 1;
		return r;
	}
	if (c.role == ROLE_NONE && auth)
		throttle_fail(&m->bad_tokens, from, clock_ms());
	if (c.role == ROLE_NONE)
		return route_fail(401,
				  "%s: send \"Authorization: Bearer TOKEN\" with an admin, reader, join or node token",
				  auth ? "the token is not valid (unknown, expired or revoked)" : "no token");
	return dispatch(m, &c, method, url, seg, nseg);
}
