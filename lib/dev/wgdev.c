// SPDX-License-Identifier: MIT
#include "wgdev.h"

#include <errno.h>
#include <sodium.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/netns.h"
#include "io/uapi_server.h"
#include "io/uwg.h"
#include "nl/nl.h"
#include "nl/wgnl.h"
#include "wg/uapi.h"

struct wgdev {
	enum wgdev_backend backend;
	char name[IF_NAMESIZE];
	int ifindex;
	bool adopted;
	int ns_fd; /* the interface's namespace, -1: ours */

	/* kernel */
	struct nl rt;   /* rtnetlink where the interface is */
	struct nl genl; /* generic netlink where the interface is */

	/* userspace */
	struct uwg *uwg;
	struct uapi_server *uapi;
	bool hosted; /* by another process, driven over its UAPI socket */
};

__attribute__((format(printf, 2, 3))) static void say(struct wgdev_err *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
}

const char *wgdev_backend_name(enum wgdev_backend b)
{
	return b == WGDEV_KERNEL ? "kernel" : b == WGDEV_USERSPACE ? "userspace" : "auto";
}

int wgdev_backend_parse(const char *s)
{
	if (!strcmp(s, "auto"))
		return WGDEV_AUTO;
	if (!strcmp(s, "kernel"))
		return WGDEV_KERNEL;
	if (!strcmp(s, "userspace"))
		return WGDEV_USERSPACE;
	return -1;
}

static void handle_free(struct wgdev *d)
{
	if (d->rt.sock)
		nl_close(&d->rt);
	if (d->genl.sock)
		nl_close(&d->genl);
	if (d->ns_fd >= 0)
		close(d->ns_fd);
	free(d);
}

