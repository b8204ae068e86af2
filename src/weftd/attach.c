// SPDX-License-Identifier: MIT
/*
 * Attachments: one per (container ID, interface name), as CNI counts them.
 * Each is a state file (mode 0600: it may hold a key) and, for devices we
 * host, a live userspace WireGuard device.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cni/wgcfg.h"
#include "crypto/crypto.h"
#include "util/netns.h"
#include "nl/nl.h"
#include "util/file.h"
#include "weftd.h"

static void state_path(struct weftd *d, const char *id, const char *ifname, char *buf, size_t len)
{
	snprintf(buf, len, "%s/attachments/%s@%s.json", d->state_dir, id, ifname);
}

static struct attachment *find(struct weftd *d, const char *id, const char *ifname)
{
	struct list *pos;

	list_for_each(pos, &d->attachments) {
		struct attachment *a = list_entry(pos, struct attachment, link);

		if (!strcmp(a->id, id) && !strcmp(a->ifname, ifname))
			return a;
	}
	return NULL;
}

static int save(struct weftd *d, const struct attachment *a, json_t *config)
{
	char path[700], *text;
	json_t *st = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:O, s:b, s:I}", "containerID", a->id, "ifname",
			       a->ifname, "interface", a->iface, "netns", a->netns, "mode", cni_mode_name(a->mode), "owner",
			       cni_owner_json(&a->owner), "config", config, "docker", a->docker, "since",
			       (json_int_t)a->since);
	int ret;

	if (!st)
		return -ENOMEM;
	json_object_del(json_object_get(st, "config"), "prevResult");
	state_path(d, a->id, a->ifname, path, sizeof(path));
	text = json_dumps(st, JSON_COMPACT);
	ret = text ? file_replace(path, text, strlen(text), 0600) : -ENOMEM;
	crypto_free_string(text); /* a static config may hold a private key */
	json_decref(st);
	return ret;
}


/* Undoes an attachment: its interfaces, addresses, key and record. Runs
 * outside d->lock, on a busy attachment. */
static void teardown(struct weftd *d, struct attachment *a)
{
	char path[700];

	if (a->mode == CNI_MODE_HUB)
		hub_detach(d, a);
	wgdev_close(a->dev); /* a hosted TUN goes with it */
	a->dev = NULL;
	if (a->mode == CNI_MODE_MESH)
		mesh_down(d, a);
	state_path(d, a->id, a->ifname, path, sizeof(path));
	unlink(path);
}

/* Waits until no operation holds (id, ifname), and returns its attachment
 * if there is one. Called, and returns, with d->lock held. */
static struct attachment *claim(struct weftd *d, const char *id, const char *ifname)
{
	struct attachment *a;

	while ((a = find(d, id, ifname)) && a->busy)
		pthread_cond_wait(&d->changed, &d->lock);
	return a;
}

/* Ends an operation on a: it stays, or goes (and is freed). */
static void finish(struct weftd *d, struct attachment *a, bool gone)
{
	pthread_mutex_lock(&d->lock);
	a->busy = false;
	if (gone)
		list_del(&a->link);
	pthread_cond_broadcast(&d->changed);
	pthread_mutex_unlock(&d->lock);
	if (gone)
		free(a);
}

void attach_log(void *ctx, enum wg_log_level level, const char *msg)
{
	const struct attachment *a = ctx;
	char who[80];

	snprintf(who, sizeof(who), "%.12s/%s", a->id, a->ifname);
	weftd_log_device(level, who, msg);
}

/* Static mode on userspace WireGuard: the device lives in this process,
 * its TUN in the container, its socket in the node's namespace. */
