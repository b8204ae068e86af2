// SPDX-License-Identifier: MIT
/*
 * weft lab check: every pod pings every other, over IPv4 and IPv6; the
 * external client (weft lab client), if there is one, counts as a pod
 * there. Then beyond the pods: every pod pings the host outside the
 * cluster and every node's underlay address, which answer only what leaves
 * masqueraded (docs/cni.md, "Pods' egress").
 */
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

/* Rows: the pods; columns: cols (pods, or what is beyond them). */
static void print_matrix(json_t *pods, json_t *cols, struct ping *pings, size_t n, int family)
{
	size_t np = json_array_size(pods), nc = json_array_size(cols), k = 0;
	int w = 7;

	for (size_t i = 0; i < np + nc; ++i) {
		json_t *x = i < np ? json_array_get(pods, i) : json_array_get(cols, i - np);

		if ((int)strlen(jstr(x, "name")) > w)
			w = (int)strlen(jstr(x, "name"));
	}
	printf("IPv%d%*s", family, w - 4, "");
	for (size_t j = 0; j < nc; ++j)
		printf("  %-*s", j + 1 < nc ? w : 0, jstr(json_array_get(cols, j), "name"));
	printf("\n");
	for (size_t i = 0; i < np; ++i) {
		printf("%-*s", w, jstr(json_array_get(pods, i), "name"));
		for (size_t j = 0; j < nc; ++j) {
			const char *cell = "-";

			for (k = 0; k < n; ++k)
				if (pings[k].from == i && pings[k].to == j && pings[k].family == family)
					cell = pings[k].ok ? "ok" : "FAIL";
			printf("  %-*s", j + 1 < nc ? w : 0, cell);
		}
		printf("\n");
	}
}

/* What is beyond the pods, as columns: the host outside, every node. */
static json_t *beyond(json_t *rec)
{
	json_t *cols = json_array(), *o = json_object_get(rec, "outside"), *n;
	size_t i;

	if (o)
		json_array_append_new(cols, json_pack("{s:s, s:s?, s:s?}", "name", "outside", "address",
						      jstr(o, "address"), "address6", jstr(o, "address6")));
	json_array_foreach(json_object_get(rec, "nodes"), i, n)
		json_array_append_new(cols, json_pack("{s:s, s:s?, s:s?}", "name", jstr(n, "name"), "address",
						      jstr(n, "address"), "address6", jstr(n, "address6")));
	return cols;
}

/* The address of a family of a column: a pod's, or beyond's. */
static bool col_addr(json_t *col, bool pods, int family, char *out, size_t len)
{
	const char *s = jstr(col, family == 6 ? "address6" : "address");

	if (pods)
		return pod_addr(col, family, out, len);
	if (s)
		snprintf(out, len, "%s", s);
	return s;
}

/* One set of pings: from every pod to every column but itself. */
struct pings {
	json_t *cols;
	bool pods; /* the columns are the pods */
	struct ping *pings;
	size_t n, ok[7], total[7];
};

static int pings_fill(struct pings *t, json_t *pods, int nfam)
{
	static const int families[2] = { 4, 6 };
	size_t np = json_array_size(pods), nc = json_array_size(t->cols);
	char addr[64];

	t->pings = calloc(np * nc * 2 + 1, sizeof(*t->pings));
	if (!t->pings)
		return -1;
	for (int f = 0; f < nfam; ++f)
		for (size_t i = 0; i < np; ++i)
			for (size_t j = 0; j < nc; ++j)
				if (!(t->pods && i == j) &&
				    col_addr(json_array_get(t->cols, j), t->pods, families[f], addr, sizeof(addr))) {
					t->pings[t->n] = (struct ping){ .from = i, .to = j, .family = families[f] };
					snprintf(t->pings[t->n++].addr, sizeof(addr), "%s", addr);
				}
	return 0;
}

static void pings_report(struct pings *t, json_t *pods, json_t *report)
{
	for (size_t k = 0; k < t->n; ++k) {
		struct ping *p = &t->pings[k];

		t->total[p->family]++;
		t->ok[p->family] += p->ok;
		json_array_append_new(report, json_pack("{s:s, s:s, s:s, s:b}", "from",
							jstr(json_array_get(pods, p->from), "name"), "to",
							jstr(json_array_get(t->cols, p->to), "name"), "address", p->addr,
							"ok", p->ok));
	}
}

static void pings_print(struct pings *t, json_t *pods, int nfam, const char *what)
{
	static const int families[2] = { 4, 6 };

	for (int f = 0; f < nfam; ++f) {
		print_matrix(pods, t->cols, t->pings, t->n, families[f]);
		printf("\n");
	}
	for (size_t k = 0; k < t->n; ++k)
		if (!t->pings[k].ok)
			printf("FAIL %s -> %s (%s)\n", jstr(json_array_get(pods, t->pings[k].from), "name"),
			       jstr(json_array_get(t->cols, t->pings[k].to), "name"), t->pings[k].addr);
	printf("%s: IPv4 %zu of %zu answered", what, t->ok[4], t->total[4]);
	if (nfam == 2)
		printf("; IPv6 %zu of %zu", t->ok[6], t->total[6]);
	printf("\n");
}

int lab_check(int argc, char **argv)
{
	struct opts o;
	json_t *rec, *pods, *all, *src[2], *report[2];
	struct pings t[2] = { { .pods = true }, { .pods = false } };
	size_t passed = 0, failed = 0;
	int ret, nfam;
	bool built;

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
	pods = json_object_get(rec, "pods");
	/* The external client (weft lab client) pings and is pinged as a pod;
	 * what lies beyond the pods is the pods' to reach. */
	all = json_copy(pods);
	if (json_object_get(rec, "client"))
		json_array_append_new(all, json_pack("{s:s, s:O, s:O}", "name", "client", "netns",
						     json_object_get(json_object_get(rec, "client"), "netns"), "addresses",
						     json_object_get(json_object_get(rec, "client"), "addresses")));
	src[0] = all;
	src[1] = pods;
	nfam = json_is_true(json_object_get(json_object_get(rec, "settings"), "ipv6")) ? 2 : 1;
	t[0].cols = json_incref(all);
	t[1].cols = beyond(rec);
	built = !pings_fill(&t[0], all, nfam) && !pings_fill(&t[1], pods, nfam);
	for (int k = 0; k < 2; ++k) {
		report[k] = json_array();
		if (!built)
			continue;
		ping_all(src[k], t[k].pings, t[k].n, PING_DEADLINE_S);
		ping_all(src[k], t[k].pings, t[k].n, PING_RETRY_DEADLINE_S);
		pings_report(&t[k], src[k], report[k]);
		for (int f = 4; f <= 6; f += 2) {
			passed += t[k].ok[f];
			failed += t[k].total[f] - t[k].ok[f];
		}
	}
	if (o.json) {
		json_t *out = json_pack("{s:o, s:o, s:i, s:i}", "pings", report[0], "beyond", report[1], "passed",
					(int)passed, "failed", (int)failed);

		json_print(stdout, out);
		json_decref(out);
	} else {
		pings_print(&t[0], all, nfam, "pod to pod");
		printf("\n");
		pings_print(&t[1], pods, nfam, "beyond the pods (the host outside, every node on the underlay)");
		json_decref(report[0]);
		json_decref(report[1]);
	}
	ret = built && !failed ? EXIT_OK : EXIT_FAIL;
	for (int k = 0; k < 2; ++k) {
		free(t[k].pings);
		json_decref(t[k].cols);
	}
	json_decref(all);
	json_decref(rec);
	return ret;
}
