// SPDX-License-Identifier: MIT
/*
 * The node as its cluster's gateway to other clusters (docs/clusters.md;
 * Submariner's WireGuard cable driver, seeds 000 and 001).
 *
 * A candidate (weftd --gateway) asks its manager for the gateway lease
 * every second. While it holds it, it keeps the gateway device: its own
 * key (STATE/keys/gateway.key), the node's address on port 4500 (or
 * $CE_IPSEC_NATTPORT), and one peer per other cluster, the active gateway
 * there, allowed that cluster's CIDRs, with a 10 s keepalive and a route
 * for each CIDR into the device. It learns the other clusters from the
 * broker by long poll (a thread of its own), with the cluster's broker
 * credential, which comes with the lease and with nothing else. Each
 * renewal tells the manager the other clusters' CIDRs, which the manager
 * puts in our node record, so that every node of the cluster routes them
 * to us; and the connections' health, for `weft clusters`.
 *
 * A gateway that loses its lease (the manager gave it to another node
 * while we could not renew it) takes its device down at once: two
 * gateways would split the traffic between them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/rtnetlink.h>

#include "api/client.h"
#include "crypto/crypto.h"
#include "io/uapi_server.h"
#include "nl/nl.h"
#include "util/addr.h"
#include "util/clock.h"
#include "util/key.h"
#include "weftd.h"

enum {
	LEASE_EVERY_MS = 1000,
	KEEPALIVE = 10, /* seconds, as Submariner's driver keeps its peers */
	KEEPALIVE_DELAY_MS = 1000, /* the greater key starts later (cluster.c) */
	POLL_WAIT = 25,
	HEARTBEAT_EVERY = 30,
	RETRY_MAX = 8,
	/* Health: a session is good for REJECT_AFTER_TIME; with a 10 s
	 * keepalive something arrives at least every 10 s while the other
	 * side lives. */
	REJECT_AFTER_TIME = 180,
	SILENT_AFTER = 25,
	CONNECTING_FOR = 30,
	/* Without a renewal for this long we stop: the manager's lease (4 s)
	 * may pass to another node soon after. */
	STEP_DOWN_MS = 3000,
};

#define DEFAULT_PORT 4500
#define CABLE_DRIVER "wireguard"

static void set_error(struct weftd *d, const char *msg)
{
	if (strcmp(d->gw.error, msg ?: ""))
		if (msg && *msg)
			weftd_log(d, WG_LOG_ERROR, "gateway: %s", msg);
	snprintf(d->gw.error, sizeof(d->gw.error), "%s", msg ?: "");
}

static bool stopping(const atomic_bool *flag)
{
	return atomic_load(flag);
}

static void pause_ms(const atomic_bool *flag, int ms)
{
	for (int i = 0; i < ms / 50 && !stopping(flag); ++i)
		usleep(50000);
}

/* --- the device: peers, routes ------------------------------------------- */

static int route(struct weftd *d, const char *cidr, bool add)
{
	return weftd_route(d->gw.dev, cidr, add);
}

static const char *pub_of(json_t *rec)
{
	return json_string_value(json_object_get(rec, "publicKey")) ?: "";
}

/*
 * Brings the device to `next` (cluster ID -> {publicKey, endpoints,
 * subnets, labels}) from what it has (d->gw.peers): one peer per cluster,
 * routes for its CIDRs. A cluster with a new key (its gateway failed over)
 * is a new peer and a new connection. With d->gw.lock held.
 */