static int static_up(struct weftd *d, struct attachment *a, json_t *config, json_t *result, struct cni_error *err)
{
	struct cni_wgcfg c = { .mtu = 1420 };
	struct wgdev_opts opts = {
		.name = a->iface,
		.netns = a->netns,
		.backend = WGDEV_USERSPACE,
		.offload = true,
		.log_level = d->log_level,
		.log = attach_log,
		.log_ctx = a,
	};
	struct wgdev_err werr = { "", 0 };
	json_t *mtu = json_object_get(config, "mtu");
	int ret;

	if (json_is_integer(mtu))
		c.mtu = (uint32_t)json_integer_value(mtu);
	ret = cni_wgcfg_parse(&c, config, err);
	if (ret)
		goto out;
	a->dev = wgdev_open(&opts, &werr);
	if (!a->dev) {
		ret = cni_fail(err, CNI_ERR_PLUGIN, "cannot create the WireGuard interface", "%s", werr.msg);
		goto out;
	}
	if (wgdev_set(a->dev, c.wg, &werr)) {
		ret = cni_fail(err, CNI_ERR_PLUGIN, "cannot configure the WireGuard interface", "%s", werr.msg);
		goto out;
	}
	ret = cni_wgcfg_apply_link(&c, a->netns, wgdev_ifindex(a->dev), err);
	if (!ret && result)
		cni_wgcfg_result(&c, result, a->iface, a->netns);
out:
	if (ret) {
		wgdev_close(a->dev);
		a->dev = NULL;
	}
	cni_wgcfg_free(&c);
	return ret;
}

static bool ifname_ok(const char *s)
{
	return s && *s && strlen(s) < IF_NAMESIZE && !strchr(s, '/') && strcmp(s, ".") && strcmp(s, "..");
}

static int fields(json_t *req, const char **id, const char **ifname, const char **netns, struct cni_error *err)
{
	*id = json_string_value(json_object_get(req, "containerID"));
	*ifname = json_string_value(json_object_get(req, "ifname"));
	*netns = json_string_value(json_object_get(req, "netns"));
	if (!*id || !**id || strchr(*id, '/') || !ifname_ok(*ifname) || strlen(*id) >= 256)
		return cni_fail(err, CNI_ERR_INVALID_ENV, "invalid attachment",
				"containerID and ifname are required (no '/', ifname under 16 characters)");
	return 0;
}

/* The interface's name in the container: "interface", else ifname (a
 * record written before chains had their own). */
static int dev_name(json_t *obj, const char *ifname, char out[IF_NAMESIZE], struct cni_error *err)
{
	json_t *v = json_object_get(obj, "interface");

	if (v && !ifname_ok(json_string_value(v)))
		return cni_fail(err, CNI_ERR_INVALID_CONFIG, "invalid attachment",
				"interface: not an interface name (1 to 15 characters, no '/')");
	snprintf(out, IF_NAMESIZE, "%s", v ? json_string_value(v) : ifname);
	return 0;
}

/* The namespace an attachment was made in is gone, or is not the one at
 * its path any more: a runtime made the container's namespace afresh and
 * ADDs again without a DEL (Nomad does, after a failed CHECK). */
static bool replaced(const struct attachment *old, const struct attachment *a)
{
	struct stat st;

	if (stat(old->netns, &st))
		return true;
	return strcmp(old->netns, a->netns) || (old->ns_ino && (st.st_ino != old->ns_ino || st.st_dev != old->ns_dev));
}

/*
 * Makes a (filled in, not yet listed) as CNI's ADD or Docker's Join asks,
 * and saves its record; a result, if given, is extended. On failure
 * nothing is left and a is freed.
 */
