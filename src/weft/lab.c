// SPDX-License-Identifier: MIT
/*
 * weft lab up|check|status|down: the manager, N nodes' weftd and M pods a
 * node on this machine, each in a network namespace of its own (lab.h has
 * the picture, docs/lab.md the rest). This file has what the subcommands
 * share; each has a file of its own: lab_up.c, lab_status.c, lab_check.c,
 * lab_down.c.
 */
#include "lab.h"

#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char lab_usage[] =
	"Usage: weft lab up [--nodes N] [--pods M] [--mode mesh|hub] [--no-ipv6] [--backend auto|kernel|userspace]\n"
	"                   [--dir DIR]\n"
	"       weft lab check [--dir DIR] [--json]\n"
	"       weft lab status [--dir DIR] [--json]\n"
	"       weft lab client [--dir DIR]\n"
	"       weft lab down [--dir DIR]\n"
	"A whole cluster on this machine, in network namespaces only: weft-lab-net (the underlay\n"
	"bridge and weft-manager), weft-lab-n1..nN (a weftd each), weft-lab-nK-pJ (pods attached by\n"
	"weft-cni). Defaults: 3 nodes, 2 pods each, mode mesh, IPv4 and IPv6, backend auto,\n"
	"DIR " LAB_DIR_DEFAULT ". check pings every pod from every other and fails on any loss; status\n"
	"says how to step inside; client adds an external client (weft client add) in weft-lab-client\n"
	"on the underlay, dialing in with wg-quick and weft-wg, which check then pings from and to;\n"
	"down removes every namespace, process and file the lab made.\n"
	"weft-manager, weftd and weft-cni are taken from weft's own folder first, then PATH.\n";

const char *lab_path(const struct lab *l, char *buf, size_t len, const char *fmt, ...)
{
	int n = snprintf(buf, len, "%s/", l->dir);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf + n, len - (size_t)n, fmt, ap);
	va_end(ap);
	return buf;
}

void lab_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

json_t *lab_load(const char *dir)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/lab.json", dir);
	return json_load_file(path, 0, NULL);
}

/* A weft program next to this weft, else in PATH (weft-cni also in
 * /opt/cni/bin as "weft"). */
int lab_find_program(struct lab *l, const char *name, char *out, size_t len)
{
	char dirbuf[PATH_MAX], *path, *save = NULL, *d;
	const char *env = getenv("PATH");
	int found = 0;

	snprintf(dirbuf, sizeof(dirbuf), "%s", l->self);
	snprintf(out, len, "%s/%s", dirname(dirbuf), name);
	if (l->self[0] && !access(out, X_OK))
		return 0;
	path = strdup(env ? env : "/usr/local/bin:/usr/bin:/bin");
	for (d = strtok_r(path, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
		snprintf(out, len, "%s/%s", d, name);
		found = *d && !access(out, X_OK);
	}
	free(path);
	if (!found && !strcmp(name, "weft-cni")) {
		snprintf(out, len, "/opt/cni/bin/weft");
		found = !access(out, X_OK);
	}
	return found ? 0 : -ENOENT;
}

int lab_programs(struct lab *l)
{
	const struct {
		const char *name;
		char *out;
	} progs[] = { { "weft-manager", l->manager }, { "weftd", l->weftd }, { "weft-cni", l->cni } };
	ssize_t n = readlink("/proc/self/exe", l->self, sizeof(l->self) - 1);

	l->self[n > 0 ? n : 0] = '\0';
	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); ++i)
		if (lab_find_program(l, progs[i].name, progs[i].out, PATH_MAX))
			return failure(l->o, "cannot find %s next to %s or in PATH: build it (make) or install it "
					     "(make install)", progs[i].name, l->self[0] ? l->self : "weft");
	return -1;
}

int lab_main(int argc, char **argv)
{
	static const struct subcommand subs[] = {
		{ "up", lab_up }, { "check", lab_check }, { "status", lab_status },
		{ "client", lab_client }, { "down", lab_down }, { NULL, NULL },
	};

	return subcommand_run("lab", lab_usage, subs, argc, argv);
}