static int apply(struct weftd *d, json_t *next)
{
	struct wg_config *cfg = wg_config_new();
	struct wgdev_err werr = { "", 0 };
	const char *id;
	json_t *rec, *old, *v;
	uint8_t raw[32];
	char mine[KEY_B64_LEN];
	size_t i;
	int ret = 0;

	if (!cfg || !d->gw.dev) {
		wg_config_free(cfg);
		return -ENOMEM;
	}
	weftd_key_public(d, "gateway", raw);
	key_to_base64(mine, raw);
	json_object_foreach(d->gw.peers, id, old) {
		rec = json_object_get(next, id);
		if (!rec || strcmp(pub_of(old), pub_of(rec))) {
			weftd_peer_remove(cfg, pub_of(old));
			json_object_del(d->gw.health, id);
		}
	}
	json_object_foreach(next, id, rec) {
		bool fresh, first;

		old = json_object_get(d->gw.peers, id);
		if (old && json_equal(old, rec))
			continue;
		fresh = !old || strcmp(pub_of(old), pub_of(rec));
		first = fresh && strcmp(mine, pub_of(rec)) < 0;
		weftd_peer_set(cfg, rec, fresh && !first ? 0 : KEEPALIVE);
		if (fresh && !first)
			json_object_set_new(d->gw.pending, pub_of(rec), json_integer(clock_ms() + KEEPALIVE_DELAY_MS));
	}
	if (cfg->first_peer && wgdev_set(d->gw.dev, cfg, &werr)) {
		weftd_log(d, WG_LOG_ERROR, "gateway: cannot set the cluster peers on %s: %s", d->gw.device, werr.msg);
		ret = -EIO;
	}
	wg_config_free(cfg);
	if (ret)
		return ret;
	json_object_foreach(d->gw.peers, id, old) {
		rec = json_object_get(next, id);
		if (rec && json_equal(json_object_get(rec, "subnets"), json_object_get(old, "subnets")))
			continue;
		json_array_foreach(json_object_get(old, "subnets"), i, v)
			route(d, json_string_value(v) ?: "", false);
		if (!rec)
			weftd_log(d, WG_LOG_ERROR, "gateway: cluster %s left", id);
	}
	json_object_foreach(next, id, rec) {
		old = json_object_get(d->gw.peers, id);
		json_array_foreach(json_object_get(rec, "subnets"), i, v)
			if ((ret = route(d, json_string_value(v) ?: "", true)))
				weftd_log(d, WG_LOG_ERROR, "gateway: no route for %s (cluster %s): %s", json_string_value(v),
					  id, strerror(-ret));
		ret = 0;
		if (!old || strcmp(pub_of(old), pub_of(rec)))
			weftd_log(d, WG_LOG_ERROR, "gateway: cluster %s at %s (%s)", id,
				  json_string_value(json_array_get(json_object_get(rec, "endpoints"), 0)) ?: "?",
				  json_string_value(json_object_get(json_object_get(rec, "labels"), "hostname")) ?: "?");
	}
	json_decref(d->gw.peers);
	d->gw.peers = json_incref(next);
	return 0;
}

/* The delayed keepalives (see apply), from the lease loop. With the lock. */
static void start_keepalives(struct weftd *d)
{
	struct wg_config *cfg;
	struct wgdev_err werr = { "", 0 };
	int64_t now = clock_ms();
	const char *pub;
	json_t *due;
	void *tmp;

	if (!json_object_size(d->gw.pending) || !d->gw.dev || !(cfg = wg_config_new()))
		return;
	json_object_foreach_safe(d->gw.pending, tmp, pub, due) {
		struct wg_config_peer *p;

		if (json_integer_value(due) > now)
			continue;
		if ((p = wg_config_add_peer(cfg)) && key_from_base64(p->public_key, pub)) {
			p->flags = WG_PEER_UPDATE_ONLY | WG_PEER_HAS_PERSISTENT_KEEPALIVE;
			p->persistent_keepalive = KEEPALIVE;
		}
		json_object_del(d->gw.pending, pub);
	}
	if (cfg->first_peer)
		wgdev_set(d->gw.dev, cfg, &werr);
	wg_config_free(cfg);
}

static void gw_log(void *ctx, enum wg_log_level level, const char *msg)
{
	fprintf(stdout, "%s: (gateway) %s\n", level == WG_LOG_ERROR ? "ERROR" : "DEBUG", msg);
}

