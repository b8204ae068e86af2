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
 * they have. Changes arrive by long poll (GET /v1/peers?since=REV, the
 * follower of lib/api/follow.h), so a new node is a peer everywhere within
 * about a second; the hub is brought to them by lib/agent/reconcile.h.
 * Registration, our record and our credential are join.c's.
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

#include "agent/reconcile.h"
#include "api/client.h"
#include "api/follow.h"
#include "cluster/cluster.h"
#include "crypto/crypto.h"
#include "nl/nl.h"
#include "util/addr.h"
#include "util/clock.h"
#include "util/file.h"
#include "util/key.h"
#include "weftd.h"

enum {
	KEEPALIVE = 25,		/* between nodes: sessions come back at once after a restart */
	/* Of two nodes new to each other, the one with the greater key starts
	 * its keepalive (and so its handshake) this much later (ms): two
	 * initiations crossing leave both sides waiting 5 s (REKEY_TIMEOUT)
	 * for a retry. */
	KEEPALIVE_DELAY_MS = 500,
};

/* --- the device ---------------------------------------------------------- */

static void bad_record(void *ctx, const char *name, const char *why)
{
	weftd_log(ctx, WG_LOG_WARNING, "member: ignoring the manager's record of node %s: %s", name, why);
}

/*
 * Brings the hub from the nodes it had (d->cl.nodes) to `next`, by the
 * plan lib/agent/reconcile makes: new and changed nodes set, nodes gone
 * removed with their routes. A node new to the hub gets its keepalive,
 * which starts a handshake, at once if our key is the smaller of the two,
 * else KEEPALIVE_DELAY_MS later (the kickoff thread), by when the other
 * side's initiation has made a session. Both sides follow the same rule,
 * so only one initiates first; and whichever restarted initiates within
 * the delay, replacing the session the other side still holds. After a
 * full list (`full`), peers of the hub that are neither nodes nor pods go.
 * Takes next on success. With d->hub_lock held.
 */
static int apply(struct weftd *d, struct peer_set *next, bool full)
{
	struct reconcile_in in = { .want = next, .have = &d->cl.nodes, .keepalive = KEEPALIVE,
				   .now_ms = clock_ms(), .delay_ms = KEEPALIVE_DELAY_MS, .all_routes = full };
	uint8_t mine[32], (*device)[32] = NULL, (*pods)[32] = NULL;
	size_t ndevice = 0, npods = 0;
	struct plan plan;
	int ret;

	if (!d->hub)
		return -ENODEV;
	hub_public_key(d, mine);
	in.mine = mine;
	if (full) {
		weftd_device_keys(d->hub, &device, &ndevice);
		/* The hub's pods (hub.c) are no strays. */
		if ((pods = calloc(d->hub_pods.n ?: 1, 32)))
			for (; npods < d->hub_pods.n; ++npods)
				memcpy(pods[npods], d->hub_pods.v[npods].key, 32);
		in.device = device;
		in.ndevice = device ? ndevice : 0;
		in.others = pods;
		in.nothers = npods;
	}
	ret = reconcile(&in, &plan);
	free(device);
	free(pods);
	if (ret)
		return ret;
	if (!(ret = weftd_plan_apply(d, d->hub, &plan, "member", NULL))) {
		for (size_t i = 0; i < plan.nkickoffs; ++i)
			kickoff_add(&d->cl.pending, &d->cl.npending, &plan.kickoffs[i]);
		if (plan.nkickoffs)
			pthread_cond_signal(&d->cl.timer);
		weftd_plan_log(d, &plan, next, "member", "node", WG_LOG_INFO);
		peer_set_clear(&d->cl.nodes);
		d->cl.nodes = *next;
		memset(next, 0, sizeof(*next));
	}
	plan_free(&plan);
	return ret;
}

