// SPDX-License-Identifier: MIT
/*
 * weft lab client: an external client of the lab's cluster (docs/clusters.md,
 * "External clients"), as an operator would make one: `weft client add`
 * (run from the underlay, with the lab's cli.json) writes its wg-quick
 * file, and `wg-quick up` with weft-wg dials in from weft-lab-client, a
 * namespace on the underlay with nothing of the cluster but that file.
 * lab check then pings every pod from it and it from every pod.
 */
#include "lab.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proc.h"
#include "util/buf.h"

#define CLIENT_NAME "laptop"

/* The Address line of the client's file, as a JSON list. */
static json_t *file_addresses(const char *path)
{
	json_t *out = json_array();
	char line[512];
	FILE *f = fopen(path, "re");

	while (f && fgets(line, sizeof(line), f)) {
		char *p, *save = NULL;

		if (strncmp(line, "Address = ", 10))
			continue;
		line[strcspn(line, "\r\n")] = '\0';
		for (p = strtok_r(line + 10, ", ", &save); p; p = strtok_r(NULL, ", ", &save))
			json_array_append_new(out, json_string(p));
	}
	if (f)
		fclose(f);
	return out;
}

/* Runs argv in namespace ns (env added); prints its output and returns
 * false if it fails. */
static bool run(const char *ns, char *const argv[], char *const env[])
{
	char nspath[128];
	struct buf out = { 0 };
	int status = proc_run(lab_netns_path(nspath, sizeof(nspath), ns), argv, env, NULL, &out);

	if (status)
		fprintf(stderr, "weft lab client: %s in %s failed (%d)%s%s", argv[0], ns, status, out.len ? ":\n" : "\n",
			out.len ? out.data : "");
	buf_free(&out);
	return !status;
}

int lab_client(int argc, char **argv)
{
	char conf[PATH_MAX], cli[PATH_MAX], rec[PATH_MAX], wg[PATH_MAX], wgq[PATH_MAX], env_impl[PATH_MAX + 64],
		err[512], nspath[128];
	struct lab l = { 0 };
	struct opts o;
	json_t *addrs, *pod;
	size_t i, reached = 0, tried = 0;
	int ret;

	if ((ret = opts_parse(&o, "lab client", lab_usage, OPT_LAB, argc, argv)) >= 0)
		return ret;
	if (o.nargs)
		return usage_error(&o, "unexpected argument \"%s\"", o.args[0]);
	if (geteuid())
		return failure(&o, "the lab needs root: its namespaces and processes are root's");
	l.o = &o;
	l.dir = o.dir ?: LAB_DIR_DEFAULT;
	if (!(l.rec = lab_load(l.dir)))
		return failure(&o, "no lab in %s (weft lab up starts one)", l.dir);
	if (strcmp(jstr(l.rec, "state") ?: "", "up")) {
		ret = failure(&o, "the lab in %s is not up (its state: %s): weft lab down, then up", l.dir,
			      jstr(l.rec, "state") ?: "unknown");
		goto out;
	}
	if (json_object_get(l.rec, "client")) {
		ret = failure(&o, "the lab has its client already, in %s (weft lab status shows it)", LAB_CLIENT);
		goto out;
	}
	if ((ret = lab_programs(&l)) >= 0)
		goto out;
	if (lab_find_program(&l, "weft-wg", wg, sizeof(wg)) || lab_find_program(&l, "wg-quick", wgq, sizeof(wgq))) {
		ret = failure(&o, "the client needs weft-wg (next to weft, or in PATH) and wg-quick (wireguard-tools)");
		goto out;
	}
	if ((ret = labnet_client(json_is_true(json_object_get(json_object_get(l.rec, "settings"), "ipv6")), err,
				 sizeof(err)))) {
		ret = failure(&o, "%s", err);
		goto out;
	}
	/* wg-quick names the interface after the file. */
	lab_path(&l, conf, sizeof(conf), "client");
	if (mkdir(conf, 0700) && errno != EEXIST) {
		ret = failure(&o, "cannot make %s: %s", conf, strerror(errno));
		goto out;
	}
	lab_path(&l, conf, sizeof(conf), "client/%s.conf", LAB_CLIENT);
	lab_path(&l, cli, sizeof(cli), "cli.json");
	{
		char *add[] = { l.self, "client", "add", CLIENT_NAME, "-o", conf, "--config", cli, NULL };
		char *up[] = { wgq, "up", conf, NULL };
		char *env[] = { env_impl, NULL };

		snprintf(env_impl, sizeof(env_impl), "WG_QUICK_USERSPACE_IMPLEMENTATION=%s", wg);
		/* The manager is reached from the underlay, as the nodes reach it. */
		if (!run(LAB_NET, add, NULL) || !run(LAB_CLIENT, up, env)) {
			ret = EXIT_FAIL;
			goto out;
		}
	}
	addrs = file_addresses(conf);
	json_object_set_new(l.rec, "client",
			    json_pack("{s:s, s:s, s:o, s:s, s:s}", "name", CLIENT_NAME, "netns", LAB_CLIENT, "addresses",
				      addrs, "config", conf, "device", LAB_CLIENT));
	lab_path(&l, rec, sizeof(rec), "lab.json");
	if (json_dump_file(l.rec, rec, JSON_INDENT(2))) {
		ret = failure(&o, "cannot write %s", rec);
		goto out;
	}
	/* Its first handshake with each node, so that the nodes know where
	 * it is when a pod answers, or pings it first (lab check). */
	json_array_foreach(json_object_get(l.rec, "pods"), i, pod) {
		json_t *a;
		size_t k;

		json_array_foreach(json_object_get(pod, "addresses"), k, a) {
			char addr[64], *ping[] = { "ping", "-c", "1", "-w", "5", "-q", addr, NULL };

			snprintf(addr, sizeof(addr), "%s", json_string_value(a) ?: "");
			addr[strcspn(addr, "/")] = '\0';
			++tried;
			reached += proc_run(lab_netns_path(nspath, sizeof(nspath), LAB_CLIENT), ping, NULL, NULL, NULL) == 0;
		}
	}
	printf("client %s (%s) dials in from %s with wg-quick and weft-wg (%s); it reached %zu of %zu pod "
	       "addresses. weft lab check pings it from every pod and every pod from it.\n",
	       CLIENT_NAME, fmt_join(err, sizeof(err), addrs, ", "), LAB_CLIENT, conf, reached, tried);
	ret = reached == tried ? EXIT_OK : EXIT_FAIL;
out:
	json_decref(l.rec);
	return ret;
}