/* The device, adopted if it is there. With the lock. */
static int device_up(struct weftd *d)
{
	struct wgdev_opts opts = { .name = d->gw.device, .backend = d->backend, .load_module = true, .offload = true,
				   .uapi = true, .log_level = d->log_level, .log = gw_log,
				   .host = d->gw.host[0] ? d->gw.host : NULL };
	struct wgdev_err werr = { "", 0 };
	struct wg_config cfg = { .flags = WG_DEV_HAS_PRIVATE_KEY | WG_DEV_HAS_LISTEN_PORT };
	char msg[700];
	struct nl nl;
	int ret;

	if (d->gw.dev)
		return 0;
	if ((ret = weftd_key(d, "gateway", cfg.private_key, true))) {
		snprintf(msg, sizeof(msg), "cannot read or make the gateway key %s/keys/gateway.key: %s", d->state_dir,
			 strerror(-ret));
		set_error(d, msg);
		return ret;
	}
	cfg.listen_port = d->gw.port;
	d->gw.dev = wgdev_open(&opts, &werr);
	if (d->gw.dev && !(ret = wgdev_set(d->gw.dev, &cfg, &werr)))
		ret = wgdev_up(d->gw.dev, &werr);
	crypto_wipe(cfg.private_key, sizeof(cfg.private_key));
	if (!d->gw.dev || ret) {
		int e = werr.error;

		snprintf(msg, sizeof(msg), "cannot bring up WireGuard device %s on UDP port %u: %s%s", d->gw.device,
			 d->gw.port, werr.msg,
			 e == EADDRINUSE ? "; another program holds the port: free it, or give another with "
					   "--gateway-port or CE_IPSEC_NATTPORT"
			 : e == EOPNOTSUPP || e == ENOENT
				 ? "; the kernel has no WireGuard and the userspace device needs /dev/net/tun"
				 : e == EPERM || e == EACCES ? "; weftd needs CAP_NET_ADMIN" : "");
		set_error(d, msg);
		if (d->gw.dev)
			wgdev_delete(d->gw.dev);
		d->gw.dev = NULL;
		return -EIO;
	}
	if (!nl_open(&nl, NETLINK_ROUTE, -1)) {
		nl_link_set_mtu(&nl, wgdev_ifindex(d->gw.dev), 1420);
		nl_link_set_up(&nl, wgdev_ifindex(d->gw.dev), true);
		nl_close(&nl);
	}
	weftd_enable_forwarding();
	/* An adopted device keeps its peers: they are ours from before. */
	json_object_clear(d->gw.peers);
	weftd_log(d, WG_LOG_ERROR, "gateway: %s %s on UDP port %u (%s%s), endpoint %s", wgdev_adopted(d->gw.dev) ?
		  "adopted" : "brought up", d->gw.device, d->gw.port, wgdev_backend_name(wgdev_backend(d->gw.dev)),
		  wgdev_hosted(d->gw.dev) ? ", hosted by weft-wg" : "", d->gw.endpoint);
	set_error(d, NULL);
	return 0;
}

/* The device goes with its routes. With the lock. */
static void device_down(struct weftd *d)
{
	const char *id;
	json_t *rec, *v;
	size_t i;

	if (!d->gw.dev)
		return;
	json_object_foreach(d->gw.peers, id, rec)
		json_array_foreach(json_object_get(rec, "subnets"), i, v)
			route(d, json_string_value(v) ?: "", false);
	wgdev_delete(d->gw.dev);
	d->gw.dev = NULL;
	json_object_clear(d->gw.peers);
	json_object_clear(d->gw.health);
	json_object_clear(d->gw.pending);
	weftd_log(d, WG_LOG_ERROR, "gateway: took %s down", d->gw.device);
}

/* --- health ----------------------------------------------------------------- */

/* Each connection's status from the device (docs/clusters.md). With the lock. */
static void assess(struct weftd *d)
{
	struct wgdev_err werr = { "", 0 };
	struct wg_config *cfg = d->gw.dev ? wgdev_get(d->gw.dev, &werr) : NULL;
	int64_t now = time(NULL);
	const char *id;
	json_t *rec;

	json_object_foreach(d->gw.peers, id, rec) {
		json_t *h = json_object_get(d->gw.health, id);
		const struct wg_config_peer *p = NULL;
		uint8_t want[32];
		int64_t hs = 0, est, last_rx, configured;
		uint64_t rx = 0, tx = 0;
		const char *ep = json_string_value(json_array_get(json_object_get(rec, "endpoints"), 0)) ?: "";
		char reason[300] = "", status[16];

		if (!h) {
			h = json_pack("{s:I, s:I, s:I, s:I}", "configured", (json_int_t)now, "lastRx", (json_int_t)now,
				      "established", (json_int_t)0, "rxBytes", (json_int_t)0);
			json_object_set_new(d->gw.health, id, h);
		}
		if (cfg && key_from_base64(want, pub_of(rec)))
			for (p = cfg->first_peer; p && memcmp(p->public_key, want, 32); p = p->next)
				;
		if (p) {
			hs = p->last_handshake.tv_sec;
			rx = p->rx_bytes;
			tx = p->tx_bytes;
		}
		configured = json_integer_value(json_object_get(h, "configured"));
		last_rx = json_integer_value(json_object_get(h, "lastRx"));
		est = json_integer_value(json_object_get(h, "established"));
		if (rx != (uint64_t)json_integer_value(json_object_get(h, "rxBytes")))
			last_rx = now;
		if (hs && now - hs < REJECT_AFTER_TIME && now - last_rx <= SILENT_AFTER) {
			snprintf(status, sizeof(status), "connected");
			/* A connection (the first, or one after an error) dates
			 * from its first handshake, not from its configuration. */
			if (!est || strcmp(json_string_value(json_object_get(h, "status")) ?: "", "connected"))
				est = hs;
		} else if (!hs && now - configured < CONNECTING_FOR) {
			snprintf(status, sizeof(status), "connecting");
		} else {
			snprintf(status, sizeof(status), "error");
			if (!hs)
				snprintf(reason, sizeof(reason),
					 "no handshake with %s in %llds: check that UDP port %s is open to it and that "
					 "its gateway is up",
					 ep, (long long)(now - configured), strrchr(ep, ':') ? strrchr(ep, ':') + 1 : "?");
			else if (now - last_rx > SILENT_AFTER)
				snprintf(reason, sizeof(reason),
					 "nothing received from %s for %llds (keepalive every %ds): its gateway may be "
					 "down", ep, (long long)(now - last_rx), KEEPALIVE);
			else
				snprintf(reason, sizeof(reason), "no handshake with %s for %llds", ep,
					 (long long)(now - hs));
		}
		if (strcmp(status, json_string_value(json_object_get(h, "status")) ?: ""))
			weftd_log(d, WG_LOG_ERROR, "gateway: connection to cluster %s: %s%s%s", id, status,
				  *reason ? ": " : "", reason);
		json_object_set_new(h, "status", json_string(status));
		if (*reason)
			json_object_set_new(h, "reason", json_string(reason));
		else
			json_object_del(h, "reason");
		json_object_set_new(h, "established", json_integer(est));
		json_object_set_new(h, "lastRx", json_integer(last_rx));
		json_object_set_new(h, "latestHandshake", json_integer(hs));
		json_object_set_new(h, "rxBytes", json_integer((json_int_t)rx));
		json_object_set_new(h, "txBytes", json_integer((json_int_t)tx));
	}
	wg_config_free(cfg);
}

