// SPDX-License-Identifier: MIT
/*
 * GET /metrics (--metrics-listen ADDR:PORT): the node's WireGuard peers in
 * Prometheus' text format, read-only, for every node of the mesh:
 *
 *   weft_peer_rx_bytes_total, weft_peer_tx_bytes_total  counters
 *   weft_peer_latest_handshake_timestamp_seconds        0: never
 *   weft_peer_handshake_age_seconds                     only after one
 *   weft_peer_connected                                 1: a handshake within
 *                                                       180 s (REJECT_AFTER_TIME)
 *   weft_manager_connected, weft_manager_revision       in a cluster
 *
 * labelled local_hostname (the node), device, kind ("node" or "pod"),
 * remote (the node's name, or CONTAINER/IFNAME), public_key and
 * remote_endpoint_ip. A peer that went away has no series any more: each
 * scrape is made afresh from the device.
 *
 * The active gateway (docs/clusters.md) adds its connections to other
 * clusters, named as seed 001 names them (Submariner adds "submariner_"):
 *
 *   connection_status                  1 connected, 0 not; label status
 *   connection_established_timestamp   Unix time of the first handshake
 *   gateway_tx_bytes, gateway_rx_bytes
 *   gateway_handshake_age_seconds      only after one
 *
 * labelled cable_driver, local_cluster, local_hostname, local_endpoint_ip,
 * remote_cluster, remote_hostname, remote_endpoint_ip, as Submariner's.
 */
#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "metrics/prom.h"
#include "util/addr.h"
#include "weftd.h"

enum { REJECT_AFTER_TIME = 180 };

static const char *str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key)) ?: "";
}

/* What one family says about each peer. */
typedef double (*peer_value)(json_t *peer, int64_t now, bool *skip);

static double rx(json_t *p, int64_t now, bool *skip)
{
	return (double)json_integer_value(json_object_get(p, "rxBytes"));
}

static double tx(json_t *p, int64_t now, bool *skip)
{
	return (double)json_integer_value(json_object_get(p, "txBytes"));
}

static double latest(json_t *p, int64_t now, bool *skip)
{
	return (double)json_integer_value(json_object_get(p, "latestHandshake"));
}

static double age(json_t *p, int64_t now, bool *skip)
{
	int64_t t = json_integer_value(json_object_get(p, "latestHandshake"));

	*skip = !t;
	return (double)(now - t);
}

static double connected(json_t *p, int64_t now, bool *skip)
{
	int64_t t = json_integer_value(json_object_get(p, "latestHandshake"));

	return t && now - t < REJECT_AFTER_TIME ? 1 : 0;
}

/* "10.0.0.1:51821" or "[fd00::1]:51821": the address alone. */
static void endpoint_ip(const char *ep, char ip[ADDR_STRLEN])
{
	const char *colon = strrchr(ep, ':');
	size_t n = colon ? (size_t)(colon - ep) : 0;

	ip[0] = '\0';
	if (colon && *ep == '[' && n >= 2)
		snprintf(ip, ADDR_STRLEN, "%.*s", (int)(n - 2), ep + 1);
	else if (colon)
		snprintf(ip, ADDR_STRLEN, "%.*s", (int)n, ep);
}

static int peer_family(struct buf *b, json_t *show, const char *local, const char *name, const char *help,
		       enum prom_type type, peer_value f, int64_t now)
{
	const char *device = str(json_object_get(show, "device"), "name");
	json_t *peer;
	size_t i;
	int ret = prom_family(b, name, help, type);

	json_array_foreach(json_object_get(show, "peers"), i, peer) {
		json_t *pod = json_object_get(peer, "pod");
		char remote[400], ip[ADDR_STRLEN];
		bool skip = false;
		double v = f(peer, now, &skip);

		if (skip || ret)
			continue;
		if (pod)
			snprintf(remote, sizeof(remote), "%s/%s", str(pod, "containerID"), str(pod, "ifname"));
		else
			snprintf(remote, sizeof(remote), "%s", str(peer, "node"));
		endpoint_ip(str(peer, "endpoint"), ip);
		ret = prom_sample(b, name,
				  (const char *const[]){ "local_hostname", local, "device", device, "kind",
							 pod ? "pod" : "node", "remote", remote, "public_key",
							 str(peer, "publicKey"), "remote_endpoint_ip", ip, NULL },
				  v);
	}
	return ret;
}

enum conn_value { CONN_STATUS, CONN_ESTABLISHED, CONN_TX, CONN_RX, CONN_AGE };

static int connection_family(struct buf *b, json_t *gw, const char *local, const char *name, const char *help,
			     enum conn_value what, int64_t now)
{
	char local_ip[ADDR_STRLEN], remote_ip[ADDR_STRLEN];
	json_t *c;
	size_t i;
	int ret = prom_family(b, name, help, PROM_GAUGE);

	endpoint_ip(str(gw, "endpoint"), local_ip);
	json_array_foreach(json_object_get(gw, "connections"), i, c) {
		int64_t hs = json_integer_value(json_object_get(c, "latestHandshake"));
		bool connected = !strcmp(str(c, "status"), "connected");
		double v;

		if (ret)
			break;
		switch (what) {
		case CONN_STATUS:
			v = connected;
			break;
		case CONN_ESTABLISHED:
			if (!connected)
				continue; /* no connection, no time it was made */
			v = (double)json_integer_value(json_object_get(c, "established"));
			break;
		case CONN_TX:
			v = (double)json_integer_value(json_object_get(c, "txBytes"));
			break;
		case CONN_RX:
			v = (double)json_integer_value(json_object_get(c, "rxBytes"));
			break;
		default:
			if (!hs)
				continue;
			v = (double)(now - hs);
		}
		endpoint_ip(str(c, "endpoint"), remote_ip);
		ret = prom_sample(b, name,
				  (const char *const[]){ "cable_driver", "wireguard", "local_cluster", str(gw, "cluster"),
							 "local_hostname", local, "local_endpoint_ip", local_ip,
							 "remote_cluster", str(c, "cluster"), "remote_hostname",
							 str(c, "hostname"), "remote_endpoint_ip", remote_ip,
							 what == CONN_STATUS ? "status" : NULL, str(c, "status"), NULL },
				  v);
	}
	return ret;
}