/* Starts the delayed keepalives when they are due (see apply). */
static void *kickoffs(void *arg)
{
	struct weftd *d = arg;

	pthread_mutex_lock(&d->hub_lock);
	while (!follow_stopping(&d->cl.follow)) {
		/* A config only when something is pending: this wakes every second. */
		struct wg_config *cfg = d->cl.npending ? wg_config_new() : NULL;
		struct wgdev_err werr = { "", 0 };
		int64_t now = clock_ms(), next;
		struct timespec until;

		next = kickoff_due(d->cl.pending, &d->cl.npending, now, KEEPALIVE, cfg);
		if (cfg && cfg->first_peer && d->hub && wgdev_set(d->hub, cfg, &werr))
			weftd_log(d, WG_LOG_ERROR, "member: cannot start keepalives on %s: %s", d->hub_name, werr.msg);
		wg_config_free(cfg);
		until = clock_after_ms(next == INT64_MAX || next - now > 1000 ? 1000 : next - now);
		pthread_cond_timedwait(&d->cl.timer, &d->hub_lock, &until);
	}
	pthread_mutex_unlock(&d->hub_lock);
	return NULL;
}

/* What a node's peer is routed beyond its subnets: for the cluster's
 * gateway, the other clusters' CIDRs (docs/clusters.md), so traffic to
 * them crosses the mesh to the gateway. One the manager got wrong is left
 * out, not the whole record: the node's own subnets still count. */
static json_t *routed_subnets(json_t *rec)
{
	json_t *out = json_array(), *cidrs, *v;
	const char *id;
	size_t i;

	json_object_foreach(json_object_get(json_object_get(rec, "gateway"), "clusters"), id, cidrs)
		json_array_foreach(cidrs, i, v) {
			struct ipam_prefix p;

			if (json_is_string(v) && !ipam_prefix_parse(&p, json_string_value(v)))
				json_array_append(out, v);
		}
	return out;
}

/* Which node is the cluster's gateway: the one whose record says so
 * ("gateway", docs/clusters.md); a holder whose record stops saying so, or
 * that is removed, is no longer. A record that fails its check changes
 * nothing (as for the hub's peers). The member thread is the only
 * writer: it reads the holder without the lock, and takes it only to
 * change what "show" reads. */
static void see_gateway(struct weftd *d, json_t *reply, bool full)
{
	const char *holder = d->cl.has_gateway_seen ? d->cl.gateway_seen.name : NULL;
	struct cluster_node seen = { 0 };
	bool gone = full, found = false;
	json_t *rec, *v;
	size_t i;

	json_array_foreach(json_object_get(reply, "removed"), i, v)
		if (holder && !strcmp(json_string_value(v) ?: "", holder))
			gone = true;
	json_array_foreach(json_object_get(reply, "nodes"), i, rec) {
		const char *name = json_string_value(json_object_get(rec, "name")) ?: "";
		struct cluster_node n;
		char err[300] = "";
		int ret;

		if (json_is_object(json_object_get(rec, "gateway"))) {
			if ((ret = cluster_node_parse(rec, &n, err, sizeof(err)))) {
				weftd_log(d, WG_LOG_WARNING, "member: ignoring the record of node %.64s, the "
					  "cluster's gateway: %s", name, ret == -ENOMEM ? "out of memory" : err);
				continue;
			}
			if (found)
				cluster_node_free(&seen);
			seen = n;
			found = true;
		}
		if (holder && !strcmp(name, holder))
			gone = true;
	}
	if (!gone && !found)
		return;
	pthread_mutex_lock(&d->cl.lock);
	cluster_node_free(&d->cl.gateway_seen);
	d->cl.has_gateway_seen = found;
	if (found)
		d->cl.gateway_seen = seen;
	pthread_mutex_unlock(&d->cl.lock);
}

/* Our own record, if it is among the changes, checked and kept: does it
 * ask for a new credential? One that fails its check asks nothing. */
static bool take_own(struct weftd *d, json_t *reply)
{
	json_t *rec;
	size_t i;

	json_array_foreach(json_object_get(reply, "nodes"), i, rec)
		if (!strcmp(json_string_value(json_object_get(rec, "name")) ?: "", d->cl.name))
			return !member_take_self(d, rec, "the manager's changes") &&
			       (d->cl.self.flags & NODE_HAS_ROTATION_REQUESTED);
	return false;
}

/*
 * The change list as the hub's peers: the nodes, and each external client
 * (docs/clusters.md) as a peer named "client:NAME" (no node has a ':' in
 * its name) allowed its addresses, with no endpoint: it dials in, and the
 * device learns where from. Nor has it a keepalive: a node could not
 * reach it first; the client keeps its own NAT open. A client's record
 * that fails its check changes nothing, as a node's.
 */