/* The connections as the manager, `weft status` and /metrics see them. With the lock. */
static json_t *connections(struct weftd *d)
{
	json_t *out = json_array(), *h, *rec;
	const char *id;

	json_object_foreach(d->gw.health, id, h) {
		rec = json_object_get(d->gw.peers, id);
		json_array_append_new(
			out, json_pack("{s:s, s:O?, s:O?, s:s?, s:O?, s:s, s:O?, s:O?, s:O?, s:O?, s:O?}", "cluster", id,
				       "status", json_object_get(h, "status"), "reason", json_object_get(h, "reason"),
				       "endpoint", json_string_value(json_array_get(json_object_get(rec, "endpoints"), 0)),
				       "hostname", json_object_get(json_object_get(rec, "labels"), "hostname"), "publicKey",
				       pub_of(rec), "established", json_object_get(h, "established"), "latestHandshake",
				       json_object_get(h, "latestHandshake"), "rxBytes", json_object_get(h, "rxBytes"),
				       "txBytes", json_object_get(h, "txBytes"), "subnets", json_object_get(rec, "subnets")));
	}
	return out;
}

/* --- the broker ------------------------------------------------------------------ */

struct follow_args {
	struct weftd *d;
	json_t *fed; /* {clusterID, broker, ca, credential} */
};

/* Our cluster's record at the broker: this gateway's key and endpoint. */
static json_t *self_record(struct weftd *d)
{
	char pub[KEY_B64_LEN];
	uint8_t raw[32];

	weftd_key_public(d, "gateway", raw);
	key_to_base64(pub, raw);
	return json_pack("{s:s, s:[s], s:{s:s, s:s}}", "publicKey", pub, "endpoints", d->gw.endpoint, "labels",
			 "hostname", d->cl.name, "cableDriver", CABLE_DRIVER);
}

/* Follows the broker while we are the gateway: publishes our record, then
 * long-polls the clusters. */
