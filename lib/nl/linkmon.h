/* SPDX-License-Identifier: MIT */
/* Watches one interface through rtnetlink: up/down, MTU, deletion. A
 * socket of its own, bound to RTMGRP_LINK and read without blocking, for
 * weft-wg's event loop (lib/io/uwg.c); everything else goes through nl.h. */
#ifndef WEFT_LINKMON_H
#define WEFT_LINKMON_H

#include <stdbool.h>
#include <stdint.h>

struct mnl_socket;

struct linkmon {
	struct mnl_socket *nl;
	int ifindex;
	uint32_t seq;
};

struct link_state {
	bool exists;
	bool up;
	uint32_t mtu;
};

/* Opens a monitor for ifindex in namespace ns_fd (-1: this thread's), and
 * asks for the current state (arrives through linkmon_read). */
int linkmon_open(struct linkmon *m, int ifindex, int ns_fd);
void linkmon_close(struct linkmon *m);
int linkmon_fd(const struct linkmon *m);
/* Reads pending messages; updates *st and returns 1 if ours changed, 0 if
 * not, or a negative errno. */
int linkmon_read(struct linkmon *m, struct link_state *st);

#endif
