// SPDX-License-Identifier: MIT
/*
 * Mode "hub" (seed 003): the node holds one WireGuard device, the hub, with
 * the pod subnet's gateway address; each container gets a WireGuard
 * interface of its own, whose only peer is the hub, and becomes a peer of
 * the hub in turn, allowed its own addresses. Container keys are made here
 * and kept here (0600): a private key never leaves the node.
 *
 *   container wg0 ──(UDP on the node's loopback)──► hub ──► node, other pods
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cni/wgcfg.h"
#include "crypto/crypto.h"
#include "util/netns.h"
#include "nl/nl.h"
#include "util/addr.h"
#include "util/file.h"
#include "util/key.h"
#include "weftd.h"

/* Seconds between a pod's keepalives to the hub, as wg-quick users set
 * for a spoke. */
enum { POD_KEEPALIVE = 25 };

/* A private key kept in the state directory, made on first use. */
static int node_key(struct weftd *d, const char *name, uint8_t key[32], bool create)
{
	char path[800], b64[KEY_B64_LEN];
	int fd, ret = 0;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/keys/%s.key", d->state_dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, b64, sizeof(b64) - 1);
		close(fd);
		b64[n > 0 ? n : 0] = '\0';
		b64[strcspn(b64, "\n")] = '\0';
		ret = key_from_base64(key, b64) ? 0 : -EINVAL;
		crypto_wipe(b64, sizeof(b64));
		return ret;
	}
	if (!create)
		return -ENOENT;
	x25519_generate_private(key);
	key_to_base64(b64, key);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, b64, strlen(b64)) != (ssize_t)strlen(b64) || fsync(fd))
		ret = -errno;
	if (fd >= 0)
		close(fd);
	crypto_wipe(b64, sizeof(b64));
	return ret;
}

int weftd_key(struct weftd *d, const char *name, uint8_t key[32], bool create)
{
	return node_key(d, name, key, create);
}

void weftd_key_public(struct weftd *d, const char *name, uint8_t pub[32])
{
	uint8_t priv[32];

	if (node_key(d, name, priv, true))
		memset(priv, 0, sizeof(priv));
	x25519_public(pub, priv);
	crypto_wipe(priv, sizeof(priv));
}

static void forget_key(struct weftd *d, const char *name)
{
	char path[800];

	snprintf(path, sizeof(path), "%s/keys/%s.key", d->state_dir, name);
	unlink(path);
}

static void hub_log(void *ctx, enum wg_log_level level, const char *msg)
{
	weftd_log_device(level, "hub", msg);
}


static void pods_adopt(struct weftd *d);

/* --- route_localnet, kept across the hub's remaking ------------------------- */

/*
 * The reference portmap plugin, chained after weft to publish a pod's ports
 * on the node (docs/runtimes.md), turns on route_localnet on the node's
 * interface towards the pod, the hub in mode hub, so that connections to
 * 127.0.0.1:PORT can be DNATed to the pod and leave through it. A userspace
 * hub dies with weftd and is made anew at the next start without it:
 * 127.0.0.1 would stop reaching hub pods until each was added again, while
 * every other address still did. So weftd notes the value in
 * STATE/hub.route_localnet (at each sweep, and before it closes the hub),
 * and a hub it makes gets the value the last one had. It never turns it on
 * by itself: with it on, a pod that crafts packets to 127/8 may reach what
 * listens there on the node (Kubernetes' CVE-2020-8558, docs/runtimes.md).
 * A kernel hub is adopted with its value, and a mesh pod's veth outlives
 * weftd anyway.
 */

/* A file holding "0" or "1" (a sysctl, the note): -1 if unreadable. */
static int read_flag(const char *path)
{
	char c = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (read(fd, &c, 1) != 1)
		c = 0;
	close(fd);
	return c == '1' ? 1 : c == '0' ? 0 : -1;
}

static int localnet_get(const char *ifname)
{
	char path[96];

	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/route_localnet", ifname);
	return read_flag(path);
}

static int localnet_set(const char *ifname)
{
	char path[96];
	int fd, ret = 0;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/route_localnet", ifname);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "1", 1) != 1)
		ret = -errno;
	if (fd >= 0)
		close(fd);
	return ret;
}

/* The noted value: 0 when nothing was noted. */
static int localnet_noted(struct weftd *d)
{
	char path[800];

	snprintf(path, sizeof(path), "%s/hub.route_localnet", d->state_dir);
	return read_flag(path) == 1;
}

void hub_note(struct weftd *d)
{
	char path[800];
	int v, ret;

	pthread_mutex_lock(&d->hub_lock);
	v = d->hub ? localnet_get(d->hub_name) : -1;
	if (v >= 0 && v != d->hub_localnet) {
		/* Replaced whole: a crash leaves the old note or the new one. */
		snprintf(path, sizeof(path), "%s/hub.route_localnet", d->state_dir);
		if (!(ret = file_replace(path, v ? "1\n" : "0\n", 2, 0600)))
			d->hub_localnet = v;
		else
			weftd_log(d, WG_LOG_ERROR, "hub: cannot note route_localnet in %s: %s", path, strerror(-ret));
	}
	pthread_mutex_unlock(&d->hub_lock);
}