static void *follow(void *arg)
{
	struct follow_args *a = arg;
	struct weftd *d = a->d;
	const char *id = json_string_value(json_object_get(a->fed, "clusterID")) ?: "";
	char err[700], path[200];
	struct api_client *broker;
	bool told = false;
	time_t last_beat = 0;
	int backoff = 1;
	int64_t rev = 0;

	broker = api_client_new(json_string_value(json_object_get(a->fed, "broker")) ?: "",
				json_string_value(json_object_get(a->fed, "ca")), err, sizeof(err));
	if (!broker) {
		pthread_mutex_lock(&d->gw.lock);
		set_error(d, err);
		pthread_mutex_unlock(&d->gw.lock);
		goto out;
	}
	api_client_token(broker, json_string_value(json_object_get(a->fed, "credential")));
	api_client_stop_flag(broker, &d->gw.follow_stop);
	while (!stopping(&d->gw.follow_stop)) {
		json_t *reply = NULL, *self;
		int status;

		if (!told) {
			self = self_record(d);
			snprintf(path, sizeof(path), "/v1/nodes/%s", id);
			status = api_call(broker, "PATCH", path, self, 15, &reply, err, sizeof(err));
			json_decref(self);
			json_decref(reply);
			reply = NULL;
			if (status != 200) {
				char msg[800];

				snprintf(msg, sizeof(msg), "cannot publish our endpoint at the broker: %s%s", err,
					 status == 401 || status == 404 ? " (has the cluster left the broker?)" : "");
				pthread_mutex_lock(&d->gw.lock);
				set_error(d, msg);
				pthread_mutex_unlock(&d->gw.lock);
				pause_ms(&d->gw.follow_stop, backoff * 1000);
				backoff = backoff * 2 > RETRY_MAX ? RETRY_MAX : backoff * 2;
				continue;
			}
			weftd_log(d, WG_LOG_ERROR, "gateway: published %s as cluster %s's gateway at the broker",
				  d->gw.endpoint, id);
			told = true;
			last_beat = time(NULL);
		}
		if (time(NULL) - last_beat >= HEARTBEAT_EVERY) {
			snprintf(path, sizeof(path), "/v1/nodes/%s/heartbeat", id);
			if (api_call(broker, "PUT", path, NULL, 15, &reply, err, sizeof(err)) == 200)
				last_beat = time(NULL);
			json_decref(reply);
			reply = NULL;
		}
		snprintf(path, sizeof(path), "/v1/peers?since=%lld&wait=%d", (long long)rev, POLL_WAIT);
		status = api_call(broker, "GET", path, NULL, POLL_WAIT + 15, &reply, err, sizeof(err));
		if (status == 200 && json_is_object(reply)) {
			bool full = json_is_true(json_object_get(reply, "full"));
			json_t *next, *rec, *v;
			size_t i;

			backoff = 1;
			pthread_mutex_lock(&d->gw.lock);
			next = full ? json_object() : json_deep_copy(d->gw.peers);
			json_array_foreach(json_object_get(reply, "nodes"), i, rec) {
				const char *name = json_string_value(json_object_get(rec, "name"));

				if (!name || !strcmp(name, id))
					continue;
				/* A cluster without a gateway yet has nothing to peer with. */
				if (!json_is_string(json_object_get(rec, "publicKey")) ||
				    !json_array_size(json_object_get(rec, "endpoints"))) {
					json_object_del(next, name);
					continue;
				}
				json_object_set_new(next, name,
						    json_pack("{s:O, s:O, s:O?, s:O?}", "publicKey",
							      json_object_get(rec, "publicKey"), "endpoints",
							      json_object_get(rec, "endpoints"), "subnets",
							      json_object_get(rec, "subnets"), "labels",
							      json_object_get(rec, "labels")));
			}
			json_array_foreach(json_object_get(reply, "removed"), i, v)
				json_object_del(next, json_string_value(v) ?: "");
			if (!stopping(&d->gw.follow_stop) && !apply(d, next))
				rev = json_integer_value(json_object_get(reply, "revision"));
			d->gw.broker_connected = true;
			pthread_mutex_unlock(&d->gw.lock);
			json_decref(next);
			/* Our own record went (removed at the broker): publish again. */
			json_array_foreach(json_object_get(reply, "removed"), i, v)
				if (!strcmp(json_string_value(v) ?: "", id))
					told = false;
		} else if (!stopping(&d->gw.follow_stop)) {
			pthread_mutex_lock(&d->gw.lock);
			d->gw.broker_connected = false;
			set_error(d, err);
			pthread_mutex_unlock(&d->gw.lock);
			if (status == 401)
				told = false;
			pause_ms(&d->gw.follow_stop, backoff * 1000);
			backoff = backoff * 2 > RETRY_MAX ? RETRY_MAX : backoff * 2;
		}
		json_decref(reply);
	}
out:
	api_client_free(broker);
	json_decref(a->fed);
	free(a);
	return NULL;
}

static void follow_stop(struct weftd *d)
{
	if (!d->gw.follow_running)
		return;
	atomic_store(&d->gw.follow_stop, true);
	pthread_join(d->gw.follow_thread, NULL);
	d->gw.follow_running = false;
	json_decref(d->gw.fed);
	d->gw.fed = NULL;
}

