// SPDX-License-Identifier: MIT
/*
 * The node in a cluster (seed 003): weftd registers with weft-manager, takes
 * the subnets it is given as its pod subnets, and keeps the node's WireGuard
 * device (the hub) peered with every other node, each allowed its subnets,
 * with a route for each subnet into the device:
 *
 *   pod ──► node ══(WireGuard, node to node)══► node ──► pod
 *
 * What it learned is kept in STATE/cluster/ (the credential 0600, its own
 * record, the other nodes at the last revision seen), so a restarted agent
 * brings the device back as it was before it hears from the manager, and a
 * manager that is down changes nothing: the nodes keep forwarding with what
 * they have. Changes arrive by long poll (GET /v1/peers?since=REV), so a
 * new node is a peer everywhere within about a second.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/rtnetlink.h>

#include "api/client.h"
#include "cluster/cluster.h"
#include "crypto/crypto.h"
#include "nl/nl.h"
#include "util/addr.h"
#include "util/clock.h"
#include "util/file.h"
#include "util/key.h"
#include "weftd.h"

enum {
	POLL_WAIT = 25,		/* seconds a long poll may wait at the manager */
	HEARTBEAT_EVERY = 30,
	RETRY_MAX = 8,		/* seconds between tries when the manager is away */
	KEEPALIVE = 25,		/* between nodes: sessions come back at once after a restart */
	/* Of two nodes new to each other, the one with the greater key starts
	 * its keepalive (and so its handshake) this much later (ms): two
	 * initiations crossing leave both sides waiting 5 s (REKEY_TIMEOUT)
	 * for a retry. */
	KEEPALIVE_DELAY_MS = 500,
};

/* --- files under STATE/cluster/ --------------------------------------------- */

static void cpath(struct weftd *d, char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/cluster/%s", d->state_dir, name);
}

static int save(struct weftd *d, const char *name, const char *text)
{
	char path[600];

	cpath(d, path, sizeof(path), name);
	return file_replace(path, text, strlen(text), 0600);
}

static int save_json(struct weftd *d, const char *name, json_t *v)
{
	char *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
	int ret = text ? save(d, name, text) : -ENOMEM;

	free(text);
	return ret;
}

/* A small file's text (a credential, a token): NULL if absent. */
char *weftd_read_secret(const char *path)
{
	char buf[4096];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;
	char *s;

	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return NULL;
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	s = strdup(buf);
	crypto_wipe(buf, sizeof(buf));
	return s;
}

/* --- the device ---------------------------------------------------------- */

/* A route for prefix into dev (a WireGuard device: its peers' allowed IPs
 * pick the peer). */
int weftd_route(struct wgdev *dev, const char *prefix, bool add)
{
	struct ipam_prefix p;
	struct nl_route r = { 0 };
	struct nl nl;
	int ret;

	if (ipam_prefix_parse(&p, prefix) || !dev)
		return -EINVAL;
	r.family = p.family;
	memcpy(&r.dst, &p.addr, p.family == AF_INET ? 4 : 16);
	r.dst_len = p.len;
	r.oif = wgdev_ifindex(dev);
	r.scope = RT_SCOPE_LINK;
	if ((ret = nl_open(&nl, NETLINK_ROUTE, -1)))
		return ret;
	ret = add ? nl_route_add(&nl, &r, true) : nl_route_del(&nl, &r);
	nl_close(&nl);
	return ret == -ESRCH || ret == -ENOENT ? 0 : ret;
}

static int route(struct weftd *d, const char *subnet, bool add)
{
	return weftd_route(d->hub, subnet, add);
}

/* The peer for another node (or cluster): its key, its first endpoint,
 * its subnets; keepalive (0 leaves it as it is, or off for a new peer). */