/* The hub: adopted if it is there (a kernel one outlives us), else made. */
static int hub_ensure(struct weftd *d, struct cni_error *err)
{
	/* Its UAPI socket lets an operator "wg show" the hub. */
	struct wgdev_opts opts = { .name = d->hub_name, .backend = d->backend, .load_module = true, .offload = true,
				   .uapi = true, .log_level = d->log_level, .log = hub_log };
	struct wgdev_err werr = { "", 0 };
	struct wg_config cfg = { .flags = WG_DEV_HAS_PRIVATE_KEY | WG_DEV_HAS_LISTEN_PORT };
	struct ipam_lease probe;
	struct nl nl;
	int ret;

	if (d->hub)
		return 0;
	if (!d->ipam_open)
		return cni_fail(err, CNI_ERR_INVALID_CONFIG, "the agent has no pod subnet",
				"mode hub needs addresses: start weftd with --pod-subnet (and --pod-subnet6)");
	if ((ret = node_key(d, "hub", cfg.private_key, true)))
		return cni_fail(err, CNI_ERR_IO, "cannot read or make the hub's key", "%s/keys/hub.key: %s", d->state_dir,
				strerror(-ret));
	cfg.listen_port = d->hub_port;
	d->hub = wgdev_open(&opts, &werr);
	if (!d->hub) {
		crypto_wipe(cfg.private_key, 32);
		return cni_fail(err, CNI_ERR_PLUGIN, "cannot make the hub device", "%s", werr.msg);
	}
	ret = wgdev_set(d->hub, &cfg, &werr);
	crypto_wipe(cfg.private_key, 32);
	if (ret) {
		wgdev_close(d->hub);
		d->hub = NULL;
		return cni_fail(err, CNI_ERR_PLUGIN, "cannot configure the hub", "%s", werr.msg);
	}
	if (wgdev_adopted(d->hub))
		pods_adopt(d);
	d->hub_localnet = localnet_noted(d);
	if (d->hub_localnet && !wgdev_adopted(d->hub) && (ret = localnet_set(d->hub_name)))
		weftd_log(d, WG_LOG_ERROR, "hub: cannot turn route_localnet on again for %s: %s", d->hub_name,
			  strerror(-ret));
	weftd_enable_forwarding();
	/* The gateway addresses, so the node routes the pod subnets here. */
	memset(&probe, 0, sizeof(probe));
	if (nl_open(&nl, NETLINK_ROUTE, -1))
		return cni_fail(err, CNI_ERR_IO, "cannot open netlink", NULL);
	for (int f = 0; f < 2; ++f) {
		struct ipam_prefix gw;

		if (!d->ipam.pool[f].family)
			continue;
		gw = d->ipam.pool[f];
		if (f == 0)
			gw.addr.v4.s_addr = htonl(ntohl(gw.addr.v4.s_addr) + 1);
		else
			gw.addr.v6.s6_addr[15] |= 1;
		ret = nl_addr_add(&nl, wgdev_ifindex(d->hub), gw.family, &gw.addr, gw.len);
		if (ret && ret != -EEXIST)
			weftd_log(d, WG_LOG_ERROR, "hub: cannot add its gateway address: %s", strerror(-ret));
	}
	nl_link_set_mtu(&nl, wgdev_ifindex(d->hub), 1420);
	nl_link_set_up(&nl, wgdev_ifindex(d->hub), true);
	nl_close(&nl);
	weftd_log(d, WG_LOG_VERBOSE, "hub %s on port %u (%s)", d->hub_name, d->hub_port,
		  wgdev_backend_name(wgdev_backend(d->hub)));
	return 0;
}

int hub_start(struct weftd *d, struct cni_error *err)
{
	int ret;

	pthread_mutex_lock(&d->hub_lock);
	ret = hub_ensure(d, err);
	pthread_mutex_unlock(&d->hub_lock);
	return ret;
}

void hub_public_key(struct weftd *d, uint8_t pub[32])
{
	weftd_key_public(d, "hub", pub);
}

json_t *hub_pod_names(struct weftd *d)
{
	json_t *names = json_object();
	char b64[KEY_B64_LEN];

	for (size_t i = 0; names && i < d->hub_pods.n; ++i) {
		key_to_base64(b64, d->hub_pods.v[i].key);
		json_object_set_new(names, b64, json_string(d->hub_pods.v[i].name));
	}
	return names;
}

/* --- the hub's pods, kept by lib/agent/reconcile ---------------------------- */