static int attach_make(struct weftd *d, struct attachment *a, json_t *config, json_t *result, struct cni_error *err)
{
	struct attachment *old = NULL;
	struct stat st;
	bool direct, replaced_direct = false;
	int ret;

	if (!a->handoff && !stat(a->netns, &st)) {
		a->ns_ino = st.st_ino;
		a->ns_dev = st.st_dev;
	}
	a->since = (int64_t)time(NULL);
	pthread_mutex_lock(&d->lock);
	while (!d->stopping && (old = claim(d, a->id, a->ifname)) && !a->docker && replaced(old, a)) {
		old->busy = true;
		pthread_mutex_unlock(&d->lock);
		weftd_log(d, WG_LOG_VERBOSE, "%s/%s: ADD in another namespace (%s), replacing it", old->id, old->ifname,
			  a->netns);
		replaced_direct |= old->no_masq;
		teardown(d, old);
		finish(d, old, true);
		pthread_mutex_lock(&d->lock);
	}
	if (d->stopping || old) {
		bool stopping = d->stopping;

		pthread_mutex_unlock(&d->lock);
		ret = stopping ? cni_fail(err, CNI_ERR_TRY_AGAIN, "the agent is stopping", "try again when it is back")
			       : cni_fail(err, CNI_ERR_PLUGIN, "already attached", "container %s already has %s: DEL it first",
					  a->id, a->ifname);
		free(a);
		return ret;
	}
	a->busy = true;
	list_add_tail(&a->link, &d->attachments);
	pthread_mutex_unlock(&d->lock);

	ret = a->mode == CNI_MODE_MESH ? mesh_up(d, a, config, result, err)
	      : a->mode == CNI_MODE_HUB ? hub_attach(d, a, config, result, err)
					: static_up(d, a, config, result, err);
	a->handoff = false; /* from here on, Docker's to move */
	if (!ret && (ret = save(d, a, config))) {
		ret = cni_fail(err, CNI_ERR_IO, "cannot save the agent's state", "%s/attachments: %s", d->state_dir,
			       strerror(-ret));
		teardown(d, a); /* all of it, as if never added */
	}
	if (ret) {
		finish(d, a, true);
		return ret;
	}
	weftd_log(d, WG_LOG_VERBOSE, "attached %s/%s (%s)", a->id, a->ifname, cni_mode_name(a->mode));
	direct = a->no_masq || replaced_direct;
	finish(d, a, false);
	if (direct)
		masq_update(d); /* its address is never masqueraded, or no longer */
	return 0;
}

int attach_add(struct weftd *d, json_t *req, json_t **result, struct cni_error *err)
{
	const char *id, *ifname, *netns, *mode = json_string_value(json_object_get(req, "mode"));
	json_t *config = json_object_get(req, "config");
	struct attachment *a;
	enum cni_mode kind;
	int ret;

	if ((ret = fields(req, &id, &ifname, &netns, err)))
		return ret;
	if (!netns || !*netns || access(netns, F_OK))
		return cni_fail(err, CNI_ERR_UNKNOWN_CONTAINER, "container unknown", "network namespace %s does not exist",
				netns ? netns : "(none)");
	if (!json_is_object(config))
		return cni_fail(err, CNI_ERR_INVALID_CONFIG, "invalid network configuration", "no configuration");
	if (cni_mode_parse(mode, &kind))
		return cni_fail(err, CNI_ERR_INVALID_CONFIG, "invalid network configuration",
				"mode \"%s\" is not served by this agent yet", mode ? mode : "(none)");
	a = calloc(1, sizeof(*a));
	if (!a)
		return cni_fail(err, CNI_ERR_IO, "out of memory", NULL);
	snprintf(a->id, sizeof(a->id), "%s", id);
	snprintf(a->ifname, sizeof(a->ifname), "%s", ifname);
	snprintf(a->netns, sizeof(a->netns), "%s", netns);
	a->mode = kind;
	snprintf(a->network, sizeof(a->network), "%s", json_string_value(json_object_get(config, "name")) ?: "");
	cni_owner_from_json(json_object_get(req, "owner"), &a->owner);
	a->no_masq = json_is_false(json_object_get(config, "ipMasq"));
	if ((ret = dev_name(req, ifname, a->iface, err))) {
		free(a);
		return ret;
	}
	*result = cni_result_new(json_object_get(config, "prevResult"), err);
	if (!*result) {
		free(a);
		return err->code;
	}
	ret = attach_make(d, a, config, *result, err);
	if (ret) {
		json_decref(*result);
		*result = NULL;
	}
	return ret;
}

