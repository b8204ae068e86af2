// SPDX-License-Identifier: MIT
/*
 * Simulated node agents against weft-manager's API: no data plane, just
 * what an agent says and hears. Two uses:
 *
 *   simagents register URLS CA TOKENFILE N THREADS PREFIX
 *       N nodes register at once, THREADS at a time, each thread starting
 *       from another manager in URLS; a registration whose answer was lost
 *       (a manager killed under it) is retried, through the next manager.
 *       Prints "registered R of N, errors E".
 *
 *   simagents watch URLS CA TOKENFILE N ROUNDS [MANAGER_PID]
 *       N agents register, then each long-polls GET /v1/peers. The first
 *       agent changes its endpoint ROUNDS times; for each change, the time
 *       from the PATCH's answer until every agent has seen it. Prints the
 *       median and p99 over all (round, agent) pairs, and the manager's
 *       memory (VmRSS, VmHWM) with its pid.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "api/client.h"
#include "crypto/crypto.h"
#include "util/key.h"

static const char *urls, *ca, *prefix = "sim";
static char token[256];
static int nodes, threads, rounds;
static atomic_int next_node, registered, errors;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* URLS rotated by k: each thread leans on another manager first. */
static struct api_client *client(int k)
{
	char list[2048] = "", *parts[16], *copy = strdup(urls), *save = NULL, err[512];
	int n = 0;
	struct api_client *c;

	for (char *t = strtok_r(copy, ",", &save); t && n < 16; t = strtok_r(NULL, ",", &save))
		parts[n++] = t;
	for (int i = 0; i < n; ++i) {
		strcat(list, i ? "," : "");
		strncat(list, parts[(i + k) % n], sizeof(list) - strlen(list) - 1);
	}
	free(copy);
	c = api_client_new(list, ca, err, sizeof(err));
	if (!c) {
		fprintf(stderr, "simagents: %s\n", err);
		exit(1);
	}
	return c;
}

static json_t *node_request(int i, int port)
{
	uint8_t priv[32], pub[32];
	char b64[KEY_B64_LEN], name[64], ep[64];

	x25519_generate_private(priv);
	x25519_public(pub, priv);
	crypto_wipe(priv, sizeof(priv));
	key_to_base64(b64, pub);
	snprintf(name, sizeof(name), "%s-%d", prefix, i);
	snprintf(ep, sizeof(ep), "192.0.2.%d:%d", i % 250 + 1, port);
	return json_pack("{s:s, s:s, s:[s]}", "name", name, "publicKey", b64, "endpoints", ep);
}

/* Registers node i; its credential into cred. 0 or -1. */
static int register_node(struct api_client *c, int i, char *cred, size_t credlen)
{
	json_t *req = node_request(i, 51820), *reply = NULL;
	char err[700];
	int status = -1;

	api_client_token(c, token);
	for (int attempt = 0; attempt < 20; ++attempt) {
		status = api_call(c, "POST", "/v1/nodes", req, 30, &reply, err, sizeof(err));
		if (status == 201) {
			if (cred)
				snprintf(cred, credlen, "%s", json_string_value(json_object_get(reply, "credential")) ?: "");
			break;
		}
		/* Our name taken: names are unique to this run, so an earlier
		 * try of ours went through and its answer was lost, either on
		 * a previous attempt or inside this one, when the client moved
		 * on to the next manager after the first died mid-request. */
		if (status == 409 && strstr(err, "is registered already")) {
			status = 201;
			break;
		}
		json_decref(reply);
		reply = NULL;
		if (status >= 400 && status < 500)
			break;
		usleep(200000);
	}
	if (status != 201)
		fprintf(stderr, "simagents: node %d: %s\n", i, err);
	json_decref(reply);
	json_decref(req);
	return status == 201 ? 0 : -1;
}

static void *registrar(void *arg)
{
	struct api_client *c = client((int)(intptr_t)arg);
	int i;

	while ((i = atomic_fetch_add(&next_node, 1)) < nodes) {
		if (register_node(c, i, NULL, 0))
			atomic_fetch_add(&errors, 1);
		else
			atomic_fetch_add(&registered, 1);
	}
	api_client_free(c);
	return NULL;
}

