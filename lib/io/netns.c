// SPDX-License-Identifier: MIT
#include "netns.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

int netns_open(const char *path)
{
	int fd = open(path ? path : "/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

int netns_enter(int ns_fd, int *saved)
{
	*saved = -1;
	if (ns_fd < 0)
		return 0;
	*saved = netns_open(NULL);
	if (*saved < 0)
		return *saved;
	if (setns(ns_fd, CLONE_NEWNET)) {
		int err = -errno;

		close(*saved);
		*saved = -1;
		return err;
	}
	return 0;
}

void netns_leave(int saved)
{
	if (saved < 0)
		return;
	/* Failing to return would leave this thread in the wrong place for
	 * everything after: there is no safe way on. */
	if (setns(saved, CLONE_NEWNET))
		abort();
	close(saved);
}