/*
 * d->hub_pods holds one peer per pod on the hub, named CONTAINER@IFNAME,
 * allowed its addresses and not routed (the hub's own address covers the
 * pod subnet), its endpoint the pod's port on the node's loopback once
 * known. Every change goes through the reconcile core, as the member's
 * nodes do on the same device; the member's full lists leave these keys
 * alone. The set and the device change together under d->hub_lock.
 */
static int pods_apply(struct weftd *d, struct peer_set *next, struct wgdev_err *werr)
{
	struct reconcile_in in = { .want = next, .have = &d->hub_pods, .no_routes = true };
	struct plan plan;
	int ret;

	if (!d->hub)
		return -ENODEV;
	if ((ret = reconcile(&in, &plan)))
		return ret;
	if (!(ret = weftd_plan_apply(d, d->hub, &plan, "hub", werr))) {
		weftd_plan_log(d, &plan, next, "hub", "pod", WG_LOG_VERBOSE);
		peer_set_clear(&d->hub_pods);
		d->hub_pods = *next;
		memset(next, 0, sizeof(*next));
	}
	plan_free(&plan);
	return ret;
}

/* One pod's peer put in (or replaced), or taken out (r NULL, by name). */
static int pods_change(struct weftd *d, const char *name, struct peer_rec *r, struct wgdev_err *werr)
{
	struct peer_set next;
	int ret;

	pthread_mutex_lock(&d->hub_lock);
	ret = peer_set_copy(&next, &d->hub_pods);
	if (!ret && r)
		ret = peer_set_put(&next, r);
	else if (!ret)
		peer_set_del(&next, name);
	if (!ret)
		ret = pods_apply(d, &next, werr);
	pthread_mutex_unlock(&d->hub_lock);
	peer_set_clear(&next);
	if (r)
		peer_rec_clear(r);
	return ret;
}

/* A pod's record: its addresses, and its port on loopback (0: none yet). */
static int pod_rec(struct peer_rec *r, const char *name, const uint8_t key[32], const struct cni_wgcfg *link,
		   uint16_t port)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", name);
	memcpy(r->key, key, 32);
	if (port) {
		r->has_endpoint = true;
		r->endpoint.in4.sin_family = AF_INET;
		r->endpoint.in4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		r->endpoint.in4.sin_port = htons(port);
	}
	if (!(r->prefixes = calloc(link->naddrs ?: 1, sizeof(*r->prefixes))))
		return -ENOMEM;
	for (unsigned k = 0; k < link->naddrs; ++k) {
		r->prefixes[k].family = link->addrs[k].family;
		r->prefixes[k].addr.v6 = link->addrs[k].addr.v6;
		r->prefixes[k].len = link->addrs[k].len;
	}
	r->nprefixes = link->naddrs;
	return 0;
}

/* A hub adopted (a kernel one outlives us) holds the pods of our last run:
 * the set starts as the device has them, each known by its key on disk
 * (STATE/keys/CONTAINER@IFNAME.key). With d->hub_lock held. */
static void pods_adopt(struct weftd *d)
{
	struct wgdev_err werr = { "", 0 };
	struct wg_config *got = wgdev_get(d->hub, &werr);
	char path[600];
	struct dirent *e;
	DIR *dir;

	snprintf(path, sizeof(path), "%s/keys", d->state_dir);
	if (!got || !(dir = opendir(path))) {
		if (got)
			crypto_wipe(got->private_key, sizeof(got->private_key));
		wg_config_free(got);
		return;
	}
	while ((e = readdir(dir))) {
		char name[PEER_NAME_MAX];
		size_t n = strlen(e->d_name);
		uint8_t priv[32], pub[32];
		struct wg_config_peer *p;
		struct peer_rec r = { 0 };
		size_t nips = 0;

		if (n < 5 || n - 4 >= sizeof(name) || strcmp(e->d_name + n - 4, ".key") || !strchr(e->d_name, '@'))
			continue;
		memcpy(name, e->d_name, n - 4);
		name[n - 4] = '\0';
		if (node_key(d, name, priv, false))
			continue;
		x25519_public(pub, priv);
		crypto_wipe(priv, sizeof(priv));
		for (p = got->first_peer; p && memcmp(p->public_key, pub, 32); p = p->next)
			;
		if (!p)
			continue;
		for (struct wg_config_ip *ip = p->first_ip; ip; ip = ip->next)
			++nips;
		snprintf(r.name, sizeof(r.name), "%s", name);
		memcpy(r.key, pub, 32);
		r.has_endpoint = p->endpoint.sa.sa_family != AF_UNSPEC;
		memcpy(&r.endpoint, &p->endpoint, sizeof(r.endpoint));
		if (!(r.prefixes = calloc(nips ?: 1, sizeof(*r.prefixes))))
			continue;
		for (struct wg_config_ip *ip = p->first_ip; ip; ip = ip->next) {
			r.prefixes[r.nprefixes].family = ip->family;
			memcpy(&r.prefixes[r.nprefixes].addr, &ip->ip6, sizeof(ip->ip6));
			r.prefixes[r.nprefixes++].len = ip->cidr;
		}
		if (peer_set_put(&d->hub_pods, &r))
			peer_rec_clear(&r);
	}
	closedir(dir);
	crypto_wipe(got->private_key, sizeof(got->private_key));
	wg_config_free(got);
}