int attach_docker(struct weftd *d, const char *id, const char *netns, const char *network, enum cni_mode mode,
		  unsigned mtu, const char *src, struct cni_error *err)
{
	struct attachment *a = calloc(1, sizeof(*a));
	json_t *config;
	int ret;

	if (!a)
		return cni_fail(err, CNI_ERR_IO, "out of memory", NULL);
	snprintf(a->id, sizeof(a->id), "%s", id);
	snprintf(a->ifname, sizeof(a->ifname), "%s", ATTACH_DOCKER_IFNAME);
	snprintf(a->iface, sizeof(a->iface), "%s", src);
	snprintf(a->netns, sizeof(a->netns), "%s", netns);
	a->mode = mode;
	snprintf(a->network, sizeof(a->network), "%s", network);
	a->docker = a->handoff = true;
	/* What its record keeps, in the shape of a CNI configuration. */
	config = json_pack("{s:s, s:s, s:s, s:s}", "cniVersion", CNI_VERSION_LATEST, "name", network, "type", "weft",
			   "mode", cni_mode_name(mode));
	if (config && mtu)
		json_object_set_new(config, "mtu", json_integer(mtu));
	ret = config ? attach_make(d, a, config, NULL, err) : (free(a), cni_fail(err, CNI_ERR_IO, "out of memory", NULL));
	json_decref(config);
	return ret;
}

int attach_remove(struct weftd *d, const char *id, const char *ifname, struct cni_error *err)
{
	struct attachment *a;
	char path[700];
	bool direct;

	pthread_mutex_lock(&d->lock);
	if (d->stopping) {
		/* What is left now stays for the next run: DEL it then. */
		pthread_mutex_unlock(&d->lock);
		return cni_fail(err, CNI_ERR_TRY_AGAIN, "the agent is stopping", "try again when it is back");
	}
	a = claim(d, id, ifname);
	if (!a) {
		/* Gone already: DEL succeeds. A stale file goes too. */
		state_path(d, id, ifname, path, sizeof(path));
		unlink(path);
		pthread_mutex_unlock(&d->lock);
		return 0;
	}
	a->busy = true;
	pthread_mutex_unlock(&d->lock);
	weftd_log(d, WG_LOG_VERBOSE, "detaching %s/%s", a->id, a->ifname);
	direct = a->no_masq;
	teardown(d, a);
	finish(d, a, true);
	if (direct)
		masq_update(d); /* its address may go next to a pod that is masqueraded */
	return 0;
}

int attach_del(struct weftd *d, json_t *req, struct cni_error *err)
{
	const char *id, *ifname, *netns;
	int ret;

	if ((ret = fields(req, &id, &ifname, &netns, err)))
		return ret;
	return attach_remove(d, id, ifname, err);
}

/* The container's side as we made it: the link there and up, of the
 * expected kind, holding its addresses from the pod subnet. */
