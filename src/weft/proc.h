/* SPDX-License-Identifier: MIT */
/* Running programs inside network namespaces (proc.c). */
#ifndef WEFT_CLI_PROC_H
#define WEFT_CLI_PROC_H

#include <stdbool.h>
#include <sys/types.h>

#include "util/buf.h"

/* Runs argv (looked up in PATH unless argv[0] holds a '/') inside the
 * namespace at netns (a path such as /var/run/netns/NAME; NULL: ours), with
 * env's NAME=VALUE added, input on its stdin (NULL: /dev/null) and its
 * stdout and stderr appended to out (NULL: discarded, out NUL-terminated).
 * Returns its exit status (127: it could not be started; 128+N: killed by
 * signal N), or a negative errno. */
int proc_run(const char *netns, char *const argv[], char *const env[], const char *input, struct buf *out);

/* Starts argv as a daemon in netns, in a session of its own, its output
 * appended to log. Returns its pid or a negative errno. A daemon that
 * exits at once is seen by the caller waiting on it (waitpid). */
pid_t proc_start(const char *netns, char *const argv[], const char *log);

/* Starts argv in netns, its output discarded, for the caller to wait on. */
pid_t proc_spawn(const char *netns, char *const argv[]);

bool proc_alive(pid_t pid);

#endif