/* --- pods peered with each other ("podToPod") ------------------------------- *
 *
 * A pod's traffic to another pod of the node goes through the hub, which
 * decrypts it and encrypts it again. Pods of a network with "podToPod" also
 * have each other as peers, allowed each other's host addresses (/32,
 * /128) at 127.0.0.1:PORT, where each pod interface's UDP socket is: those
 * more specific prefixes win over the hub's allowed IPs (0.0.0.0/0 by
 * default), so such traffic goes straight from one pod's device to the
 * other's.
 *
 * Only such pods have each other, and always both ways. A pod that had
 * another as a peer while the other reached it through the hub would drop
 * the replies: WireGuard accepts a decrypted packet only from the peer
 * its source address is allowed to, and that would be the direct peer,
 * not the hub. A pod without podToPod therefore keeps the hub as its only
 * peer, and talks to every pod through it.
 *
 * d->p2p lists these pods; it and their devices' pod peers change together
 * under d->hub_lock, and a pod leaves the list before its device goes, so
 * a device found there is alive. Between one device's change and the
 * other's (milliseconds), a handshake one of them sends may be dropped;
 * WireGuard sends it again 5 s later (REKEY_TIMEOUT).
 */

static struct hub_p2p *p2p_find(struct weftd *d, const char *name)
{
	for (size_t i = 0; i < d->np2p; ++i)
		if (!strcmp(d->p2p[i].rec.name, name))
			return &d->p2p[i];
	return NULL;
}

/* A pod's own device: ours, or its kernel interface opened where it is,
 * only if it is there (opening one that is gone would make a new one).
 * *opened: the caller closes it. */
static struct wgdev *p2p_dev(struct weftd *d, const struct hub_p2p *m, bool *opened, struct wgdev_err *werr)
{
	struct wgdev_opts opts = { .name = m->iface, .netns = m->netns, .backend = WGDEV_KERNEL,
				   .log_level = d->log_level };
	struct nl_link l;
	struct nl nl;
	int ns, ret = -ENOENT;

	*opened = false;
	if (m->dev)
		return m->dev;
	if ((ns = netns_open(m->netns)) >= 0 && !nl_open(&nl, NETLINK_ROUTE, ns)) {
		if (!nl_link_get(&nl, m->iface, 0, &l) && !strcmp(l.kind, "wireguard"))
			ret = 0;
		nl_close(&nl);
	}
	if (ns >= 0)
		close(ns);
	if (ret) {
		snprintf(werr->msg, sizeof(werr->msg), "%.300s has no WireGuard interface %s", m->netns, m->iface);
		return NULL;
	}
	*opened = true;
	return wgdev_open(&opts, werr);
}

/* A device's peer for r added to cfg: put in (or changed), or taken out. */
static void p2p_peer(struct wg_config *cfg, const struct peer_rec *r, bool remove)
{
	struct wg_config_peer *p = wg_config_add_peer(cfg);

	if (!p)
		return;
	memcpy(p->public_key, r->key, 32);
	if (remove) {
		p->flags = WG_PEER_REMOVE_ME;
		return;
	}
	p->flags = WG_PEER_REPLACE_ALLOWEDIPS;
	if (r->has_endpoint) {
		p->flags |= WG_PEER_HAS_ENDPOINT;
		memcpy(&p->endpoint, &r->endpoint, sizeof(p->endpoint));
	}
	for (size_t k = 0; k < r->nprefixes; ++k)
		wg_config_add_ip(p, r->prefixes[k].family, &r->prefixes[k].addr, r->prefixes[k].len);
}

/* cfg applied to member m's device: 0, or an error in werr. */
static int p2p_set(struct weftd *d, const struct hub_p2p *m, const struct wg_config *cfg, struct wgdev_err *werr)
{
	bool opened;
	struct wgdev *dev = p2p_dev(d, m, &opened, werr);
	int ret;

	if (!dev)
		return -ENODEV;
	ret = wgdev_set(dev, cfg, werr);
	if (opened)
		wgdev_close(dev);
	return ret;
}

/* The pod that is member `self` takes out of every other member's
 * device, or (put) into it; and its own device gets every other member.
 * With d->hub_lock held. */
