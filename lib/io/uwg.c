// SPDX-License-Identifier: MIT
#include "uwg.h"

#include <errno.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "nl/linkmon.h"
#include "nl/nl.h"
#include "util/netns.h"
#include "offload.h"
#include "tun.h"
#include "udp.h"
#include "wg/messages.h"

enum {
	TX_BATCH = 128,
	RX_BATCH = 64,
	/* Buffers hold the largest possible message; pages beyond what a
	 * datagram touches are never faulted in, so this costs address
	 * space, not memory. */
	SLOT_SIZE = (WG_MAX_MESSAGE_LEN + 64 + 63) & ~63,
	DEFAULT_MTU = 1420,
};

struct uwg {
	struct wg_device *dev;
	struct tun tun;
	int tun_ns_fd;  /* -1: ours */
	int sock_ns_fd; /* where the UDP sockets live */

	pthread_mutex_t sock_lock;
	struct udp_socks socks;     /* current */
	struct udp_socks retired[4]; /* replaced, for the rx thread to close */
	unsigned nretired;
	int rx_evfd;                /* tells rx: sockets changed, or stop */

	int ctl_evfd;               /* wg_device_ops.wake, or stop */
	int stop_fd;                /* tells tx: stop */
	int timer_fd;
	int dead_fd;
	atomic_bool dead, stopping;
	struct linkmon mon;
	struct link_state link;

	pthread_t tx_thread, rx_thread, ctl_thread;
	bool started;
	struct offload_tx otx;
	struct offload_rx orx; /* used by the rx thread only */

	void (*log)(void *ctx, enum wg_log_level level, const char *msg);
	void *log_ctx;
	char name[16];
};

static void ulog(struct uwg *u, enum wg_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void ulog(struct uwg *u, enum wg_log_level level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!u->log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	u->log(u->log_ctx, level, msg);
}

static void kick(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) < 0) {
		/* Only fails when the counter is saturated: already kicked. */
	}
}

static void drain(int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing pending. */
	}
}

static void mark_dead(struct uwg *u)
{
	if (!atomic_exchange(&u->dead, true))
		kick(u->dead_fd);
}

/* --- wg_device_ops ------------------------------------------------------ */

static uint64_t op_now(void *io)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

static void op_walltime(void *io, struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
}

static int op_send(void *io, struct wg_endpoint *ep, const struct wg_buf *bufs, unsigned n)
{
	struct uwg *u = io;
	struct udp_socks s;

	pthread_mutex_lock(&u->sock_lock);
	s = u->socks;
	pthread_mutex_unlock(&u->sock_lock);
	/* The device calls us under its configuration lock, and sockets are
	 * replaced only under that lock's write side, so s stays open. */
	return offload_udp_send(&s, ep, bufs, n);
}

static void op_deliver(void *io, const struct wg_buf *bufs, unsigned n)
{
	struct uwg *u = io;

	/* Only wg_device_rx delivers, and only the rx thread calls it. */
	offload_tun_write(&u->tun, &u->orx, bufs, n);
}

static void op_wake(void *io)
{
	kick(((struct uwg *)io)->ctl_evfd);
}

static void retire_socks(struct uwg *u)
{
	if (u->socks.fd4 < 0 && u->socks.fd6 < 0)
		return;
	if (u->nretired == sizeof(u->retired) / sizeof(u->retired[0])) {
		/* The rx thread has not caught up: it will get an error reading
		 * a closed socket and simply look again. */
		udp_close(&u->retired[0]);
		memmove(&u->retired[0], &u->retired[1], sizeof(u->retired) - sizeof(u->retired[0]));
		--u->nretired;
	}
	u->retired[u->nretired++] = u->socks;
	u->socks.fd4 = u->socks.fd6 = -1;
	u->socks.port = 0;
}

static int op_bind(void *io, uint16_t *port, uint32_t fwmark)
{
	struct uwg *u = io;
	struct udp_socks fresh;
	int ret;

	pthread_mutex_lock(&u->sock_lock);
	if ((u->socks.fd4 >= 0 || u->socks.fd6 >= 0) && *port && *port == u->socks.port) {
		/* Same port: only the mark changes, on the sockets we have. */
		ret = udp_set_fwmark(&u->socks, fwmark);
		pthread_mutex_unlock(&u->sock_lock);
		return ret;
	}
	pthread_mutex_unlock(&u->sock_lock);
	ret = udp_bind(&fresh, port, fwmark, u->sock_ns_fd);
	if (ret) {
		ulog(u, WG_LOG_ERROR, "Failed to bind UDP port %u: %s", *port, strerror(-ret));
		return ret;
	}
	offload_udp_setup(&fresh);
	pthread_mutex_lock(&u->sock_lock);
	retire_socks(u);
	u->socks = fresh;
	pthread_mutex_unlock(&u->sock_lock);
	kick(u->rx_evfd);
	ulog(u, WG_LOG_VERBOSE, "UDP bind has been updated (port %u)", *port);
	return 0;
}

