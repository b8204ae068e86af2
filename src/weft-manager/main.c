// SPDX-License-Identifier: MIT
/*
 * weft-manager: the cluster's control plane. Hands each node a subnet of
 * the cluster CIDRs, keeps the nodes' public keys and endpoints, and tells
 * every agent about the others (docs/manager.md).
 *
 *   weft-manager [--state-dir DIR] [--store URL] [--listen ADDR:PORT]
 *                [--cluster-cidr CIDR]... [--node-cidr-mask-size-ipv4 N]
 *                [--node-cidr-mask-size-ipv6 N] [--node-lease SECONDS]
 *                [--subnet-reuse-after SECONDS] [--tls-san NAMES]
 *                [--tls-cert F --tls-key F | --tls-ca-cert F --tls-ca-key F]
 *                [--log-level error|warning|info|verbose] [--role cluster|broker]
 *
 * With --role broker it is the broker that clusters join through
 * (docs/clusters.md): the same API, with clusters for nodes.
 */
#include "manager.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "crypto/crypto.h"
#include "util/addr.h"

enum { EXPIRE_EVERY = 30 };

void manager_logl(struct manager *m, enum manager_level level, const char *fmt, ...)
{
	static const char *const names[] = { [LOG_ERROR] = "ERROR", [LOG_WARNING] = "WARNING", [LOG_INFO] = "INFO",
					     [LOG_VERBOSE] = "DEBUG" };
	char when[32];
	time_t now = time(NULL);
	struct tm tm;
	va_list ap;

	if ((int)level > (m->log_level ?: LOG_INFO))
		return;
	localtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y/%m/%d %H:%M:%S", &tm);
	flockfile(stdout);
	printf("%s: (weft-manager) %s ", names[level], when);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	funlockfile(stdout);
}

static void usage(void)
{
	fprintf(stderr,
		"Usage: weft-manager [options]\n"
		"  --state-dir DIR                 CA, tokens, the SQLite store (/var/lib/weft-manager)\n"
		"  --store URL                     sqlite:PATH (default STATE/manager.db) or etcd:URL[,URL...]\n"
		"  --listen ADDR:PORT              the HTTPS API ([::]:7443)\n"
		"  --cluster-cidr CIDR             IPv4 and/or IPv6, once each (10.244.0.0/16, fd00:244::/48)\n"
		"  --node-cidr-mask-size-ipv4 N    each node's IPv4 subnet (24)\n"
		"  --node-cidr-mask-size-ipv6 N    each node's IPv6 subnet (64)\n"
		"  --node-lease SECONDS            remove nodes silent this long; 0: never (86400)\n"
		"  --subnet-reuse-after SECONDS    a released subnet rests this long (3600)\n"
		"  --gateway-lease SECONDS         a gateway lease lasts this long unless renewed: failover\n"
		"                                  takes about this plus 1 s (2 to 60; 4)\n"
		"  --tls-san NAMES                 more names for the certificate: DNS:name,IP:addr\n"
		"  --tls-cert F --tls-key F        use this certificate as is\n"
		"  --tls-ca-cert F --tls-ca-key F  sign our certificate with this CA (several managers)\n"
		"  --log-level error|warning|info|verbose\n"
		"  --role cluster|broker           a cluster's manager, or the broker clusters join (cluster)\n");
}

static int number(const char *opt, const char *s, uint64_t max, int64_t *out)
{
	uint64_t v;

	if (addr_parse_u64(s, max, &v)) {
		fprintf(stderr, "weft-manager: --%s \"%s\": give a whole number from 0 to %llu\n", opt, s,
			(unsigned long long)max);
		return -1;
	}
	*out = (int64_t)v;
	return 0;
}

static int copy(char *dst, size_t size, const char *opt, const char *val)
{
	if (strlen(val) >= size) {
		fprintf(stderr, "weft-manager: --%s: longer than %zu characters\n", opt, size - 1);
		return -1;
	}
	memcpy(dst, val, strlen(val) + 1);
	return 0;
}

