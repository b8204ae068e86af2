// SPDX-License-Identifier: MIT
/*
 * weftd: the node agent. Serves weft-cni over a UNIX socket only root may
 * use, hosts the userspace WireGuard devices of containers (so a short-lived
 * plugin never has to keep one alive), and keeps its state in a directory
 * that survives restarts.
 *
 *   weftd [--config FILE] [--state-dir DIR] [--socket PATH] [--pod-subnet CIDR]
 *         [--pod-subnet6 CIDR] [--backend auto|kernel|userspace] [--hub-name NAME]
 *         [--hub-port PORT] [--log-level error|warning|info|verbose] [--docker-plugin]
 *         [--no-ip-masq] ...
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "agent/agent.h"
#include "agent/config.h"
#include "crypto/crypto.h"
#include "weftd.h"

enum { REQUEST_TIMEOUT_MS = 30000, SWEEP_SECONDS = 10 };

const char *weftd_level_name(enum wg_log_level level)
{
	switch (level) {
	case WG_LOG_ERROR:
		return "ERROR";
	case WG_LOG_WARNING:
		return "WARNING";
	case WG_LOG_INFO:
		return "INFO";
	case WG_LOG_VERBOSE:
		break;
	}
	return "DEBUG";
}

/* "LEVEL: (who) YYYY/MM/DD HH:MM:SS ", with stdout locked. */
static void log_begin(enum wg_log_level level, const char *who)
{
	char when[32];
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y/%m/%d %H:%M:%S", &tm);
	flockfile(stdout);
	printf("%s: (%s) %s ", weftd_level_name(level), who, when);
}

static void log_end(void)
{
	putchar('\n');
	funlockfile(stdout);
}

void weftd_log(struct weftd *d, enum wg_log_level level, const char *fmt, ...)
{
	va_list ap;

	if ((int)level > (int)d->log_level)
		return;
	log_begin(level, "weftd");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	log_end();
}

void weftd_log_device(enum wg_log_level level, const char *who, const char *msg)
{
	log_begin(level, who);
	fputs(msg, stdout);
	log_end();
}

struct conn {
	struct weftd *d;
	int fd;
};

static json_t *reply_error(const struct cni_error *err)
{
	return json_pack("{s:b, s:i, s:s, s:s}", "ok", 0, "code", err->code, "msg", err->msg, "details", err->details);
}

static json_t *dispatch(struct weftd *d, json_t *req)
{
	const char *op = json_string_value(json_object_get(req, "op"));
	struct cni_error err = { 0, "", "" };
	json_t *result = NULL, *reply;
	int ret;

	if (!op)
		op = "";
	if (!strcmp(op, "show"))
		return weftd_show(d);
	if (!strcmp(op, "add"))
		ret = attach_add(d, req, &result, &err);
	else if (!strcmp(op, "del"))
		ret = attach_del(d, req, &err);
	else if (!strcmp(op, "check"))
		ret = attach_check(d, req, &err);
	else if (!strcmp(op, "gc"))
		ret = attach_gc(d, req, &err);
	else if (!strcmp(op, "status"))
		ret = 0;
	else
		ret = cni_fail(&err, CNI_ERR_INVALID_CONFIG, "unknown agent operation", "\"%.20s\"", op);
	if (ret)
		return reply_error(&err);
	reply = json_pack("{s:b}", "ok", 1);
	if (result)
		json_object_set_new(reply, "result", result);
	return reply;
}

static void *serve(void *arg)
{
	struct conn *c = arg;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	json_t *req = NULL, *reply;

	/* Only root: the socket is 0600, and we ask the kernel who it is. The
	 * request of a caller refused is still read (and dropped): closing on
	 * it unread could cut the caller off before it reads why. */
	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) || cred.uid != 0) {
		struct cni_error err;

		json_decref(agent_read(c->fd, REQUEST_TIMEOUT_MS));
		cni_fail(&err, CNI_ERR_INVALID_ENV, "permission denied", "only root may use the node agent");
		reply = reply_error(&err);
	} else if (!(req = agent_read(c->fd, REQUEST_TIMEOUT_MS))) {
		struct cni_error err;

		cni_fail(&err, CNI_ERR_DECODE, "cannot read the request", "%s", strerror(errno));
		reply = reply_error(&err);
	} else {
		reply = dispatch(c->d, req);
	}
	agent_write(c->fd, reply);
	json_decref(req);
	json_decref(reply);
	close(c->fd);
	free(c);
	return NULL;
}

static int listen_socket(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	char dir[sizeof(addr.sun_path)], *slash;
	mode_t old;
	int fd;

	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	strcpy(addr.sun_path, path);
	strcpy(dir, path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) && errno != EEXIST)
			return -errno;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(path); /* a stale socket of an earlier run */
	old = umask(0177); /* 0600: root's alone */
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) || listen(fd, 64)) {
		int err = -errno;

		umask(old);
		close(fd);
		return err;
	}
	umask(old);
	return fd;
}

