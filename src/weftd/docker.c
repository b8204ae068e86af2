// SPDX-License-Identifier: MIT
/*
 * Docker's network and IPAM driver (seed 004): with --docker-plugin, weftd
 * serves libnetwork's remote driver APIs on DOCKER_SOCKET (by default
 * /run/docker/plugins/weft.sock, where dockerd looks for a plugin named
 * "weft"), so that
 *
 *   docker network create -d weft --ipam-driver weft [-o mode=mesh|hub] NAME
 *   docker run --network NAME ...
 *
 * puts containers on the node's pod network. Mode mesh (the default, "node
 * level"): a veth, the node's WireGuard device carrying traffic to other
 * nodes. Mode hub ("service level"): the container's own WireGuard
 * interface and key, a spoke of the node's hub. docs/runtimes.md.
 *
 * How Docker's calls map onto weft:
 *   RequestPool     the node's pod subnet (IPv4 shown as 0.0.0.0/0 unless
 *                   --subnet names it: Docker refuses a pool overlapping the
 *                   node's routes to its pods, and asks again forever)
 *   RequestAddress  a host address (/32, /128) from weft's IPAM, owned by
 *                   ("docker", a token) until CreateEndpoint names the
 *                   endpoint; ReleaseAddress gives it back
 *   CreateNetwork   the network's mode and MTU, kept in STATE/docker/
 *   Join            an attachment (attach.c), its interface made in the
 *                   node's namespace for Docker to move into the container;
 *                   the reply routes through the node's gateway address
 *   DeleteEndpoint  the attachment torn down
 * Every call is answered in one thread at a time: Docker's calls are few
 * and quick, and one lock keeps the networks' files simple.
 */
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "docker/docker.h"
#include "util/file.h"
#include "util/text.h"
#include "weftd.h"

enum { BODY_MAX = 64 * 1024 };

/* The owner of an address Docker asked for, until its endpoint is known. */
#define DOCKER_OWNER "docker"

static pthread_mutex_t docker_lock = PTHREAD_MUTEX_INITIALIZER;

struct reply {
	unsigned status;
	json_t *body;
};