static void follow_start(struct weftd *d, json_t *fed)
{
	struct follow_args *a = malloc(sizeof(*a));

	if (!a)
		return;
	a->d = d;
	a->fed = json_deep_copy(fed);
	atomic_store(&d->gw.follow_stop, false);
	if (pthread_create(&d->gw.follow_thread, NULL, follow, a)) {
		json_decref(a->fed);
		free(a);
		return;
	}
	d->gw.follow_running = true;
	d->gw.fed = json_deep_copy(fed);
}

/* --- the lease ------------------------------------------------------------------- */

/* Stops being the gateway: the broker thread, the device. */
static void step_down(struct weftd *d, const char *why)
{
	bool was = d->gw.active;

	follow_stop(d);
	pthread_mutex_lock(&d->gw.lock);
	d->gw.active = false;
	device_down(d);
	pthread_mutex_unlock(&d->gw.lock);
	if (was)
		weftd_log(d, WG_LOG_ERROR, "gateway: no longer the gateway: %s", why);
}

/* A kernel gateway device outlives weftd. If another node took the lease
 * while this one was down, the device left behind (with its peers and
 * routes) must go, or this node's traffic to other clusters would leave
 * by it instead of through the cluster's gateway. */
/* A TUN of the gateway's name whose UAPI socket answers: a hosted device. */
static bool hosted_here(struct weftd *d, const struct nl_link *link)
{
	struct buf reply = { 0 };
	bool yes = !strcmp(link->kind, "tun") &&
		   !uapi_call(NULL, d->gw.device, "get=1\n\n", 7, &reply, 2000) && reply.len > 0;

	buf_free(&reply);
	return yes;
}

static void remove_leftover(struct weftd *d)
{
	struct nl_link link;
	struct nl nl;

	if (d->gw.dev || nl_open(&nl, NETLINK_ROUTE, -1))
		return;
	if (!nl_link_get(&nl, d->gw.device, 0, &link) && (!strcmp(link.kind, "wireguard") || hosted_here(d, &link))) {
		if (nl_link_del(&nl, link.ifindex))
			weftd_log(d, WG_LOG_ERROR, "gateway: cannot remove %s, left from when this node was the gateway",
				  d->gw.device);
		else
			weftd_log(d, WG_LOG_ERROR, "gateway: removed %s, left from when this node was the gateway",
				  d->gw.device);
	}
	nl_close(&nl);
}

static bool same_federation(json_t *a, json_t *b)
{
	static const char *const keys[] = { "clusterID", "broker", "ca", "credential" };

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); ++i)
		if (!json_equal(json_object_get(a, keys[i]), json_object_get(b, keys[i])))
			return false;
	return true;
}

static char *read_credential(struct weftd *d)
{
	char path[600];

	snprintf(path, sizeof(path), "%s/cluster/credential", d->state_dir);
	return weftd_read_secret(path);
}