static void usage(void)
{
	fprintf(stderr, "usage: weftd [--config FILE] [--state-dir DIR] [--socket PATH] [--pod-subnet CIDR]\n"
			"             [--pod-subnet6 CIDR] [--backend auto|kernel|userspace] [--hub-name NAME]\n"
			"             [--hub-port PORT] [--log-level error|warning|info|verbose]\n"
			"             [--manager URL[,URL] --endpoint ADDR[:PORT] [--manager-ca FILE]\n"
			"              [--join-token-file FILE] [--node-name NAME]] [--metrics-listen ADDR:PORT]\n"
			"             [--gateway [--gateway-device NAME] [--gateway-port PORT]]\n"
			"             [--docker-plugin [--docker-socket /run/docker/plugins/NAME.sock]]\n"
			"             [--ip-masq | --no-ip-masq]\n"
			"Settings come from FILE (default " AGENT_CONFIG_DEFAULT ", if it exists), then from flags.\n");
}

/* The file's settings first, then the flags over them. */
static int settings(struct agent_config *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "state-dir", required_argument, NULL, 0 },   { "socket", required_argument, NULL, 0 },
		{ "pod-subnet", required_argument, NULL, 0 },  { "pod-subnet6", required_argument, NULL, 0 },
		{ "backend", required_argument, NULL, 0 },     { "log-level", required_argument, NULL, 0 },
		{ "hub-name", required_argument, NULL, 0 },    { "hub-port", required_argument, NULL, 0 },
		{ "manager", required_argument, NULL, 0 },     { "manager-ca", required_argument, NULL, 0 },
		{ "join-token-file", required_argument, NULL, 0 }, { "node-name", required_argument, NULL, 0 },
		{ "endpoint", required_argument, NULL, 0 },   { "metrics-listen", required_argument, NULL, 0 },
		{ "gateway", optional_argument, NULL, 0 },    { "gateway-device", required_argument, NULL, 0 },
		{ "gateway-port", required_argument, NULL, 0 },
		{ "docker-plugin", optional_argument, NULL, 0 }, { "docker-socket", required_argument, NULL, 0 },
		{ "ip-masq", optional_argument, NULL, 0 },     { "no-ip-masq", no_argument, NULL, 'm' },
		{ "config", required_argument, NULL, 'c' },    { "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *file = NULL;
	char err[600];
	int opt, idx;

	agent_config_defaults(c);
	while ((opt = getopt_long(argc, argv, "h", longopts, &idx)) != -1) {
		if (opt == 'c')
			file = optarg;
		else if (opt && opt != 'm') {
			usage();
			return opt == 'h' ? 0 : 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "weftd: unexpected argument \"%s\"\n", argv[optind]);
		usage();
		return 2;
	}
	if (!file && !access(AGENT_CONFIG_DEFAULT, F_OK))
		file = AGENT_CONFIG_DEFAULT;
	if (file && agent_config_load(c, file, err, sizeof(err))) {
		fprintf(stderr, "weftd: %s\n", err);
		return 2;
	}
	optind = 0;
	while ((opt = getopt_long(argc, argv, "h", longopts, &idx)) != -1) {
		/* --no-ip-masq is --ip-masq=false. */
		if (opt == 'm' && agent_config_set(c, "ip-masq", "false", err, sizeof(err))) {
			fprintf(stderr, "weftd: --%s\n", err);
			return 2;
		}
		if (opt == 0 && agent_config_set(c, longopts[idx].name, optarg ?: "true", err, sizeof(err))) {
			fprintf(stderr, "weftd: --%s\n", err);
			return 2;
		}
	}
	if (agent_config_check(c, err, sizeof(err))) {
		fprintf(stderr, "weftd: %s\n", err);
		return 2;
	}
	return -1;
}

