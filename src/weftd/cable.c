// SPDX-License-Identifier: MIT
/*
 * The gateway's cable to other clusters (Submariner's word; seeds 000 and
 * 001): the gateway device, its key (STATE/keys/gateway.key) and UDP port,
 * one peer per other cluster (the active gateway there, allowed that
 * cluster's CIDRs, a 10 s keepalive, a route for each CIDR into the
 * device), learnt from the broker by a follower of its own
 * (lib/api/follow.h), and each connection's health. gateway.c decides when
 * there is a cable at all: while this node holds the cluster's lease.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <linux/rtnetlink.h>

#include "api/client.h"
#include "crypto/crypto.h"
#include "nl/nl.h"
#include "util/addr.h"
#include "util/clock.h"
#include "util/key.h"
#include "weftd.h"

enum {
	KEEPALIVE = 10, /* seconds, as Submariner's driver keeps its peers */
	KEEPALIVE_DELAY_MS = 1000, /* the greater key starts later (lib/agent/reconcile.h) */
	/* Health: a session is good for REJECT_AFTER_TIME; with a 10 s
	 * keepalive something arrives at least every 10 s while the other
	 * side lives. */
	REJECT_AFTER_TIME = 180,
	SILENT_AFTER = 25,
	CONNECTING_FOR = 30,
};

#define CABLE_DRIVER "wireguard"

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
	if (!(ret = weftd_plan_apply(d, d->gw.dev, &plan, "gateway", NULL))) {
		for (size_t i = 0; i < d->gw.peers.n; ++i) {
			const struct peer_rec *now = peer_set_find(next, d->gw.peers.v[i].name);

			/* A connection is to a key: a new key starts it afresh. */
			if (!now || memcmp(now->key, d->gw.peers.v[i].key, 32))
				json_object_del(d->gw.health, d->gw.peers.v[i].name);
		}
		for (size_t i = 0; i < plan.nkickoffs; ++i)
			kickoff_add(&d->gw.pending, &d->gw.npending, &plan.kickoffs[i]);
		weftd_plan_log(d, &plan, next, "gateway", "cluster", WG_LOG_INFO);
		peer_set_clear(&d->gw.peers);
		d->gw.peers = *next;
		memset(next, 0, sizeof(*next));
	}
	plan_free(&plan);
	return ret;
}

/* The delayed keepalives (see apply), from the lease loop. With the lock. */
void cable_kickoffs(struct weftd *d)
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
int cable_up(struct weftd *d)
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
		gateway_error(d, msg);
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
		gateway_error(d, msg);
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
	gateway_error(d, NULL);
	return 0;
}

/* The device goes with its routes. With the lock. */
void cable_down(struct weftd *d)
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
			weftd_plan_apply(d, d->gw.dev, &plan, "gateway", NULL);
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
void cable_assess(struct weftd *d)
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
json_t *cable_connections(struct weftd *d)
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
		gateway_error_locked(d, msg);
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
	/* The other clusters' CIDRs keep their pod addresses (masq.c). */
	masq_update(d);
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
	gateway_error(d, err);
	pthread_mutex_unlock(&d->gw.lock);
}

static const struct follow_ops broker_ops = { .tell = broker_tell, .take = broker_take, .contact = broker_contact };

static void *follow_broker(void *arg)
{
	struct weftd *d = arg;

	follow_run(&d->gw.follow);
	return NULL;
}

void cable_unfollow(struct weftd *d)
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
void cable_follow(struct weftd *d, json_t *fed)
{
	char err[700], beat[200];

	d->gw.broker = api_client_new(json_string_value(json_object_get(fed, "broker")) ?: "",
				      json_string_value(json_object_get(fed, "ca")), err, sizeof(err));
	if (!d->gw.broker) {
		gateway_error_locked(d, err);
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