static void *lease_loop(void *arg)
{
	struct weftd *d = arg;
	char path[200], err[700];
	int64_t last_ok = 0;
	bool said_busy = false;

	snprintf(path, sizeof(path), "/v1/nodes/%s/gateway", d->cl.name);
	while (!stopping(&d->gw.stop)) {
		int64_t started = clock_ms();
		char *cred = read_credential(d);
		json_t *report, *reply = NULL, *fed;
		int status;

		if (!cred) { /* not joined yet */
			pause_ms(&d->gw.stop, LEASE_EVERY_MS);
			continue;
		}
		api_client_token(d->gw.mgr, cred);
		crypto_free_string(cred);
		pthread_mutex_lock(&d->gw.lock);
		start_keepalives(d);
		assess(d);
		report = json_object();
		if (d->gw.active) {
			json_t *clusters = json_object(), *rec;
			const char *id;

			json_object_foreach(d->gw.peers, id, rec)
				json_object_set(clusters, id, json_object_get(rec, "subnets"));
			json_object_set_new(report, "clusters", clusters);
			json_object_set_new(report, "connections", connections(d));
		}
		pthread_mutex_unlock(&d->gw.lock);
		status = api_call(d->gw.mgr, "PUT", path, report, 5, &reply, err, sizeof(err));
		json_decref(report);
		fed = json_object_get(reply, "federation");
		if (status == 200) {
			bool joined = json_is_object(fed);

			last_ok = clock_ms();
			said_busy = false;
			if (!d->gw.active)
				weftd_log(d, WG_LOG_ERROR, "gateway: this node is the cluster's gateway%s",
					  joined ? "" : " (the cluster has not joined a broker yet)");
			pthread_mutex_lock(&d->gw.lock);
			d->gw.active = true;
			d->gw.since = json_integer_value(json_object_get(reply, "since"));
			d->gw.joined = joined;
			if (joined) {
				snprintf(d->gw.cluster, sizeof(d->gw.cluster), "%s",
					 json_string_value(json_object_get(fed, "clusterID")) ?: "");
				if (device_up(d)) {
					pthread_mutex_unlock(&d->gw.lock);
					json_decref(reply);
					reply = NULL;
					/* Let another candidate try. */
					api_call(d->gw.mgr, "DELETE", path, NULL, 5, &reply, err, sizeof(err));
					step_down(d, "its device could not be brought up");
					json_decref(reply);
					pause_ms(&d->gw.stop, 5 * LEASE_EVERY_MS);
					continue;
				}
			}
			pthread_mutex_unlock(&d->gw.lock);
			if (joined && (!d->gw.follow_running || !same_federation(d->gw.fed, fed))) {
				follow_stop(d);
				follow_start(d, fed);
			} else if (!joined && (d->gw.follow_running || d->gw.dev)) {
				follow_stop(d);
				pthread_mutex_lock(&d->gw.lock);
				device_down(d);
				pthread_mutex_unlock(&d->gw.lock);
				weftd_log(d, WG_LOG_ERROR, "gateway: the cluster left the broker");
			}
		} else if (status == 403) {
			/* Not allowed (any more): an admin grants candidacy.
			 * The error is logged once, when it first comes. */
			if (d->gw.active)
				step_down(d, err);
			pthread_mutex_lock(&d->gw.lock);
			set_error(d, err);
			pthread_mutex_unlock(&d->gw.lock);
		} else if (status == 409) {
			if (d->gw.active) {
				step_down(d, err);
			} else if (!said_busy) {
				weftd_log(d, WG_LOG_VERBOSE, "gateway: standing by: %s", err);
				remove_leftover(d);
			}
			said_busy = true;
		} else if (d->gw.active && clock_ms() - last_ok > STEP_DOWN_MS) {
			/* We cannot renew: by now another node may hold it. */
			step_down(d, err);
		} else if (status == 404) {
			pthread_mutex_lock(&d->gw.lock);
			set_error(d, err);
			pthread_mutex_unlock(&d->gw.lock);
		}
		json_decref(reply);
		{
			int64_t spent = clock_ms() - started;

			if (spent < LEASE_EVERY_MS)
				pause_ms(&d->gw.stop, (int)(LEASE_EVERY_MS - spent));
		}
	}
	return NULL;
}

/* --- start, stop, show ------------------------------------------------------- */

/* Warns of NAT rules that could catch traffic to other clusters (seed 000:
 * the driver fails if the CNI NATs before routing to WireGuard). */
static void warn_snat(struct weftd *d)
{
	static const char *const cmds[] = { "nft list ruleset 2>/dev/null", "iptables-save -t nat 2>/dev/null",
					    "ip6tables-save -t nat 2>/dev/null" };

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); ++i) {
		FILE *f = popen(cmds[i], "r");
		char line[512];

		if (!f)
			continue;
		while (fgets(line, sizeof(line), f)) {
			line[strcspn(line, "\n")] = '\0';
			if (strstr(line, "masquerade") || strstr(line, "MASQUERADE") || strstr(line, "snat to") ||
			    strstr(line, "-j SNAT"))
				weftd_log(d, WG_LOG_ERROR,
					  "gateway: this node NATs some traffic (\"%s\", from %.*s); traffic to other "
					  "clusters must leave with its pod address: exempt the other clusters' CIDRs "
					  "from that rule, or cross-cluster traffic will fail",
					  line + strspn(line, " \t"), (int)strcspn(cmds[i], " "), cmds[i]);
		}
		pclose(f);
	}
}

/* weft-wg, where make install and the build tree put it: beside weftd. */
static void host_path(struct weftd *d)
{
	char exe[sizeof(d->gw.host)];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	d->gw.host[0] = '\0';
	if (n <= 0)
		return;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (!slash || (size_t)(slash - exe) + sizeof("/weft-wg") > sizeof(d->gw.host))
		return;
	snprintf(d->gw.host, sizeof(d->gw.host), "%.*s/weft-wg", (int)(slash - exe), exe);
	if (access(d->gw.host, X_OK)) {
		weftd_log(d, WG_LOG_ERROR, "gateway: no %s: a userspace gateway device will live in this process, "
			  "and a restart will re-make it", d->gw.host);
		d->gw.host[0] = '\0';
	}
}

