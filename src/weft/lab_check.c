// SPDX-License-Identifier: MIT
/* weft lab check: every pod pings every other, over IPv4 and IPv6; the
 * external client (weft lab client), if there is one, counts as a pod. */
#include "lab.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "proc.h"

enum {
	PINGS_AT_ONCE = 32,
	/* One answer within the deadline; a loss is tried again with a longer
	 * one, past WireGuard's handshake retry (5 s and jitter): two nodes'
	 * first handshake may lose a race and wait for that retry. */
	PING_DEADLINE_S = 5,
	PING_RETRY_DEADLINE_S = 12,
};

struct ping {
	size_t from, to;
	int family; /* 4, 6 */
	pid_t pid;
	bool ok, done;
	char addr[64];
};

/* Every ping not yet answered, PINGS_AT_ONCE at a time. */
static void ping_all(json_t *pods, struct ping *pings, size_t n, int seconds)
{
	char nspath[128], deadline[8];
	size_t next = 0, running = 0;

	snprintf(deadline, sizeof(deadline), "%d", seconds);
	for (size_t i = 0; i < n; ++i)
		pings[i].done = pings[i].ok;
	while (next < n || running) {
		int st;
		pid_t pid;

		while (next < n && running < PINGS_AT_ONCE) {
			struct ping *p = &pings[next++];
			char *argv[] = { "ping", p->family == 6 ? "-6" : "-4", "-c", "1", "-w", deadline, "-q", p->addr, NULL };

			if (p->ok)
				continue;
			p->pid = proc_spawn(lab_netns_path(nspath, sizeof(nspath), jstr(json_array_get(pods, p->from), "netns")),
					    argv);
			if (p->pid > 0)
				++running;
			else
				p->done = true;
		}
		if (!running)
			continue;
		if ((pid = waitpid(-1, &st, 0)) < 0)
			break;
		for (size_t i = 0; i < n; ++i)
			if (pings[i].pid == pid && !pings[i].done) {
				pings[i].done = true;
				pings[i].ok = WIFEXITED(st) && !WEXITSTATUS(st);
				--running;
			}
	}
}

/* The pod's address of a family, without its prefix length. */
static bool pod_addr(json_t *pod, int family, char *out, size_t len)
{
	json_t *a;
	size_t i;

	json_array_foreach(json_object_get(pod, "addresses"), i, a) {
		const char *s = json_string_value(a);

		if (s && !!strchr(s, ':') == (family == 6)) {
			snprintf(out, len, "%s", s);
			out[strcspn(out, "/")] = '\0';
			return true;
		}
	}
	return false;
}

static void print_matrix(json_t *pods, struct ping *pings, size_t n, int family)
{
	size_t np = json_array_size(pods), k = 0;
	int w = 6;

	for (size_t i = 0; i < np; ++i)
		if ((int)strlen(jstr(json_array_get(pods, i), "name")) > w)
			w = (int)strlen(jstr(json_array_get(pods, i), "name"));
	printf("IPv%d%*s", family, w - 4, "");
	for (size_t j = 0; j < np; ++j)
		printf("  %-*s", j + 1 < np ? w : 0, jstr(json_array_get(pods, j), "name"));
	printf("\n");
	for (size_t i = 0; i < np; ++i) {
		printf("%-*s", w, jstr(json_array_get(pods, i), "name"));
		for (size_t j = 0; j < np; ++j) {
			const char *cell = "-";

			for (k = 0; k < n; ++k)
				if (pings[k].from == i && pings[k].to == j && pings[k].family == family)
					cell = pings[k].ok ? "ok" : "FAIL";
			printf("  %-*s", j + 1 < np ? w : 0, cell);
		}
		printf("\n");
	}
}

int lab_check(int argc, char **argv)
{
	struct opts o;
	json_t *rec, *pods, *report;
	struct ping *pings;
	size_t np, n = 0, ok[7] = { 0 }, total[7] = { 0 };
	int ret, families[2] = { 4, 6 }, nfam;
	char addr[64];

	if ((ret = opts_parse(&o, "lab check", lab_usage, OPT_LAB | OPT_JSON, argc, argv)) >= 0)
		return ret;
	if (o.nargs)
		return usage_error(&o, "unexpected argument \"%s\"", o.args[0]);
	if (!(rec = lab_load(o.dir ?: LAB_DIR_DEFAULT)))
		return failure(&o, "no lab in %s (weft lab up starts one)", o.dir ?: LAB_DIR_DEFAULT);
	if (strcmp(jstr(rec, "state") ?: "", "up")) {
		json_decref(rec);
		return failure(&o, "the lab in %s is not up (its state: %s): weft lab down, then up", o.dir ?: LAB_DIR_DEFAULT,
			       jstr(rec, "state") ?: "unknown");
	}
	/* The external client (weft lab client) pings and is pinged as a pod. */
	pods = json_copy(json_object_get(rec, "pods"));
	if (json_object_get(rec, "client"))
		json_array_append_new(pods, json_pack("{s:s, s:O, s:O}", "name", "client", "netns",
						      json_object_get(json_object_get(rec, "client"), "netns"), "addresses",
						      json_object_get(json_object_get(rec, "client"), "addresses")));
	np = json_array_size(pods);
	nfam = json_is_true(json_object_get(json_object_get(rec, "settings"), "ipv6")) ? 2 : 1;
	pings = calloc(np * np * 2 + 1, sizeof(*pings));
	for (int f = 0; f < nfam && pings; ++f)
		for (size_t i = 0; i < np; ++i)
			for (size_t j = 0; j < np; ++j)
				if (i != j && pod_addr(json_array_get(pods, j), families[f], addr, sizeof(addr))) {
					pings[n] = (struct ping){ .from = i, .to = j, .family = families[f] };
					snprintf(pings[n++].addr, sizeof(addr), "%s", addr);
				}
	ping_all(pods, pings, n, PING_DEADLINE_S);
	ping_all(pods, pings, n, PING_RETRY_DEADLINE_S);
	report = json_array();
	for (size_t k = 0; k < n; ++k) {
		total[pings[k].family]++;
		ok[pings[k].family] += pings[k].ok;
		json_array_append_new(report, json_pack("{s:s, s:s, s:s, s:b}", "from", jstr(json_array_get(pods, pings[k].from), "name"),
							"to", jstr(json_array_get(pods, pings[k].to), "name"), "address",
							pings[k].addr, "ok", pings[k].ok));
	}
	if (o.json) {
		report = json_pack("{s:o, s:i, s:i}", "pings", report, "passed", (int)(ok[4] + ok[6]), "failed",
				   (int)(total[4] + total[6] - ok[4] - ok[6]));
		json_print(stdout, report);
		json_decref(report);
	} else {
		for (int f = 0; f < nfam; ++f) {
			print_matrix(pods, pings, n, families[f]);
			printf("\n");
		}
		for (size_t k = 0; k < n; ++k)
			if (!pings[k].ok)
				printf("FAIL %s -> %s (%s)\n", jstr(json_array_get(pods, pings[k].from), "name"),
				       jstr(json_array_get(pods, pings[k].to), "name"), pings[k].addr);
		printf("IPv4: %zu of %zu pairs answered", ok[4], total[4]);
		if (nfam == 2)
			printf("; IPv6: %zu of %zu", ok[6], total[6]);
		printf("\n");
		json_decref(report);
	}
	ret = ok[4] + ok[6] == total[4] + total[6] && pings ? EXIT_OK : EXIT_FAIL;
	free(pings);
	json_decref(pods);
	json_decref(rec);
	return ret;
}
