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

#include "agent/lease.h"
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

/*
 * Brings the device from the clusters it had (d->gw.peers) to `next`, one
 * peer per cluster with routes for its CIDRs, by the plan of
 * lib/agent/reconcile. A cluster with a new key (its gateway failed over)
 * is a new peer and a new connection. After a full list, peers that are no
 * cluster's go (an adopted device's, from before). Takes next on success.
 * With d->gw.lock held.
 */
static int apply(struct weftd *d, struct peer_set *next, bool full)
{
	struct reconcile_in in = { .want = next, .have = &d->gw.peers, .keepalive = KEEPALIVE,
				   .now_ms = clock_ms(), .delay_ms = KEEPALIVE_DELAY_MS, .all_routes = full };
	uint8_t mine[32], (*device)[32] = NULL;
	size_t ndevice = 0;
	struct plan plan;
	int ret;

	if (!d->gw.dev)
		return -ENODEV;
	weftd_key_public(d, "gateway", mine);
	in.mine = mine;
	if (full && !weftd_device_keys(d->gw.dev, &device, &ndevice)) {
		in.device = device;
		in.ndevice = ndevice;
	}
	ret = reconcile(&in, &plan);
	free(device);
	if (ret)
		return ret;
	if (!(ret = weftd_plan_apply(d, d->gw.dev, &plan, "gateway"))) {
		for (size_t i = 0; i < d->gw.peers.n; ++i) {
			const struct peer_rec *now = peer_set_find(next, d->gw.peers.v[i].name);

			/* A connection is to a key: a new key starts it afresh. */
			if (!now || memcmp(now->key, d->gw.peers.v[i].key, 32))
				json_object_del(d->gw.health, d->gw.peers.v[i].name);
		}
		for (size_t i = 0; i < plan.nkickoffs; ++i)
			kickoff_add(&d->gw.pending, &d->gw.npending, &plan.kickoffs[i]);
		weftd_plan_log(d, &plan, next, "gateway", "cluster");
		peer_set_clear(&d->gw.peers);
		d->gw.peers = *next;
		memset(next, 0, sizeof(*next));
	}
	plan_free(&plan);
	return ret;
}

/* The delayed keepalives (see apply), from the lease loop. With the lock. */
static void start_keepalives(struct weftd *d)
{
	struct wg_config *cfg;
	struct wgdev_err werr = { "", 0 };

	if (!d->gw.npending || !d->gw.dev || !(cfg = wg_config_new()))
		return;
	kickoff_due(d->gw.pending, &d->gw.npending, clock_ms(), KEEPALIVE, cfg);
	if (cfg->first_peer && wgdev_set(d->gw.dev, cfg, &werr))
		weftd_log(d, WG_LOG_ERROR, "gateway: cannot start keepalives on %s: %s", d->gw.device, werr.msg);
	wg_config_free(cfg);
}

static void gw_log(void *ctx, enum wg_log_level level, const char *msg)
{
	weftd_log(ctx, level, "gateway: %s", msg);
}

