// SPDX-License-Identifier: MIT
/*
 * The node as its cluster's gateway to other clusters (docs/clusters.md;
 * Submariner's WireGuard cable driver, seeds 000 and 001).
 *
 * A candidate (weftd --gateway) asks its manager for the gateway lease
 * every second; what the answers mean is lib/agent/lease.h's state
 * machine. While it holds it, it keeps the gateway device (cable.c): its own
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
#include "nft/masq.h"
#include "nft/nft.h"
#include "nl/nl.h"
#include "util/addr.h"
#include "util/clock.h"
#include "util/key.h"
#include "weftd.h"

enum {
	LEASE_EVERY_MS = 1000,
	ASK_MS = 5000, /* a renewal's answer, when we do not hold the lease */
};

#define DEFAULT_PORT 4500

void gateway_error(struct weftd *d, const char *msg)
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

void gateway_error_locked(struct weftd *d, const char *msg)
{
	pthread_mutex_lock(&d->gw.lock);
	gateway_error(d, msg);
	pthread_mutex_unlock(&d->gw.lock);
}


/* --- the lease ------------------------------------------------------------------- */

/* Stops being the gateway: the broker thread, the device. */
static void step_down(struct weftd *d, const char *why)
{
	bool was = d->gw.active;

	cable_unfollow(d);
	pthread_mutex_lock(&d->gw.lock);
	d->gw.active = false;
	cable_down(d);
	pthread_mutex_unlock(&d->gw.lock);
	if (was)
		weftd_log(d, WG_LOG_WARNING, "gateway: no longer the gateway: %s", why);
}

/* A TUN of the gateway's name whose UAPI socket answers: a hosted device. */
static bool hosted_here(struct weftd *d, const struct nl_link *link)
{
	struct buf reply = { 0 };
	bool yes = !strcmp(link->kind, "tun") &&
		   !uapi_call(NULL, d->gw.device, "get=1\n\n", 7, &reply, 2000) && reply.len > 0;

	buf_free(&reply);
	return yes;
}