static int check_link(struct weftd *d, struct attachment *a, struct cni_error *err)
{
	struct ipam_lease lease;
	struct nl_link l;
	struct nl nl;
	char buf[64];
	int ns, ret = 0;
	bool mesh = a->mode == CNI_MODE_MESH;

	ns = netns_open(a->netns);
	if (ns < 0)
		return cni_fail(err, CNI_ERR_UNKNOWN_CONTAINER, "container gone", "%s does not exist", a->netns);
	if (nl_open(&nl, NETLINK_ROUTE, ns)) {
		close(ns);
		return cni_fail(err, CNI_ERR_IO, "cannot open netlink in the container", "%s", a->netns);
	}
	if (nl_link_get(&nl, a->iface, 0, &l)) {
		ret = cni_fail(err, CNI_ERR_PLUGIN, "interface missing", "%s has no %s", a->netns, a->iface);
	} else if (mesh ? strcmp(l.kind, "veth") : strcmp(l.kind, "wireguard") && strcmp(l.kind, "tun")) {
		ret = cni_fail(err, CNI_ERR_PLUGIN, "interface of the wrong kind", "%s in %s is %s, not %s", a->iface,
			       a->netns, l.kind[0] ? l.kind : "unknown", mesh ? "veth" : "WireGuard");
	} else if (!(l.flags & IFF_UP)) {
		ret = cni_fail(err, CNI_ERR_PLUGIN, "interface down", "%s in %s is down", a->iface, a->netns);
	} else if (a->mode != CNI_MODE_STATIC && d->ipam_open && !ipam_find(&d->ipam, a->id, a->ifname, &lease)) {
		for (int f = 0; f < 2 && !ret; ++f) {
			struct ipam_prefix host = lease.addr[f];

			if (!host.family)
				continue;
			host.len = f ? 128 : 32;
			if (nl_addr_has(&nl, l.ifindex, host.family, &host.addr, host.len) != 1)
				ret = cni_fail(err, CNI_ERR_PLUGIN, "address missing", "%s in %s lacks %s", a->iface,
					       a->netns, ipam_prefix_str(&host, buf, sizeof(buf)));
		}
	}
	nl_close(&nl);
	close(ns);
	return ret;
}

int attach_check(struct weftd *d, json_t *req, struct cni_error *err)
{
	const char *id, *ifname, *netns;
	struct attachment *a;
	bool stopping;
	int ret;

	if ((ret = fields(req, &id, &ifname, &netns, err)))
		return ret;
	pthread_mutex_lock(&d->lock);
	stopping = d->stopping;
	a = stopping ? NULL : claim(d, id, ifname);
	if (a)
		a->busy = true;
	pthread_mutex_unlock(&d->lock);
	if (stopping)
		return cni_fail(err, CNI_ERR_TRY_AGAIN, "the agent is stopping", "try again when it is back");
	if (!a)
		return cni_fail(err, CNI_ERR_PLUGIN, "not attached", "the agent has no %s for container %s", ifname, id);
	ret = check_link(d, a, err);
	if (!ret && a->mode == CNI_MODE_HUB)
		ret = hub_check(d, a, err);
	finish(d, a, false);
	return ret;
}

/* Tears down, side by side with other requests, the attachments a sweep
 * or a GC picked (marked busy under the lock), then drops them. */
static void collect(struct weftd *d, struct attachment **picked, size_t n)
{
	bool direct = false;

	for (size_t i = 0; i < n; ++i) {
		direct |= picked[i]->no_masq;
		teardown(d, picked[i]);
		finish(d, picked[i], true);
	}
	free(picked);
	if (direct)
		masq_update(d); /* their addresses may go next to pods that are masqueraded */
}

/* Picks the idle attachments for which keep() says no; with d->lock held. */
static size_t pick(struct weftd *d, bool (*keep)(struct attachment *a, void *ctx), void *ctx,
		   struct attachment ***out)
{
	struct list *pos;
	size_t n = 0, cap = 0;

	*out = NULL;
	list_for_each(pos, &d->attachments) {
		struct attachment *a = list_entry(pos, struct attachment, link), **grown;

		if (a->busy || keep(a, ctx))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			if (!(grown = realloc(*out, cap * sizeof(*grown))))
				break; /* the rest waits for the next round */
			*out = grown;
		}
		a->busy = true;
		(*out)[n++] = a;
	}
	return n;
}

struct gc_ctx {
	struct weftd *d;
	const char *network;
	json_t *valid;
};

static bool gc_keep(struct attachment *a, void *ctx)
{
	struct gc_ctx *gc = ctx;
	json_t *v;
	size_t i;

	if (strcmp(a->network, gc->network))
		return true; /* another network's */
	json_array_foreach(gc->valid, i, v) {
		const char *id = json_string_value(json_object_get(v, "containerID"));
		const char *ifname = json_string_value(json_object_get(v, "ifname"));

		if (id && ifname && !strcmp(id, a->id) && !strcmp(ifname, a->ifname))
			return true;
	}
	weftd_log(gc->d, WG_LOG_VERBOSE, "GC: %s/%s is not among the valid attachments", a->id, a->ifname);
	return false;
}