/* "modprobe wireguard", for kernels that have the module but not loaded. */
static int load_module(void)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -errno;
	if (!pid) {
		int null = open("/dev/null", O_RDWR);

		if (null >= 0) {
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
		}
		execlp("modprobe", "modprobe", "wireguard", (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -ENOENT;
}

/* Makes a kernel WireGuard interface: created here, so its UDP socket is
 * here, then moved where it should live. One bound elsewhere is made under
 * a name of its own here and renamed on the way: the name it will have
 * (a container's eth0) is often taken here by another interface. */
static int kernel_create(struct wgdev *d, const struct wgdev_opts *opts, char *why, size_t whylen)
{
	const char *name = opts->name;
	char tmp[IF_NAMESIZE];
	struct nl here;
	struct nl_link l;
	int ret;

	if (d->ns_fd >= 0) {
		snprintf(tmp, sizeof(tmp), "wgnew%08x", randombytes_random());
		name = tmp;
	}
	ret = nl_open(&here, NETLINK_ROUTE, -1);
	if (ret) {
		snprintf(why, whylen, "cannot open rtnetlink: %s", strerror(-ret));
		return ret;
	}
	ret = nl_link_add(&here, &(struct nl_link_spec){ .name = name, .kind = "wireguard", .ns_fd = -1,
							 .peer_ns_fd = -1 });
	if (ret == -EOPNOTSUPP && opts->load_module && !load_module())
		ret = nl_link_add(&here, &(struct nl_link_spec){ .name = name, .kind = "wireguard", .ns_fd = -1,
								 .peer_ns_fd = -1 });
	if (ret) {
		if (ret == -EOPNOTSUPP)
			snprintf(why, whylen,
				 "this kernel has no WireGuard (\"Unknown device type\"%s); load the module with "
				 "\"modprobe wireguard\" or use a kernel built with CONFIG_WIREGUARD",
				 opts->load_module ? ", and modprobe could not load it" : "");
		else if (ret == -EEXIST)
			snprintf(why, whylen, "an interface named %s exists in this namespace", name);
		else
			snprintf(why, whylen, "creating the link failed: %s%s%.120s", strerror(-ret), here.err[0] ? ": " : "",
				 here.err);
		nl_close(&here);
		return ret;
	}
	ret = nl_link_get(&here, name, 0, &l);
	if (!ret && d->ns_fd >= 0 && (ret = nl_link_move(&here, l.ifindex, d->ns_fd, opts->name))) {
		snprintf(why, whylen, "moving %s into namespace %s failed: %s%s", opts->name, opts->netns, strerror(-ret),
			 ret == -EEXIST ? " (an interface of that name is there)" : "");
		nl_link_del(&here, l.ifindex);
	}
	nl_close(&here);
	if (ret)
		return ret;
	ret = nl_link_get(&d->rt, opts->name, 0, &l);
	if (ret) {
		snprintf(why, whylen, "the new interface cannot be found: %s", strerror(-ret));
		return ret;
	}
	d->ifindex = l.ifindex;
	return 0;
}

static int userspace_create(struct wgdev *d, const struct wgdev_opts *opts, char *why, size_t whylen)
{
	struct uwg_opts uo = {
		.ifname = opts->name,
		.tun_netns_fd = d->ns_fd,
		.offload = opts->offload,
		.log_level = opts->log_level ? opts->log_level : WG_LOG_ERROR,
		.log = opts->log,
		.log_ctx = opts->log_ctx,
	};
	char path[108];
	int lfd;

	d->uwg = uwg_create(&uo);
	if (!d->uwg) {
		int err = errno;

		snprintf(why, whylen, "creating TUN interface %s failed: %s%s", opts->name, strerror(err),
			 err == ENOENT ? " (is /dev/net/tun there? \"modprobe tun\")" :
			 err == EPERM ? " (needs CAP_NET_ADMIN)" : "");
		return -err;
	}
	if (opts->uapi) {
		lfd = uapi_listen(NULL, opts->name, path);
		if (lfd < 0 || !(d->uapi = uapi_server_start(lfd, path, uwg_device(d->uwg), opts->log, opts->log_ctx))) {
			snprintf(why, whylen, "cannot serve %s/%s.sock: %s", UAPI_SOCKET_DIR, opts->name,
				 strerror(lfd < 0 ? -lfd : ENOMEM));
			if (lfd >= 0)
				close(lfd);
			uwg_free(d->uwg);
			d->uwg = NULL;
			return lfd < 0 ? lfd : -ENOMEM;
		}
	}
	if (uwg_start(d->uwg)) {
		snprintf(why, whylen, "cannot start the device's threads");
		uapi_server_stop(d->uapi);
		uwg_free(d->uwg);
		d->uwg = NULL;
		d->uapi = NULL;
		return -EAGAIN;
	}
	d->ifindex = uwg_ifindex(d->uwg);
	return 0;
}

/* --- a device hosted by another process (weft-wg, or wireguard-go) ------- */

enum { HOSTED_TIMEOUT_MS = 5000 };

/* Reads a hosted device's configuration and state; 0 or a negative errno. */
static int hosted_get(const char *name, struct wg_config **out, char *why, size_t whylen)
{
	struct buf reply = { 0 };
	struct uapi_set s;
	size_t at = 0;
	int ret;

	*out = NULL;
	ret = uapi_call(NULL, name, "get=1\n\n", 7, &reply, HOSTED_TIMEOUT_MS);
	if (ret) {
		snprintf(why, whylen, "nobody answers on %s/%s.sock: %s", UAPI_SOCKET_DIR, name, strerror(-ret));
		buf_free(&reply);
		return ret;
	}
	if (uapi_get_begin(&s)) {
		buf_free(&reply);
		return -ENOMEM;
	}
	while (at < reply.len) {
		char *nl = memchr(reply.data + at, '\n', reply.len - at);
		size_t n = nl ? (size_t)(nl - (reply.data + at)) : reply.len - at;

		uapi_set_line(&s, reply.data + at, n);
		at += n + 1;
	}
	*out = uapi_set_end(&s);
	buf_free(&reply); /* wipes the private key's copy */
	if (!*out) {
		snprintf(why, whylen, "the reply from %s/%s.sock: %s", UAPI_SOCKET_DIR, name, s.msg);
		return s.error ?: -EPROTO;
	}
	return 0;
}

/* Starts "HOST NAME", which returns once the interface and its socket
 * exist and leaves the daemon behind, then brings the interface up and
 * waits for its first port. */
static int hosted_create(struct wgdev *d, const struct wgdev_opts *opts, char *why, size_t whylen)
{
	struct wg_config *cfg = NULL;
	struct nl_link l;
	sigset_t none;
	pid_t pid;
	int status, ret;

	if (d->ns_fd >= 0) {
		snprintf(why, whylen, "a hosted device lives in the caller's namespace");
		return -EINVAL;
	}
	pid = fork();
	if (pid < 0) {
		ret = -errno;
		snprintf(why, whylen, "cannot start %s: %s", opts->host, strerror(-ret));
		return ret;
	}
	if (!pid) {
		/* The daemon outlives us: it must hold none of our descriptors
		 * (sockets, ports) and block none of the signals that end it. */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		close_range(3, ~0U, 0);
		execl(opts->host, opts->host, opts->name, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			ret = -errno;
			snprintf(why, whylen, "cannot wait for %s: %s", opts->host, strerror(-ret));
			return ret;
		}
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		snprintf(why, whylen, "%s %s %s %d (its reason is in this program's log)", opts->host, opts->name,
			 WIFEXITED(status) ? "exited with status" : "was killed by signal",
			 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		return WIFEXITED(status) && WEXITSTATUS(status) == 127 ? -ENOENT : -EIO;
	}
	if ((ret = nl_link_get(&d->rt, opts->name, 0, &l)) || (ret = nl_link_set_up(&d->rt, l.ifindex, true))) {
		snprintf(why, whylen, "the interface %s that %s made cannot be brought up: %s", opts->name, opts->host,
			 strerror(-ret));
		goto undo;
	}
	d->ifindex = l.ifindex;
	/* Up means bound: the port it picked shows once it has seen the link up. */
	for (int waited = 0;; waited += 20) {
		ret = hosted_get(opts->name, &cfg, why, whylen);
		if (ret || cfg->listen_port || waited >= HOSTED_TIMEOUT_MS)
			break;
		wg_config_free(cfg);
		cfg = NULL;
		usleep(20 * 1000);
	}
	if (!ret && !cfg->listen_port) {
		snprintf(why, whylen, "%s %s did not bind a UDP port within %d s of coming up", opts->host, opts->name,
			 HOSTED_TIMEOUT_MS / 1000);
		ret = -ETIMEDOUT;
	}
	wg_config_free(cfg);
	if (!ret)
		return 0;
undo:
	/* Its daemon goes with the interface. */
	if (!nl_link_get(&d->rt, opts->name, 0, &l))
		nl_link_del(&d->rt, l.ifindex);
	return ret;
}

static int hosted_set(struct wgdev *d, const struct wg_config *cfg, struct wgdev_err *err)
{
	struct buf req = { 0 }, reply = { 0 };
	int ret = buf_printf(&req, "set=1\n") || uapi_format_set(&req, cfg) || buf_printf(&req, "\n") ? -ENOMEM : 0;
	long e;

	/* The answer is "errno=0", or a negative errno as wireguard-go gives it. */
	if (!ret)
		ret = uapi_call(NULL, d->name, req.data, req.len, &reply, HOSTED_TIMEOUT_MS);
	buf_free(&req); /* wipes the keys in it */
	if (ret) {
		say(err, "cannot configure %s over %s/%s.sock: %s", d->name, UAPI_SOCKET_DIR, d->name, strerror(-ret));
	} else if (reply.len < 8 || memcmp(reply.data, "errno=", 6) || (e = labs(strtol(reply.data + 6, NULL, 10))) > 4095) {
		say(err, "the device %s answered a set with \"%.40s\", not errno=N", d->name, reply.data ?: "");
		ret = -EPROTO;
	} else if (e) {
		ret = (int)-e;
		say(err, "the userspace device %s refused the configuration: %s%s; nothing was changed", d->name,
		    strerror((int)e), e == EADDRINUSE ? " (the UDP port is in use: choose another, or 0)" : "");
	}
	if (ret && err)
		err->error = -ret;
	buf_free(&reply);
	return ret;
}

struct wgdev *wgdev_open(const struct wgdev_opts *opts, struct wgdev_err *err)
{
	struct wgdev *d;
	struct nl_link existing;
	char kwhy[200] = "", uwhy[200] = "";
	int ret;

	if (!opts->name || !*opts->name || strlen(opts->name) >= IF_NAMESIZE || strchr(opts->name, '/')) {
		say(err, "\"%s\" is not a valid interface name (1 to 15 characters, no '/')", opts->name ? opts->name : "");
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		say(err, "out of memory");
		return NULL;
	}
	d->ns_fd = -1;
	snprintf(d->name, sizeof(d->name), "%s", opts->name);
	if (opts->netns && (d->ns_fd = netns_open(opts->netns)) < 0) {
		say(err, "cannot open network namespace %s: %s", opts->netns, strerror(-d->ns_fd));
		d->ns_fd = -1;
		goto fail;
	}
	ret = nl_open(&d->rt, NETLINK_ROUTE, d->ns_fd);
	if (!ret)
		ret = nl_open(&d->genl, NETLINK_GENERIC, d->ns_fd);
	if (ret) {
		say(err, "cannot open netlink%s%s: %s", opts->netns ? " in " : "", opts->netns ? opts->netns : "",
		    strerror(-ret));
		goto fail;
	}

	/* Adopt what is there: a restart must not cost the interface, its
	 * keys, or the routes that point at it. */
	ret = nl_link_get(&d->rt, opts->name, 0, &existing);
	if (!ret) {
		if (!strcmp(existing.kind, "wireguard") && opts->backend != WGDEV_USERSPACE) {
			d->backend = WGDEV_KERNEL;
			d->ifindex = existing.ifindex;
			d->adopted = true;
			return d;
		}
		if (!strcmp(existing.kind, "tun") && opts->host && opts->backend != WGDEV_KERNEL && d->ns_fd < 0) {
			struct wg_config *cfg;

			ret = hosted_get(opts->name, &cfg, uwhy, sizeof(uwhy));
			wg_config_free(cfg);
			if (!ret) {
				d->backend = WGDEV_USERSPACE;
				d->hosted = true;
				d->ifindex = existing.ifindex;
				d->adopted = true;
				return d;
			}
			say(err, "an interface named %s already exists (kind \"tun\") and is not a WireGuard device that "
				 "can be adopted (%s); delete it or choose another name", opts->name, uwhy);
			goto fail;
		}
		say(err,
		    "an interface named %s already exists (kind \"%s\")%s; delete it or choose another name",
		    opts->name, existing.kind[0] ? existing.kind : "unknown",
		    !strcmp(existing.kind, "tun") ? ", probably another userspace WireGuard process's" : "");
		goto fail;
	}

	if (opts->backend != WGDEV_USERSPACE) {
		ret = kernel_create(d, opts, kwhy, sizeof(kwhy));
		if (!ret) {
			d->backend = WGDEV_KERNEL;
			return d;
		}
		if (opts->backend == WGDEV_KERNEL) {
			say(err, "cannot create kernel WireGuard interface %s: %s; or use the userspace backend", opts->name,
			    kwhy);
			if (err)
				err->error = -ret;
			goto fail;
		}
	}
	ret = opts->host ? hosted_create(d, opts, uwhy, sizeof(uwhy)) : userspace_create(d, opts, uwhy, sizeof(uwhy));
	if (!ret) {
		d->backend = WGDEV_USERSPACE;
		d->hosted = opts->host;
		return d;
	}
	if (opts->backend == WGDEV_AUTO)
		say(err, "cannot create WireGuard interface %s: the kernel backend failed (%s) and the userspace one too (%s)",
		    opts->name, kwhy, uwhy);
	else
		say(err, "cannot create userspace WireGuard interface %s: %s", opts->name, uwhy);
fail:
	handle_free(d);
	return NULL;
}

/* What wg_device_set checks for userspace, checked for the kernel too,
 * before anything is sent. */
static int validate(const struct wg_config *cfg, struct wgdev_err *err)
{
	for (const struct wg_config_peer *p = cfg->first_peer; p; p = p->next) {
		if (p->flags & WG_PEER_HAS_ENDPOINT && p->endpoint.sa.sa_family != AF_INET &&
		    p->endpoint.sa.sa_family != AF_INET6) {
			say(err, "a peer's endpoint has address family %d: only IPv4 and IPv6 work",
			    p->endpoint.sa.sa_family);
			return -EINVAL;
		}
		for (const struct wg_config_ip *ip = p->first_ip; ip; ip = ip->next)
			if ((ip->family != AF_INET || ip->cidr > 32) && (ip->family != AF_INET6 || ip->cidr > 128)) {
				say(err, "an allowed IP has family %d and prefix length %u: not a valid prefix",
				    ip->family, ip->cidr);
				return -EINVAL;
			}
	}
	return 0;
}

/* Undoes a kernel set that failed after changing something: the
 * configuration read before goes back in whole. */
static void kernel_restore(struct wgdev *d, struct wg_config *before)
{
	struct wg_config_peer *p;

	before->flags |= WG_DEV_REPLACE_PEERS | WG_DEV_HAS_PRIVATE_KEY | WG_DEV_HAS_LISTEN_PORT | WG_DEV_HAS_FWMARK;
	for (p = before->first_peer; p; p = p->next)
		p->flags |= WG_PEER_REPLACE_ALLOWEDIPS | WG_PEER_HAS_PRESHARED_KEY | WG_PEER_HAS_PERSISTENT_KEEPALIVE;
	wgnl_set(&d->genl, d->name, before, NULL);
}

static int kernel_set(struct wgdev *d, const struct wg_config *cfg, struct wgdev_err *err)
{
	struct wg_config *before = NULL, port_only = { 0 }, rest;
	unsigned sent = 0;
	int ret;

	ret = wgnl_get(&d->genl, d->name, &before);
	if (ret) {
		say(err, "cannot read kernel WireGuard interface %s: %s", d->name, strerror(-ret));
		return ret;
	}
	/* The listen port is the one thing that can be refused from outside
	 * (in use). The kernel applies a message's device attributes before
	 * its peers, so the port goes alone, first: if it fails, nothing else
	 * has changed. */
	if (cfg->flags & WG_DEV_HAS_LISTEN_PORT &&
	    (!(before->flags & WG_DEV_HAS_LISTEN_PORT) || before->listen_port != cfg->listen_port)) {
		port_only.flags = WG_DEV_HAS_LISTEN_PORT;
		port_only.listen_port = cfg->listen_port;
		ret = wgnl_set(&d->genl, d->name, &port_only, NULL);
		if (ret) {
			say(err, "cannot use UDP port %u: %s%s", cfg->listen_port, strerror(-ret),
			    ret == -EADDRINUSE ? "; choose another port, or 0 for any free one" : "");
			goto out;
		}
	}
	rest = *cfg;
	rest.flags &= ~(uint32_t)WG_DEV_HAS_LISTEN_PORT;
	ret = wgnl_set(&d->genl, d->name, &rest, &sent);
	if (ret) {
		say(err, "kernel WireGuard refused the configuration of %s: %s%s%s; nothing was changed", d->name,
		    strerror(-ret), d->genl.err[0] ? ": " : "", d->genl.err);
		kernel_restore(d, before);
	}
out:
	wg_config_free(before);
	return ret;
}

int wgdev_set(struct wgdev *d, const struct wg_config *cfg, struct wgdev_err *err)
{
	int ret = validate(cfg, err);

	if (ret)
		return ret;
	if (d->backend == WGDEV_KERNEL)
		return kernel_set(d, cfg, err);
	if (d->hosted)
		return hosted_set(d, cfg, err);
	ret = wg_device_set(uwg_device(d->uwg), cfg);
	if (ret)
		say(err, "the userspace device %s refused the configuration: %s%s; nothing was changed", d->name,
		    strerror(-ret), ret == -EADDRINUSE ? " (the UDP port is in use: choose another, or 0)" : "");
	return ret;
}

struct wg_config *wgdev_get(struct wgdev *d, struct wgdev_err *err)
{
	struct wg_config *cfg = NULL;
	int ret;

	if (d->backend == WGDEV_KERNEL) {
		ret = wgnl_get(&d->genl, d->name, &cfg);
		if (ret)
			say(err, "cannot read kernel WireGuard interface %s: %s", d->name, strerror(-ret));
	} else if (d->hosted) {
		char why[300];

		if (hosted_get(d->name, &cfg, why, sizeof(why)))
			say(err, "cannot read %s: %s", d->name, why);
	} else {
		cfg = wg_device_get(uwg_device(d->uwg));
		if (!cfg)
			say(err, "out of memory reading %s", d->name);
	}
	if (cfg) {
		snprintf(cfg->name, sizeof(cfg->name), "%s", d->name);
		cfg->ifindex = (uint32_t)d->ifindex;
	}
	return cfg;
}

int wgdev_up(struct wgdev *d, struct wgdev_err *err)
{
	int ret = nl_link_set_up(&d->rt, d->ifindex, true);

	if (ret) {
		say(err, "cannot bring %s up: %s", d->name, strerror(-ret));
		if (err)
			err->error = -ret;
		return ret;
	}
	/* The kernel binds its socket as the link comes up. Ours would when
	 * the link monitor sees it; do it now, so the port is known on return. */
	if (d->backend == WGDEV_USERSPACE && !d->hosted && (ret = wg_device_up(uwg_device(d->uwg)))) {
		say(err, "cannot bind %s's UDP port: %s", d->name, strerror(-ret));
		if (err)
			err->error = -ret;
		return ret;
	}
	return 0;
}

int wgdev_delete(struct wgdev *d)
{
	int ret = 0;

	if (!d)
		return 0;
	/* A hosted device's daemon ends when its interface goes. */
	if (d->backend == WGDEV_KERNEL || d->hosted)
		ret = nl_link_del(&d->rt, d->ifindex);
	wgdev_close(d);
	return ret;
}

void wgdev_close(struct wgdev *d)
{
	if (!d)
		return;
	uapi_server_stop(d->uapi);
	uwg_free(d->uwg); /* the TUN goes with its last descriptor */
	handle_free(d);
}

enum wgdev_backend wgdev_backend(const struct wgdev *d)
{
	return d->backend;
}

int wgdev_ifindex(const struct wgdev *d)
{
	return d->ifindex;
}

const char *wgdev_name(const struct wgdev *d)
{
	return d->name;
}

bool wgdev_adopted(const struct wgdev *d)
{
	return d->adopted;
}

bool wgdev_hosted(const struct wgdev *d)
{
	return d->hosted;
}

struct wg_device *wgdev_core(struct wgdev *d)
{
	return d->uwg ? uwg_device(d->uwg) : NULL;
}