static int p2p_sync(struct weftd *d, struct hub_p2p *self, bool put, struct wgdev_err *werr)
{
	struct wg_config *mine = wg_config_new(), *theirs = wg_config_new();
	int ret = mine && theirs ? 0 : -ENOMEM;

	if (!ret)
		p2p_peer(theirs, &self->rec, !put);
	for (size_t i = 0; !ret && i < d->np2p; ++i) {
		struct hub_p2p *m = &d->p2p[i];
		struct wgdev_err merr = { "", 0 };

		if (m == self)
			continue;
		if (put)
			p2p_peer(mine, &m->rec, false);
		/* One pod's device that cannot be changed (a kernel one gone
		 * with its namespace, which the sweep collects) must not keep
		 * the others from their peers. */
		if (p2p_set(d, m, theirs, &merr))
			weftd_log(d, WG_LOG_WARNING, "hub: pod %s cannot %s %s as a peer: %s", m->rec.name,
				  put ? "take" : "drop", self->rec.name, merr.msg);
	}
	if (!ret && put && mine->first_peer)
		ret = p2p_set(d, self, mine, werr);
	wg_config_free(mine);
	wg_config_free(theirs);
	return ret;
}

/* Pod a, on the hub as rec, joins the podToPod pods (or is changed). */
static int p2p_join(struct weftd *d, struct attachment *a, const struct peer_rec *rec, struct cni_error *err)
{
	struct wgdev_err werr = { "", 0 };
	struct hub_p2p *m, *grown;
	int ret;

	pthread_mutex_lock(&d->hub_lock);
	if (!(m = p2p_find(d, rec->name))) {
		if (!(grown = realloc(d->p2p, (d->np2p + 1) * sizeof(*grown)))) {
			pthread_mutex_unlock(&d->hub_lock);
			return cni_fail(err, CNI_ERR_IO, "out of memory", NULL);
		}
		d->p2p = grown;
		m = &d->p2p[d->np2p++];
		memset(m, 0, sizeof(*m));
	}
	peer_rec_clear(&m->rec);
	m->rec = *rec;
	if (!(m->rec.prefixes = calloc(rec->nprefixes ?: 1, sizeof(*rec->prefixes))))
		m->rec.nprefixes = 0;
	else
		memcpy(m->rec.prefixes, rec->prefixes, rec->nprefixes * sizeof(*rec->prefixes));
	m->rec.extra = NULL;
	snprintf(m->iface, sizeof(m->iface), "%s", a->iface);
	snprintf(m->netns, sizeof(m->netns), "%s", a->netns);
	m->dev = a->dev;
	ret = p2p_sync(d, m, true, &werr);
	pthread_mutex_unlock(&d->hub_lock);
	if (ret)
		return cni_fail(err, CNI_ERR_PLUGIN, "cannot give the container the other pods as peers (podToPod)", "%s",
				werr.msg[0] ? werr.msg : strerror(-ret));
	return 0;
}

/* Pod NAME leaves the podToPod pods: out of every other one's device. */
static void p2p_leave(struct weftd *d, const char *name)
{
	struct wgdev_err werr = { "", 0 };
	struct hub_p2p *m;

	pthread_mutex_lock(&d->hub_lock);
	if ((m = p2p_find(d, name))) {
		m->dev = NULL; /* its own device goes with it, unchanged */
		p2p_sync(d, m, false, &werr);
		peer_rec_clear(&m->rec);
		*m = d->p2p[--d->np2p];
	}
	pthread_mutex_unlock(&d->hub_lock);
}

void hub_p2p_free(struct weftd *d)
{
	pthread_mutex_lock(&d->hub_lock);
	for (size_t i = 0; i < d->np2p; ++i)
		peer_rec_clear(&d->p2p[i].rec);
	free(d->p2p);
	d->p2p = NULL;
	d->np2p = 0;
	pthread_mutex_unlock(&d->hub_lock);
}

static void key_name(const struct attachment *a, char *buf, size_t len)
{
	snprintf(buf, len, "%s@%s", a->id, a->ifname);
}

/* The hub's peer for a pod, put in or changed. */
static int pod_put(struct weftd *d, const char *name, const uint8_t key[32], const struct cni_wgcfg *link,
		   uint16_t port, struct cni_error *err)
{
	struct wgdev_err werr = { "", 0 };
	struct peer_rec r;
	int ret;

	if ((ret = pod_rec(&r, name, key, link, port)) || (ret = pods_change(d, name, &r, &werr)))
		return cni_fail(err, CNI_ERR_PLUGIN, "cannot add the container to the hub", "%s",
				werr.msg[0] ? werr.msg : strerror(-ret));
	return 0;
}

