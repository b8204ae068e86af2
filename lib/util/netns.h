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

/* Named namespaces, kept as ip-netns(8) keeps them: a file under
 * NETNS_RUN_DIR with the namespace bind-mounted on it, so that it lives
 * with no process in it, and `ip netns exec NAME` finds it. */
#define NETNS_RUN_DIR "/var/run/netns"

/* Makes the namespace NAME. 0 or a negative errno (-EEXIST: taken). */
int netns_create(const char *name);
/* Unpins NAME: the namespace goes once no process or socket holds it.
 * 0 or a negative errno (-ENOENT: no such name). */
int netns_delete(const char *name);
/* The pids of the processes whose network namespace is the one at path,
 * up to max of them: how many there are, or a negative errno. */
int netns_pids(const char *path, int *pids, int max);

#endif
