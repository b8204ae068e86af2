// SPDX-License-Identifier: MIT
/*
 * Hosts several userspace WireGuard devices in one process, each serving
 * its UAPI socket, optionally with its TUN in another network namespace
 * (the UDP socket stays in ours). For tests of embedding and placement;
 * the node agent will do the same for real.
 *
 *   uwghost [--netns PATH] IFNAME [[--netns PATH] IFNAME ...]
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "util/netns.h"
#include "io/uapi_server.h"
#include "io/uwg.h"

enum { MAX_DEVS = 16 };

static void log_line(void *ctx, enum wg_log_level level, const char *msg)
{
	printf("%s: (%s) %s\n", level == WG_LOG_ERROR ? "ERROR" : "DEBUG", (const char *)ctx, msg);
}

int main(int argc, char **argv)
{
	struct uwg *devs[MAX_DEVS];
	struct uapi_server *servers[MAX_DEVS];
	char names[MAX_DEVS][16];
	struct pollfd pfd[MAX_DEVS + 1];
	int ndev = 0, ns_fd = -1, sig_fd, ret = 1;
	sigset_t mask;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sig_fd = signalfd(-1, &mask, SFD_CLOEXEC);

	for (int i = 1; i < argc && ndev < MAX_DEVS; ++i) {
		struct uwg_opts opts = { .tun_netns_fd = -1, .offload = true, .log = log_line,
					 .log_level = WG_LOG_VERBOSE };
		char path[108];
		int lfd;

		if (!strcmp(argv[i], "--netns") && i + 1 < argc) {
			ns_fd = netns_open(argv[++i]);
			if (ns_fd < 0) {
				fprintf(stderr, "uwghost: cannot open namespace %s: %s\n", argv[i], strerror(-ns_fd));
				goto out;
			}
			continue;
		}
		snprintf(names[ndev], sizeof(names[ndev]), "%s", argv[i]);
		opts.ifname = argv[i];
		opts.tun_netns_fd = ns_fd;
		opts.log_ctx = names[ndev];
		devs[ndev] = uwg_create(&opts);
		if (ns_fd >= 0)
			close(ns_fd);
		ns_fd = -1;
		if (!devs[ndev]) {
			fprintf(stderr, "uwghost: cannot create %s: %s\n", argv[i], strerror(errno));
			goto out;
		}
		lfd = uapi_listen(NULL, argv[i], path);
		if (lfd < 0 || uwg_start(devs[ndev]) ||
		    !(servers[ndev] = uapi_server_start(lfd, path, uwg_device(devs[ndev]), log_line, names[ndev]))) {
			fprintf(stderr, "uwghost: cannot serve %s\n", argv[i]);
			uwg_free(devs[ndev]);
			goto out;
		}
		++ndev;
	}
	printf("uwghost: serving %d devices\n", ndev);
	for (;;) {
		int n = 1;

		/* Wait on the devices still alive: a dead one's eventfd stays
		 * readable and would spin this loop. */
		pfd[0] = (struct pollfd){ .fd = sig_fd, .events = POLLIN };
		for (int i = 0; i < ndev; ++i)
			if (!uwg_is_dead(devs[i]))
				pfd[n++] = (struct pollfd){ .fd = uwg_dead_fd(devs[i]), .events = POLLIN };
		if (n == 1 || poll(pfd, (nfds_t)n, -1) < 0 || pfd[0].revents)
			break;
	}
	ret = 0;
out:
	for (int i = 0; i < ndev; ++i) {
		uapi_server_stop(servers[i]);
		uwg_free(devs[i]);
	}
	return ret;
}