int main(int argc, char **argv)
{
	struct weftd d = { 0 };
	struct agent_config conf;
	char path[600], err[1000];
	int lfd, sfd, ret;
	sigset_t mask;

	crypto_wipe_json_frees(); /* before any JSON: it carries secrets */
	if ((ret = settings(&conf, argc, argv)) >= 0)
		return ret;
	snprintf(d.state_dir, sizeof(d.state_dir), "%s", conf.state_dir);
	snprintf(d.socket_path, sizeof(d.socket_path), "%s", conf.socket_path);
	snprintf(d.pod_subnet, sizeof(d.pod_subnet), "%s", conf.pod_subnet);
	snprintf(d.pod_subnet6, sizeof(d.pod_subnet6), "%s", conf.pod_subnet6);
	snprintf(d.hub_name, sizeof(d.hub_name), "%s", conf.hub_name);
	d.hub_port = conf.hub_port;
	d.backend = (enum wgdev_backend)conf.backend;
	d.log_level = (enum wg_log_level)conf.log_level;
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (crypto_init()) {
		fprintf(stderr, "weftd: the crypto libraries failed to initialize\n");
		return 1;
	}
	pthread_mutex_init(&d.lock, NULL);
	pthread_mutex_init(&d.hub_lock, NULL);
	pthread_mutex_init(&d.masq.lock, NULL);
	d.masq.enabled = conf.ip_masq;
	pthread_cond_init(&d.changed, NULL);
	list_init(&d.attachments);
	umask(0077);
	snprintf(path, sizeof(path), "%s/keys", d.state_dir);
	mkdir(d.state_dir, 0700);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/attachments", d.state_dir);
	if ((mkdir(d.state_dir, 0700) && errno != EEXIST) || (mkdir(path, 0700) && errno != EEXIST)) {
		fprintf(stderr, "weftd: cannot create state directory %s: %s\n", path, strerror(errno));
		return 1;
	}
	/* In a cluster, the manager gives the pod subnets. */
	if (member_start(&d, &conf, err, sizeof(err))) {
		fprintf(stderr, "weftd: %s\n", err);
		member_stop(&d);
		return 1;
	}
	if (d.pod_subnet[0] || d.pod_subnet6[0]) {
		snprintf(path, sizeof(path), "%s/ipam", d.state_dir);
		if (ipam_open(&d.ipam, path, d.pod_subnet, d.pod_subnet6, err, sizeof(err))) {
			fprintf(stderr, "weftd: %s\n", err);
			return 1;
		}
		d.ipam_open = true;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);

	/* Rebuild first, then take requests. */
	attach_restore(&d);
	if (member_run(&d, err, sizeof(err)) || gateway_start(&d, &conf, err, sizeof(err)) ||
	    metrics_start(&d, conf.metrics_listen, err, sizeof(err)) || docker_start(&d, &conf, err, sizeof(err))) {
		fprintf(stderr, "weftd: %s\n", err);
		metrics_stop(&d);
		gateway_stop(&d);
		member_stop(&d);
		attach_free_all(&d);
		return 1;
	}
	/* The pod subnets, the nodes we knew and the other clusters are known
	 * by now: pods' egress, before the first request. */
	masq_start(&d);
	lfd = listen_socket(d.socket_path);
	if (lfd < 0) {
		fprintf(stderr, "weftd: cannot listen on %s: %s\n", d.socket_path, strerror(-lfd));
		attach_free_all(&d);
		return 1;
	}
	weftd_log(&d, WG_LOG_INFO, "serving on %s, state in %s", d.socket_path, d.state_dir);
	/* systemd's Type=notify (deploy/systemd/weftd.service): ready once
	 * weft-cni can be answered; nothing without $NOTIFY_SOCKET. */
	sd_notifyf(0, "READY=1\nSTATUS=serving on %s", d.socket_path);
	for (;;) {
		struct pollfd pfd[2] = { { .fd = lfd, .events = POLLIN }, { .fd = sfd, .events = POLLIN } };
		int n = poll(pfd, 2, SWEEP_SECONDS * 1000);

		if (n < 0 && errno != EINTR)
			break;
		if (pfd[1].revents)
			break;
		if (pfd[0].revents) {
			struct conn *c = malloc(sizeof(*c));
			pthread_t t;
			pthread_attr_t attr;

			if (!c)
				continue;
			c->d = &d;
			c->fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
			if (c->fd < 0) {
				free(c);
				continue;
			}
			pthread_attr_init(&attr);
			pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
			if (pthread_create(&t, &attr, serve, c)) {
				close(c->fd);
				free(c);
			}
			pthread_attr_destroy(&attr);
		}
		if (!n) {
			attach_sweep(&d);
			hub_note(&d);
		}
	}
	weftd_log(&d, WG_LOG_INFO, "shutting down");
	sd_notify(0, "STOPPING=1");
	close(lfd);
	unlink(d.socket_path);
	docker_stop(&d);
	metrics_stop(&d);
	gateway_stop(&d);
	member_stop(&d);
	masq_stop(&d); /* the table stays: pods keep their egress meanwhile */
	attach_free_all(&d);
	hub_note(&d);
	pthread_mutex_lock(&d.hub_lock);
	wgdev_close(d.hub); /* a kernel hub stays, adopted at the next start */
	d.hub = NULL;
	peer_set_clear(&d.hub_pods);
	pthread_mutex_unlock(&d.hub_lock);
	if (d.ipam_open)
		ipam_close(&d.ipam);
	return 0;
}
