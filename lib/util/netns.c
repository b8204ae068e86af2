// SPDX-License-Identifier: MIT
#include "util/netns.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
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

int netns_create(const char *name)
{
	char path[PATH_MAX];
	bool bound = false;
	int fd, st, ret = 0;
	pid_t pid;

	if (!*name || strchr(name, '/') || snprintf(path, sizeof(path), NETNS_RUN_DIR "/%s", name) >= (int)sizeof(path))
		return -EINVAL;
	if (mkdir(NETNS_RUN_DIR, 0755) && errno != EEXIST)
		return -errno;
	/* As ip-netns(8) does: the directory is a shared mount point, so that
	 * the bind mounts on it reach every mount namespace (ip netns exec
	 * makes one of its own). */
	while (mount("", NETNS_RUN_DIR, "none", MS_SHARED | MS_REC, NULL)) {
		if (errno != EINVAL || bound)
			return -errno;
		if (mount(NETNS_RUN_DIR, NETNS_RUN_DIR, "none", MS_BIND | MS_REC, NULL))
			return -errno;
		bound = true;
	}
	fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	close(fd);
	/* A child makes the namespace and pins it: we keep our own. */
	pid = fork();
	if (pid < 0) {
		ret = -errno;
	} else if (!pid) {
		if (unshare(CLONE_NEWNET) || mount("/proc/self/ns/net", path, "none", MS_BIND, NULL))
			_exit(errno & 0x7f);
		_exit(0);
	} else {
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		if (!WIFEXITED(st) || WEXITSTATUS(st))
			ret = WIFEXITED(st) && WEXITSTATUS(st) ? -WEXITSTATUS(st) : -EIO;
	}
	if (ret)
		unlink(path);
	return ret;
}

int netns_delete(const char *name)
{
	char path[PATH_MAX];

	if (!*name || strchr(name, '/') || snprintf(path, sizeof(path), NETNS_RUN_DIR "/%s", name) >= (int)sizeof(path))
		return -EINVAL;
	umount2(path, MNT_DETACH);
	return unlink(path) ? -errno : 0;
}

int netns_pids(const char *path, int *pids, int max)
{
	struct stat want, st;
	struct dirent *e;
	char p[64];
	int n = 0;
	DIR *d;

	if (stat(path, &want))
		return -errno;
	if (!(d = opendir("/proc")))
		return -errno;
	while ((e = readdir(d))) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(p, sizeof(p), "/proc/%.20s/ns/net", e->d_name);
		if (stat(p, &st) || st.st_dev != want.st_dev || st.st_ino != want.st_ino)
			continue;
		if (n < max)
			pids[n] = atoi(e->d_name);
		++n;
	}
	closedir(d);
	return n;
}