int attach_gc(struct weftd *d, json_t *req, struct cni_error *err)
{
	json_t *config = json_object_get(req, "config");
	struct gc_ctx gc = { d, json_string_value(json_object_get(config, "name")), NULL };
	struct attachment **picked;
	size_t n;

	/* The runtime lists what is valid in this network; newer libcni
	 * sends the key under both its names. */
	gc.valid = json_object_get(config, "cni.dev/valid-attachments");
	if (!gc.valid)
		gc.valid = json_object_get(config, "cni.dev/attachments");
	if (!gc.network || !json_is_array(gc.valid))
		return cni_fail(err, CNI_ERR_INVALID_CONFIG, "invalid GC request",
				"GC needs the network's name and cni.dev/valid-attachments");
	pthread_mutex_lock(&d->lock);
	n = pick(d, gc_keep, &gc, &picked);
	pthread_mutex_unlock(&d->lock);
	collect(d, picked, n);
	return 0;
}

/* Docker calls Join before the container's namespace exists (its prestart
 * hook makes it): give it time before calling the container gone. */
enum { DOCKER_START_GRACE = 60 };

static bool starting(const struct attachment *a)
{
	return a->docker && (int64_t)time(NULL) - a->since < DOCKER_START_GRACE;
}

static bool sweep_keep(struct attachment *a, void *ctx)
{
	if (!access(a->netns, F_OK) || starting(a))
		return true;
	weftd_log(ctx, WG_LOG_VERBOSE, "%s/%s: its namespace %s is gone, collecting it", a->id, a->ifname, a->netns);
	return false;
}

void attach_sweep(struct weftd *d)
{
	struct attachment **picked;
	size_t n;

	pthread_mutex_lock(&d->lock);
	n = pick(d, sweep_keep, d, &picked);
	pthread_mutex_unlock(&d->lock);
	collect(d, picked, n);
}

/*
 * A Docker hub pod after a restart. Docker named its interface ethN in the
 * container. A kernel interface outlived us: one of kind wireguard is
 * there (1). A userspace one died with us: it is made again under the
 * first free ethN (0, name set), which is the one it left.
 */
static int docker_hub_find(struct attachment *a, char name[IF_NAMESIZE])
{
	struct nl_link l;
	struct nl nl;
	int ns = netns_open(a->netns), ret = -ENOENT;

	if (ns < 0 || nl_open(&nl, NETLINK_ROUTE, ns)) {
		if (ns >= 0)
			close(ns);
		return -ENOENT;
	}
	for (int i = 0; i < 64 && ret == -ENOENT; ++i) {
		snprintf(name, IF_NAMESIZE, "eth%d", i);
		if (nl_link_get(&nl, name, 0, &l))
			ret = 0;
		else if (!strcmp(l.kind, "wireguard"))
			ret = 1;
	}
	nl_close(&nl);
	close(ns);
	return ret;
}