/* The device, adopted if it is there. With the lock. */
static int device_up(struct weftd *d)
{
	struct wgdev_opts opts = { .name = d->gw.device, .backend = d->backend, .load_module = true, .offload = true,
				   .uapi = true, .log_level = d->log_level, .log = gw_log, .log_ctx = d,
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
	/* An adopted device keeps its peers from before: the first (full)
	 * list from the broker sets them again, and removes the others. */
	peer_set_clear(&d->gw.peers);
	weftd_log(d, WG_LOG_ERROR, "gateway: %s %s on UDP port %u (%s%s), endpoint %s", wgdev_adopted(d->gw.dev) ?
		  "adopted" : "brought up", d->gw.device, d->gw.port, wgdev_backend_name(wgdev_backend(d->gw.dev)),
		  wgdev_hosted(d->gw.dev) ? ", hosted by weft-wg" : "", d->gw.endpoint);
	set_error(d, NULL);
	return 0;
}

/* The device goes with its routes. With the lock. */
static void device_down(struct weftd *d)
{
	struct peer_set none = { 0 };
	struct reconcile_in in = { .want = &none, .have = &d->gw.peers };
	struct plan plan;

	if (!d->gw.dev)
		return;
	/* The routes go first: a route into a device being deleted goes with
	 * it, but one the kernel moved elsewhere would not. */
	if (!reconcile(&in, &plan)) {
		wg_config_free(plan.cfg);
		plan.cfg = wg_config_new(); /* the peers go with the device */
		if (plan.cfg)
			weftd_plan_apply(d, d->gw.dev, &plan, "gateway");
		plan_free(&plan);
	}
	wgdev_delete(d->gw.dev);
	d->gw.dev = NULL;
	peer_set_clear(&d->gw.peers);
	json_object_clear(d->gw.health);
	d->gw.npending = 0;
	weftd_log(d, WG_LOG_ERROR, "gateway: took %s down", d->gw.device);
}

/* --- health ----------------------------------------------------------------- */

/* Each connection's status from the device (docs/clusters.md). With the lock. */
static void assess(struct weftd *d)
{
	struct wgdev_err werr = { "", 0 };
	struct wg_config *cfg = d->gw.dev ? wgdev_get(d->gw.dev, &werr) : NULL;
	int64_t now = time(NULL);

	for (size_t i = 0; i < d->gw.peers.n; ++i) {
		const struct peer_rec *rec = &d->gw.peers.v[i];
		const char *id = rec->name;
		json_t *h = json_object_get(d->gw.health, id);
		const struct wg_config_peer *p = NULL;
		int64_t hs = 0, est, last_rx, configured;
		uint64_t rx = 0, tx = 0;
		char reason[300] = "", status[16], ep[ADDR_STRLEN] = "";

		if (!h) {
			h = json_pack("{s:I, s:I, s:I, s:I}", "configured", (json_int_t)now, "lastRx", (json_int_t)now,
				      "established", (json_int_t)0, "rxBytes", (json_int_t)0);
			json_object_set_new(d->gw.health, id, h);
		}
		if (rec->has_endpoint)
			addr_format_endpoint(ep, &rec->endpoint.sa);
		for (p = cfg ? cfg->first_peer : NULL; p && memcmp(p->public_key, rec->key, 32); p = p->next)
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
	json_t *out = json_array(), *h;
	const char *id;

	json_object_foreach(d->gw.health, id, h) {
		const struct peer_rec *rec = peer_set_find(&d->gw.peers, id);
		json_t *r;

		if (!rec)
			continue;
		r = peer_rec_json(rec);
		json_array_append_new(
			out, json_pack("{s:s, s:O?, s:O?, s:O?, s:O?, s:O, s:O?, s:O?, s:O?, s:O?, s:O}", "cluster", id,
				       "status", json_object_get(h, "status"), "reason", json_object_get(h, "reason"),
				       "endpoint", json_array_get(json_object_get(r, "endpoints"), 0), "hostname",
				       json_object_get(json_object_get(r, "labels"), "hostname"), "publicKey",
				       json_object_get(r, "publicKey"), "established", json_object_get(h, "established"),
				       "latestHandshake", json_object_get(h, "latestHandshake"), "rxBytes",
				       json_object_get(h, "rxBytes"), "txBytes", json_object_get(h, "txBytes"), "subnets",
				       json_object_get(r, "subnets")));
		json_decref(r);
	}
	return out;
}

/* --- the broker ------------------------------------------------------------------ */

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

static void set_error_locked(struct weftd *d, const char *msg)
{
	pthread_mutex_lock(&d->gw.lock);
	set_error(d, msg);
	pthread_mutex_unlock(&d->gw.lock);
}

/* The follower's calls (lib/api/follow.h), while we are the gateway. */
static enum follow_told broker_tell(void *ctx, int why)
{
	struct weftd *d = ctx;
	json_t *self = self_record(d), *reply = NULL;
	char path[200], err[700], msg[800];
	int status;

	snprintf(path, sizeof(path), "/v1/nodes/%s", d->gw.cluster_id);
	status = api_call(d->gw.broker, "PATCH", path, self, 15, &reply, err, sizeof(err));
	json_decref(self);
	json_decref(reply);
	if (status != 200) {
		snprintf(msg, sizeof(msg), "cannot publish our endpoint at the broker: %s%s", err,
			 status == 401 || status == 404 ? " (has the cluster left the broker?)" : "");
		set_error_locked(d, msg);
		return FOLLOW_LATER;
	}
	weftd_log(d, WG_LOG_INFO, "gateway: published %s as cluster %s's gateway at the broker", d->gw.endpoint,
		  d->gw.cluster_id);
	return FOLLOW_TOLD;
}

static void bad_cluster(void *ctx, const char *name, const char *why)
{
	weftd_log(ctx, WG_LOG_WARNING, "gateway: ignoring the broker's record of cluster %s: %s", name, why);
}

static int broker_take(void *ctx, json_t *reply)
{
	static const char *const keep[] = { "labels", NULL };
	struct weftd *d = ctx;
	/* A cluster without a gateway yet has nothing to peer with. */
	struct peer_take_opts o = { .self = d->gw.cluster_id, .keep = keep, .need_endpoint = true,
				    .bad = bad_cluster, .ctx = d };
	struct peer_set next;
	json_t *v;
	size_t i;
	int ret;

	pthread_mutex_lock(&d->gw.lock);
	if (follow_stopping(&d->gw.follow))
		ret = -ECANCELED;
	else if (!(ret = peer_set_take(&next, &d->gw.peers, reply, &o))) {
		ret = apply(d, &next, json_is_true(json_object_get(reply, "full")));
		peer_set_clear(&next);
	}
	if (!ret)
		d->gw.broker_connected = true;
	pthread_mutex_unlock(&d->gw.lock);
	if (ret)
		return ret;
	/* Our own record went (removed at the broker): publish again. */
	json_array_foreach(json_object_get(reply, "removed"), i, v)
		if (!strcmp(json_string_value(v) ?: "", d->gw.cluster_id))
			return FOLLOW_RETELL;
	return 0;
}

static void broker_contact(void *ctx, bool ok, int status, const char *err)
{
	struct weftd *d = ctx;

	if (ok)
		return;
	pthread_mutex_lock(&d->gw.lock);
	d->gw.broker_connected = false;
	set_error(d, err);
	pthread_mutex_unlock(&d->gw.lock);
}

static const struct follow_ops broker_ops = { .tell = broker_tell, .take = broker_take, .contact = broker_contact };

static void *follow_broker(void *arg)
{
	struct weftd *d = arg;

	follow_run(&d->gw.follow);
	return NULL;
}

static void follow_end(struct weftd *d)
{
	if (!d->gw.follow_running)
		return;
	follow_stop(&d->gw.follow);
	pthread_join(d->gw.follow_thread, NULL);
	follow_destroy(&d->gw.follow);
	api_client_free(d->gw.broker);
	d->gw.broker = NULL;
	d->gw.follow_running = false;
	json_decref(d->gw.fed);
	d->gw.fed = NULL;
}

/* Follows the broker of fed {clusterID, broker, ca, credential}: publishes
 * our record, then long-polls the other clusters. */
static void follow_begin(struct weftd *d, json_t *fed)
{
	char err[700], beat[200];

	d->gw.broker = api_client_new(json_string_value(json_object_get(fed, "broker")) ?: "",
				      json_string_value(json_object_get(fed, "ca")), err, sizeof(err));
	if (!d->gw.broker) {
		set_error_locked(d, err);
		return;
	}
	api_client_token(d->gw.broker, json_string_value(json_object_get(fed, "credential")));
	snprintf(d->gw.cluster_id, sizeof(d->gw.cluster_id), "%s",
		 json_string_value(json_object_get(fed, "clusterID")) ?: "");
	snprintf(beat, sizeof(beat), "/v1/nodes/%s/heartbeat", d->gw.cluster_id);
	follow_init(&d->gw.follow, &broker_ops, d, d->gw.broker, beat, 0);
	if (pthread_create(&d->gw.follow_thread, NULL, follow_broker, d)) {
		follow_destroy(&d->gw.follow);
		api_client_free(d->gw.broker);
		d->gw.broker = NULL;
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

	follow_end(d);
	pthread_mutex_lock(&d->gw.lock);
	d->gw.active = false;
	device_down(d);
	pthread_mutex_unlock(&d->gw.lock);
	if (was)
		weftd_log(d, WG_LOG_WARNING, "gateway: no longer the gateway: %s", why);
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

/* What we tell the manager with each renewal: the other clusters' CIDRs
 * (for every node to route to us) and the connections' health. */
static json_t *lease_report(struct weftd *d)
{
	json_t *report = json_object(), *clusters;

	pthread_mutex_lock(&d->gw.lock);
	start_keepalives(d);
	assess(d);
	if (d->gw.active) {
		clusters = json_object();
		for (size_t i = 0; i < d->gw.peers.n; ++i) {
			json_t *r = peer_rec_json(&d->gw.peers.v[i]);

			json_object_set(clusters, d->gw.peers.v[i].name, json_object_get(r, "subnets"));
			json_decref(r);
		}
		json_object_set_new(report, "clusters", clusters);
		json_object_set_new(report, "connections", connections(d));
	}
	pthread_mutex_unlock(&d->gw.lock);
	return report;
}

/* Serving: the device up and the broker followed. False when the device
 * cannot come up: the lease is then given back for another candidate. */
static bool serve(struct weftd *d, json_t *fed, const char *path)
{
	json_t *reply = NULL;
	char err[700];
	bool up;

	pthread_mutex_lock(&d->gw.lock);
	snprintf(d->gw.cluster, sizeof(d->gw.cluster), "%s", json_string_value(json_object_get(fed, "clusterID")) ?: "");
	up = !device_up(d);
	pthread_mutex_unlock(&d->gw.lock);
	if (!up) {
		api_call(d->gw.mgr, "DELETE", path, NULL, 5, &reply, err, sizeof(err));
		json_decref(reply);
		step_down(d, "its device could not be brought up");
		return false;
	}
	if (!d->gw.follow_running || !same_federation(d->gw.fed, fed)) {
		follow_end(d);
		follow_begin(d, fed);
	}
	return true;
}

static void *lease_loop(void *arg)
{
	struct weftd *d = arg;
	char path[200], err[700];
	int64_t last_ok = clock_ms();

	snprintf(path, sizeof(path), "/v1/nodes/%s/gateway", d->cl.name);
	while (!stopping(&d->gw.stop)) {
		int64_t started = clock_ms(), pause = LEASE_EVERY_MS;
		char *cred = read_credential(d);
		json_t *report, *reply = NULL, *fed;
		struct lease_step step;
		int status;

		if (!cred) { /* not joined yet */
			pause_ms(&d->gw.stop, LEASE_EVERY_MS);
			continue;
		}
		api_client_token(d->gw.mgr, cred);
		crypto_free_string(cred);
		report = lease_report(d);
		status = api_call(d->gw.mgr, "PUT", path, report, 5, &reply, err, sizeof(err));
		json_decref(report);
		if (stopping(&d->gw.stop)) {
			json_decref(reply);
			break;
		}
		fed = json_object_get(reply, "federation");
		step = lease_next(d->gw.state, lease_answer_of(status, json_is_object(fed)), clock_ms() - last_ok);
		if (status == 200) {
			last_ok = clock_ms();
			pthread_mutex_lock(&d->gw.lock);
			d->gw.active = true;
			d->gw.since = json_integer_value(json_object_get(reply, "since"));
			d->gw.joined = json_is_object(fed);
			pthread_mutex_unlock(&d->gw.lock);
		}
		if (step.new_holder)
			weftd_log(d, WG_LOG_INFO, "gateway: this node is the cluster's gateway%s",
				  json_is_object(fed) ? "" : " (the cluster has not joined a broker yet)");
		if (step.step_down)
			step_down(d, err);
		if (step.unserve && (d->gw.follow_running || d->gw.dev)) {
			follow_end(d);
			pthread_mutex_lock(&d->gw.lock);
			device_down(d);
			pthread_mutex_unlock(&d->gw.lock);
			weftd_log(d, WG_LOG_INFO, "gateway: the cluster left the broker");
		}
		if (step.look_around) {
			weftd_log(d, WG_LOG_INFO, "gateway: standing by: %s", err);
			remove_leftover(d);
		}
		if (step.serve && !serve(d, fed, path)) {
			step.next = LEASE_STANDING_BY;
			pause = 5 * LEASE_EVERY_MS; /* let another candidate try */
		}
		if (step.next == LEASE_REFUSED || status == 404) {
			/* An admin grants candidacy; the error is logged once,
			 * when it first comes. */
			pthread_mutex_lock(&d->gw.lock);
			set_error(d, err);
			pthread_mutex_unlock(&d->gw.lock);
		}
		if (step.next != d->gw.state)
			weftd_log(d, WG_LOG_VERBOSE, "gateway: lease %s -> %s", lease_state_name(d->gw.state),
				  lease_state_name(step.next));
		pthread_mutex_lock(&d->gw.lock);
		d->gw.state = step.next;
		pthread_mutex_unlock(&d->gw.lock);
		json_decref(reply);
		pause -= clock_ms() - started;
		if (pause > 0)
			pause_ms(&d->gw.stop, (int)pause);
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
	d->gw.health = json_object();
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
	api_client_wake(d->gw.mgr);
	if (d->gw.running)
		pthread_join(d->gw.thread, NULL);
	follow_end(d);
	pthread_mutex_lock(&d->gw.lock);
	wgdev_close(d->gw.dev);
	d->gw.dev = NULL;
	pthread_mutex_unlock(&d->gw.lock);
	api_client_free(d->gw.mgr);
	peer_set_clear(&d->gw.peers);
	json_decref(d->gw.health);
	free(d->gw.pending);
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
	g = json_pack("{s:b, s:s, s:b, s:s, s:i, s:s, s:s, s:I, s:b}", "active", d->gw.active, "lease",
		      lease_state_name(d->gw.state), "joined", d->gw.joined,
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
