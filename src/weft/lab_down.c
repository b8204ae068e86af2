// SPDX-License-Identifier: MIT
/*
 * weft lab down: finds every weft-lab-* namespace and every process in one,
 * record or not, stops them and removes them, and the lab's directory.
 */
#include "lab.h"

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/netns.h"

enum {
	STOP_WAIT_S = 5,
	MAX_PIDS = 4096,
};

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path) && errno != ENOENT ? -1 : 0;
}

/* Every process in a lab namespace: TERM (the agents take their devices
 * down), a grace period, then KILL. Returns how many there were. */
static int stop_processes(char **names, int nns)
{
	int pids[MAX_PIDS], total = 0, left = 0;
	char path[128];

	for (int round = 0; round < STOP_WAIT_S * 10 + 20; ++round) {
		left = 0;
		for (int k = 0; k < nns; ++k) {
			int n = netns_pids(lab_netns_path(path, sizeof(path), names[k]), pids, MAX_PIDS);

			for (int i = 0; i < n && i < MAX_PIDS; ++i) {
				if (!round) {
					++total;
					kill(pids[i], SIGTERM);
				} else if (round >= STOP_WAIT_S * 10) {
					kill(pids[i], SIGKILL);
				}
			}
			left += n > 0 ? n : 0;
		}
		if (!left)
			break;
		lab_sleep_ms(100);
	}
	return left ? -left : total;
}

int lab_down(int argc, char **argv)
{
	struct opts o;
	char *names[LAB_MAX_NS], path[PATH_MAX];
	const char *dir;
	int ret, nns, stopped, removed = 0;
	bool recorded;
	json_t *rec, *n;
	size_t i;

	if ((ret = opts_parse(&o, "lab down", lab_usage, OPT_LAB, argc, argv)) >= 0)
		return ret;
	if (o.nargs)
		return usage_error(&o, "unexpected argument \"%s\"", o.args[0]);
	if (geteuid())
		return failure(&o, "the lab needs root: its namespaces and processes are root's");
	dir = o.dir ?: LAB_DIR_DEFAULT;
	nns = labnet_list(names, LAB_MAX_NS);
	stopped = stop_processes(names, nns);
	if (stopped < 0)
		failure(&o, "%d process%s in the lab's namespaces would not stop", -stopped, stopped == -1 ? "" : "es");
	for (int k = 0; k < nns; ++k) {
		if (!netns_delete(names[k]))
			++removed;
		free(names[k]);
	}
	/* A killed userspace agent leaves its devices' sockets behind. */
	rec = lab_load(dir);
	recorded = rec != NULL;
	json_array_foreach(json_object_get(rec, "nodes"), i, n) {
		snprintf(path, sizeof(path), "/var/run/wireguard/%s.sock", jstr(n, "device") ?: "");
		unlink(path);
	}
	/* So does the client's weft-wg (weft lab client), stopped above. */
	unlink("/var/run/wireguard/" LAB_CLIENT ".sock");
	json_decref(rec);
	snprintf(path, sizeof(path), "%s/.weft-lab", dir);
	if (!access(path, F_OK)) {
		if (nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS))
			ret = failure(&o, "cannot remove all of %s: %s", dir, strerror(errno));
	} else if (!access(dir, F_OK)) {
		fprintf(stderr, "weft lab down: %s is not a lab's directory (no .weft-lab in it): left alone\n", dir);
	}
	if (!nns && !recorded)
		printf("weft lab: no lab was up\n");
	else
		printf("weft lab: down: stopped %d process%s, removed %d namespace%s and %s\n", stopped > 0 ? stopped : 0,
		       stopped == 1 ? "" : "es", removed, removed == 1 ? "" : "s", dir);
	return ret >= 0 ? ret : stopped < 0 ? EXIT_FAIL : EXIT_OK;
}