int hub_attach(struct weftd *d, struct attachment *a, json_t *config, json_t *result, struct cni_error *err)
{
	struct wgdev_opts opts = { .name = a->iface, .netns = a->handoff ? NULL : a->netns, .backend = d->backend, .load_module = true,
				   .offload = true, .log_level = d->log_level, .log = attach_log, .log_ctx = a };
	struct wgdev_err werr = { "", 0 };
	struct wg_config *cfg = NULL, *got = NULL;
	struct wg_config_peer *peer;
	struct ipam_lease lease;
	struct cni_wgcfg link = { .mtu = 1420 };
	uint8_t hubpriv[32], hubpub[32], podpub[32];
	char kname[300], buf[64], gwbuf[INET6_ADDRSTRLEN];
	json_t *allowed = json_object_get(config, "allowedIPs"), *mtu = json_object_get(config, "mtu");
	struct peer_rec rec;
	size_t i;
	int ret;

	/* weft-cni checked it is a boolean, and in mode hub. */
	a->pod_to_pod = json_is_true(json_object_get(config, "podToPod"));
	if (json_is_integer(mtu))
		link.mtu = (uint32_t)json_integer_value(mtu); /* weft-cni checked it */

	pthread_mutex_lock(&d->hub_lock);
	ret = hub_ensure(d, err);
	pthread_mutex_unlock(&d->hub_lock);
	if (ret)
		return ret;
	ret = ipam_alloc(&d->ipam, a->id, a->ifname, &lease);
	if (ret)
		return cni_fail(err, ret == -ENOSPC ? CNI_ERR_TRY_AGAIN : CNI_ERR_PLUGIN, "no address",
				ret == -ENOSPC ? "the pod subnet is full" : "%s", strerror(-ret));
	cfg = wg_config_new();
	key_name(a, kname, sizeof(kname));
	if (!cfg || node_key(d, kname, cfg->private_key, true) || node_key(d, "hub", hubpriv, true)) {
		ret = cni_fail(err, CNI_ERR_IO, "cannot make the container's key", "%s/keys", d->state_dir);
		goto fail;
	}
	x25519_public(hubpub, hubpriv);
	crypto_wipe(hubpriv, sizeof(hubpriv));

	/* The container's device: the hub its only peer. */
	cfg->flags = WG_DEV_HAS_PRIVATE_KEY | WG_DEV_REPLACE_PEERS;
	peer = wg_config_add_peer(cfg);
	memcpy(peer->public_key, hubpub, 32);
	/* A keepalive makes a new session as soon as the interface comes up
	 * again (Docker takes it down to move it into the container, which
	 * drops its session while the hub keeps its side of it). */
	peer->flags = WG_PEER_HAS_ENDPOINT | WG_PEER_REPLACE_ALLOWEDIPS | WG_PEER_HAS_PERSISTENT_KEEPALIVE;
	peer->persistent_keepalive = POD_KEEPALIVE;
	peer->endpoint.in4.sin_family = AF_INET;
	peer->endpoint.in4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	peer->endpoint.in4.sin_port = htons(d->hub_port);
	if (!json_is_array(allowed) || !json_array_size(allowed))
		allowed = NULL;
	for (i = 0; i < (allowed ? json_array_size(allowed) : 2); ++i) {
		const char *s = allowed ? json_string_value(json_array_get(allowed, i)) : (i ? "::/0" : "0.0.0.0/0");
		struct cni_prefix pp;

		if (!s || addr_parse_prefix(s, &pp.family, &pp.addr, &pp.len)) {
			ret = cni_fail(err, CNI_ERR_INVALID_CONFIG, "invalid network configuration",
				       "allowedIPs[%zu]: not a prefix (0.0.0.0/0, 10.0.0.0/8, ::/0)", i);
			goto fail;
		}
		wg_config_add_ip(peer, pp.family, &pp.addr, pp.len);
		/* A route only where the pod has an address: a namespace may
		 * have IPv6 off (Docker's, for an IPv4 network). */
		if (link.nroutes < CNI_MAX_ROUTES && lease.addr[pp.family == AF_INET6].family)
			link.routes[link.nroutes++].dst = pp;
	}
	for (int f = 0; f < 2; ++f) {
		if (!lease.addr[f].family)
			continue;
		link.addrs[link.naddrs].family = lease.addr[f].family;
		link.addrs[link.naddrs].addr.v6 = lease.addr[f].addr.v6;
		link.addrs[link.naddrs++].len = f ? 128 : 32;
	}

	/* The hub learns the container's key and addresses before the
	 * container's interface can send anything: an initiation the hub
	 * cannot place would be dropped, and retried only 5 s later. */
	x25519_public(podpub, cfg->private_key);
	if ((ret = pod_put(d, kname, podpub, &link, 0, err)))
		goto fail;

	a->dev = wgdev_open(&opts, &werr);
	if (!a->dev) {
		ret = cni_fail(err, CNI_ERR_PLUGIN, "cannot create the container's WireGuard interface", "%s", werr.msg);
		goto fail;
	}
	if (!wgdev_adopted(a->dev)) {
		cfg->flags |= WG_DEV_HAS_LISTEN_PORT; /* 0: any free port */
	} else if ((got = wgdev_get(a->dev, &werr))) {
		/* A kernel interface that outlived us: replacing its peers would
		 * drop the session with the hub, and the hub would go on sending
		 * on keys the container no longer has. Keep the hub's peer,
		 * remove any other. */
		cfg->flags &= ~WG_DEV_REPLACE_PEERS;
		for (struct wg_config_peer *p = got->first_peer; p; p = p->next) {
			struct wg_config_peer *rm;

			if (!memcmp(p->public_key, hubpub, 32) || !(rm = wg_config_add_peer(cfg)))
				continue;
			memcpy(rm->public_key, p->public_key, 32);
			rm->flags = WG_PEER_REMOVE_ME;
		}
		wg_config_free(got);
		got = NULL;
	}
	if (wgdev_set(a->dev, cfg, &werr)) {
		ret = cni_fail(err, CNI_ERR_PLUGIN, "cannot configure the container's interface", "%s", werr.msg);
		goto fail;
	}
	/* For Docker, Docker moves the interface and addresses it. */
	ret = a->handoff ? 0 : cni_wgcfg_apply_link(&link, a->netns, wgdev_ifindex(a->dev), err);
	if (ret)
		goto fail;
	/* Up, so its port is bound (both backends bind at up). */
	if (wgdev_up(a->dev, &werr) || !(got = wgdev_get(a->dev, &werr)) || !got->listen_port) {
		ret = cni_fail(err, CNI_ERR_PLUGIN, "cannot read the container's port", "%s",
			       got ? "the interface has no UDP port" : werr.msg);
		goto fail;
	}

	/* And then where to reach it, so the hub can start a session too. */
	if ((ret = pod_put(d, kname, podpub, &link, got->listen_port, err)))
		goto fail;
	if (result) {
		int idx = cni_result_add_interface(result, a->iface, NULL, a->netns, link.mtu);

		for (int f = 0; f < 2; ++f) {
			struct ipam_prefix host = lease.addr[f];

			if (!host.family)
				continue;
			host.len = f ? 128 : 32;
			inet_ntop(lease.gateway[f].family, &lease.gateway[f].addr, gwbuf, sizeof(gwbuf));
			cni_result_add_ip(result, ipam_prefix_str(&host, buf, sizeof(buf)), gwbuf, idx);
		}
		for (unsigned r = 0; r < link.nroutes; ++r)
			cni_result_add_route(result, cni_prefix_str(&link.routes[r].dst, buf, sizeof(buf)), NULL);
	}
	/* A kernel interface lives on without our handle. */
	if (wgdev_backend(a->dev) == WGDEV_KERNEL) {
		wgdev_close(a->dev);
		a->dev = NULL;
	}
	/* Last, once the hub has it: the other podToPod pods, both ways. */
	if (a->pod_to_pod) {
		if ((ret = pod_rec(&rec, kname, podpub, &link, got->listen_port))) {
			ret = cni_fail(err, CNI_ERR_IO, "out of memory", NULL);
			goto fail;
		}
		ret = p2p_join(d, a, &rec, err);
		peer_rec_clear(&rec);
		if (ret)
			goto fail;
	}
	wg_config_free(cfg);
	wg_config_free(got);
	return 0;
fail:
	wg_config_free(cfg);
	wg_config_free(got);
	if (result || a->handoff) {
		hub_detach(d, a); /* an ADD leaves nothing behind */
	} else {
		/* A rebuild keeps the key and the address for DEL to release. */
		p2p_leave(d, kname);
		wgdev_close(a->dev);
		a->dev = NULL;
	}
	return ret;
}