void weftd_peer_set(struct wg_config *cfg, json_t *rec, uint16_t keepalive)
{
	struct wg_config_peer *p = wg_config_add_peer(cfg);
	union sockaddr_any ep;
	json_t *v;
	size_t i;

	if (!p || !key_from_base64(p->public_key, json_string_value(json_object_get(rec, "publicKey")) ?: ""))
		return;
	p->flags = WG_PEER_REPLACE_ALLOWEDIPS;
	if (keepalive) {
		p->flags |= WG_PEER_HAS_PERSISTENT_KEEPALIVE;
		p->persistent_keepalive = keepalive;
	}
	if (!addr_parse_endpoint(&ep, json_string_value(json_array_get(json_object_get(rec, "endpoints"), 0)) ?: "")) {
		p->flags |= WG_PEER_HAS_ENDPOINT;
		memcpy(&p->endpoint, &ep, sizeof(p->endpoint));
	}
	json_array_foreach(json_object_get(rec, "subnets"), i, v) {
		struct ipam_prefix s;

		if (!ipam_prefix_parse(&s, json_string_value(v) ?: ""))
			wg_config_add_ip(p, s.family, &s.addr, s.len);
	}
}

void weftd_peer_remove(struct wg_config *cfg, const char *pub)
{
	struct wg_config_peer *p = wg_config_add_peer(cfg);

	if (p && key_from_base64(p->public_key, pub))
		p->flags = WG_PEER_REMOVE_ME;
}

static bool same_strings(json_t *a, json_t *b)
{
	return json_equal(a, b) || (!a && !b);
}

/*
 * Brings the hub to the nodes in `nodes` (name -> record), from what it
 * had (d->cl.nodes): new and changed nodes are set, nodes gone are removed
 * with their routes. A node new to the hub gets its keepalive, which
 * starts a handshake at once, right away if our key is the smaller of the
 * two, else KEEPALIVE_DELAY_MS later (d->cl.pending, the keepalive
 * thread), by when the other side's initiation has made a session. Both
 * sides follow the same rule, so only one initiates first; and whichever
 * restarted initiates within the delay, replacing the session the other
 * side still holds. With d->hub_lock held.
 */
static int apply(struct weftd *d, json_t *nodes)
{
	struct wg_config *cfg = wg_config_new();
	struct wgdev_err werr = { "", 0 };
	const char *name;
	json_t *rec, *old;
	size_t i;
	json_t *v;
	int ret = 0;

	char mine[KEY_B64_LEN];
	uint8_t raw[32];

	if (!cfg || !d->hub) {
		wg_config_free(cfg);
		return -ENOMEM;
	}
	hub_public_key(d, raw);
	key_to_base64(mine, raw);
	json_object_foreach(d->cl.nodes, name, old) {
		const char *pub = json_string_value(json_object_get(old, "publicKey")) ?: "";

		rec = json_object_get(nodes, name);
		if (!rec || strcmp(pub, json_string_value(json_object_get(rec, "publicKey")) ?: ""))
			weftd_peer_remove(cfg, pub);
	}
	json_object_foreach(nodes, name, rec) {
		const char *pub = json_string_value(json_object_get(rec, "publicKey")) ?: "";
		bool fresh, first;

		old = json_object_get(d->cl.nodes, name);
		if (old && json_equal(old, rec))
			continue;
		/* New to the device: a new node, or a node with a new key. */
		fresh = !old || strcmp(pub, json_string_value(json_object_get(old, "publicKey")) ?: "");
		first = fresh && strcmp(mine, pub) < 0;
		weftd_peer_set(cfg, rec, fresh && !first ? 0 : KEEPALIVE);
		if (fresh && !first)
			json_object_set_new(d->cl.pending, pub, json_integer(clock_ms() + KEEPALIVE_DELAY_MS));
	}
	if (json_object_size(d->cl.pending))
		pthread_cond_signal(&d->cl.timer);
	if (cfg->first_peer && wgdev_set(d->hub, cfg, &werr)) {
		weftd_log(d, WG_LOG_ERROR, "cluster: cannot set the node peers on %s: %s", d->hub_name, werr.msg);
		ret = -EIO;
	}
	wg_config_free(cfg);
	if (ret)
		return ret;
	/* Routes: the old subnets no node has any more, then the new ones. */
	json_object_foreach(d->cl.nodes, name, old) {
		rec = json_object_get(nodes, name);
		if (rec && same_strings(json_object_get(rec, "subnets"), json_object_get(old, "subnets")))
			continue;
		json_array_foreach(json_object_get(old, "subnets"), i, v)
			route(d, json_string_value(v) ?: "", false);
	}
	json_object_foreach(nodes, name, rec) {
		old = json_object_get(d->cl.nodes, name);
		json_array_foreach(json_object_get(rec, "subnets"), i, v)
			if ((ret = route(d, json_string_value(v) ?: "", true)))
				weftd_log(d, WG_LOG_ERROR, "cluster: no route for %s (node %s): %s", json_string_value(v),
					  name, strerror(-ret));
		if (!old) {
			weftd_log(d, WG_LOG_VERBOSE, "cluster: node %s joined (%s)", name,
				  json_string_value(json_array_get(json_object_get(rec, "subnets"), 0)) ?: "");
		} else if (!same_strings(json_object_get(rec, "subnets"), json_object_get(old, "subnets"))) {
			char *subs = json_dumps(json_object_get(rec, "subnets"), JSON_COMPACT);

			weftd_log(d, WG_LOG_VERBOSE, "cluster: node %s now routes %s", name, subs ?: "?");
			free(subs);
		}
	}
	json_object_foreach(d->cl.nodes, name, old)
		if (!json_object_get(nodes, name))
			weftd_log(d, WG_LOG_VERBOSE, "cluster: node %s left", name);
	return 0;
}