int gateway_start(struct weftd *d, const struct agent_config *conf, char *err, size_t errlen)
{
	const char *env = getenv("CE_IPSEC_NATTPORT");
	union sockaddr_any sa;
	char addr[ADDR_STRLEN];
	int ret;

	if (!conf->gateway)
		return 0;
	d->gw.enabled = true;
	pthread_mutex_init(&d->gw.lock, NULL);
	snprintf(d->gw.device, sizeof(d->gw.device), "%s", conf->gateway_device);
	d->gw.port = conf->gateway_port;
	if (!d->gw.port && env && *env) {
		char *end;
		unsigned long port = strtoul(env, &end, 10);

		if (*end || !port || port > 65535) {
			snprintf(err, errlen, "CE_IPSEC_NATTPORT=\"%.40s\": give a UDP port from 1 to 65535, or unset it "
					      "for %d", env, DEFAULT_PORT);
			return -EINVAL;
		}
		d->gw.port = (uint16_t)port;
	}
	if (!d->gw.port)
		d->gw.port = DEFAULT_PORT;
	host_path(d);
	if (d->gw.port == d->hub_port) {
		snprintf(err, errlen, "gateway port %u: the hub uses it; give --gateway-port another", d->gw.port);
		return -EINVAL;
	}
	/* The node's address, with the gateway's port. */
	if (!addr_parse_endpoint(&sa, d->cl.endpoint)) {
		addr_format_endpoint(addr, &sa.sa);
		*strrchr(addr, ':') = '\0';
	} else {
		snprintf(addr, sizeof(addr), "%s", d->cl.endpoint);
	}
	if (strchr(addr, ':') && addr[0] != '[')
		snprintf(d->gw.endpoint, sizeof(d->gw.endpoint), "[%s]:%u", addr, d->gw.port);
	else
		snprintf(d->gw.endpoint, sizeof(d->gw.endpoint), "%s:%u", addr, d->gw.port);
	d->gw.peers = json_object();
	d->gw.health = json_object();
	d->gw.pending = json_object();
	if (!(d->gw.mgr = api_client_new(conf->manager, conf->manager_ca[0] ? conf->manager_ca : NULL, err, errlen)))
		return -EINVAL;
	api_client_stop_flag(d->gw.mgr, &d->gw.stop);
	warn_snat(d);
	if ((ret = pthread_create(&d->gw.thread, NULL, lease_loop, d))) {
		snprintf(err, errlen, "cannot start the gateway thread: %s", strerror(ret));
		return -ret;
	}
	d->gw.running = true;
	return 0;
}

/* At exit the lease is kept, and a kernel device too: a gateway that comes
 * back within the lease keeps its place, its key and its peers. */
void gateway_stop(struct weftd *d)
{
	if (!d->gw.enabled)
		return;
	atomic_store(&d->gw.stop, true);
	if (d->gw.running)
		pthread_join(d->gw.thread, NULL);
	follow_stop(d);
	pthread_mutex_lock(&d->gw.lock);
	wgdev_close(d->gw.dev);
	d->gw.dev = NULL;
	pthread_mutex_unlock(&d->gw.lock);
	api_client_free(d->gw.mgr);
	json_decref(d->gw.peers);
	json_decref(d->gw.health);
	json_decref(d->gw.pending);
	json_decref(d->gw.fed);
}

void gateway_describe(struct weftd *d, json_t *out)
{
	char pub[KEY_B64_LEN];
	uint8_t raw[32];
	json_t *g;

	if (!d->gw.enabled)
		return;
	weftd_key_public(d, "gateway", raw);
	key_to_base64(pub, raw);
	pthread_mutex_lock(&d->gw.lock);
	g = json_pack("{s:b, s:b, s:s, s:i, s:s, s:s, s:I, s:b}", "active", d->gw.active, "joined", d->gw.joined,
		      "device", d->gw.device, "port", d->gw.port, "endpoint", d->gw.endpoint, "publicKey", pub, "since",
		      (json_int_t)d->gw.since, "brokerConnected", d->gw.broker_connected);
	if (d->gw.cluster[0])
		json_object_set_new(g, "cluster", json_string(d->gw.cluster));
	if (d->gw.error[0])
		json_object_set_new(g, "error", json_string(d->gw.error));
	json_object_set_new(g, "connections", d->gw.active ? connections(d) : json_array());
	pthread_mutex_unlock(&d->gw.lock);
	json_object_set_new(out, "gateway", g);
}