static int gateway_families(struct buf *b, json_t *gw, const char *local, int64_t now)
{
	if (!json_is_true(json_object_get(gw, "active")))
		return 0;
	return connection_family(b, gw, local, "connection_status",
				 "1 if the connection to the other cluster's gateway is established, else 0 (status "
				 "says connecting, connected or error)",
				 CONN_STATUS, now) ?:
	       connection_family(b, gw, local, "connection_established_timestamp",
				 "Unix time of the connection's first handshake", CONN_ESTABLISHED, now) ?:
	       connection_family(b, gw, local, "gateway_tx_bytes", "Bytes sent to the other cluster's gateway",
				 CONN_TX, now) ?:
	       connection_family(b, gw, local, "gateway_rx_bytes", "Bytes received from the other cluster's gateway",
				 CONN_RX, now) ?:
	       connection_family(b, gw, local, "gateway_handshake_age_seconds",
				 "Seconds since the latest handshake with the other cluster's gateway", CONN_AGE, now);
}

/* The page, from what "show" says. */
static int page(struct weftd *d, struct buf *b)
{
	json_t *show = weftd_show(d), *mgr;
	char host[64] = "";
	const char *local;
	int64_t now = time(NULL);
	int ret;

	if (!show)
		return -ENOMEM;
	gethostname(host, sizeof(host) - 1);
	local = json_object_get(show, "node") ? str(json_object_get(show, "node"), "name") : host;
	ret = peer_family(b, show, local, "weft_peer_rx_bytes_total", "Bytes received from the peer", PROM_COUNTER, rx, now);
	ret = ret ?: peer_family(b, show, local, "weft_peer_tx_bytes_total", "Bytes sent to the peer", PROM_COUNTER, tx, now);
	ret = ret ?: peer_family(b, show, local, "weft_peer_latest_handshake_timestamp_seconds",
				 "Unix time of the latest handshake with the peer (0: never)", PROM_GAUGE, latest, now);
	ret = ret ?: peer_family(b, show, local, "weft_peer_handshake_age_seconds",
				 "Seconds since the latest handshake with the peer", PROM_GAUGE, age, now);
	ret = ret ?: peer_family(b, show, local, "weft_peer_connected",
				 "1 if the peer handshook within 180 seconds (REJECT_AFTER_TIME), else 0", PROM_GAUGE,
				 connected, now);
	if (!ret && (mgr = json_object_get(show, "manager"))) {
		const char *const labels[] = { "local_hostname", local, NULL };

		ret = prom_family(b, "weft_manager_connected", "1 if the last call to the manager succeeded",
				  PROM_GAUGE) ?:
		      prom_sample(b, "weft_manager_connected", labels,
				  json_is_true(json_object_get(mgr, "connected")) ? 1 : 0) ?:
		      prom_family(b, "weft_manager_revision", "The manager's revision the node's peers reflect",
				  PROM_GAUGE) ?:
		      prom_sample(b, "weft_manager_revision", labels,
				  (double)json_integer_value(json_object_get(mgr, "revision")));
	}
	if (!ret && json_object_get(show, "gateway"))
		ret = gateway_families(b, json_object_get(show, "gateway"), local, now);
	json_decref(show);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
			      const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct weftd *d = cls;
	struct MHD_Response *resp;
	struct buf b = { 0 };
	unsigned status = 200;
	enum MHD_Result ret;

	if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
		status = 405;
		buf_printf(&b, "%s: only GET /metrics\n", method);
	} else if (strcmp(url, "/metrics")) {
		status = 404;
		buf_printf(&b, "%.100s: only /metrics here\n", url);
	} else if (page(d, &b)) {
		status = 500;
		b.len = 0;
		buf_printf(&b, "out of memory\n");
	}
	resp = MHD_create_response_from_buffer(b.len, b.data, MHD_RESPMEM_MUST_COPY);
	buf_free(&b);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				status == 200 ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain");
	if (status == 405)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

int metrics_start(struct weftd *d, const char *listen_on, char *err, size_t errlen)
{
	union sockaddr_any sa;
	int fd, one = 1, zero = 0;
	socklen_t salen;

	if (!listen_on[0])
		return 0;
	if (addr_parse_endpoint(&sa, listen_on)) {
		snprintf(err, errlen, "--metrics-listen %s: give ADDRESS:PORT", listen_on);
		return -EINVAL;
	}
	salen = sa.sa.sa_family == AF_INET ? sizeof(sa.in4) : sizeof(sa.in6);
	fd = socket(sa.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    (sa.sa.sa_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero))) ||
	    bind(fd, &sa.sa, salen) || listen(fd, 64)) {
		snprintf(err, errlen, "--metrics-listen %s: %s", listen_on, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -EADDRNOTAVAIL;
	}
	d->metrics = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL, handle, d,
				      MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
				      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
	if (!d->metrics) {
		close(fd);
		snprintf(err, errlen, "--metrics-listen %s: cannot start the HTTP server", listen_on);
		return -EIO;
	}
	return 0;
}

void metrics_stop(struct weftd *d)
{
	if (d->metrics)
		MHD_stop_daemon(d->metrics);
	d->metrics = NULL;
}
