// SPDX-License-Identifier: MIT
/*
 * weft-wg: a userspace WireGuard interface, a drop-in for wireguard-go.
 *
 *   weft-wg [-f|--foreground] INTERFACE
 *
 * Creates the TUN interface and serves wireguard.com/xplatform's protocol
 * on /var/run/wireguard/INTERFACE.sock for wg(8) and wg-quick(8). It
 * daemonizes unless -f or WG_PROCESS_FOREGROUND=1, logs to standard output
 * as LOG_LEVEL says (error, the default; verbose or debug; silent), and
 * exits on SIGTERM or SIGINT, when the interface is deleted, or when its
 * socket file is removed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "crypto/crypto.h"
#include "io/uapi_server.h"
#include "io/uwg.h"

#ifndef WEFT_VERSION
#define WEFT_VERSION "0.1.0"
#endif

static const char *ifname_for_log = "";
static int log_level = WG_LOG_ERROR; /* 0: silent */

static void log_line(void *ctx, enum wg_log_level level, const char *msg)
{
	char when[32];
	time_t now = time(NULL);
	struct tm tm;

	if ((int)level > log_level)
		return;
	localtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y/%m/%d %H:%M:%S", &tm);
	printf("%s: (%s) %s %s\n", level == WG_LOG_ERROR ? "ERROR" : "DEBUG", ifname_for_log, when, msg);
}

static void usage(FILE *f, const char *argv0)
{
	fprintf(f, "Usage: %s [-f/--foreground] INTERFACE-NAME\n", argv0);
}

static int parse_log_level(const char *s)
{
	if (!s || !*s || !strcmp(s, "error"))
		return WG_LOG_ERROR;
	if (!strcmp(s, "verbose") || !strcmp(s, "debug"))
		return WG_LOG_VERBOSE;
	if (!strcmp(s, "silent"))
		return 0;
	return WG_LOG_ERROR;
}

/* True when the socket file is gone or replaced: time to leave. */
static bool socket_removed(const char *path, const struct stat *orig)
{
	struct stat st;

	return lstat(path, &st) || st.st_ino != orig->st_ino || st.st_dev != orig->st_dev;
}

/* The parent of a daemonizing run waits for this one byte from the child:
 * 0 when the device is serving, else an exit status. */
static void report(int fd, unsigned char status)
{
	if (fd >= 0) {
		if (write(fd, &status, 1) < 0) {
			/* the parent is gone: nobody to tell */
		}
		close(fd);
	}
}