void attach_restore(struct weftd *d)
{
	char dir[500], path[800];
	struct dirent *de;
	DIR *dp;

	snprintf(dir, sizeof(dir), "%s/attachments", d->state_dir);
	dp = opendir(dir);
	if (!dp)
		return;
	while ((de = readdir(dp))) {
		struct cni_error err;
		struct attachment *a;
		struct stat nst;
		json_t *st;
		const char *id, *ifname, *netns, *mode;
		enum cni_mode kind;
		size_t n = strlen(de->d_name);

		if (n < 6 || strcmp(de->d_name + n - 5, ".json"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		st = json_load_file(path, 0, NULL);
		id = json_string_value(json_object_get(st, "containerID"));
		ifname = json_string_value(json_object_get(st, "ifname"));
		netns = json_string_value(json_object_get(st, "netns"));
		mode = json_string_value(json_object_get(st, "mode"));
		if (!id || !ifname || !netns || cni_mode_parse(mode, &kind) || strlen(ifname) >= IF_NAMESIZE) {
			weftd_log(d, WG_LOG_ERROR, "%s: not an attachment record, left alone", path);
			json_decref(st);
			continue;
		}
		a = calloc(1, sizeof(*a));
		snprintf(a->id, sizeof(a->id), "%s", id);
		snprintf(a->ifname, sizeof(a->ifname), "%s", ifname);
		snprintf(a->netns, sizeof(a->netns), "%s", netns);
		a->mode = kind;
		snprintf(a->network, sizeof(a->network), "%s",
			 json_string_value(json_object_get(json_object_get(st, "config"), "name")) ?: "");
		cni_owner_from_json(json_object_get(st, "owner"), &a->owner);
		a->no_masq = json_is_false(json_object_get(json_object_get(st, "config"), "ipMasq"));
		a->docker = json_is_true(json_object_get(st, "docker"));
		a->since = json_integer_value(json_object_get(st, "since"));
		if (dev_name(st, ifname, a->iface, &err)) {
			weftd_log(d, WG_LOG_ERROR, "%s: %s, left alone", path, err.details);
			json_decref(st);
			free(a);
			continue;
		}
		if (!stat(netns, &nst)) {
			a->ns_ino = nst.st_ino;
			a->ns_dev = nst.st_dev;
		}
		if (access(netns, F_OK) && starting(a)) {
			/* Docker has not started the container yet. */
			list_add_tail(&a->link, &d->attachments);
		} else if (access(netns, F_OK)) {
			/* The container went while we were away: whatever it
			 * held (addresses, the node's veth end) goes too. */
			weftd_log(d, WG_LOG_VERBOSE, "%s/%s: its namespace is gone, dropping it", id, ifname);
			if (a->mode == CNI_MODE_MESH)
				mesh_down(d, a);
			if (a->mode == CNI_MODE_HUB)
				hub_detach(d, a);
			unlink(path);
			free(a);
		} else if (a->mode == CNI_MODE_MESH || (a->docker && docker_hub_find(a, a->iface))) {
			/* The veth and its routes are the kernel's: they outlived
			 * us; so did a kernel WireGuard interface. */
			list_add_tail(&a->link, &d->attachments);
		} else {
			/* Same key, same address (IPAM finds them), a new device
			 * if ours died with us, and for hub the hub's peer again.
			 * One that cannot be rebuilt stays known, without its
			 * device: CHECK reports it, DEL releases what it holds. */
			int ret = a->mode == CNI_MODE_HUB ? hub_attach(d, a, json_object_get(st, "config"), NULL, &err)
							  : static_up(d, a, json_object_get(st, "config"), NULL, &err);

			if (ret)
				weftd_log(d, WG_LOG_ERROR, "cannot rebuild %s/%s: %s: %s", id, ifname, err.msg, err.details);
			else
				weftd_log(d, WG_LOG_VERBOSE, "rebuilt %s/%s", id, ifname);
			list_add_tail(&a->link, &d->attachments);
		}
		json_decref(st);
	}
	closedir(dp);
}

void attach_free_all(struct weftd *d)
{
	struct list *pos;
	bool busy;

	pthread_mutex_lock(&d->lock);
	d->stopping = true;
	do {
		busy = false;
		list_for_each(pos, &d->attachments)
			busy |= list_entry(pos, struct attachment, link)->busy;
		if (busy)
			pthread_cond_wait(&d->changed, &d->lock);
	} while (busy);
	hub_p2p_free(d); /* it points at the devices closed below */
	while (!list_empty(&d->attachments)) {
		struct attachment *a = list_entry(d->attachments.next, struct attachment, link);

		/* The devices end with us; their records stay for the next run. */
		wgdev_close(a->dev);
		list_del(&a->link);
		free(a);
	}
	pthread_mutex_unlock(&d->lock);
}
