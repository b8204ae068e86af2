// SPDX-License-Identifier: MIT
#include "tun.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/netns.h"

static int open_tun(struct tun *t, const char *name, bool vnet)
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	if (vnet && ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) < 0) {
		close(fd);
		return -EOPNOTSUPP;
	}
	snprintf(t->name, sizeof(t->name), "%s", ifr.ifr_name);
	t->fd = fd;
	t->vnet_hdr = vnet;
	return 0;
}

int tun_create(struct tun *t, const char *name, int ns_fd, bool offload)
{
	int saved, ret, sock;
	struct ifreq ifr;

	if (strlen(name) >= IF_NAMESIZE)
		return -ENAMETOOLONG;
	t->fd = -1;
	ret = netns_enter(ns_fd, &saved);
	if (ret)
		return ret;
	ret = offload ? open_tun(t, name, true) : -EOPNOTSUPP;
	if (ret == -EOPNOTSUPP || ret == -EINVAL)
		ret = open_tun(t, name, false);
	if (!ret) {
		sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", t->name);
		if (sock < 0 || ioctl(sock, SIOCGIFINDEX, &ifr) < 0) {
			ret = -errno;
			tun_close(t);
		} else {
			t->ifindex = ifr.ifr_ifindex;
		}
		if (sock >= 0)
			close(sock);
	}
	netns_leave(saved);
	return ret;
}

void tun_close(struct tun *t)
{
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
}