/* --- watch ------------------------------------------------------------------ */

struct agent {
	int index;
	char cred[200];
	pthread_t thread;
};

static double *seen;	/* [round * nodes + agent]: when it saw round's change */
static double *changed; /* [round]: when the change was acknowledged */
static atomic_bool done;
static atomic_int ready;

/* The round a record's endpoint stands for (its port - 1000), or -1. */
static int round_of(json_t *rec)
{
	const char *ep = json_string_value(json_array_get(json_object_get(rec, "endpoints"), 0));
	const char *colon = ep ? strrchr(ep, ':') : NULL;
	int port = colon ? atoi(colon + 1) : 0;

	return port >= 1000 && port < 1000 + rounds ? port - 1000 : -1;
}

static void *agent_run(void *arg)
{
	struct agent *a = arg;
	struct api_client *c = client(a->index);
	char first[64], path[128], err[700];
	long long since = 0;

	snprintf(first, sizeof(first), "%s-0", prefix);
	api_client_token(c, a->cred);
	while (!atomic_load(&done)) {
		json_t *reply = NULL, *rec;
		size_t i;
		int status;

		snprintf(path, sizeof(path), "/v1/peers?since=%lld&wait=20", since);
		status = api_call(c, "GET", path, NULL, 40, &reply, err, sizeof(err));
		if (status != 200) {
			json_decref(reply);
			usleep(100000);
			continue;
		}
		if (!since)
			atomic_fetch_add(&ready, 1);
		since = json_integer_value(json_object_get(reply, "revision"));
		json_array_foreach(json_object_get(reply, "nodes"), i, rec) {
			int r;

			if (strcmp(json_string_value(json_object_get(rec, "name")) ?: "", first) || (r = round_of(rec)) < 0)
				continue;
			if (!seen[r * nodes + a->index])
				seen[r * nodes + a->index] = now_s();
		}
		json_decref(reply);
	}
	api_client_free(c);
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void memory(const char *pid, long *rss, long *hwm)
{
	char path[64], line[256];
	FILE *f;

	*rss = *hwm = -1;
	snprintf(path, sizeof(path), "/proc/%s/status", pid);
	if (!(f = fopen(path, "r")))
		return;
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "VmRSS: %ld", rss);
		sscanf(line, "VmHWM: %ld", hwm);
	}
	fclose(f);
}

