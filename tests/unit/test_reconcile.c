// SPDX-License-Identifier: MIT
/* The reconcile core (lib/agent/reconcile): change lists into peer sets, and
 * peer sets into device and route changes, on a clock given by the test. */
#include "test.h"

#include <stdlib.h>

#include "agent/reconcile.h"
#include "util/key.h"

/* A key whose base64 text starts with c: its order among others is c's. */
static void key_of(uint8_t key[32], char c)
{
	char b64[KEY_B64_LEN];

	memset(b64, 'A', 43);
	b64[0] = c;
	b64[43] = '=';
	b64[44] = '\0';
	CHECK(key_from_base64(key, b64));
}

static json_t *node(const char *name, char c, const char *ep, const char *subnet)
{
	char b64[KEY_B64_LEN];
	uint8_t key[32];

	key_of(key, c);
	key_to_base64(b64, key);
	return json_pack("{s:s, s:s, s:[s], s:[s]}", "name", name, "publicKey", b64, "endpoints", ep, "subnets", subnet);
}

static json_t *changes(bool full, json_t *nodes, json_t *removed)
{
	return json_pack("{s:i, s:b, s:o, s:o}", "revision", 7, "full", full, "nodes", nodes ?: json_array(), "removed",
			 removed ?: json_array());
}

static int take(struct peer_set *next, const struct peer_set *have, json_t *reply)
{
	struct peer_take_opts o = { .self = "me" };
	int ret = peer_set_take(next, have, reply, &o);

	json_decref(reply);
	return ret;
}

static size_t count_flag(const struct plan *p, uint32_t flag)
{
	size_t n = 0;

	for (struct wg_config_peer *wp = p->cfg->first_peer; wp; wp = wp->next)
		n += (wp->flags & flag) == flag;
	return n;
}

static bool has_route(const struct ipam_prefix *v, size_t n, const char *want)
{
	char buf[64];

	for (size_t i = 0; i < n; ++i)
		if (!strcmp(ipam_prefix_str(&v[i], buf, sizeof(buf)), want))
			return true;
	return false;
}

static bool has_event(const struct plan *p, enum peer_event_kind k, const char *name)
{
	for (size_t i = 0; i < p->nevents; ++i)
		if (p->events[i].kind == k && !strcmp(p->events[i].name, name))
			return true;
	return false;
}

static void plan_for(struct plan *p, const struct peer_set *want, const struct peer_set *have, char mine, int64_t now)
{
	uint8_t me[32];
	struct reconcile_in in = { .want = want, .have = have, .mine = me, .keepalive = 25, .now_ms = now,
				   .delay_ms = 500 };

	key_of(me, mine);
	CHECK(reconcile(&in, p) == 0);
}

TEST(reconcile_node_added_started_by_the_smaller_key)
{
	struct peer_set none = { 0 }, s;
	struct plan p;

	CHECK(take(&s, &none,
		   changes(true, json_pack("[o, o, o]", node("b", 'B', "192.0.2.2:51820", "10.1.2.0/24"),
					   node("z", 'Z', "192.0.2.26:51820", "10.1.26.0/24"),
					   node("me", 'M', "192.0.2.9:51820", "10.1.9.0/24")),
			   NULL)) == 0);
	CHECK(s.n == 2); /* our own record is no peer */
	plan_for(&p, &s, &none, 'M', 1000);
	CHECK(count_flag(&p, WG_PEER_REPLACE_ALLOWEDIPS | WG_PEER_HAS_ENDPOINT) == 2);
	/* We (M) start at once towards Z; B, whose key is smaller, starts
	 * towards us, and our keepalive to B waits 500 ms. */
	CHECK(count_flag(&p, WG_PEER_HAS_PERSISTENT_KEEPALIVE) == 1);
	CHECK(p.nkickoffs == 1 && p.kickoffs[0].due_ms == 1500);
	CHECK(has_route(p.route_add, p.nroute_add, "10.1.2.0/24") && has_route(p.route_add, p.nroute_add, "10.1.26.0/24"));
	CHECK(p.nroute_del == 0);
	CHECK(has_event(&p, PEER_JOINED, "b") && has_event(&p, PEER_JOINED, "z"));
	{
		struct wg_config *cfg = wg_config_new();
		struct kickoff *pending = NULL;
		size_t n = 0;

		CHECK(kickoff_add(&pending, &n, &p.kickoffs[0]) == 0);
		CHECK(kickoff_due(pending, &n, 1499, 25, cfg) == 1500 && !cfg->first_peer && n == 1);
		CHECK(kickoff_due(pending, &n, 1500, 25, cfg) == INT64_MAX && n == 0);
		CHECK(cfg->first_peer && cfg->first_peer->flags == (WG_PEER_UPDATE_ONLY | WG_PEER_HAS_PERSISTENT_KEEPALIVE));
		CHECK(cfg->first_peer->persistent_keepalive == 25);
		wg_config_free(cfg);
		free(pending);
	}
	plan_free(&p);
	/* The same list again changes nothing. */
	{
		struct peer_set again;

		CHECK(take(&again, &s, changes(false, json_pack("[o]", node("b", 'B', "192.0.2.2:51820", "10.1.2.0/24")),
					       NULL)) == 0);
		plan_for(&p, &again, &s, 'M', 2000);
		CHECK(!p.cfg->first_peer && !p.nroute_add && !p.nroute_del && !p.nevents && !p.nkickoffs);
		plan_free(&p);
		peer_set_clear(&again);
	}
	peer_set_clear(&s);
}