/* A kernel gateway device outlives weftd (and a hosted one lives in
 * weft-wg). If another node took the lease while this one was down, or an
 * admin denied it, the device left behind (with its peers and routes) must
 * go, or this node's traffic to other clusters would leave by it instead
 * of through the cluster's gateway. */
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
			weftd_log(d, WG_LOG_WARNING, "gateway: removed %s, left from when this node was the gateway",
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
	cable_kickoffs(d);
	cable_assess(d);
	if (d->gw.active) {
		clusters = json_object();
		for (size_t i = 0; i < d->gw.peers.n; ++i) {
			json_t *r = peer_rec_json(&d->gw.peers.v[i]);

			json_object_set(clusters, d->gw.peers.v[i].name, json_object_get(r, "subnets"));
			json_decref(r);
		}
		json_object_set_new(report, "clusters", clusters);
		json_object_set_new(report, "connections", cable_connections(d));
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
	up = !cable_up(d);
	pthread_mutex_unlock(&d->gw.lock);
	if (!up) {
		api_call(d->gw.mgr, "DELETE", path, NULL, 5, &reply, err, sizeof(err));
		json_decref(reply);
		step_down(d, "its device could not be brought up");
		return false;
	}
	if (!d->gw.follow_running || !same_federation(d->gw.fed, fed)) {
		cable_unfollow(d);
		cable_follow(d, fed);
	}
	return true;
}

static void *lease_loop(void *arg)
{
	struct weftd *d = arg;
	char path[200], err[700];
	int64_t last_ok = clock_ms(), hold_ms = lease_step_down_ms(LEASE_TTL_DEFAULT);

	snprintf(path, sizeof(path), "/v1/nodes/%s/gateway", d->cl.name);
	while (!stopping(&d->gw.stop)) {
		/* A short lease is renewed more often: a holder must get a few
		 * tries in before it steps down. */
		int64_t started = clock_ms(), every = hold_ms / 3 < LEASE_EVERY_MS ? hold_ms / 3 : LEASE_EVERY_MS;
		int64_t pause = every, budget = ASK_MS;
		char *cred = read_credential(d);
		json_t *report, *reply = NULL, *fed;
		struct lease_step step;
		int status = -ETIMEDOUT;

		if (!cred) { /* not joined yet */
			pause_ms(&d->gw.stop, LEASE_EVERY_MS);
			continue;
		}
		api_client_token(d->gw.mgr, cred);
		crypto_free_string(cred);
		report = lease_report(d);
		/* Holding it, an answer after our step-down time is no use. */
		if (lease_held(d->gw.state))
			budget = hold_ms - (started - last_ok);
		if (budget > 0)
			status = api_call_within(d->gw.mgr, "PUT", path, report, budget, &reply, err, sizeof(err));
		else
			snprintf(err, sizeof(err), "no renewal granted for %lld ms", (long long)(started - last_ok));
		json_decref(report);
		if (stopping(&d->gw.stop)) {
			json_decref(reply);
			break;
		}
		fed = json_object_get(reply, "federation");
		step = lease_next(d->gw.state, lease_answer_of(status, json_is_object(fed)), clock_ms() - last_ok,
				  hold_ms);
		if (status == 200) {
			json_t *ttl = json_object_get(reply, "ttl");

			last_ok = started;
			if (json_is_integer(ttl) && json_integer_value(ttl) >= 2 && json_integer_value(ttl) <= 3600)
				hold_ms = lease_step_down_ms((int)json_integer_value(ttl));
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
			cable_unfollow(d);
			pthread_mutex_lock(&d->gw.lock);
			cable_down(d);
			pthread_mutex_unlock(&d->gw.lock);
			weftd_log(d, WG_LOG_INFO, "gateway: the cluster left the broker");
		}
		if (step.look_around) {
			if (step.next == LEASE_STANDING_BY)
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
			gateway_error(d, err);
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

/* One line of a ruleset, if it NATs: logged as a rule that could catch
 * traffic to other clusters. */
static void warn_line(struct weftd *d, const char *line, size_t len, const char *from)
{
	char text[512];

	snprintf(text, sizeof(text), "%.*s", (int)len, line);
	if (strstr(text, "masquerade") || strstr(text, "MASQUERADE") || strstr(text, "snat to") ||
	    strstr(text, "-j SNAT"))
		weftd_log(d, WG_LOG_ERROR,
			  "gateway: this node NATs some traffic (\"%s\", from %s); traffic to other clusters must "
			  "leave with its pod address: exempt the other clusters' CIDRs from that rule, or "
			  "cross-cluster traffic will fail",
			  text + strspn(text, " \t"), from);
}

/*
 * Warns of NAT rules that could catch traffic to other clusters (seed 000:
 * the driver fails if the CNI NATs before routing to WireGuard). nftables'
 * ruleset through libnftables, but for weft's own table, whose
 * masquerade exempts the other clusters (masq.c); then iptables-save's,
 * for rules of iptables' legacy backend, which live in x_tables where
 * nftables does not see them (iptables-nft's are in the ruleset already,
 * and are then named twice: a warning, no harm).
 */
static void warn_snat(struct weftd *d)
{
	static const char *const cmds[] = { "iptables-save -t nat 2>/dev/null", "ip6tables-save -t nat 2>/dev/null" };
	char *rules = NULL, err[300];
	bool ours = false;

	if (!nft_run("list ruleset", &rules, err, sizeof(err)))
		for (const char *line = rules, *end; *line; line = *end ? end + 1 : end) {
			end = line + strcspn(line, "\n");
			/* Tables start unindented, "table FAMILY NAME {". */
			if (!strncmp(line, "table ", 6))
				ours = !strncmp(line, "table " NFT_MASQ_TABLE " ", sizeof("table " NFT_MASQ_TABLE));
			else if (!ours)
				warn_line(d, line, (size_t)(end - line), "nft");
		}
	free(rules);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); ++i) {
		FILE *f = popen(cmds[i], "r");
		char line[512];

		if (!f)
			continue;
		while (fgets(line, sizeof(line), f))
			warn_line(d, line, strcspn(line, "\n"), i ? "ip6tables-save" : "iptables-save");
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
	cable_unfollow(d);
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
	json_object_set_new(g, "connections", d->gw.active ? cable_connections(d) : json_array());
	pthread_mutex_unlock(&d->gw.lock);
	json_object_set_new(out, "gateway", g);
}