static void op_unbind(void *io)
{
	struct uwg *u = io;

	pthread_mutex_lock(&u->sock_lock);
	retire_socks(u);
	pthread_mutex_unlock(&u->sock_lock);
	kick(u->rx_evfd);
}

static void op_log(void *io, enum wg_log_level level, const char *msg)
{
	struct uwg *u = io;

	if (u->log)
		u->log(u->log_ctx, level, msg);
}

static const struct wg_device_ops uwg_ops = {
	.now = op_now,
	.walltime = op_walltime,
	.send = op_send,
	.deliver = op_deliver,
	.wake = op_wake,
	.bind = op_bind,
	.unbind = op_unbind,
	.log = op_log,
};

/* --- threads ------------------------------------------------------------ */

static void *tx_main(void *arg)
{
	struct uwg *u = arg;
	struct pollfd pfd[2] = { { .fd = u->tun.fd, .events = POLLIN }, { .fd = u->stop_fd, .events = POLLIN } };

	while (!atomic_load(&u->stopping)) {
		int n;

		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			break;
		if (pfd[1].revents)
			break;
		n = offload_tun_read(&u->tun, &u->otx);
		if (n < 0) {
			if (n == -EBADFD || n == -EIO || n == -ENODEV) {
				ulog(u, WG_LOG_VERBOSE, "TUN read failed (%s): the interface is gone", strerror(-n));
				mark_dead(u);
				break;
			}
			continue;
		}
		if (n)
			wg_device_tx(u->dev, u->otx.pkts, (unsigned)n);
	}
	return NULL;
}