/* An external client (docs/clusters.md) is a peer with no endpoint: it
 * dials in. It is allowed and routed its addresses, but neither kept alive
 * nor started later, whatever the keys' order: there is nowhere to send. */
TEST(reconcile_client_without_endpoint)
{
	struct peer_set none = { 0 }, s;
	char b64[KEY_B64_LEN];
	uint8_t key[32];
	struct plan p;

	key_of(key, 'A'); /* smaller than ours: a node would start first */
	key_to_base64(b64, key);
	CHECK(take(&s, &none,
		   changes(false, json_pack("[{s:s, s:s, s:[s, s]}, o]", "name", "client:laptop", "publicKey", b64,
					    "subnets", "10.1.200.1/32", "fd00:1:0:c8::1/128",
					    node("z", 'Z', "192.0.2.26:51820", "10.1.26.0/24")),
			   NULL)) == 0);
	CHECK(s.n == 2 && !peer_set_find(&s, "client:laptop")->has_endpoint);
	plan_for(&p, &s, &none, 'M', 1000);
	CHECK(count_flag(&p, WG_PEER_REPLACE_ALLOWEDIPS) == 2);
	CHECK(count_flag(&p, WG_PEER_HAS_ENDPOINT) == 1);
	CHECK(count_flag(&p, WG_PEER_HAS_PERSISTENT_KEEPALIVE) == 1); /* z's only */
	CHECK(p.nkickoffs == 0);
	CHECK(has_route(p.route_add, p.nroute_add, "10.1.200.1/32") &&
	      has_route(p.route_add, p.nroute_add, "fd00:1:0:c8::1/128"));
	CHECK(has_event(&p, PEER_JOINED, "client:laptop"));
	plan_free(&p);
	peer_set_clear(&s);
}

TEST(reconcile_node_removed_moved_and_rekeyed)
{
	struct peer_set none = { 0 }, have, want;
	struct plan p;

	CHECK(take(&have, &none,
		   changes(true, json_pack("[o, o, o]", node("a", 'A', "192.0.2.1:51820", "10.1.1.0/24"),
					   node("b", 'B', "192.0.2.2:51820", "10.1.2.0/24"),
					   node("c", 'C', "192.0.2.3:51820", "10.1.3.0/24")),
			   NULL)) == 0);
	/* a goes; b moves to another address and subnet; c has a new key. */
	CHECK(take(&want, &have,
		   changes(false, json_pack("[o, o]", node("b", 'B', "192.0.2.22:51820", "10.1.22.0/24"),
					    node("c", 'Q', "192.0.2.3:51820", "10.1.3.0/24")),
			   json_pack("[s]", "a"))) == 0);
	CHECK(want.n == 2 && !peer_set_find(&want, "a"));
	plan_for(&p, &want, &have, 'M', 0);
	CHECK(count_flag(&p, WG_PEER_REMOVE_ME) == 2); /* a's key, c's old key */
	CHECK(has_route(p.route_del, p.nroute_del, "10.1.1.0/24") && has_route(p.route_del, p.nroute_del, "10.1.2.0/24"));
	CHECK(!has_route(p.route_del, p.nroute_del, "10.1.3.0/24")); /* c keeps it */
	CHECK(has_route(p.route_add, p.nroute_add, "10.1.22.0/24") && has_route(p.route_add, p.nroute_add, "10.1.3.0/24"));
	CHECK(has_event(&p, PEER_LEFT, "a") && has_event(&p, PEER_MOVED, "b") && has_event(&p, PEER_REKEYED, "c"));
	/* b is no new peer: its keepalive is set at once, no handshake race. */
	/* c is new to the device, and its key Q is greater than ours (M): we
	 * start at once, with no kickoff to wait for. */
	CHECK(p.nkickoffs == 0 && count_flag(&p, WG_PEER_HAS_PERSISTENT_KEEPALIVE) == 2);
	plan_free(&p);
	peer_set_clear(&want);
	peer_set_clear(&have);
}