/* After a full list: any peer of the hub that is neither a node we know
 * nor one of our pods is a leftover (a node that left while we were down,
 * on a device that outlived us). With d->hub_lock held. */
static void sweep_strays(struct weftd *d)
{
	struct wgdev_err werr = { "", 0 };
	struct wg_config *got = wgdev_get(d->hub, &werr), *rm = wg_config_new();
	json_t *nodes = cluster_node_keys(d), *pods = hub_pod_keys(d);

	if (got && rm) {
		for (struct wg_config_peer *p = got->first_peer; p; p = p->next) {
			char b64[KEY_B64_LEN];

			key_to_base64(b64, p->public_key);
			if (!json_object_get(nodes, b64) && !json_object_get(pods, b64))
				weftd_peer_remove(rm, b64);
		}
		if (rm->first_peer && !wgdev_set(d->hub, rm, &werr))
			weftd_log(d, WG_LOG_VERBOSE, "cluster: removed peers no node or pod holds");
	}
	json_decref(nodes);
	json_decref(pods);
	wg_config_free(got);
	wg_config_free(rm);
}

/* Starts the delayed keepalives when they are due (see apply). */
static void *keepalives(void *arg)
{
	struct weftd *d = arg;

	pthread_mutex_lock(&d->hub_lock);
	while (!atomic_load(&d->cl.stop)) {
		struct wg_config *cfg = wg_config_new();
		struct wgdev_err werr = { "", 0 };
		int64_t now = clock_ms(), next = now + 1000;
		struct timespec until;
		const char *pub;
		json_t *due;
		void *tmp;

		json_object_foreach_safe(d->cl.pending, tmp, pub, due) {
			struct wg_config_peer *p;

			if (json_integer_value(due) > now) {
				if (json_integer_value(due) < next)
					next = json_integer_value(due);
				continue;
			}
			if (cfg && (p = wg_config_add_peer(cfg)) && key_from_base64(p->public_key, pub)) {
				p->flags = WG_PEER_UPDATE_ONLY | WG_PEER_HAS_PERSISTENT_KEEPALIVE;
				p->persistent_keepalive = KEEPALIVE;
			}
			json_object_del(d->cl.pending, pub);
		}
		if (cfg && cfg->first_peer && d->hub && wgdev_set(d->hub, cfg, &werr))
			weftd_log(d, WG_LOG_ERROR, "cluster: cannot start keepalives on %s: %s", d->hub_name, werr.msg);
		wg_config_free(cfg);
		until = clock_after_ms(next - now);
		pthread_cond_timedwait(&d->cl.timer, &d->hub_lock, &until);
	}
	pthread_mutex_unlock(&d->hub_lock);
	return NULL;
}

/* What a node's peer is allowed and routed: its subnets, and for the
 * cluster's gateway the other clusters' CIDRs too (docs/clusters.md), so
 * traffic to them crosses the mesh to the gateway. */
