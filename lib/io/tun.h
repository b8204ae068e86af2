/* SPDX-License-Identifier: MIT */
/* TUN interfaces. */
#ifndef WEFT_TUN_H
#define WEFT_TUN_H

#include <net/if.h>
#include <stdbool.h>

struct tun {
	int fd;
	int ifindex;
	char name[IF_NAMESIZE];
	/* Packets carry a virtio_net_hdr and may be TCP segmentation
	 * offload "super-packets" (see offload.h). */
	bool vnet_hdr;
};

/* Creates (or attaches to) TUN interface name inside the namespace ns_fd
 * (-1: this thread's), non-blocking. With offload, asks for checksum and
 * TCP segmentation offload and falls back to plain packets if the kernel
 * refuses. Returns 0 or a negative errno. */
int tun_create(struct tun *t, const char *name, int ns_fd, bool offload);
void tun_close(struct tun *t);

#endif