static int settings(struct manager *m, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "state-dir", required_argument, NULL, 0 },
		{ "store", required_argument, NULL, 0 },
		{ "listen", required_argument, NULL, 0 },
		{ "cluster-cidr", required_argument, NULL, 0 },
		{ "node-cidr-mask-size-ipv4", required_argument, NULL, 0 },
		{ "node-cidr-mask-size-ipv6", required_argument, NULL, 0 },
		{ "node-lease", required_argument, NULL, 0 },
		{ "subnet-reuse-after", required_argument, NULL, 0 },
		{ "gateway-lease", required_argument, NULL, 0 },
		{ "tls-san", required_argument, NULL, 0 },
		{ "tls-cert", required_argument, NULL, 0 },
		{ "tls-key", required_argument, NULL, 0 },
		{ "tls-ca-cert", required_argument, NULL, 0 },
		{ "tls-ca-key", required_argument, NULL, 0 },
		{ "log-level", required_argument, NULL, 0 },
		{ "role", required_argument, NULL, 0 },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int opt, idx, ncidr = 0;
	int64_t v;

	snprintf(m->state_dir, sizeof(m->state_dir), "/var/lib/weft-manager");
	snprintf(m->listen, sizeof(m->listen), "[::]:7443");
	m->len4 = 24;
	m->len6 = 64;
	m->expire_after = 86400;
	m->gateway_lease = 4;
	m->reuse_after = 3600;
	while ((opt = getopt_long(argc, argv, "h", longopts, &idx)) != -1) {
		const char *name = longopts[idx].name;

		if (opt) {
			usage();
			return opt == 'h' ? 0 : 2;
		}
		if (!strcmp(name, "state-dir")) {
			if (copy(m->state_dir, sizeof(m->state_dir), name, optarg))
				return 2;
		} else if (!strcmp(name, "store")) {
			if (copy(m->store_url, sizeof(m->store_url), name, optarg))
				return 2;
		} else if (!strcmp(name, "listen")) {
			if (copy(m->listen, sizeof(m->listen), name, optarg))
				return 2;
		} else if (!strcmp(name, "cluster-cidr")) {
			bool v6 = strchr(optarg, ':') != NULL;
			char **slot = v6 ? &m->cidr6 : &m->cidr4;

			if (*slot || ++ncidr > 2) {
				fprintf(stderr, "weft-manager: --cluster-cidr %s: give at most one IPv4 and one IPv6 CIDR\n",
					optarg);
				return 2;
			}
			*slot = optarg;
		} else if (!strcmp(name, "node-cidr-mask-size-ipv4")) {
			if (number(name, optarg, 32, &v))
				return 2;
			m->len4 = (unsigned)v;
		} else if (!strcmp(name, "node-cidr-mask-size-ipv6")) {
			if (number(name, optarg, 128, &v))
				return 2;
			m->len6 = (unsigned)v;
		} else if (!strcmp(name, "node-lease")) {
			if (number(name, optarg, 10ULL * 365 * 86400, &m->expire_after))
				return 2;
		} else if (!strcmp(name, "gateway-lease")) {
			if (number(name, optarg, 60, &m->gateway_lease))
				return 2;
			if (m->gateway_lease < 2) {
				fprintf(stderr, "weft-manager: --gateway-lease %s: give 2 to 60 seconds (the gateway renews "
						"every second)\n", optarg);
				return 2;
			}
		} else if (!strcmp(name, "subnet-reuse-after")) {
			if (number(name, optarg, 10ULL * 365 * 86400, &m->reuse_after))
				return 2;
		} else if (!strcmp(name, "tls-san")) {
			if (copy(m->tls_san, sizeof(m->tls_san), name, optarg))
				return 2;
		} else if (!strcmp(name, "tls-cert")) {
			if (copy(m->tls_cert, sizeof(m->tls_cert), name, optarg))
				return 2;
		} else if (!strcmp(name, "tls-key")) {
			if (copy(m->tls_key, sizeof(m->tls_key), name, optarg))
				return 2;
		} else if (!strcmp(name, "tls-ca-cert")) {
			if (copy(m->tls_ca_cert, sizeof(m->tls_ca_cert), name, optarg))
				return 2;
		} else if (!strcmp(name, "tls-ca-key")) {
			if (copy(m->tls_ca_key, sizeof(m->tls_ca_key), name, optarg))
				return 2;
		} else if (!strcmp(name, "log-level")) {
			static const char *const levels[] = { [LOG_ERROR] = "error", [LOG_WARNING] = "warning",
							      [LOG_INFO] = "info", [LOG_VERBOSE] = "verbose" };

			m->log_level = 0;
			for (int l = LOG_ERROR; l <= LOG_VERBOSE; ++l)
				if (!strcmp(optarg, levels[l]))
					m->log_level = l;
			if (!m->log_level) {
				fprintf(stderr, "weft-manager: --log-level %s: give error, warning, info or verbose\n",
					optarg);
				return 2;
			}
			m->verbose = m->log_level == LOG_VERBOSE;
		} else if (!strcmp(name, "role")) {
			if (strcmp(optarg, "cluster") && strcmp(optarg, "broker")) {
				fprintf(stderr, "weft-manager: --role %s: give cluster or broker\n", optarg);
				return 2;
			}
			m->broker = !strcmp(optarg, "broker");
		}
	}
	if (optind < argc) {
		fprintf(stderr, "weft-manager: unexpected argument \"%s\"\n", argv[optind]);
		usage();
		return 2;
	}
	if (!!m->tls_cert[0] != !!m->tls_key[0] || !!m->tls_ca_cert[0] != !!m->tls_ca_key[0] ||
	    (m->tls_cert[0] && m->tls_ca_cert[0])) {
		fprintf(stderr, "weft-manager: give --tls-cert with --tls-key, or --tls-ca-cert with --tls-ca-key, "
				"not both pairs\n");
		return 2;
	}
	if (m->broker && ncidr) {
		fprintf(stderr, "weft-manager: --cluster-cidr with --role broker: a broker hands out no subnets; "
				"each cluster brings its CIDRs when it joins (weft join)\n");
		return 2;
	}
	if (!ncidr && !m->broker) {
		m->cidr4 = "10.244.0.0/16";
		m->cidr6 = "fd00:244::/48";
	}
	if (!m->store_url[0])
		snprintf(m->store_url, sizeof(m->store_url), "sqlite:%s/manager.db", m->state_dir);
	return -1;
}