void hub_detach(struct weftd *d, struct attachment *a)
{
	char kname[300];
	uint8_t priv[32];
	struct wg_config *cfg;
	struct wgdev_err werr = { "", 0 };
	bool known;

	key_name(a, kname, sizeof(kname));
	/* Out of the other pods' devices before its own goes. */
	p2p_leave(d, kname);
	/* Out of the hub: out of its pods, or, for one the set does not know
	 * (its hub not up yet), off the device by its key all the same. */
	pthread_mutex_lock(&d->hub_lock);
	known = peer_set_find(&d->hub_pods, kname) != NULL;
	pthread_mutex_unlock(&d->hub_lock);
	if (known) {
		pods_change(d, kname, NULL, &werr);
	} else if (!node_key(d, kname, priv, false) && (cfg = wg_config_new())) {
		struct wg_config_peer *peer = wg_config_add_peer(cfg);

		pthread_mutex_lock(&d->hub_lock);
		if (peer && d->hub) {
			x25519_public(peer->public_key, priv);
			peer->flags = WG_PEER_REMOVE_ME;
			wgdev_set(d->hub, cfg, &werr);
		}
		pthread_mutex_unlock(&d->hub_lock);
		wg_config_free(cfg);
	}
	crypto_wipe(priv, sizeof(priv));
	/* The container's interface: ours to close, or the kernel's to delete. */
	if (a->dev) {
		wgdev_delete(a->dev);
		a->dev = NULL;
	} else if (!access(a->netns, F_OK)) {
		struct nl nl;
		struct nl_link l;
		int ns = netns_open(a->netns);

		if (ns >= 0 && !nl_open(&nl, NETLINK_ROUTE, ns)) {
			if (!nl_link_get(&nl, a->iface, 0, &l) && !strcmp(l.kind, "wireguard"))
				nl_link_del(&nl, l.ifindex);
			nl_close(&nl);
		}
		if (ns >= 0)
			close(ns);
	}
	/* A kernel interface Docker moved back out of the container, under
	 * the name weft gave it. */
	if (a->docker) {
		struct nl nl;
		struct nl_link l;

		if (!nl_open(&nl, NETLINK_ROUTE, -1)) {
			if (!nl_link_get(&nl, a->iface, 0, &l) && !strcmp(l.kind, "wireguard"))
				nl_link_del(&nl, l.ifindex);
			nl_close(&nl);
		}
	}
	if (d->ipam_open && !a->docker)
		ipam_release(&d->ipam, a->id, a->ifname);
	forget_key(d, kname);
}