static int watch(const char *pid)
{
	struct agent *agents = calloc((size_t)nodes, sizeof(*agents));
	struct api_client *admin;
	pthread_attr_t attr;
	double *lat, t0;
	size_t nlat = 0;
	long rss0 = -1, hwm0, rss, hwm;
	int missing = 0;

	seen = calloc((size_t)(rounds * nodes), sizeof(double));
	changed = calloc((size_t)rounds, sizeof(double));
	lat = calloc((size_t)(rounds * nodes), sizeof(double));
	if (pid)
		memory(pid, &rss0, &hwm0);
	t0 = now_s();
	{
		struct api_client *c = client(0);

		for (int i = 0; i < nodes; ++i) {
			agents[i].index = i;
			if (register_node(c, i, agents[i].cred, sizeof(agents[i].cred))) {
				fprintf(stderr, "simagents: cannot register node %d\n", i);
				return 1;
			}
		}
		api_client_free(c);
	}
	printf("registered %d nodes in %.1f s\n", nodes, now_s() - t0);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 << 10);
	for (int i = 0; i < nodes; ++i)
		pthread_create(&agents[i].thread, &attr, agent_run, &agents[i]);
	while (atomic_load(&ready) < nodes)
		usleep(10000);
	printf("%d agents watching\n", nodes);
	if (pid) {
		memory(pid, &rss, &hwm);
		printf("manager memory with %d agents watching: VmRSS %ld KiB (%ld KiB before they came), VmHWM %ld KiB\n",
		       nodes, rss, rss0, hwm);
	}
	admin = client(0);
	api_client_token(admin, agents[0].cred);
	for (int r = 0; r < rounds; ++r) {
		char ep[64], path[128], err[700];
		json_t *req, *reply = NULL;
		double deadline;
		int all;

		usleep(300000); /* let every poll settle back into waiting */
		snprintf(ep, sizeof(ep), "192.0.2.1:%d", 1000 + r);
		snprintf(path, sizeof(path), "/v1/nodes/%s-0", prefix);
		req = json_pack("{s:[s]}", "endpoints", ep);
		if (api_call(admin, "PATCH", path, req, 30, &reply, err, sizeof(err)) != 200) {
			fprintf(stderr, "simagents: PATCH: %s\n", err);
			return 1;
		}
		changed[r] = now_s();
		json_decref(req);
		json_decref(reply);
		deadline = changed[r] + 30;
		do {
			all = 1;
			for (int i = 0; i < nodes && all; ++i)
				all = seen[r * nodes + i] != 0;
			if (!all)
				usleep(2000);
		} while (!all && now_s() < deadline);
	}
	atomic_store(&done, true);
	for (int r = 0; r < rounds; ++r)
		for (int i = 0; i < nodes; ++i) {
			if (!seen[r * nodes + i]) {
				++missing;
				continue;
			}
			/* Seen before the PATCH returned: the answer's flight. */
			lat[nlat++] = seen[r * nodes + i] > changed[r] ? seen[r * nodes + i] - changed[r] : 0;
		}
	qsort(lat, nlat, sizeof(double), cmp_double);
	if (nlat)
		printf("change propagation to %d agents over %d rounds: median %.1f ms, p99 %.1f ms, max %.1f ms, "
		       "%d never seen\n",
		       nodes, rounds, lat[nlat / 2] * 1000, lat[(size_t)(nlat * 0.99)] * 1000, lat[nlat - 1] * 1000,
		       missing);
	if (pid) {
		memory(pid, &rss, &hwm);
		printf("manager memory after: VmRSS %ld KiB, VmHWM %ld KiB\n", rss, hwm);
	}
	/* The agents' polls end within their wait; no need to join them. */
	api_client_free(admin);
	return missing ? 1 : 0;
}

static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (!getrlimit(RLIMIT_NOFILE, &rl)) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int read_token(const char *path)
{
	FILE *f = fopen(path, "r");

	if (!f || !fgets(token, sizeof(token), f)) {
		fprintf(stderr, "simagents: cannot read a token from %s\n", path);
		return -1;
	}
	fclose(f);
	token[strcspn(token, "\r\n")] = '\0';
	return 0;
}

int main(int argc, char **argv)
{
	raise_fd_limit();
	crypto_init();
	if (argc >= 8 && !strcmp(argv[1], "register")) {
		pthread_t t[256];

		urls = argv[2];
		ca = argv[3];
		nodes = atoi(argv[5]);
		threads = atoi(argv[6]);
		prefix = argv[7];
		if (read_token(argv[4]) || threads < 1 || threads > 256)
			return 2;
		for (int i = 0; i < threads; ++i)
			pthread_create(&t[i], NULL, registrar, (void *)(intptr_t)i);
		for (int i = 0; i < threads; ++i)
			pthread_join(t[i], NULL);
		printf("registered %d of %d, errors %d\n", atomic_load(&registered), nodes, atomic_load(&errors));
		return atomic_load(&errors) ? 1 : 0;
	}
	if (argc >= 7 && !strcmp(argv[1], "watch")) {
		urls = argv[2];
		ca = argv[3];
		nodes = atoi(argv[5]);
		rounds = atoi(argv[6]);
		if (read_token(argv[4]) || nodes < 1 || rounds < 1)
			return 2;
		return watch(argc > 7 ? argv[7] : NULL);
	}
	fprintf(stderr, "usage: simagents register URLS CA TOKENFILE N THREADS PREFIX\n"
			"       simagents watch URLS CA TOKENFILE N ROUNDS [MANAGER_PID]\n");
	return 2;
}