static json_t *hub_changes(struct weftd *d, json_t *reply)
{
	json_t *out = json_pack("{s:O?, s:o, s:o}", "full", json_object_get(reply, "full"), "nodes",
				json_copy(json_object_get(reply, "nodes")) ?: json_array(), "removed",
				json_copy(json_object_get(reply, "removed")) ?: json_array());
	json_t *rec, *v;
	size_t i;

	if (!out)
		return NULL;
	json_array_foreach(json_object_get(reply, "clients"), i, rec) {
		struct cluster_client cl;
		char err[300], name[PEER_NAME_MAX], buf[64];
		json_t *addrs = json_array();

		if (cluster_client_parse(rec, &cl, err, sizeof(err))) {
			weftd_log(d, WG_LOG_WARNING, "member: ignoring the manager's record of a client: %s", err);
			json_decref(addrs);
			continue;
		}
		snprintf(name, sizeof(name), CLIENT_PEER "%s", cl.name);
		for (size_t k = 0; k < cl.naddresses; ++k)
			json_array_append_new(addrs, json_string(ipam_prefix_str(&cl.addresses[k], buf, sizeof(buf))));
		json_array_append_new(json_object_get(out, "nodes"),
				      json_pack("{s:s, s:O, s:o}", "name", name, "publicKey",
						json_object_get(rec, "publicKey"), "subnets", addrs));
	}
	json_array_foreach(json_object_get(reply, "removedClients"), i, v) {
		char name[PEER_NAME_MAX];

		if (!json_is_string(v))
			continue;
		snprintf(name, sizeof(name), CLIENT_PEER "%.63s", json_string_value(v));
		json_array_append_new(json_object_get(out, "removed"), json_string(name));
	}
	return out;
}

/* The cluster's CIDRs of a full list (or of peers.json), kept with
 * d->cl.lock held; a list without them (an older manager) changes nothing. */
static void take_cidrs(struct weftd *d, json_t *doc)
{
	struct ipam_prefix v[2];
	json_t *c;
	size_t i, n = 0;

	json_array_foreach(json_object_get(doc, "clusterCIDRs"), i, c)
		if (n < 2 && !ipam_prefix_parse(&v[n], json_string_value(c) ?: ""))
			++n;
	if (!n)
		return;
	pthread_mutex_lock(&d->cl.lock);
	memcpy(d->cl.cidrs, v, n * sizeof(*v));
	d->cl.ncidrs = n;
	pthread_mutex_unlock(&d->cl.lock);
}

static json_t *cidrs_json(struct weftd *d)
{
	json_t *a = json_array();
	char buf[64];

	pthread_mutex_lock(&d->cl.lock);
	for (size_t i = 0; a && i < d->cl.ncidrs; ++i)
		json_array_append_new(a, json_string(ipam_prefix_str(&d->cl.cidrs[i], buf, sizeof(buf))));
	pthread_mutex_unlock(&d->cl.lock);
	return a;
}

/* Takes a list of changes from the manager: {"revision", "full", "nodes",
 * "removed", "clients", "removedClients", and in a full list
 * "clusterCIDRs"}. Only what the device needs counts: a change elsewhere
 * (labels, say) does not touch it; our own record is looked at for a
 * request to rotate our credential. */
static int take(void *ctx, json_t *reply)
{
	struct weftd *d = ctx;
	struct peer_take_opts o = { .self = d->cl.name, .extra_prefixes = routed_subnets, .bad = bad_record,
				    .ctx = d };
	bool full = json_is_true(json_object_get(reply, "full"));
	json_t *doc, *changes = hub_changes(d, reply);
	struct peer_set next;
	int ret;

	if (!changes)
		return -ENOMEM;
	see_gateway(d, reply, full);
	if (full)
		take_cidrs(d, reply);
	pthread_mutex_lock(&d->hub_lock);
	if (!(ret = peer_set_take(&next, &d->cl.nodes, changes, &o)))
		ret = apply(d, &next, full);
	peer_set_clear(&next);
	json_decref(changes);
	doc = ret ? NULL : json_pack("{s:I, s:o, s:o}", "revision", json_integer_value(json_object_get(reply, "revision")),
				     "nodes", peer_set_json(&d->cl.nodes), "clusterCIDRs", cidrs_json(d));
	pthread_mutex_unlock(&d->hub_lock);
	if (ret)
		return ret;
	/* Nodes and other clusters the table excludes may have changed. */
	masq_update(d);
	pthread_mutex_lock(&d->cl.lock);
	d->cl.rev = json_integer_value(json_object_get(reply, "revision"));
	pthread_mutex_unlock(&d->cl.lock);
	if (member_save_json(d, "peers.json", doc))
		weftd_log(d, WG_LOG_ERROR, "member: cannot write %s/cluster/peers.json", d->state_dir);
	json_decref(doc);
	/* Once asked, tried at each answer until done: an answer does not
	 * carry our record again unless it changes. */
	if (take_own(d, reply))
		d->cl.rotate = true;
	if (d->cl.rotate)
		member_rotate_credential(d);
	return 0;
}

