// SPDX-License-Identifier: MIT
/*
 * Running other programs (ping, weft-cni, the daemons) inside a network
 * namespace: fork, enter the namespace in the child, exec. The parent
 * never leaves its own namespace.
 */
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* In the child: into the namespace, stdio as asked, then exec. Never
 * returns; 127 tells the parent the program could not be started. */
static void child(const char *netns, char *const argv[], char *const env[], int in, int out, int err)
{
	int fd;

	if (netns) {
		fd = open(netns, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || setns(fd, CLONE_NEWNET))
			_exit(127);
	}
	if (dup2(in, STDIN_FILENO) < 0 || dup2(out, STDOUT_FILENO) < 0 || dup2(err, STDERR_FILENO) < 0)
		_exit(127);
	for (; env && *env; ++env)
		putenv(*env);
	execvp(argv[0], argv);
	_exit(127);
}

static int exit_status(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

int proc_run(const char *netns, char *const argv[], char *const env[], const char *input, struct buf *out)
{
	int inp[2] = { -1, -1 }, outp[2] = { -1, -1 }, null, st, ret;
	pid_t pid;

	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0)
		return -errno;
	if ((input && pipe2(inp, O_CLOEXEC)) || (out && pipe2(outp, O_CLOEXEC))) {
		ret = -errno;
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		ret = -errno;
		goto out;
	}
	if (!pid)
		child(netns, argv, env, input ? inp[0] : null, out ? outp[1] : null, out ? outp[1] : null);
	if (input) {
		close(inp[0]);
		inp[0] = -1;
		/* Small (a CNI configuration): it fits the pipe before the child reads. */
		if (write(inp[1], input, strlen(input)) < 0)
			ret = -errno;
		close(inp[1]);
		inp[1] = -1;
	}
	if (out) {
		char chunk[4096];
		ssize_t n;

		close(outp[1]);
		outp[1] = -1;
		while ((n = read(outp[0], chunk, sizeof(chunk))) > 0 || (n < 0 && errno == EINTR))
			if (n > 0)
				buf_append(out, chunk, (size_t)n);
		if (!buf_append(out, "", 1))
			--out->len; /* NUL-terminated, not counted */
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR) {
			ret = -errno;
			goto out;
		}
	ret = exit_status(st);
out:
	for (int i = 0; i < 2; ++i) {
		if (inp[i] >= 0)
			close(inp[i]);
		if (outp[i] >= 0)
			close(outp[i]);
	}
	close(null);
	return ret;
}

static pid_t spawn(const char *netns, char *const argv[], const char *log, bool session)
{
	int null, fd;
	pid_t pid;

	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	fd = log ? open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600) : dup(null);
	if (null < 0 || fd < 0) {
		pid = -errno;
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		pid = -errno;
		goto out;
	}
	if (!pid) {
		/* Its own session: a daemon outlives this command, and a ^C in
		 * the terminal that started it. */
		if (session)
			setsid();
		child(netns, argv, NULL, null, fd, fd);
	}
out:
	if (null >= 0)
		close(null);
	if (fd >= 0)
		close(fd);
	return pid;
}

pid_t proc_start(const char *netns, char *const argv[], const char *log)
{
	return spawn(netns, argv, log, true);
}

pid_t proc_spawn(const char *netns, char *const argv[])
{
	return spawn(netns, argv, NULL, false);
}

bool proc_alive(pid_t pid)
{
	char path[32], stat[256], *p;
	FILE *f;
	size_t n;

	if (pid <= 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (!(f = fopen(path, "re")))
		return false;
	n = fread(stat, 1, sizeof(stat) - 1, f);
	fclose(f);
	stat[n] = '\0';
	/* "PID (NAME) STATE ...": a zombie has exited, only not been reaped. */
	p = strrchr(stat, ')');
	return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}