static json_t *routed_subnets(json_t *rec)
{
	json_t *subs = json_object_get(rec, "subnets"), *out, *cidrs, *v;
	const char *id;
	size_t i;

	if (!json_is_array(subs))
		return NULL;
	out = json_deep_copy(subs);
	json_object_foreach(json_object_get(json_object_get(rec, "gateway"), "clusters"), id, cidrs)
		json_array_foreach(cidrs, i, v)
			if (json_is_string(v))
				json_array_append(out, v);
	return out;
}

/* Which node is the cluster's gateway: the one whose record says so
 * ("gateway", docs/clusters.md); a holder whose record stops saying so, or
 * that is removed, is no longer. With d->cl.lock held. */
static void see_gateway(struct weftd *d, json_t *reply, bool full)
{
	const char *holder = json_string_value(json_object_get(d->cl.gateway_seen, "node"));
	bool gone = full;
	json_t *rec, *v;
	size_t i;

	json_array_foreach(json_object_get(reply, "removed"), i, v)
		if (holder && !strcmp(json_string_value(v) ?: "", holder))
			gone = true;
	json_array_foreach(json_object_get(reply, "nodes"), i, rec)
		if (holder && !strcmp(json_string_value(json_object_get(rec, "name")) ?: "", holder))
			gone = true;
	if (gone) {
		json_decref(d->cl.gateway_seen);
		d->cl.gateway_seen = NULL;
	}
	json_array_foreach(json_object_get(reply, "nodes"), i, rec) {
		const char *name = json_string_value(json_object_get(rec, "name"));
		json_t *gw = json_object_get(rec, "gateway");

		if (name && json_is_object(gw)) {
			json_decref(d->cl.gateway_seen);
			d->cl.gateway_seen = json_pack("{s:s, s:O}", "node", name, "gateway", gw);
		}
	}
}

/* Takes a list of changes from the manager: {"revision", "full", "nodes",
 * "removed"}. */
static void take(struct weftd *d, json_t *reply)
{
	json_t *next, *rec, *v;
	bool full = json_is_true(json_object_get(reply, "full"));
	const char *self = d->cl.name;
	size_t i;

	next = full ? json_object() : json_deep_copy(d->cl.nodes);
	pthread_mutex_lock(&d->cl.lock);
	see_gateway(d, reply, full);
	pthread_mutex_unlock(&d->cl.lock);
	json_array_foreach(json_object_get(reply, "nodes"), i, rec) {
		const char *name = json_string_value(json_object_get(rec, "name"));

		if (!name || !strcmp(name, self))
			continue;
		/* Only what the device needs: a change elsewhere (labels, say)
		 * does not touch it. */
		json_object_set_new(next, name,
				    json_pack("{s:O?, s:O?, s:o?}", "publicKey", json_object_get(rec, "publicKey"),
					      "endpoints", json_object_get(rec, "endpoints"), "subnets",
					      routed_subnets(rec)));
	}
	json_array_foreach(json_object_get(reply, "removed"), i, v)
		json_object_del(next, json_string_value(v) ?: "");

	pthread_mutex_lock(&d->hub_lock);
	if (!apply(d, next)) {
		json_decref(d->cl.nodes);
		d->cl.nodes = next;
		next = NULL;
		if (full)
			sweep_strays(d);
	}
	pthread_mutex_unlock(&d->hub_lock);
	json_decref(next);
	pthread_mutex_lock(&d->cl.lock);
	d->cl.rev = json_integer_value(json_object_get(reply, "revision"));
	pthread_mutex_unlock(&d->cl.lock);
	{
		json_t *doc = json_pack("{s:I, s:O}", "revision", (json_int_t)d->cl.rev, "nodes", d->cl.nodes);

		if (save_json(d, "peers.json", doc))
			weftd_log(d, WG_LOG_ERROR, "cluster: cannot write %s/cluster/peers.json", d->state_dir);
		json_decref(doc);
	}
}

/* --- talking to the manager ------------------------------------------------ */

/* Our record as the manager has it. The thread that follows the manager
 * is the only writer; "show" reads it under d->cl.lock. */
static void set_self(struct weftd *d, json_t *rec)
{
	pthread_mutex_lock(&d->cl.lock);
	json_decref(d->cl.self);
	d->cl.self = json_incref(rec);
	pthread_mutex_unlock(&d->cl.lock);
}