/* A podToPod pod has every other one as a peer, at its port. */
static int p2p_check(struct weftd *d, const char *kname, struct cni_error *err)
{
	struct wgdev_err werr = { "", 0 };
	struct wg_config *cfg = NULL;
	struct hub_p2p *m;
	struct wgdev *dev = NULL;
	bool opened = false;
	int ret = 0;

	pthread_mutex_lock(&d->hub_lock);
	if (!(m = p2p_find(d, kname))) {
		ret = cni_fail(err, CNI_ERR_PLUGIN, "not peered with the other pods",
			       "%s has podToPod but is not among the hub's podToPod pods", kname);
	} else if (!(dev = p2p_dev(d, m, &opened, &werr)) || !(cfg = wgdev_get(dev, &werr))) {
		ret = cni_fail(err, CNI_ERR_PLUGIN, "cannot read the container's interface", "%s", werr.msg);
	}
	for (size_t i = 0; !ret && i < d->np2p; ++i) {
		struct wg_config_peer *p;

		if (&d->p2p[i] == m)
			continue;
		for (p = cfg->first_peer; p && memcmp(p->public_key, d->p2p[i].rec.key, 32); p = p->next)
			;
		if (!p || !p->endpoint.sa.sa_family)
			ret = cni_fail(err, CNI_ERR_PLUGIN, "a pod peer missing", "%s has %s for podToPod pod %s", kname,
				       p ? "no endpoint" : "no peer", d->p2p[i].rec.name);
	}
	if (opened)
		wgdev_close(dev);
	pthread_mutex_unlock(&d->hub_lock);
	if (cfg)
		crypto_wipe(cfg->private_key, sizeof(cfg->private_key));
	wg_config_free(cfg);
	return ret;
}

int hub_check(struct weftd *d, struct attachment *a, struct cni_error *err)
{
	char kname[300];
	uint8_t priv[32], pub[32];
	struct wg_config *cfg;
	struct wgdev_err werr = { "", 0 };
	bool found = false;
	int ret;

	key_name(a, kname, sizeof(kname));
	if ((ret = node_key(d, kname, priv, false)))
		return cni_fail(err, CNI_ERR_PLUGIN, "key missing", "%s/keys/%s.key: %s", d->state_dir, kname,
				strerror(-ret));
	x25519_public(pub, priv);
	crypto_wipe(priv, sizeof(priv));
	pthread_mutex_lock(&d->hub_lock);
	cfg = d->hub ? wgdev_get(d->hub, &werr) : NULL;
	pthread_mutex_unlock(&d->hub_lock);
	if (!cfg && !werr.msg[0])
		return cni_fail(err, CNI_ERR_PLUGIN, "no hub", "the node's hub %s is not up", d->hub_name);
	if (!cfg)
		return cni_fail(err, CNI_ERR_PLUGIN, "cannot read the hub", "%s", werr.msg);
	for (struct wg_config_peer *p = cfg->first_peer; p; p = p->next)
		if (!memcmp(p->public_key, pub, 32))
			found = true;
	wg_config_free(cfg);
	if (!found)
		return cni_fail(err, CNI_ERR_PLUGIN, "not on the hub", "the hub %s has no peer for %s/%s", d->hub_name,
				a->id, a->ifname);
	return a->pod_to_pod ? p2p_check(d, kname, err) : 0;
}

struct wg_config *hub_p2p_get(struct weftd *d, const char *id, const char *ifname)
{
	struct wgdev_err werr = { "", 0 };
	struct wg_config *cfg = NULL;
	struct hub_p2p *m;
	struct wgdev *dev;
	char kname[300];
	bool opened;

	snprintf(kname, sizeof(kname), "%s@%s", id, ifname);
	if ((m = p2p_find(d, kname)) && (dev = p2p_dev(d, m, &opened, &werr))) {
		cfg = wgdev_get(dev, &werr);
		if (opened)
			wgdev_close(dev);
	}
	if (cfg)
		crypto_wipe(cfg->private_key, sizeof(cfg->private_key));
	return cfg;
}