static void *rx_main(void *arg)
{
	struct uwg *u = arg;
	struct wg_pkt *pkts = calloc(RX_BATCH, sizeof(*pkts));
	uint8_t *arena = malloc((size_t)RX_BATCH * SLOT_SIZE);
	struct udp_socks cur = { -1, -1, 0 };

	if (!pkts || !arena) {
		ulog(u, WG_LOG_ERROR, "Out of memory for receive buffers");
		mark_dead(u);
		goto out;
	}
	for (unsigned i = 0; i < RX_BATCH; ++i) {
		pkts[i].data = arena + (size_t)i * SLOT_SIZE;
		pkts[i].cap = SLOT_SIZE;
	}
	kick(u->rx_evfd);
	while (!atomic_load(&u->stopping)) {
		struct pollfd pfd[3] = {
			{ .fd = u->rx_evfd, .events = POLLIN },
			{ .fd = cur.fd4, .events = POLLIN },
			{ .fd = cur.fd6, .events = POLLIN },
		};

		if (poll(pfd, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[0].revents) {
			drain(u->rx_evfd);
			pthread_mutex_lock(&u->sock_lock);
			for (unsigned i = 0; i < u->nretired; ++i)
				udp_close(&u->retired[i]);
			u->nretired = 0;
			cur = u->socks;
			pthread_mutex_unlock(&u->sock_lock);
			continue;
		}
		for (int s = 1; s < 3; ++s) {
			if (!pfd[s].revents)
				continue;
			for (int round = 0; round < 8; ++round) {
				int n = offload_udp_recv(pfd[s].fd, pkts, RX_BATCH);

				if (n <= 0)
					break;
				wg_device_rx(u->dev, pkts, (unsigned)n);
				for (int i = 0; i < n; ++i)
					pkts[i].cap = SLOT_SIZE;
				if (n < RX_BATCH)
					break;
			}
		}
	}
out:
	free(pkts);
	free(arena);
	return NULL;
}

static void arm_timer(struct uwg *u, uint64_t deadline)
{
	struct itimerspec its = { 0 };

	if (deadline == UINT64_MAX) {
		/* disarmed */
	} else if (deadline == 0) {
		its.it_value.tv_nsec = 1;
		timerfd_settime(u->timer_fd, 0, &its, NULL);
		return;
	} else {
		its.it_value.tv_sec = (time_t)(deadline / NSEC_PER_SEC);
		its.it_value.tv_nsec = (long)(deadline % NSEC_PER_SEC);
		if (!its.it_value.tv_sec && !its.it_value.tv_nsec)
			its.it_value.tv_nsec = 1;
	}
	timerfd_settime(u->timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

/*
 * The interface left the namespace we watched: deleted, or moved to another
 * (`ip link set NAME netns X`, or Docker moving a container's interface in
 * and, at the end, out again). A TUN that still answers has moved: the
 * device follows it there, under whatever name it has now, as the kernel's
 * WireGuard does. Its UDP sockets stay where they are. Runs on the control
 * thread, which alone touches the monitor.
 */
static bool follow_move(struct uwg *u)
{
	struct linkmon mon;
	struct ifreq ifr;
	int ns, saved, idx = 0;

	ns = ioctl(u->tun.fd, TUNGETDEVNETNS);
	if (ns < 0)
		return false; /* detached: the interface is gone */
	memset(&ifr, 0, sizeof(ifr));
	if (!ioctl(u->tun.fd, TUNGETIFF, &ifr) && !netns_enter(ns, &saved)) {
		idx = (int)if_nametoindex(ifr.ifr_name);
		netns_leave(saved);
	}
	if (!idx || linkmon_open(&mon, idx, ns)) {
		close(ns);
		return false;
	}
	linkmon_close(&u->mon);
	u->mon = mon;
	if (u->tun_ns_fd >= 0)
		close(u->tun_ns_fd);
	u->tun_ns_fd = ns;
	u->tun.ifindex = idx;
	ulog(u, WG_LOG_VERBOSE, "Interface %s moved to another namespace, as %.*s (index %d)", u->name, IF_NAMESIZE - 1,
	     ifr.ifr_name, idx);
	return true;
}

static void link_changed(struct uwg *u)
{
	if (!u->link.exists && follow_move(u)) {
		u->link.exists = true; /* its state comes with the new monitor */
		return;
	}
	if (!u->link.exists) {
		ulog(u, WG_LOG_VERBOSE, "Interface %s was deleted", u->name);
		mark_dead(u);
		return;
	}
	if (u->link.mtu)
		wg_device_set_mtu(u->dev, u->link.mtu);
	if (u->link.up && !wg_device_is_up(u->dev)) {
		int ret = wg_device_up(u->dev);

		if (ret)
			ulog(u, WG_LOG_ERROR, "Unable to bring the device up: %s", strerror(-ret));
		else
			ulog(u, WG_LOG_VERBOSE, "Interface state is up");
	} else if (!u->link.up && wg_device_is_up(u->dev)) {
		wg_device_down(u->dev);
		ulog(u, WG_LOG_VERBOSE, "Interface state is down");
	}
}

static void *ctl_main(void *arg)
{
	struct uwg *u = arg;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN };

	ev.data.fd = u->ctl_evfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, u->ctl_evfd, &ev);
	ev.data.fd = u->timer_fd;
	epoll_ctl(ep, EPOLL_CTL_ADD, u->timer_fd, &ev);
	ev.data.fd = linkmon_fd(&u->mon);
	epoll_ctl(ep, EPOLL_CTL_ADD, ev.data.fd, &ev);

	while (!atomic_load(&u->stopping)) {
		struct epoll_event evs[4];
		int n = epoll_wait(ep, evs, 4, -1);

		if (n < 0 && errno != EINTR)
			break;
		for (int i = 0; i < n; ++i) {
			if (evs[i].data.fd == u->ctl_evfd || evs[i].data.fd == u->timer_fd)
				drain(evs[i].data.fd);
			else if (linkmon_read(&u->mon, &u->link) > 0) {
				link_changed(u);
				/* A move replaced the monitor's socket. */
				ev.data.fd = linkmon_fd(&u->mon);
				epoll_ctl(ep, EPOLL_CTL_ADD, ev.data.fd, &ev);
			}
		}
		if (atomic_load(&u->stopping))
			break;
		arm_timer(u, wg_device_work(u->dev));
	}
	close(ep);
	return NULL;
}

/* --- lifecycle ---------------------------------------------------------- */

struct uwg *uwg_create(const struct uwg_opts *opts)
{
	struct uwg *u = calloc(1, sizeof(*u));
	int ret = -ENOMEM;

	if (!u)
		return NULL;
	u->tun.fd = -1;
	u->tun_ns_fd = -1;
	u->socks.fd4 = u->socks.fd6 = -1;
	u->rx_evfd = u->ctl_evfd = u->stop_fd = u->timer_fd = u->dead_fd = -1;
	u->log = opts->log;
	u->log_ctx = opts->log_ctx;
	pthread_mutex_init(&u->sock_lock, NULL);
	snprintf(u->name, sizeof(u->name), "%s", opts->ifname);

	u->sock_ns_fd = netns_open(NULL);
	if (u->sock_ns_fd < 0) {
		ret = u->sock_ns_fd;
		goto fail;
	}
	if (opts->tun_netns_fd >= 0 && (u->tun_ns_fd = dup(opts->tun_netns_fd)) < 0) {
		ret = -errno;
		goto fail;
	}
	ret = tun_create(&u->tun, opts->ifname, u->tun_ns_fd, opts->offload);
	if (ret)
		goto fail;
	{
		struct nl nl;

		if (!nl_open(&nl, NETLINK_ROUTE, u->tun_ns_fd)) {
			nl_link_set_mtu(&nl, u->tun.ifindex, DEFAULT_MTU);
			nl_close(&nl);
		}
	}
	snprintf(u->name, sizeof(u->name), "%s", u->tun.name);
	u->rx_evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	u->ctl_evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	u->dead_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	u->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	u->timer_fd = timerfd_create(CLOCK_BOOTTIME, TFD_CLOEXEC | TFD_NONBLOCK);
	if (u->rx_evfd < 0 || u->ctl_evfd < 0 || u->dead_fd < 0 || u->stop_fd < 0 || u->timer_fd < 0) {
		ret = -errno;
		goto fail;
	}
	ret = linkmon_open(&u->mon, u->tun.ifindex, u->tun_ns_fd);
	if (ret)
		goto fail;
	ret = offload_tx_init(&u->otx, TX_BATCH, u->tun.vnet_hdr);
	if (ret)
		goto fail;
	u->dev = wg_device_new(&uwg_ops, u);
	if (!u->dev) {
		ret = -errno;
		goto fail;
	}
	wg_device_set_log_level(u->dev, opts->log_level);
	wg_device_set_mtu(u->dev, DEFAULT_MTU);
	return u;
fail:
	uwg_free(u);
	errno = -ret;
	return NULL;
}

int uwg_start(struct uwg *u)
{
	sigset_t all, old;
	int ret;

	/* Our threads leave signals to the program's own. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	ret = pthread_create(&u->ctl_thread, NULL, ctl_main, u);
	if (!ret && (ret = pthread_create(&u->rx_thread, NULL, rx_main, u))) {
		atomic_store(&u->stopping, true);
		kick(u->ctl_evfd);
		pthread_join(u->ctl_thread, NULL);
	}
	if (!ret && (ret = pthread_create(&u->tx_thread, NULL, tx_main, u))) {
		atomic_store(&u->stopping, true);
		kick(u->ctl_evfd);
		kick(u->rx_evfd);
		pthread_join(u->ctl_thread, NULL);
		pthread_join(u->rx_thread, NULL);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret)
		return -ret;
	u->started = true;
	return 0;
}

void uwg_free(struct uwg *u)
{
	if (!u)
		return;
	if (u->started) {
		atomic_store(&u->stopping, true);
		kick(u->ctl_evfd);
		kick(u->rx_evfd);
		kick(u->stop_fd);
		pthread_join(u->ctl_thread, NULL);
		pthread_join(u->rx_thread, NULL);
		pthread_join(u->tx_thread, NULL);
	}
	if (u->dev) {
		wg_device_down(u->dev);
		wg_device_free(u->dev);
	}
	for (unsigned i = 0; i < u->nretired; ++i)
		udp_close(&u->retired[i]);
	udp_close(&u->socks);
	offload_tx_free(&u->otx);
	offload_rx_free(&u->orx);
	if (u->mon.nl)
		linkmon_close(&u->mon);
	/* Closing the last descriptor of a non-persistent TUN deletes it. */
	tun_close(&u->tun);
	if (u->rx_evfd >= 0)
		close(u->rx_evfd);
	if (u->ctl_evfd >= 0)
		close(u->ctl_evfd);
	if (u->stop_fd >= 0)
		close(u->stop_fd);
	if (u->timer_fd >= 0)
		close(u->timer_fd);
	if (u->dead_fd >= 0)
		close(u->dead_fd);
	if (u->tun_ns_fd >= 0)
		close(u->tun_ns_fd);
	if (u->sock_ns_fd >= 0)
		close(u->sock_ns_fd);
	pthread_mutex_destroy(&u->sock_lock);
	free(u);
}

struct wg_device *uwg_device(struct uwg *u)
{
	return u->dev;
}

const char *uwg_name(const struct uwg *u)
{
	return u->name;
}

int uwg_ifindex(const struct uwg *u)
{
	return u->tun.ifindex;
}

int uwg_dead_fd(const struct uwg *u)
{
	return u->dead_fd;
}

bool uwg_is_dead(const struct uwg *u)
{
	return atomic_load(&u->dead);
}