/* What the follower calls to tell the manager who we are: a join when
 * the manager does not know us (any more), then our key and endpoint. */
static enum follow_told tell(void *ctx, int why)
{
	struct weftd *d = ctx;
	int status;

	if (why == 401)
		d->cl.registered = false;
	if (!d->cl.registered) {
		if (member_join(d) != JOINED) {
			/* Our credential is tried again next time (member_join
			 * put it back): if the 401 has passed, we go on with it. */
			if (d->cl.has_self)
				d->cl.registered = true;
			return FOLLOW_LATER;
		}
		d->cl.registered = true;
	}
	status = member_update_self(d);
	if (status == 401 || status == 404) {
		/* Our lease ran out, or an admin removed us: join again,
		 * asking for the same subnets. */
		weftd_log(d, WG_LOG_WARNING, "member: the manager does not know node %s any more (%d); joining again",
			  d->cl.name, status);
		d->cl.registered = false;
		return FOLLOW_AGAIN;
	}
	return status == 200 ? FOLLOW_TOLD : FOLLOW_LATER;
}

/* What the heartbeat reports: the last handshake the hub saw of each
 * external client, {"clients": {NAME: UNIXTIME}}, for weft clients. Only
 * once the node has or had clients: a cluster without any writes nothing
 * more to the store. */
static json_t *beat(void *ctx)
{
	struct weftd *d = ctx;
	struct wgdev_err werr = { "", 0 };
	struct wg_config *got = NULL;
	json_t *seen = json_object();
	bool any = false;

	pthread_mutex_lock(&d->hub_lock);
	for (size_t i = 0; i < d->cl.nodes.n && !any; ++i)
		any = !strncmp(d->cl.nodes.v[i].name, CLIENT_PEER, strlen(CLIENT_PEER));
	if (any && d->hub)
		got = wgdev_get(d->hub, &werr);
	for (struct wg_config_peer *p = got ? got->first_peer : NULL; p; p = p->next) {
		const struct peer_rec *r = peer_set_find_key(&d->cl.nodes, p->public_key);

		if (r && !strncmp(r->name, CLIENT_PEER, strlen(CLIENT_PEER)) && p->last_handshake.tv_sec > 0)
			json_object_set_new(seen, r->name + strlen(CLIENT_PEER),
					    json_integer((json_int_t)p->last_handshake.tv_sec));
	}
	pthread_mutex_unlock(&d->hub_lock);
	wg_config_free(got);
	if (!any && !d->cl.reported_clients) {
		json_decref(seen);
		return NULL;
	}
	/* Once more after the last client went: the manager forgets them. */
	d->cl.reported_clients = any;
	return json_pack("{s:o}", "clients", seen);
}

static void contact(void *ctx, bool ok, int status, const char *err)
{
	struct weftd *d = ctx;

	member_note(d, ok, err);
	if (!ok && status != 401)
		weftd_log(d, WG_LOG_VERBOSE, "member: %s; keeping the last configuration", err);
}

static const struct follow_ops member_ops = { .tell = tell, .take = take, .beat = beat, .contact = contact };

static void *run(void *arg)
{
	struct weftd *d = arg;

	follow_run(&d->cl.follow);
	return NULL;
}

/* --- start and stop ------------------------------------------------------------ */