static void note(struct weftd *d, bool ok, const char *err)
{
	pthread_mutex_lock(&d->cl.lock);
	d->cl.connected = ok;
	if (ok)
		d->cl.last_contact = time(NULL);
	snprintf(d->cl.error, sizeof(d->cl.error), "%s", ok ? "" : err);
	pthread_mutex_unlock(&d->cl.lock);
}

static json_t *self_request(struct weftd *d, bool with_name)
{
	char pub[KEY_B64_LEN], ep[96];
	uint8_t raw[32];
	json_t *req;

	hub_public_key(d, raw);
	key_to_base64(pub, raw);
	/* An endpoint without a port takes the hub's. */
	if (strchr(d->cl.endpoint, ']') || (strchr(d->cl.endpoint, '.') && strchr(d->cl.endpoint, ':')))
		snprintf(ep, sizeof(ep), "%s", d->cl.endpoint);
	else if (strchr(d->cl.endpoint, ':'))
		snprintf(ep, sizeof(ep), "[%s]:%u", d->cl.endpoint, d->hub_port);
	else
		snprintf(ep, sizeof(ep), "%s:%u", d->cl.endpoint, d->hub_port);
	/* No gateway label: an admin grants that (weft node gateway NAME
	 * --allow), and the manager keeps it whatever labels we send. */
	req = json_pack("{s:s, s:[s], s:{}}", "publicKey", pub, "endpoints", ep, "labels");
	if (with_name)
		json_object_set_new(req, "name", json_string(d->cl.name));
	return req;
}

enum join_result { JOINED, RETRY, FATAL };

/* Registers with the join token: a first start, or a node the manager
 * removed (its lease ran out) coming back, asking for its old subnets. */
static enum join_result join(struct weftd *d)
{
	char path[600], err[700];
	char *token = weftd_read_secret(d->cl.token_file);
	json_t *req, *reply = NULL, *subs;
	int status;

	if (!token || !*token) {
		weftd_log(d, WG_LOG_ERROR, "cluster: cannot read the join token %s: %s", d->cl.token_file,
			  token ? "empty" : strerror(errno));
		crypto_free_string(token);
		return d->cl.self ? RETRY : FATAL;
	}
	req = self_request(d, true);
	if (d->cl.self && (subs = json_object_get(d->cl.self, "subnets")))
		json_object_set(req, "subnets", subs);
	api_client_token(d->cl.api, token);
	crypto_free_string(token);
	status = api_call(d->cl.api, "POST", "/v1/nodes", req, 30, &reply, err, sizeof(err));
	api_client_token(d->cl.api, NULL);
	json_decref(req);
	if (status == 201 && json_is_string(json_object_get(reply, "credential")) &&
	    json_is_object(json_object_get(reply, "node"))) {
		if (save(d, "credential", json_string_value(json_object_get(reply, "credential"))) ||
		    save_json(d, "node.json", json_object_get(reply, "node"))) {
			cpath(d, path, sizeof(path), "credential");
			weftd_log(d, WG_LOG_ERROR, "cluster: cannot write %s", path);
			json_decref(reply);
			return FATAL;
		}
		api_client_token(d->cl.api, json_string_value(json_object_get(reply, "credential")));
		set_self(d, json_object_get(reply, "node"));
		note(d, true, NULL);
		weftd_log(d, WG_LOG_ERROR, "cluster: joined as node %s, subnets %s %s", d->cl.name,
			  json_string_value(json_array_get(json_object_get(d->cl.self, "subnets"), 0)) ?: "",
			  json_string_value(json_array_get(json_object_get(d->cl.self, "subnets"), 1)) ?: "");
		json_decref(reply);
		return JOINED;
	}
	json_decref(reply);
	note(d, false, err);
	weftd_log(d, WG_LOG_ERROR, "cluster: cannot join: %s", err);
	if (status < 0 || status >= 500)
		return RETRY;
	/* Refused: a bad or expired token, a name or key taken, no subnet
	 * left. Trying again changes nothing until someone acts. */
	return d->cl.self ? RETRY : FATAL;
}