int main(int argc, char **argv)
{
	struct uwg_opts opts = { .tun_netns_fd = -1, .offload = true, .log = log_line };
	char path[108];
	const char *ifname = NULL;
	bool foreground = false;
	int listen_fd, status_fd = -1, sig_fd, ino_fd, ret = 1;
	struct uapi_server *server = NULL;
	struct uwg *u;
	struct stat sock_st;
	sigset_t mask;

	if (argc == 2 && !strcmp(argv[1], "--version")) {
		printf("weft-wg v%s\n\nUserspace WireGuard daemon (weft) for Linux.\n", WEFT_VERSION);
		return 0;
	}
	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout, argv[0]);
		return 0;
	}
	if (argc == 3 && (!strcmp(argv[1], "-f") || !strcmp(argv[1], "--foreground"))) {
		foreground = true;
		ifname = argv[2];
	} else if (argc == 2 && argv[1][0] != '-') {
		ifname = argv[1];
	} else {
		usage(stderr, argv[0]);
		return 2;
	}
	if (getenv("WG_PROCESS_FOREGROUND") && !strcmp(getenv("WG_PROCESS_FOREGROUND"), "1"))
		foreground = true;
	log_level = parse_log_level(getenv("LOG_LEVEL"));
	opts.log_level = log_level ? (enum wg_log_level)log_level : WG_LOG_ERROR;
	opts.ifname = ifname;
	ifname_for_log = ifname;
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);

	if (crypto_init()) {
		fprintf(stderr, "weft-wg: the crypto libraries failed to initialize\n");
		return 1;
	}
	if (strlen(ifname) >= 16 || strchr(ifname, '/')) {
		fprintf(stderr, "weft-wg: \"%s\" is not a valid interface name (at most 15 characters, no '/')\n",
			ifname);
		return 1;
	}

	/* The interface and the socket exist before we return to the caller
	 * (wg-quick runs wg setconf right after us). */
	u = uwg_create(&opts);
	if (!u) {
		int err = errno;

		fprintf(stderr, "weft-wg: cannot create TUN interface \"%s\": %s%s\n", ifname, strerror(err),
			err == EBUSY ? " (an interface of that name exists already)" :
			err == EPERM ? " (run as root, or with CAP_NET_ADMIN)" :
			err == ENOENT ? " (is /dev/net/tun there? load the tun module)" : "");
		return 1;
	}
	ifname_for_log = uwg_name(u);
	listen_fd = uapi_listen(NULL, uwg_name(u), path);
	if (listen_fd < 0) {
		fprintf(stderr, "weft-wg: cannot listen on %s/%s.sock: %s\n", UAPI_SOCKET_DIR, uwg_name(u),
			listen_fd == -EADDRINUSE ? "another daemon serves this interface" : strerror(-listen_fd));
		uwg_free(u);
		return 1;
	}
	stat(path, &sock_st);

	if (!foreground) {
		int pipefd[2];
		pid_t pid;
		unsigned char status = 1;

		if (pipe2(pipefd, O_CLOEXEC) || (pid = fork()) < 0) {
			perror("weft-wg: cannot daemonize");
			goto out_nothread;
		}
		if (pid > 0) {
			close(pipefd[1]);
			if (read(pipefd[0], &status, 1) != 1)
				status = 1;
			/* The child owns the interface and socket now. */
			_exit(status);
		}
		close(pipefd[0]);
		status_fd = pipefd[1];
		setsid();
		if (chdir("/")) {
			/* harmless */
		}
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			/* As wireguard-go: the daemon keeps the caller's output
			 * only when LOG_LEVEL asks for logs. */
			const char *ll = getenv("LOG_LEVEL");

			if (!ll || !*ll || !log_level) {
				dup2(null, STDOUT_FILENO);
				dup2(null, STDERR_FILENO);
			}
			close(null);
		}
	}

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sig_fd = signalfd(-1, &mask, SFD_CLOEXEC);
	ino_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (ino_fd >= 0)
		inotify_add_watch(ino_fd, path, IN_ATTRIB | IN_DELETE_SELF);

	if (uwg_start(u)) {
		log_line(NULL, WG_LOG_ERROR, "Failed to start the device threads");
		goto out_nothread;
	}
	server = uapi_server_start(listen_fd, path, uwg_device(u), log_line, NULL);
	if (!server) {
		log_line(NULL, WG_LOG_ERROR, "Failed to start the UAPI listener");
		goto out;
	}
	listen_fd = -1;
	log_line(NULL, WG_LOG_VERBOSE, "Device started");
	log_line(NULL, WG_LOG_VERBOSE, "UAPI listener started");
	report(status_fd, 0);
	status_fd = -1;
	/* systemd's Type=notify (deploy/systemd/weft-wg@.service, which runs
	 * it in the foreground): the device is up and its UAPI socket
	 * answers. Nothing without $NOTIFY_SOCKET. */
	sd_notifyf(0, "READY=1\nSTATUS=serving %s", uwg_name(u));

	for (;;) {
		struct pollfd pfd[3] = {
			{ .fd = sig_fd, .events = POLLIN },
			{ .fd = uwg_dead_fd(u), .events = POLLIN },
			{ .fd = ino_fd, .events = POLLIN },
		};

		if (poll(pfd, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[0].revents) {
			struct signalfd_siginfo si;

			if (read(sig_fd, &si, sizeof(si)) == sizeof(si) && si.ssi_signo == SIGHUP)
				continue;
			log_line(NULL, WG_LOG_VERBOSE, "Received signal, shutting down");
			sd_notify(0, "STOPPING=1");
			break;
		}
		if (pfd[1].revents)
			break;
		if (pfd[2].revents) {
			char evbuf[4096];

			while (read(ino_fd, evbuf, sizeof(evbuf)) > 0) {
			}
			if (socket_removed(path, &sock_st)) {
				log_line(NULL, WG_LOG_VERBOSE, "UAPI socket was removed, shutting down");
				break;
			}
		}
	}
	ret = 0;
out:
	uapi_server_stop(server);
	log_line(NULL, WG_LOG_VERBOSE, "Shutting down");
out_nothread:
	if (listen_fd >= 0) {
		close(listen_fd);
		unlink(path);
	}
	uwg_free(u);
	report(status_fd, (unsigned char)(ret ? ret : 1));
	return ret;
}
