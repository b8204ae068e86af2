// SPDX-License-Identifier: MIT
/* weft lab status: what the lab's record says, and whether it runs. */
#include "lab.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proc.h"

void lab_print_hints(struct lab *l)
{
	json_t *n1 = json_array_get(json_object_get(l->rec, "nodes"), 0), *pods = json_object_get(l->rec, "pods");
	json_t *p1 = json_array_get(pods, 0), *plast = json_array_get(pods, json_array_size(pods) - 1);
	const char *weft = l->self[0] ? l->self : "weft";
	char cli[PATH_MAX], addr[64];

	if (!n1)
		return;
	lab_path(l, cli, sizeof(cli), "cli.json");
	printf("\nStep inside:\n");
	printf("  ip netns exec %s %s status --socket %s\n", jstr(n1, "netns"), weft, jstr(n1, "socket"));
	printf("  ip netns exec %s %s pods --socket %s\n", jstr(n1, "netns"), weft, jstr(n1, "socket"));
	printf("  ip netns exec %s %s nodes --config %s\n", jstr(n1, "netns"), weft, cli);
	printf("  ip netns exec %s wg show %s\n", jstr(n1, "netns"), jstr(n1, "device"));
	if (p1 && plast && p1 != plast) {
		snprintf(addr, sizeof(addr), "%s",
			 json_string_value(json_array_get(json_object_get(plast, "addresses"), 0)) ?: "");
		addr[strcspn(addr, "/")] = '\0';
		printf("  ip netns exec %s ping %s\n", jstr(p1, "netns"), addr);
		printf("  ip netns exec %s %s diagnose %s %s --socket %s --config %s\n", jstr(n1, "netns"), weft,
			jstr(p1, "containerID"), addr, jstr(n1, "socket"), cli);
	}
	printf("Logs: %s/manager.log, %s/nK/weftd.log. weft lab check pings every pod from every other.\n", l->dir,
	       l->dir);
}

static bool running(json_t *obj)
{
	return proc_alive((pid_t)json_integer_value(json_object_get(obj, "pid")));
}

int lab_status(int argc, char **argv)
{
	static const char *const nhead[] = { "NODE", "NAMESPACE", "UNDERLAY", "WEFTD", "SOCKET" };
	static const char *const phead[] = { "POD", "NAMESPACE", "NODE", "ADDRESSES" };
	struct opts o;
	struct lab l = { .o = &o };
	char *names[LAB_MAX_NS], pid[48], addrs[256], path[128];
	json_t *m, *n, *p;
	struct table t;
	int ret, nns;
	size_t i;

	if ((ret = opts_parse(&o, "lab status", lab_usage, OPT_LAB | OPT_JSON, argc, argv)) >= 0)
		return ret;
	if (o.nargs)
		return usage_error(&o, "unexpected argument \"%s\"", o.args[0]);
	l.dir = o.dir ?: LAB_DIR_DEFAULT;
	lab_programs(&l); /* for l.self, in the hints */
	nns = labnet_list(names, LAB_MAX_NS);
	if (!(l.rec = lab_load(l.dir))) {
		if (nns)
			failure(&o, "no lab record in %s, but %d weft-lab-* namespace%s: weft lab down removes them", l.dir,
				nns, nns == 1 ? "" : "s");
		else
			failure(&o, "no lab is up (weft lab up starts one)");
		for (int k = 0; k < nns; ++k)
			free(names[k]);
		return EXIT_FAIL;
	}
	for (int k = 0; k < nns; ++k)
		free(names[k]);
	m = json_object_get(l.rec, "manager");
	if (o.json) {
		json_object_set_new(m, "running", json_boolean(running(m)));
		json_array_foreach(json_object_get(l.rec, "nodes"), i, n)
			json_object_set_new(n, "running", json_boolean(running(n)));
		json_array_foreach(json_object_get(l.rec, "pods"), i, p)
			json_object_set_new(p, "present", json_boolean(!access(lab_netns_path(path, sizeof(path),
											 jstr(p, "netns")), F_OK)));
		json_print(stdout, l.rec);
		json_decref(l.rec);
		return EXIT_OK;
	}
	n = json_object_get(l.rec, "settings");
	printf("lab in %s (%s): %lld nodes, %lld pods each, mode %s, %s, backend %s\n", l.dir, jstr(l.rec, "state"),
	       json_integer_value(json_object_get(n, "nodes")), json_integer_value(json_object_get(n, "pods")),
	       jstr(n, "mode"), json_is_true(json_object_get(n, "ipv6")) ? "IPv4 and IPv6" : "IPv4", jstr(n, "backend"));
	if (m)
		printf("manager %s in %s, pid %lld %s\n\n", jstr(m, "url"), jstr(m, "netns"),
		       json_integer_value(json_object_get(m, "pid")), running(m) ? "running" : "NOT RUNNING");
	table_init(&t, 5, nhead);
	json_array_foreach(json_object_get(l.rec, "nodes"), i, n) {
		const char *row[5] = { jstr(n, "name"), jstr(n, "netns"), jstr(n, "address"), pid, jstr(n, "socket") };

		snprintf(pid, sizeof(pid), "pid %lld %s", json_integer_value(json_object_get(n, "pid")),
			 running(n) ? "running" : "NOT RUNNING");
		table_row(&t, row);
	}
	table_print(&t, stdout);
	table_free(&t);
	putchar('\n');
	table_init(&t, 4, phead);
	json_array_foreach(json_object_get(l.rec, "pods"), i, p) {
		const char *row[4] = { jstr(p, "name"), jstr(p, "netns"), jstr(p, "node"),
				       fmt_join(addrs, sizeof(addrs), json_object_get(p, "addresses"), ",") };

		table_row(&t, row);
	}
	table_print(&t, stdout);
	table_free(&t);
	if ((p = json_object_get(l.rec, "client")))
		printf("\nexternal client %s in %s: %s, dialing in with wg-quick up %s\n", jstr(p, "name"), jstr(p, "netns"),
		       fmt_join(addrs, sizeof(addrs), json_object_get(p, "addresses"), ","), jstr(p, "config"));
	lab_print_hints(&l);
	json_decref(l.rec);
	return EXIT_OK;
}