/* Tells the manager our key and endpoint if they differ from its record. */
static int update_self(struct weftd *d)
{
	char path[80], err[700];
	json_t *req = self_request(d, false), *reply = NULL;
	json_t *ours = json_deep_copy(json_object_get(d->cl.self, "labels"));
	bool same;
	int status;

	json_object_del(ours, CLUSTER_GATEWAY_LABEL); /* the admin's, not ours */
	same = d->cl.self && json_equal(json_object_get(req, "publicKey"), json_object_get(d->cl.self, "publicKey")) &&
	       json_equal(json_object_get(req, "endpoints"), json_object_get(d->cl.self, "endpoints")) &&
	       json_equal(json_object_get(req, "labels"), ours ?: json_object_get(req, "labels"));
	json_decref(ours);
	if (same) {
		json_decref(req);
		return 200;
	}
	snprintf(path, sizeof(path), "/v1/nodes/%s", d->cl.name);
	status = api_call(d->cl.api, "PATCH", path, req, 30, &reply, err, sizeof(err));
	json_decref(req);
	if (status == 200 && json_is_object(reply)) {
		set_self(d, reply);
		save_json(d, "node.json", reply);
		weftd_log(d, WG_LOG_VERBOSE, "cluster: told the manager our key, endpoint and labels");
	} else {
		note(d, false, err);
	}
	json_decref(reply);
	return status;
}

static bool stopping(struct weftd *d)
{
	return atomic_load(&d->cl.stop);
}

static void pause_for(struct weftd *d, int seconds)
{
	for (int i = 0; i < seconds * 10 && !stopping(d); ++i)
		usleep(100000);
}

static void *run(void *arg)
{
	struct weftd *d = arg;
	int backoff = 1;
	time_t last_beat = 0;
	bool told = false; /* the manager has our key and endpoint */

	while (!stopping(d)) {
		char path[200], err[700];
		json_t *reply = NULL;
		int status;

		if (!d->cl.registered) {
			enum join_result r = join(d);

			if (r != JOINED) {
				pause_for(d, backoff);
				backoff = backoff * 2 > RETRY_MAX ? RETRY_MAX : backoff * 2;
				continue;
			}
			d->cl.registered = true;
			told = false;
		}
		if (!told) {
			status = update_self(d);
			if (status == 401 || status == 404) {
				/* The manager no longer knows us: our lease ran out,
				 * or an admin removed us. Join again, asking for the
				 * same subnets. */
				weftd_log(d, WG_LOG_ERROR, "cluster: the manager does not know node %s any more (%d); "
							   "joining again", d->cl.name, status);
				d->cl.registered = false;
				continue;
			}
			if (status != 200) {
				pause_for(d, backoff);
				backoff = backoff * 2 > RETRY_MAX ? RETRY_MAX : backoff * 2;
				continue;
			}
			told = true;
		}
		if (time(NULL) - last_beat >= HEARTBEAT_EVERY) {
			snprintf(path, sizeof(path), "/v1/nodes/%s/heartbeat", d->cl.name);
			status = api_call(d->cl.api, "PUT", path, NULL, 15, &reply, err, sizeof(err));
			json_decref(reply);
			reply = NULL;
			if (status == 200)
				last_beat = time(NULL);
		}
		snprintf(path, sizeof(path), "/v1/peers?since=%lld&wait=%d", (long long)d->cl.rev, POLL_WAIT);
		status = api_call(d->cl.api, "GET", path, NULL, POLL_WAIT + 15, &reply, err, sizeof(err));
		if (status == 200 && json_is_object(reply)) {
			note(d, true, NULL);
			backoff = 1;
			take(d, reply);
		} else if (status == 401) {
			d->cl.registered = false;
			told = false;
		} else if (!stopping(d)) {
			/* The manager is away: the hub keeps what it has. */
			note(d, false, err);
			weftd_log(d, WG_LOG_VERBOSE, "cluster: %s; keeping the last configuration", err);
			pause_for(d, backoff);
			backoff = backoff * 2 > RETRY_MAX ? RETRY_MAX : backoff * 2;
		}
		json_decref(reply);
	}
	return NULL;
}

/* --- start and stop ------------------------------------------------------------ */