TEST(reconcile_subnet_moves_between_nodes)
{
	struct peer_set none = { 0 }, have, want;
	struct plan p;

	CHECK(take(&have, &none, changes(true, json_pack("[o]", node("a", 'A', "192.0.2.1:1", "10.1.1.0/24")), NULL)) ==
	      0);
	/* a is removed and its subnet handed to a new node d in one list. */
	CHECK(take(&want, &have, changes(false, json_pack("[o]", node("d", 'D', "192.0.2.4:1", "10.1.1.0/24")),
					 json_pack("[s]", "a"))) == 0);
	plan_for(&p, &want, &have, 'M', 0);
	CHECK(p.nroute_del == 0); /* the route stays: d routes it now */
	CHECK(has_route(p.route_add, p.nroute_add, "10.1.1.0/24"));
	plan_free(&p);
	peer_set_clear(&want);
	peer_set_clear(&have);
}

TEST(reconcile_revision_gap_full_list_and_strays)
{
	struct peer_set none = { 0 }, have, want;
	uint8_t me[32], stray[32], pod[32], (*device)[32] = calloc(4, 32);
	struct reconcile_in in = { .mine = me, .keepalive = 25, .all_routes = true };
	struct plan p;

	CHECK(take(&have, &none,
		   changes(true, json_pack("[o, o]", node("a", 'A', "192.0.2.1:1", "10.1.1.0/24"),
					   node("b", 'B', "192.0.2.2:1", "10.1.2.0/24")),
			   NULL)) == 0);
	/* After a gap the manager sends everything: b is missing, so b went
	 * while we were not listening. */
	CHECK(take(&want, &have, changes(true, json_pack("[o]", node("a", 'A', "192.0.2.1:1", "10.1.1.0/24")), NULL)) ==
	      0);
	CHECK(want.n == 1 && peer_set_find(&want, "a"));
	key_of(me, 'M');
	key_of(stray, 'S');
	key_of(pod, 'P');
	memcpy(device[0], have.v[0].key, 32);
	memcpy(device[1], have.v[1].key, 32);
	memcpy(device[2], stray, 32);
	memcpy(device[3], pod, 32);
	in.want = &want;
	in.have = &have;
	in.device = (const uint8_t(*)[32])device;
	in.ndevice = 4;
	in.others = (const uint8_t(*)[32])pod;
	in.nothers = 1;
	CHECK(reconcile(&in, &p) == 0);
	CHECK(count_flag(&p, WG_PEER_REMOVE_ME) == 2); /* b, and the stray; the pod stays */
	CHECK(has_event(&p, PEER_LEFT, "b") && has_event(&p, PEER_STRAY, ""));
	CHECK(has_route(p.route_add, p.nroute_add, "10.1.1.0/24")); /* all routes again, unchanged a's too */
	CHECK(has_route(p.route_del, p.nroute_del, "10.1.2.0/24"));
	plan_free(&p);
	free(device);
	peer_set_clear(&want);
	peer_set_clear(&have);
}

static void note_bad(void *ctx, const char *name, const char *why)
{
	++*(int *)ctx;
}

TEST(reconcile_bad_record_changes_nothing)
{
	struct peer_set none = { 0 }, have, want;
	int bad = 0;
	struct peer_take_opts o = { .bad = note_bad, .ctx = &bad };
	json_t *r;

	CHECK(take(&have, &none, changes(true, json_pack("[o]", node("a", 'A', "192.0.2.1:1", "10.1.1.0/24")), NULL)) ==
	      0);
	r = changes(false,
		    json_pack("[{s:s, s:s, s:[s], s:[s]}, o, {s:s, s:s}]", "name", "a", "publicKey", "not a key",
			      "endpoints", "192.0.2.1:1", "subnets", "10.1.1.0/24",
			      node("b", 'B', "192.0.2.2:1", "10.1.2.0/99"), "name", "c", "publicKey", "x"),
		    NULL);
	CHECK(peer_set_take(&want, &have, r, &o) == 0);
	json_decref(r);
	CHECK(bad == 3);
	CHECK(want.n == 1 && peer_set_find(&want, "a") && peer_rec_equal(peer_set_find(&want, "a"), &have.v[0]));
	peer_set_clear(&want);
	/* A full list that gets a record wrong keeps what we had for it. */
	r = changes(true, json_pack("[{s:s, s:s}]", "name", "a", "publicKey", "bad"), NULL);
	CHECK(peer_set_take(&want, &have, r, &o) == 0);
	json_decref(r);
	CHECK(want.n == 1 && peer_set_find(&want, "a"));
	peer_set_clear(&want);
	peer_set_clear(&have);
}

