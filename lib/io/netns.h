/* SPDX-License-Identifier: MIT */
/* Running a step inside another network namespace, on this thread only. */
#ifndef WEFT_NETNS_H
#define WEFT_NETNS_H

/* Opens a namespace handle: a path (/var/run/netns/NAME, /proc/PID/ns/net)
 * or NULL for this thread's own. Returns an fd or a negative errno. */
int netns_open(const char *path);
/* Switches this thread to ns_fd (-1: stay); *saved receives a handle to
 * return with. Returns 0 or a negative errno. */
int netns_enter(int ns_fd, int *saved);
/* Returns to the saved namespace and closes the handle. */
void netns_leave(int saved);

#endif