static void refuse(struct reply *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void refuse(struct reply *r, const char *fmt, ...)
{
	char msg[700];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	text_utf8_clean(msg); /* it may quote what Docker sent, cut by bytes */
	json_decref(r->body);
	/* Any status but 200 is an error to Docker, which then shows Err. */
	r->status = 500;
	r->body = json_pack("{s:s}", "Err", msg);
}

static const char *pstr(const struct ipam_prefix *p, char *buf, size_t len)
{
	return ipam_prefix_str(p, buf, len);
}

/* An address alone, "10.0.0.5". */
static const char *astr(const struct ipam_prefix *p, char *buf, size_t len)
{
	char *slash;

	ipam_prefix_str(p, buf, len);
	if ((slash = strchr(buf, '/')))
		*slash = '\0';
	return buf;
}

static struct ipam_prefix host_prefix(const struct ipam_prefix *p)
{
	struct ipam_prefix h = *p;

	h.len = p->family == AF_INET6 ? 128 : 32;
	return h;
}

/* --- networks ------------------------------------------------------------ */

static void net_path(struct weftd *d, const char *id, char *buf, size_t len)
{
	snprintf(buf, len, "%s/docker/networks/%s.json", d->state_dir, id);
}

static int net_save(struct weftd *d, const char *id, const struct docker_net_opts *o)
{
	char path[600], *text;
	json_t *j = json_pack("{s:s, s:i}", "mode", o->mode == DOCKER_HUB ? "hub" : "mesh", "mtu", (int)o->mtu);
	int ret;

	snprintf(path, sizeof(path), "%s/docker", d->state_dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/docker/networks", d->state_dir);
	mkdir(path, 0700);
	net_path(d, id, path, sizeof(path));
	text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	ret = text ? file_replace(path, text, strlen(text), 0600) : -ENOMEM;
	free(text);
	json_decref(j);
	return ret;
}

/* A network weft made for Docker; false if it knows none of that ID. */
static bool net_load(struct weftd *d, const char *id, struct docker_net_opts *o)
{
	char path[600];
	json_t *j;
	const char *mode;

	net_path(d, id, path, sizeof(path));
	if (!(j = json_load_file(path, 0, NULL)))
		return false;
	memset(o, 0, sizeof(*o));
	mode = json_string_value(json_object_get(j, "mode"));
	o->mode = mode && !strcmp(mode, "hub") ? DOCKER_HUB : DOCKER_MESH;
	o->mtu = (unsigned)json_integer_value(json_object_get(j, "mtu"));
	json_decref(j);
	return true;
}

static void unknown_net(struct reply *r, const char *id)
{
	refuse(r, "network %.12s is not one weft created (weftd's state directory may have been lost): remove it "
		  "(docker network rm) and create it again",
	       id);
}

/* p lies inside pool (both prefixes of one family). */
static bool inside(const struct ipam_prefix *p, const struct ipam_prefix *pool)
{
	const uint8_t *x = (const uint8_t *)&p->addr, *y = (const uint8_t *)&pool->addr;

	if (p->family != pool->family || p->len < pool->len)
		return false;
	for (unsigned bit = 0; bit < pool->len; ++bit)
		if (((x[bit / 8] ^ y[bit / 8]) >> (7 - bit % 8)) & 1)
			return false;
	return true;
}

/* A pool Docker's IPAM gave must be weft's: inside the node's pod subnet,
 * or 0.0.0.0/0, which stands for it (see RequestPool). */
static bool ours(struct weftd *d, const struct ipam_prefix *pool, int f)
{
	if (!pool->family)
		return true;
	if (f == 0 && pool->family == AF_INET && pool->len == 0)
		return true;
	return d->ipam.pool[f].family && inside(pool, &d->ipam.pool[f]);
}

static void create_network(struct weftd *d, const struct docker_request *q, struct reply *r)
{
	char buf[64], pod[64];
	for (int f = 0; f < 2; ++f) {
		if (!q->net.pool[f].family || ours(d, &q->net.pool[f], f))
			continue;
		snprintf(pod, sizeof(pod), "%s", d->ipam.pool[f].family ? pstr(&d->ipam.pool[f], buf, sizeof(buf)) : "none");
		refuse(r, "subnet %s is not from this node's pod subnet (%s): create the network with --ipam-driver weft",
		       pstr(&q->net.pool[f], buf, sizeof(buf)), pod);
		return;
	}
	if (!q->net.pool[0].family && !q->net.pool[1].family) {
		refuse(r, "no subnet: create the network with --ipam-driver weft");
		return;
	}
	if (net_save(d, q->network_id, &q->net)) {
		refuse(r, "cannot save the network in %s/docker: %s", d->state_dir, strerror(errno));
		return;
	}
	weftd_log(d, WG_LOG_VERBOSE, "docker: network %.12s created (mode %s)", q->network_id,
		  q->net.mode == DOCKER_HUB ? "hub" : "mesh");
}

static void delete_network(struct weftd *d, const struct docker_request *q, struct reply *r)
{
	char path[600];

	net_path(d, q->network_id, path, sizeof(path));
	unlink(path);
	weftd_log(d, WG_LOG_VERBOSE, "docker: network %.12s deleted", q->network_id);
}

/* --- endpoints ----------------------------------------------------------- */

/* A MAC for a veth, from the endpoint's ID: locally administered, unicast,
 * and the same if Docker asks again. */
static void endpoint_mac(const char *id, uint8_t mac[6])
{
	uint32_t h = 2166136261u, g = 16777619u;

	for (const char *p = id; *p; ++p) {
		h = (h ^ (uint8_t)*p) * 16777619u;
		g = (g ^ (uint8_t)*p) * 2166136261u;
	}
	mac[0] = 0x0a; /* locally administered (bit 1), unicast (bit 0 clear) */
	mac[1] = (uint8_t)(g >> 8);
	mac[2] = (uint8_t)(h >> 24);
	mac[3] = (uint8_t)(h >> 16);
	mac[4] = (uint8_t)(h >> 8);
	mac[5] = (uint8_t)h;
}

static void create_endpoint(struct weftd *d, const struct docker_request *q, struct reply *r)
{
	struct docker_net_opts net;
	char owner[300], ifname[300], buf[64];
	bool any = false;

	if (!net_load(d, q->network_id, &net)) {
		unknown_net(r, q->network_id);
		return;
	}
	if (net.mode == DOCKER_HUB && q->has_mac) {
		refuse(r, "--mac-address: a hub network gives the container a WireGuard interface, which has no MAC");
		return;
	}
	/* The addresses RequestAddress gave are this endpoint's now. */
	for (int f = 0; f < 2; ++f) {
		const struct ipam_prefix *a = &q->address[f];

		if (!a->family)
			continue;
		any = true;
		if (ipam_owner(&d->ipam, a, owner, sizeof(owner), ifname, sizeof(ifname)) ||
		    (strcmp(owner, DOCKER_OWNER) && strcmp(ifname, ATTACH_DOCKER_IFNAME))) {
			refuse(r, "address %s was not given by weft's IPAM: create the network with --ipam-driver weft",
			       pstr(a, buf, sizeof(buf)));
			return;
		}
		if (strcmp(owner, q->endpoint_id) && ipam_rekey(&d->ipam, a, q->endpoint_id, ATTACH_DOCKER_IFNAME)) {
			refuse(r, "cannot record address %s for the endpoint: %s", pstr(a, buf, sizeof(buf)), strerror(errno));
			return;
		}
	}
	if (!any) {
		refuse(r, "the endpoint has no address: create the network with --ipam-driver weft");
		return;
	}
	if (net.mode == DOCKER_MESH && !q->has_mac) {
		uint8_t mac[6];

		endpoint_mac(q->endpoint_id, mac);
		snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
		json_object_set_new(r->body, "Interface", json_pack("{s:s}", "MacAddress", buf));
	}
}

/* The name the container's interface has in the node's namespace until
 * Docker moves it: "wfc" and twelve hex digits of the endpoint's ID. */
static void src_name(const char *endpoint, char out[IF_NAMESIZE])
{
	snprintf(out, IF_NAMESIZE, "wfc%.12s", endpoint);
}

static void join(struct weftd *d, const struct docker_request *q, struct reply *r)
{
	struct docker_net_opts net;
	struct ipam_lease lease;
	struct cni_error err = { 0, "", "" };
	char src[IF_NAMESIZE], network[13], buf[64];
	json_t *routes;

	if (!net_load(d, q->network_id, &net)) {
		unknown_net(r, q->network_id);
		return;
	}
	if (ipam_find(&d->ipam, q->endpoint_id, ATTACH_DOCKER_IFNAME, &lease)) {
		refuse(r, "endpoint %.12s has no address from weft's IPAM: was it created before weftd's state was "
			  "lost? start the container again",
		       q->endpoint_id);
		return;
	}
	src_name(q->endpoint_id, src);
	snprintf(network, sizeof(network), "%.12s", q->network_id);
	if (attach_docker(d, q->endpoint_id, q->sandbox_key, network, net.mode == DOCKER_HUB ? CNI_MODE_HUB : CNI_MODE_MESH, net.mtu,
			  src, &err)) {
		refuse(r, "%s: %s", err.msg, err.details);
		return;
	}
	/* The container reaches everything through the node's gateway
	 * address, on-link over its /32 (or /128): the node answers for it. */
	routes = json_array();
	json_object_set_new(r->body, "InterfaceName", json_pack("{s:s, s:s}", "SrcName", src, "DstPrefix", "eth"));
	for (int f = 0; f < 2; ++f) {
		struct ipam_prefix gw = host_prefix(&lease.gateway[f]);

		if (!lease.addr[f].family)
			continue;
		json_object_set_new(r->body, f ? "GatewayIPv6" : "Gateway", json_string(astr(&gw, buf, sizeof(buf))));
		json_array_append_new(routes, json_pack("{s:s, s:i}", "Destination", pstr(&gw, buf, sizeof(buf)),
							"RouteType", 1 /* CONNECTED */));
	}
	json_object_set_new(r->body, "StaticRoutes", routes);
	json_object_set_new(r->body, "DisableGatewayService", json_false());
}

static void delete_endpoint(struct weftd *d, const struct docker_request *q, struct reply *r)
{
	struct cni_error err = { 0, "", "" };

	/* Its addresses stay until Docker's ReleaseAddress. */
	if (attach_remove(d, q->endpoint_id, ATTACH_DOCKER_IFNAME, &err))
		refuse(r, "%s: %s", err.msg, err.details);
}

/* --- IPAM ---------------------------------------------------------------- */

/*
 * Pool IDs carry what weft needs, so that Docker may keep them across
 * restarts of either: "weft4" (the node's IPv4 pod subnet, shown as
 * 0.0.0.0/0), "weft4/PREFIX" (--subnet), "weft4/PREFIX@RANGE" (and
 * --ip-range); the same with weft6.
 */
struct pool {
	int family;
	struct ipam_prefix within; /* family 0: the whole pod subnet */
};

static int pool_parse(const char *id, struct pool *p)
{
	char s[256], *at;

	memset(p, 0, sizeof(*p));
	if (strncmp(id, "weft4", 5) && strncmp(id, "weft6", 5))
		return -EINVAL;
	p->family = id[4] == '6' ? AF_INET6 : AF_INET;
	if (!id[5])
		return 0;
	if (id[5] != '/')
		return -EINVAL;
	snprintf(s, sizeof(s), "%s", id + 6);
	at = strchr(s, '@');
	if (ipam_prefix_parse(&p->within, at ? at + 1 : s) || p->within.family != p->family)
		return -EINVAL;
	return 0;
}

static void request_pool(struct weftd *d, const struct docker_request *q, struct reply *r)
{
	int family = q->v6 ? AF_INET6 : AF_INET;
	struct ipam_prefix gw, pod;
	char buf[64], buf2[64], id[300];

	if (ipam_gateway(&d->ipam, family, &gw)) {
		refuse(r, "this node has no %s pod subnet: start weftd with %s", q->v6 ? "IPv6" : "IPv4",
		       q->v6 ? "--pod-subnet6 (or give the cluster an IPv6 CIDR)" : "--pod-subnet (or join a manager)");
		return;
	}
	pod = d->ipam.pool[q->v6];
	if (q->pool.family && !ours(d, &q->pool, q->v6)) {
		refuse(r, "--subnet %s is not inside this node's pod subnet %s: leave --subnet out, or give that one "
			  "(weft status shows it)",
		       pstr(&q->pool, buf, sizeof(buf)), pstr(&pod, buf2, sizeof(buf2)));
		return;
	}
	if (q->sub_pool.family && (q->sub_pool.family != family || q->sub_pool.len < q->pool.len || !ours(d, &q->sub_pool, q->v6))) {
		refuse(r, "--ip-range %s is not inside --subnet %s", pstr(&q->sub_pool, buf, sizeof(buf)),
		       pstr(&q->pool, buf2, sizeof(buf2)));
		return;
	}
	if (q->pool.family && q->sub_pool.family)
		snprintf(id, sizeof(id), "weft%d/%s@%s", q->v6 ? 6 : 4, pstr(&q->pool, buf, sizeof(buf)),
			 pstr(&q->sub_pool, buf2, sizeof(buf2)));
	else if (q->pool.family)
		snprintf(id, sizeof(id), "weft%d/%s", q->v6 ? 6 : 4, pstr(&q->pool, buf, sizeof(buf)));
	else
		snprintf(id, sizeof(id), "weft%d", q->v6 ? 6 : 4);
	json_object_set_new(r->body, "PoolID", json_string(id));
	json_object_set_new(r->body, "Pool",
			    json_string(q->pool.family ? pstr(&q->pool, buf, sizeof(buf))
					: q->v6	   ? pstr(&pod, buf, sizeof(buf))
						   : "0.0.0.0/0"));
	/* The gateway every pod of this node routes through; given here,
	 * Docker does not ask for one. */
	json_object_set_new(r->body, "Data", json_pack("{s:s}", "com.docker.network.gateway", pstr(&gw, buf2, sizeof(buf2))));
}

static void request_address(struct weftd *d, const struct docker_request *q, struct reply *r)
{
	struct pool pool;
	struct ipam_prefix gw, got;
	uint8_t token[8];
	char name[20], buf[64], buf2[64];
	int ret;

	if (pool_parse(q->pool_id, &pool) || ipam_gateway(&d->ipam, pool.family, &gw)) {
		refuse(r, "pool \"%.60s\" is not one weft gave (or the node lost that pod subnet)", q->pool_id);
		return;
	}
	if (q->gateway) {
		/* --gateway: only the node's own. */
		if (q->want.family && memcmp(&q->want.addr, &gw.addr, pool.family == AF_INET ? 4 : 16)) {
			refuse(r, "--gateway %s: a weft network's gateway is the node's, %s; leave --gateway out",
			       astr(&q->want, buf, sizeof(buf)), astr(&gw, buf2, sizeof(buf2)));
			return;
		}
		json_object_set_new(r->body, "Address", json_string(pstr(&gw, buf, sizeof(buf))));
		return;
	}
	crypto_random(token, sizeof(token));
	snprintf(name, sizeof(name), "t%02x%02x%02x%02x%02x%02x%02x%02x", token[0], token[1], token[2], token[3], token[4],
		 token[5], token[6], token[7]);
	ret = ipam_claim(&d->ipam, pool.family, DOCKER_OWNER, name, q->want.family ? &q->want : NULL,
			 pool.within.family ? &pool.within : NULL, &got);
	if (ret == -EADDRINUSE)
		refuse(r, "address %s is in use", astr(&q->want, buf, sizeof(buf)));
	else if (ret == -EINVAL && q->want.family)
		refuse(r, "address %s is outside this node's pod subnet, or reserved (its network, gateway or "
			  "broadcast address)",
		       astr(&q->want, buf, sizeof(buf)));
	else if (ret == -ENOSPC)
		refuse(r, "no free address left in %s", pool.within.family ? pstr(&pool.within, buf, sizeof(buf)) : "the pod subnet");
	else if (ret)
		refuse(r, "cannot allocate an address: %s", strerror(-ret));
	else {
		/* A host address: the container routes through the node. */
		struct ipam_prefix host = host_prefix(&got);

		json_object_set_new(r->body, "Address", json_string(pstr(&host, buf, sizeof(buf))));
	}
}

static void release_address(struct weftd *d, const struct docker_request *q, struct reply *r)
{
	char owner[300], ifname[300], buf[64];

	/* The gateway is never handed out; Docker gives it back anyway. */
	if (!q->want.family || ipam_owner(&d->ipam, &q->want, owner, sizeof(owner), ifname, sizeof(ifname)))
		return;
	if (strcmp(owner, DOCKER_OWNER) && strcmp(ifname, ATTACH_DOCKER_IFNAME)) {
		refuse(r, "address %s is a CNI container's, not Docker's: weft keeps it", astr(&q->want, buf, sizeof(buf)));
		return;
	}
	ipam_release_addr(&d->ipam, &q->want);
}

/* --- the server ------------------------------------------------------------ */

static void answer(struct weftd *d, const struct docker_request *q, struct reply *r)
{
	switch (q->call) {
	case DOCKER_ACTIVATE:
		json_object_set_new(r->body, "Implements", json_pack("[s, s]", "NetworkDriver", "IpamDriver"));
		return;
	case DOCKER_NET_CAPABILITIES:
		/* Each node's Docker has its own weft networks; their pods reach
		 * every node's through the cluster. */
		json_object_set_new(r->body, "Scope", json_string("local"));
		json_object_set_new(r->body, "ConnectivityScope", json_string("local"));
		return;
	case DOCKER_IPAM_CAPABILITIES:
		json_object_set_new(r->body, "RequiresMACAddress", json_false());
		json_object_set_new(r->body, "RequiresRequestReplay", json_false());
		return;
	case DOCKER_IPAM_ADDRESS_SPACES:
		json_object_set_new(r->body, "LocalDefaultAddressSpace", json_string("weft"));
		json_object_set_new(r->body, "GlobalDefaultAddressSpace", json_string("weft"));
		return;
	default:
		break;
	}
	if (!d->ipam_open) {
		refuse(r, "weftd has no pod subnet: start it with --pod-subnet, or --manager to join a cluster");
		return;
	}
	switch (q->call) {
	case DOCKER_CREATE_NETWORK:
		create_network(d, q, r);
		break;
	case DOCKER_DELETE_NETWORK:
		delete_network(d, q, r);
		break;
	case DOCKER_ALLOCATE_NETWORK:
		json_object_set_new(r->body, "Options", json_object());
		break;
	case DOCKER_CREATE_ENDPOINT:
		create_endpoint(d, q, r);
		break;
	case DOCKER_ENDPOINT_INFO:
		json_object_set_new(r->body, "Value", json_object());
		break;
	case DOCKER_DELETE_ENDPOINT:
		delete_endpoint(d, q, r);
		break;
	case DOCKER_JOIN:
		join(d, q, r);
		break;
	case DOCKER_REQUEST_POOL:
		request_pool(d, q, r);
		break;
	case DOCKER_REQUEST_ADDRESS:
		request_address(d, q, r);
		break;
	case DOCKER_RELEASE_ADDRESS:
		release_address(d, q, r);
		break;
	default:
		/* Leave (the interface goes at DeleteEndpoint, after Docker
		 * moved it back), ReleasePool (pools are not held), FreeNetwork,
		 * Discover*, external connectivity: nothing to do. */
		break;
	}
}

struct upload {
	char *data;
	size_t len;
	bool too_big;
};

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
			      const char *version, const char *data, size_t *size, void **con_cls)
{
	struct weftd *d = cls;
	struct upload *up = *con_cls;
	struct reply r = { 200, json_object() };
	struct docker_request q;
	struct MHD_Response *resp;
	const union MHD_ConnectionInfo *ci;
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	char err[600], *text;
	enum MHD_Result ret;
	int call;

	if (!up) {
		/* The first call is for the headers: keep a place for the body. */
		json_decref(r.body);
		if (!(up = calloc(1, sizeof(*up))))
			return MHD_NO;
		*con_cls = up;
		return MHD_YES;
	}
	if (*size) {
		if (up->len + *size > BODY_MAX) {
			up->too_big = true;
		} else if (!up->too_big) {
			char *more = realloc(up->data, up->len + *size);

			if (!more)
				up->too_big = true;
			else {
				memcpy(more + up->len, data, *size);
				up->data = more;
				up->len += *size;
			}
		}
		*size = 0;
		json_decref(r.body);
		return MHD_YES;
	}
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	call = docker_call_parse(url);
	if (!ci || getsockopt(ci->connect_fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) || cred.uid != 0) {
		refuse(&r, "only root may use weft's Docker plugin");
		r.status = 403;
	} else if (strcmp(method, "POST")) {
		refuse(&r, "%.10s %.100s: Docker's plugin calls are POSTs", method, url);
		r.status = 405;
	} else if (call < 0) {
		refuse(&r, "%.100s: not a call of Docker's network or IPAM driver API", url);
		r.status = 404;
	} else if (up->too_big) {
		refuse(&r, "%s: the body is larger than %d bytes", docker_call_name((enum docker_call)call), BODY_MAX);
		r.status = 413;
	} else if (docker_request_parse((enum docker_call)call, up->data, up->len, &q, err, sizeof(err))) {
		refuse(&r, "%s", err);
		r.status = 400;
	} else {
		pthread_mutex_lock(&docker_lock);
		answer(d, &q, &r);
		pthread_mutex_unlock(&docker_lock);
		if (r.status != 200)
			weftd_log(d, WG_LOG_ERROR, "docker: %s refused: %s", docker_call_name(q.call),
				  json_string_value(json_object_get(r.body, "Err")) ?: "");
	}
	text = json_dumps(r.body, JSON_COMPACT);
	json_decref(r.body);
	resp = text ? MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE) : NULL;
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/vnd.docker.plugins.v1.2+json");
	ret = MHD_queue_response(conn, r.status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void done(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct upload *up = *con_cls;

	if (up) {
		free(up->data);
		free(up);
	}
	*con_cls = NULL;
}

int docker_start(struct weftd *d, const struct agent_config *conf, char *err, size_t errlen)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	char dir[sizeof(addr.sun_path)], *slash;
	mode_t old;
	int fd;

	if (!conf->docker_plugin)
		return 0;
	snprintf(d->docker_socket, sizeof(d->docker_socket), "%s", conf->docker_socket);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", conf->docker_socket);
	snprintf(dir, sizeof(dir), "%s", conf->docker_socket);
	if ((slash = strrchr(dir, '/')) && slash != dir) {
		*slash = '\0';
		/* /run/docker/plugins, as dockerd makes it. */
		if (mkdir(dir, 0755) && errno == ENOENT) {
			char up[sizeof(dir)], *s2;

			snprintf(up, sizeof(up), "%s", dir);
			if ((s2 = strrchr(up, '/')) && s2 != up) {
				*s2 = '\0';
				mkdir(up, 0700);
			}
			mkdir(dir, 0755);
		}
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errlen, "--docker-socket %s: %s", conf->docker_socket, strerror(errno));
		return -errno;
	}
	unlink(addr.sun_path); /* a stale socket of an earlier run */
	old = umask(0177);	/* 0600: dockerd runs as root, nobody else may */
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) || listen(fd, 64)) {
		int e = errno;

		umask(old);
		close(fd);
		snprintf(err, errlen, "--docker-socket %s: %s", conf->docker_socket, strerror(e));
		return -e;
	}
	umask(old);
	d->docker = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL, NULL,
				     handle, d, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_NOTIFY_COMPLETED, done, NULL,
				     MHD_OPTION_CONNECTION_LIMIT, (unsigned)64, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
				     MHD_OPTION_END);
	if (!d->docker) {
		close(fd);
		unlink(addr.sun_path);
		snprintf(err, errlen, "--docker-socket %s: cannot start the HTTP server", conf->docker_socket);
		return -EIO;
	}
	weftd_log(d, WG_LOG_VERBOSE, "docker: serving the network and IPAM driver at %s", conf->docker_socket);
	return 0;
}

void docker_stop(struct weftd *d)
{
	if (d->docker) {
		MHD_stop_daemon(d->docker);
		unlink(d->docker_socket);
	}
	d->docker = NULL;
}