int cluster_start(struct weftd *d, const struct agent_config *conf, char *err, size_t errlen)
{
	char path[600];
	char *cred;
	json_t *saved;

	if (!conf->manager[0])
		return 0;
	d->cl.enabled = true;
	d->cl.gateway = conf->gateway;
	pthread_mutex_init(&d->cl.lock, NULL);
	snprintf(d->cl.urls, sizeof(d->cl.urls), "%s", conf->manager);
	snprintf(d->cl.token_file, sizeof(d->cl.token_file), "%s", conf->join_token_file);
	snprintf(d->cl.endpoint, sizeof(d->cl.endpoint), "%s", conf->endpoint);
	if (conf->node_name[0]) {
		snprintf(d->cl.name, sizeof(d->cl.name), "%s", conf->node_name);
	} else if (gethostname(d->cl.name, sizeof(d->cl.name)) || !cluster_name_valid(d->cl.name)) {
		snprintf(err, errlen, "the host name \"%s\" is not a valid node name: give --node-name", d->cl.name);
		return -EINVAL;
	}
	d->cl.nodes = json_object();
	d->cl.pending = json_object();
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&d->cl.timer, &ca);
		pthread_condattr_destroy(&ca);
	}
	if (!(d->cl.api = api_client_new(conf->manager, conf->manager_ca[0] ? conf->manager_ca : NULL, err, errlen)))
		return -EINVAL;
	api_client_stop_flag(d->cl.api, &d->cl.stop);
	cpath(d, path, sizeof(path), "");
	if (mkdir(path, 0700) && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
		return -errno;
	}

	/* What we knew before: the device comes back as it was, manager or not. */
	cpath(d, path, sizeof(path), "node.json");
	saved = json_load_file(path, 0, NULL);
	cpath(d, path, sizeof(path), "credential");
	cred = weftd_read_secret(path);
	if (json_is_object(saved) && cred && !strcmp(json_string_value(json_object_get(saved, "name")) ?: "", d->cl.name)) {
		d->cl.self = saved;
		api_client_token(d->cl.api, cred);
		d->cl.registered = true;
	} else {
		json_decref(saved);
		if (saved)
			weftd_log(d, WG_LOG_ERROR, "cluster: %s belongs to another node name; joining as %s", path,
				  d->cl.name);
		if (!conf->join_token_file[0]) {
			crypto_free_string(cred);
			snprintf(err, errlen, "node %s has not joined the cluster yet: give --join-token-file "
					      "(a token from \"weft token create\")", d->cl.name);
			return -EINVAL;
		}
		/* A first start: nothing to serve pods with until we have subnets. */
		for (int backoff = 1;;) {
			enum join_result r = join(d);

			if (r == JOINED)
				break;
			if (r == FATAL || stopping(d)) {
				crypto_free_string(cred);
				snprintf(err, errlen, "could not join the cluster%s", r == FATAL ? " (see above)" : "");
				return -EPERM;
			}
			pause_for(d, backoff);
			backoff = backoff * 2 > RETRY_MAX ? RETRY_MAX : backoff * 2;
		}
		d->cl.registered = true;
	}
	crypto_free_string(cred);
	if (!d->cl.self) {
		snprintf(err, errlen, "could not join the cluster");
		return -EPERM;
	}
	/* The pods' addresses come from the node's subnets. */
	snprintf(d->pod_subnet, sizeof(d->pod_subnet), "%s", "");
	snprintf(d->pod_subnet6, sizeof(d->pod_subnet6), "%s", "");
	{
		json_t *v;
		size_t i;

		json_array_foreach(json_object_get(d->cl.self, "subnets"), i, v) {
			const char *s = json_string_value(v) ?: "";

			snprintf(strchr(s, ':') ? d->pod_subnet6 : d->pod_subnet, sizeof(d->pod_subnet), "%s", s);
		}
	}
	cpath(d, path, sizeof(path), "peers.json");
	saved = json_load_file(path, 0, NULL);
	if (json_is_object(json_object_get(saved, "nodes"))) {
		d->cl.saved = json_incref(json_object_get(saved, "nodes"));
		d->cl.rev = json_integer_value(json_object_get(saved, "revision"));
	}
	json_decref(saved);
	return 0;
}

/* Once the IPAM is open: the hub, with the nodes we knew, then the thread
 * that follows the manager. */