TEST(reconcile_saved_set_round_trips)
{
	struct peer_set none = { 0 }, s, back;
	json_t *j;
	size_t skipped;

	CHECK(take(&s, &none,
		   changes(true, json_pack("[o, o]", node("a", 'A', "[2001:db8::1]:51820", "fd00:1::/64"),
					   node("b", 'B', "192.0.2.2:1", "10.1.2.0/24")),
			   NULL)) == 0);
	j = peer_set_json(&s);
	json_object_set_new(j, "junk", json_pack("{s:s}", "publicKey", "?"));
	CHECK(peer_set_from_json(&back, j, &skipped) == 0);
	CHECK(skipped == 1 && back.n == 2);
	CHECK(peer_rec_equal(&back.v[0], &s.v[0]) && peer_rec_equal(&back.v[1], &s.v[1]));
	json_decref(j);
	peer_set_clear(&back);
	peer_set_clear(&s);
}

/* The hub's pods: a peer added without an endpoint, given one once its
 * interface has a port, then removed; no routes (the hub's own prefix
 * covers the pod subnet), no keepalive (the pod keeps it). */
TEST(reconcile_hub_pods_without_routes)
{
	static const char name[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef@eth0";
	struct peer_set none = { 0 }, one = { 0 }, moved = { 0 };
	struct peer_rec r = { 0 };
	struct reconcile_in in = { .want = &one, .have = &none, .no_routes = true };
	struct plan p;

	snprintf(r.name, sizeof(r.name), "%s", name);
	CHECK(!strcmp(r.name, name)); /* a container ID and an interface fit */
	key_of(r.key, 'P');
	r.prefixes = calloc(1, sizeof(*r.prefixes));
	r.nprefixes = 1;
	CHECK(r.prefixes && !ipam_prefix_parse(&r.prefixes[0], "10.22.0.5/32"));
	CHECK(peer_set_put(&one, &r) == 0);
	CHECK(reconcile(&in, &p) == 0);
	CHECK(count_flag(&p, WG_PEER_REPLACE_ALLOWEDIPS) == 1 && count_flag(&p, WG_PEER_HAS_ENDPOINT) == 0);
	CHECK(count_flag(&p, WG_PEER_HAS_PERSISTENT_KEEPALIVE) == 0 && p.nkickoffs == 0);
	CHECK(p.cfg->first_peer && p.cfg->first_peer->first_ip);
	CHECK(!p.nroute_add && !p.nroute_del && has_event(&p, PEER_JOINED, name));
	plan_free(&p);

	/* Its port known: the same peer with an endpoint, nothing else. */
	CHECK(peer_set_copy(&moved, &one) == 0);
	{
		struct peer_rec *m = &moved.v[0];

		m->has_endpoint = true;
		m->endpoint.in4.sin_family = AF_INET;
		m->endpoint.in4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		m->endpoint.in4.sin_port = htons(40000);
	}
	in.want = &moved;
	in.have = &one;
	CHECK(reconcile(&in, &p) == 0);
	CHECK(count_flag(&p, WG_PEER_REPLACE_ALLOWEDIPS | WG_PEER_HAS_ENDPOINT) == 1);
	CHECK(count_flag(&p, WG_PEER_REMOVE_ME) == 0 && has_event(&p, PEER_MOVED, name) && !p.nroute_add);
	plan_free(&p);

	/* Gone: removed, and still no route to take away. */
	in.want = &none;
	in.have = &moved;
	CHECK(reconcile(&in, &p) == 0);
	CHECK(count_flag(&p, WG_PEER_REMOVE_ME) == 1 && has_event(&p, PEER_LEFT, name));
	CHECK(!p.nroute_add && !p.nroute_del);
	plan_free(&p);
	peer_set_clear(&one);
	peer_set_clear(&moved);
}