int member_start(struct weftd *d, const struct agent_config *conf, char *err, size_t errlen)
{
	char path[600];
	char *cred;
	json_t *saved;
	struct cluster_node rec;

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
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&d->cl.timer, &ca);
		pthread_condattr_destroy(&ca);
	}
	if (!(d->cl.api = api_client_new(conf->manager, conf->manager_ca[0] ? conf->manager_ca : NULL, err, errlen)))
		return -EINVAL;
	{
		char beat[200];

		snprintf(beat, sizeof(beat), "/v1/nodes/%s/heartbeat", d->cl.name);
		follow_init(&d->cl.follow, &member_ops, d, d->cl.api, beat, 0);
		d->cl.follow_ready = true;
	}
	member_path(d, path, sizeof(path), "");
	if (mkdir(path, 0700) && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
		return -errno;
	}

	/* What we knew before: the device comes back as it was, manager or not. */
	member_path(d, path, sizeof(path), "credential");
	cred = weftd_read_secret(path);
	member_path(d, path, sizeof(path), "node.json");
	if ((saved = json_load_file(path, 0, NULL)) && !member_parse_self(d, saved, path, &rec)) {
		/* Without the credential the record is no use: we join again. */
		if (cred && !strcmp(rec.name, d->cl.name))
			member_set_self(d, &rec);
		else if (strcmp(rec.name, d->cl.name))
			weftd_log(d, WG_LOG_ERROR, "member: %s belongs to node %s; joining as %s", path, rec.name,
				  d->cl.name);
		cluster_node_free(&rec);
	}
	json_decref(saved);
	if (d->cl.has_self) {
		api_client_token(d->cl.api, cred);
		d->cl.registered = true;
	} else {
		if (!conf->join_token_file[0]) {
			crypto_free_string(cred);
			snprintf(err, errlen, "node %s has not joined the cluster yet: give --join-token-file "
					      "(a token from \"weft token create\")", d->cl.name);
			return -EINVAL;
		}
		/* A first start: nothing to serve pods with until we have subnets. */
		for (;;) {
			enum join_result r = member_join(d);

			if (r == JOINED)
				break;
			if (r == FATAL || follow_stopping(&d->cl.follow)) {
				crypto_free_string(cred);
				snprintf(err, errlen, "could not join the cluster%s", r == FATAL ? " (see above)" : "");
				return -EPERM;
			}
			follow_pause(&d->cl.follow, follow_backoff(&d->cl.follow));
		}
		d->cl.registered = true;
	}
	crypto_free_string(cred);
	if (!d->cl.has_self) {
		snprintf(err, errlen, "could not join the cluster");
		return -EPERM;
	}
	/* The pods' addresses come from the node's subnets. */
	snprintf(d->pod_subnet, sizeof(d->pod_subnet), "%s", "");
	snprintf(d->pod_subnet6, sizeof(d->pod_subnet6), "%s", "");
	for (size_t i = 0; i < d->cl.self.nsubnets; ++i) {
		const struct ipam_prefix *p = &d->cl.self.subnets[i];

		ipam_prefix_str(p, p->family == AF_INET6 ? d->pod_subnet6 : d->pod_subnet, sizeof(d->pod_subnet));
	}
	member_path(d, path, sizeof(path), "peers.json");
	saved = json_load_file(path, 0, NULL);
	if (json_is_object(json_object_get(saved, "nodes"))) {
		size_t skipped;

		if (peer_set_from_json(&d->cl.saved, json_object_get(saved, "nodes"), &skipped))
			weftd_log(d, WG_LOG_ERROR, "member: out of memory reading %s", path);
		else if (skipped)
			weftd_log(d, WG_LOG_WARNING, "member: %zu node records of %s are unreadable: the manager will "
				  "send them again", skipped, path);
		d->cl.rev = skipped ? 0 : json_integer_value(json_object_get(saved, "revision"));
		/* The follower starts from nothing all the same: a full list
		 * mends what the saved one could not bring back, and shows our
		 * own record (a credential rotation asked while we were down). */
		d->cl.has_saved = true;
		take_cidrs(d, saved);
	}
	json_decref(saved);
	return 0;
}

/* Once the IPAM is open: the hub, with the nodes we knew, then the thread
 * that follows the manager. */