int cluster_run(struct weftd *d, char *err, size_t errlen)
{
	struct cni_error cerr;
	int ret;

	if (!d->cl.enabled)
		return 0;
	if ((ret = hub_start(d, &cerr))) {
		snprintf(err, errlen, "%s: %s", cerr.msg, cerr.details);
		return -EIO;
	}
	if (d->cl.saved) {
		pthread_mutex_lock(&d->hub_lock);
		if (!apply(d, d->cl.saved)) {
			json_decref(d->cl.nodes);
			d->cl.nodes = json_incref(d->cl.saved);
		}
		pthread_mutex_unlock(&d->hub_lock);
		json_decref(d->cl.saved);
		d->cl.saved = NULL;
		weftd_log(d, WG_LOG_VERBOSE, "cluster: restored %zu node peers from revision %lld",
			  json_object_size(d->cl.nodes), (long long)d->cl.rev);
	}
	if ((ret = pthread_create(&d->cl.timer_thread, NULL, keepalives, d))) {
		snprintf(err, errlen, "cannot start the keepalive thread: %s", strerror(ret));
		return -ret;
	}
	d->cl.timer_running = true;
	if ((ret = pthread_create(&d->cl.thread, NULL, run, d))) {
		snprintf(err, errlen, "cannot start the cluster thread: %s", strerror(ret));
		return -ret;
	}
	d->cl.running = true;
	return 0;
}

void cluster_stop(struct weftd *d)
{
	if (!d->cl.enabled)
		return;
	atomic_store(&d->cl.stop, true); /* also cuts a long poll short */
	if (d->cl.running)
		pthread_join(d->cl.thread, NULL);
	if (d->cl.timer_running) {
		pthread_mutex_lock(&d->hub_lock);
		pthread_cond_signal(&d->cl.timer);
		pthread_mutex_unlock(&d->hub_lock);
		pthread_join(d->cl.timer_thread, NULL);
	}
	api_client_free(d->cl.api);
	json_decref(d->cl.self);
	json_decref(d->cl.gateway_seen);
	json_decref(d->cl.nodes);
	json_decref(d->cl.saved);
	json_decref(d->cl.pending);
}

/* The other clusters, as the gateway's record says (docs/clusters.md):
 * {"gateway": NODE, "connections": [{"cluster", "subnets", "status"}]},
 * or NULL when no node of ours is the gateway. With d->cl.lock held. */
static json_t *clusters_seen(struct weftd *d)
{
	json_t *gw = json_object_get(d->cl.gateway_seen, "gateway"), *out, *conns, *cidrs;
	const char *id;

	if (!gw)
		return NULL;
	conns = json_array();
	json_object_foreach(json_object_get(gw, "clusters"), id, cidrs)
		json_array_append_new(conns, json_pack("{s:s, s:O, s:O?}", "cluster", id, "subnets", cidrs, "status",
						       json_object_get(json_object_get(gw, "status"), id)));
	out = json_pack("{s:O, s:O?, s:o}", "gateway", json_object_get(d->cl.gateway_seen, "node"), "since",
			json_object_get(gw, "since"), "connections", conns);
	return out;
}

/* For "show": the node, the manager, the other clusters, and which peer
 * is which node. */
void cluster_describe(struct weftd *d, json_t *out)
{
	json_t *clusters;

	if (!d->cl.enabled)
		return;
	pthread_mutex_lock(&d->cl.lock);
	if (d->cl.self)
		json_object_set_new(out, "node", json_deep_copy(d->cl.self));
	if ((clusters = clusters_seen(d)))
		json_object_set_new(out, "clusters", clusters);
	json_object_set_new(out, "manager",
			    json_pack("{s:s, s:I, s:b, s:I, s:s?}", "urls", d->cl.urls, "revision", (json_int_t)d->cl.rev,
				      "connected", d->cl.connected, "lastContact", (json_int_t)d->cl.last_contact,
				      "error", d->cl.error[0] ? d->cl.error : NULL));
	pthread_mutex_unlock(&d->cl.lock);
}

/* The other nodes' public keys -> their names. With d->hub_lock held. */
json_t *cluster_node_keys(struct weftd *d)
{
	json_t *keys = json_object(), *rec;
	const char *name;

	if (d->cl.enabled)
		json_object_foreach(d->cl.nodes, name, rec)
			json_object_set_new(keys, json_string_value(json_object_get(rec, "publicKey")) ?: "",
					    json_string(name));
	return keys;
}