/* A thousand agents are a thousand long polls: one descriptor each. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(int argc, char **argv)
{
	struct manager m = { 0 };
	char err[1024];
	sigset_t mask;
	int ret, sig = 0;

	crypto_wipe_json_frees(); /* before any JSON: it carries secrets */
	if ((ret = settings(&m, argc, argv)) >= 0)
		return ret;
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	umask(0077);
	raise_fd_limit();
	if (crypto_init()) {
		fprintf(stderr, "weft-manager: the crypto libraries failed to initialize\n");
		return 1;
	}
	if (mkdir(m.state_dir, 0700) && errno != EEXIST) {
		fprintf(stderr, "weft-manager: --state-dir %s: %s\n", m.state_dir, strerror(errno));
		return 1;
	}
	pthread_mutex_init(&m.lock, NULL);
	pthread_cond_init(&m.changed, NULL);
	list_init(&m.waiters);
	/* Threads started below inherit this: signals come only to sigwait. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);

	if (!(m.kv = kv_open(m.store_url, err, sizeof(err)))) {
		fprintf(stderr, "weft-manager: --store %s: %s\n", m.store_url, err);
		return 1;
	}
	if ((m.broker ? cluster_init_broker(&m.cluster, m.kv, err, sizeof(err))
		      : cluster_init(&m.cluster, m.kv, m.cidr4, m.cidr4 ? m.len4 : 0, m.cidr6, m.cidr6 ? m.len6 : 0,
				     m.reuse_after, err, sizeof(err))) ||
	    auth_bootstrap(&m, err, sizeof(err)) || tls_setup(&m, err, sizeof(err)) ||
	    watch_start(&m, err, sizeof(err))) {
		fprintf(stderr, "weft-manager: %s\n", err);
		kv_close(m.kv);
		return 1;
	}
	if (server_start(&m, err, sizeof(err))) {
		fprintf(stderr, "weft-manager: %s\n", err);
		watch_stop(&m);
		watch_free(&m);
		kv_close(m.kv);
		return 1;
	}
	manager_log(&m, "serving https://%s (CA %s), store %s, %s %s%s%s", m.listen,
		    m.ca_path[0] ? m.ca_path : "(the operator's)", m.store_url, m.broker ? "broker" : "cluster",
		    m.cidr4 ? m.cidr4 : "", m.cidr4 && m.cidr6 ? " " : "", m.cidr6 ? m.cidr6 : "");
	/* systemd's Type=notify (deploy/systemd/weft-manager.service): ready
	 * once the API answers; nothing without $NOTIFY_SOCKET. */
	sd_notifyf(0, "READY=1\nSTATUS=serving https://%s", m.listen);

	for (;;) {
		struct timespec every = { EXPIRE_EVERY, 0 };

		sig = sigtimedwait(&mask, NULL, &every);
		if (sig == SIGTERM || sig == SIGINT)
			break;
		if (m.expire_after && (ret = cluster_expire(&m.cluster, time(NULL), m.expire_after)) > 0)
			manager_log(&m, "removed %d node%s silent for %llds", ret, ret == 1 ? "" : "s",
				    (long long)m.expire_after);
	}
	manager_log(&m, "stopping (signal %d)", sig);
	sd_notify(0, "STOPPING=1");
	watch_stop(&m);
	server_stop(&m);
	watch_free(&m);
	auth_free();
	kv_close(m.kv);
	if (m.key_pem)
		explicit_bzero(m.key_pem, strlen(m.key_pem));
	free(m.key_pem);
	free(m.cert_pem);
	return 0;
}