int member_run(struct weftd *d, char *err, size_t errlen)
{
	struct cni_error cerr;
	int ret;

	if (!d->cl.enabled)
		return 0;
	if ((ret = hub_start(d, &cerr))) {
		snprintf(err, errlen, "%s: %s", cerr.msg, cerr.details);
		return -EIO;
	}
	if (d->cl.has_saved) {
		pthread_mutex_lock(&d->hub_lock);
		apply(d, &d->cl.saved, false);
		pthread_mutex_unlock(&d->hub_lock);
		peer_set_clear(&d->cl.saved);
		d->cl.has_saved = false;
		weftd_log(d, WG_LOG_INFO, "member: restored %zu node peers from revision %lld", d->cl.nodes.n,
			  (long long)d->cl.rev);
	}
	if ((ret = pthread_create(&d->cl.timer_thread, NULL, kickoffs, d))) {
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

void member_stop(struct weftd *d)
{
	if (!d->cl.enabled)
		return;
	if (d->cl.follow_ready)
		follow_stop(&d->cl.follow); /* also cuts a long poll short */
	if (d->cl.running)
		pthread_join(d->cl.thread, NULL);
	if (d->cl.timer_running) {
		pthread_mutex_lock(&d->hub_lock);
		pthread_cond_signal(&d->cl.timer);
		pthread_mutex_unlock(&d->hub_lock);
		pthread_join(d->cl.timer_thread, NULL);
	}
	api_client_free(d->cl.api);
	if (d->cl.follow_ready)
		follow_destroy(&d->cl.follow);
	cluster_node_free(&d->cl.self);
	cluster_node_free(&d->cl.gateway_seen);
	peer_set_clear(&d->cl.nodes);
	peer_set_clear(&d->cl.saved);
	free(d->cl.pending);
}

/* The other clusters, as the gateway's record says (docs/clusters.md):
 * {"gateway": NODE, "connections": [{"cluster", "subnets", "status"}]},
 * or NULL when no node of ours is the gateway. With d->cl.lock held. */
static json_t *clusters_seen(struct weftd *d)
{
	const struct cluster_gateway *gw = &d->cl.gateway_seen.gateway;
	json_t *conns;

	if (!d->cl.has_gateway_seen)
		return NULL;
	conns = json_array();
	for (size_t i = 0; i < gw->nclusters; ++i) {
		const struct cluster_remote *r = &gw->clusters[i];
		json_t *cidrs = json_array();
		const char *status = NULL;

		for (size_t k = 0; k < r->ncidrs; ++k)
			json_array_append_new(cidrs, json_string(r->cidrs[k]));
		/* A cluster the gateway has not reported on has no status. */
		for (size_t k = 0; k < gw->nstatus; ++k)
			if (!strcmp(gw->status[k].id, r->id))
				status = cluster_link_name(gw->status[k].link);
		json_array_append_new(conns, json_pack("{s:s, s:o, s:s?}", "cluster", r->id, "subnets", cidrs,
						       "status", status));
	}
	return json_pack("{s:s, s:I, s:o}", "gateway", d->cl.gateway_seen.name, "since", (json_int_t)gw->since,
			 "connections", conns);
}

/* For "show": the node, the manager, the other clusters, and which peer
 * is which node. */
void member_describe(struct weftd *d, json_t *out)
{
	json_t *clusters;

	if (!d->cl.enabled)
		return;
	pthread_mutex_lock(&d->cl.lock);
	if (d->cl.has_self)
		json_object_set_new(out, "node", cluster_node_json(&d->cl.self));
	if ((clusters = clusters_seen(d)))
		json_object_set_new(out, "clusters", clusters);
	json_object_set_new(out, "manager",
			    json_pack("{s:s, s:I, s:b, s:I, s:s?}", "urls", d->cl.urls, "revision", (json_int_t)d->cl.rev,
				      "connected", d->cl.connected, "lastContact", (json_int_t)d->cl.last_contact,
				      "error", d->cl.error[0] ? d->cl.error : NULL));
	pthread_mutex_unlock(&d->cl.lock);
}

/* The other nodes' public keys -> their names. With d->hub_lock held. */
json_t *member_node_keys(struct weftd *d)
{
	json_t *keys = json_object();
	char b64[KEY_B64_LEN];

	for (size_t i = 0; d->cl.enabled && i < d->cl.nodes.n; ++i) {
		key_to_base64(b64, d->cl.nodes.v[i].key);
		json_object_set_new(keys, b64, json_string(d->cl.nodes.v[i].name));
	}
	return keys;
}
