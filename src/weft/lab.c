// SPDX-License-Identifier: MIT
/*
 * weft lab up|check|status|down: the manager, N nodes' weftd and M pods a
 * node on this machine, each in a network namespace of its own (lab.h has
 * the picture, docs/lab.md the rest). What `up` makes it records in
 * DIR/lab.json as it goes, so that `down` can take it all away even after
 * an `up` that failed half-way; `down` also finds every weft-lab-*
 * namespace and every process in one, record or not.
 */
#include "lab.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "agent/agent.h"
#include "util/netns.h"
#include "proc.h"

enum {
	MANAGER_WAIT_S = 20,
	NODES_WAIT_S = 30,
	PEERS_WAIT_S = 20,
	CNI_RETRY_S = 15,
	STOP_WAIT_S = 5,
	PINGS_AT_ONCE = 32,
	/* One answer within the deadline; a loss is tried again with a longer
	 * one, past WireGuard's handshake retry (5 s and jitter): two nodes'
	 * first handshake may lose a race and wait for that retry. */
	PING_DEADLINE_S = 5,
	PING_RETRY_DEADLINE_S = 12,
	MAX_NS = 3000,
	MAX_PIDS = 4096,
};

static const char lab_usage[] =
	"Usage: weft lab up [--nodes N] [--pods M] [--mode mesh|hub] [--no-ipv6] [--backend auto|kernel|userspace]\n"
	"                   [--dir DIR]\n"
	"       weft lab check [--dir DIR] [--json]\n"
	"       weft lab status [--dir DIR] [--json]\n"
	"       weft lab down [--dir DIR]\n"
	"A whole cluster on this machine, in network namespaces only: weft-lab-net (the underlay\n"
	"bridge and weft-manager), weft-lab-n1..nN (a weftd each), weft-lab-nK-pJ (pods attached by\n"
	"weft-cni). Defaults: 3 nodes, 2 pods each, mode mesh, IPv4 and IPv6, backend auto,\n"
	"DIR " LAB_DIR_DEFAULT ". check pings every pod from every other and fails on any loss; status\n"
	"says how to step inside; down removes every namespace, process and file the lab made.\n"
	"weft-manager, weftd and weft-cni are taken from weft's own folder first, then PATH.\n";

struct lab {
	struct opts *o;
	const char *dir;
	char self[PATH_MAX];
	char manager[PATH_MAX], weftd[PATH_MAX], cni[PATH_MAX];
	json_t *rec;
	struct api_client *api;
	int net_fd;
};

static const char *at(const struct lab *l, char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static const char *at(const struct lab *l, char *buf, size_t len, const char *fmt, ...)
{
	int n = snprintf(buf, len, "%s/", l->dir);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf + n, len - (size_t)n, fmt, ap);
	va_end(ap);
	return buf;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	printf("weft lab: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int write_text(const char *path, const char *text, mode_t mode)
{
	FILE *f;
	int ret = 0;

	unlink(path);
	if (!(f = fopen(path, "wxe")))
		return -errno;
	fchmod(fileno(f), mode);
	if (fputs(text, f) < 0)
		ret = -EIO;
	if (fclose(f) && !ret)
		ret = -errno;
	return ret;
}

static int save(struct lab *l)
{
	char path[PATH_MAX], tmp[PATH_MAX];

	at(l, path, sizeof(path), "lab.json");
	at(l, tmp, sizeof(tmp), "lab.json.tmp");
	if (json_dump_file(l->rec, tmp, JSON_INDENT(2)) || rename(tmp, path))
		return -errno;
	return 0;
}

static json_t *load(const char *dir)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/lab.json", dir);
	return json_load_file(path, 0, NULL);
}

/* The last lines of a daemon's log, to say why it stopped. */
static void log_tail(const char *path, int lines)
{
	char buf[8192];
	FILE *f = fopen(path, "re");
	long size;
	size_t n;

	if (!f)
		return;
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, size > (long)sizeof(buf) - 1 ? size - (long)sizeof(buf) + 1 : 0, SEEK_SET);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	for (char *p = buf + n; p > buf; --p)
		if (p[-1] == '\n' && p != buf + n && !lines--) {
			fprintf(stderr, "%s", p);
			return;
		}
	fprintf(stderr, "%s", buf);
}

/* Has our child pid exited? Then *status is how. */
static bool exited(pid_t pid, int *status)
{
	int st;

	if (waitpid(pid, &st, WNOHANG) != pid)
		return false;
	*status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	return true;
}

/* A weft program next to this weft, else in PATH (weft-cni also in
 * /opt/cni/bin as "weft"). */
static int find_program(struct lab *l, const char *name, char *out, size_t len)
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

static int programs(struct lab *l)
{
	const struct {
		const char *name;
		char *out;
	} progs[] = { { "weft-manager", l->manager }, { "weftd", l->weftd }, { "weft-cni", l->cni } };
	ssize_t n = readlink("/proc/self/exe", l->self, sizeof(l->self) - 1);

	l->self[n > 0 ? n : 0] = '\0';
	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); ++i)
		if (find_program(l, progs[i].name, progs[i].out, PATH_MAX))
			return failure(l->o, "cannot find %s next to %s or in PATH: build it (make) or install it "
					     "(make install)", progs[i].name, l->self[0] ? l->self : "weft");
	return -1;
}

/* --- up ------------------------------------------------------------------- */

/* The manager's API, from inside the underlay's namespace. */
static int api(struct lab *l, const char *method, const char *path, json_t *body, json_t **reply, char *err,
	       size_t len)
{
	int saved, ret;

	*reply = NULL;
	if ((ret = netns_enter(l->net_fd, &saved))) {
		snprintf(err, len, "cannot enter " LAB_NET ": %s", strerror(-ret));
		return ret;
	}
	ret = api_call(l->api, method, path, body, 5, reply, err, len);
	netns_leave(saved);
	return ret;
}

static int start_manager(struct lab *l)
{
	char state[PATH_MAX], log[PATH_MAX], ca[PATH_MAX], token[PATH_MAX], err[600], url[64], nspath[128], tok[300];
	char *argv[16] = { l->manager, "--state-dir", state, "--listen", LAB_UNDERLAY "1:7443", "--tls-san",
			   "IP:" LAB_UNDERLAY "1", "--log-level", "verbose", NULL };
	json_t *reply = NULL;
	int st, ret;
	pid_t pid;

	if (!l->o->ipv6) {
		argv[9] = "--cluster-cidr";
		argv[10] = "10.244.0.0/16";
		argv[11] = NULL;
	}
	at(l, state, sizeof(state), "manager");
	at(l, log, sizeof(log), "manager.log");
	at(l, ca, sizeof(ca), "manager/ca.crt");
	at(l, token, sizeof(token), "manager/admin.token");
	snprintf(url, sizeof(url), "https://" LAB_UNDERLAY "1:%d", LAB_MANAGER_PORT);
	pid = proc_start(lab_netns_path(nspath, sizeof(nspath), LAB_NET), argv, log);
	if (pid < 0)
		return failure(l->o, "cannot start %s: %s", l->manager, strerror((int)-pid));
	json_object_set_new(l->rec, "manager",
			    json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:s}", "url", url, "netns", LAB_NET, "pid", pid,
				      "stateDir", state, "ca", ca, "adminToken", token, "readerToken",
				      at(l, err, sizeof(err), "manager/reader.token"), "log", log));
	save(l);
	for (int i = 0; i < MANAGER_WAIT_S * 10; ++i, sleep_ms(100)) {
		if (exited(pid, &st)) {
			failure(l->o, "weft-manager exited (status %d); the end of %s:", st, log);
			log_tail(log, 8);
			return EXIT_FAIL;
		}
		if (access(ca, R_OK) || access(token, R_OK))
			continue;
		if (!l->api) {
			if (!(l->api = api_client_new(url, ca, err, sizeof(err))) ||
			    token_file_read(token, tok, sizeof(tok), err, sizeof(err)))
				return failure(l->o, "the manager's API: %s", err);
			api_client_token(l->api, tok);
			sodium_memzero(tok, sizeof(tok));
		}
		ret = api(l, "GET", "/v1/health", NULL, &reply, err, sizeof(err));
		json_decref(reply);
		if (ret == 200) {
			say("manager %s in " LAB_NET " (pid %d, log %s)", url, pid, log);
			return -1;
		}
	}
	return failure(l->o, "weft-manager did not answer at %s within %d s (last: %s); see %s", url, MANAGER_WAIT_S,
		       err, log);
}

static int join_token(struct lab *l)
{
	char err[600], path[PATH_MAX], text[400];
	json_t *body = json_pack("{s:i}", "ttl", 7 * 86400), *reply = NULL;
	const char *tok;
	int ret = api(l, "POST", "/v1/tokens", body, &reply, err, sizeof(err));

	json_decref(body);
	if (ret != 201 || !(tok = jstr(reply, "token"))) {
		json_decref(reply);
		return failure(l->o, "cannot make a join token: %s", ret < 0 || ret >= 400 ? err : "no token in the answer");
	}
	snprintf(text, sizeof(text), "%s\n", tok);
	ret = write_text(at(l, path, sizeof(path), "join.token"), text, 0600);
	sodium_memzero(text, sizeof(text));
	json_decref(reply);
	return ret ? failure(l->o, "cannot write %s: %s", path, strerror(-ret)) : -1;
}

static int start_node(struct lab *l, unsigned k)
{
	char name[16], ns[32], dir[PATH_MAX], conf[PATH_MAX], sock[PATH_MAX], log[PATH_MAX], state[PATH_MAX];
	char endpoint[32], endpoint6[32], device[16], nspath[128], err[600], token[PATH_MAX];
	char *argv[] = { l->weftd, "--config", conf, NULL };
	json_t *m = json_object_get(l->rec, "manager"), *c;
	char *text;
	pid_t pid;
	int ret;

	snprintf(name, sizeof(name), "n%u", k);
	snprintf(ns, sizeof(ns), LAB_PREFIX "%s", name);
	snprintf(device, sizeof(device), LAB_PREFIX "n%u", k);
	snprintf(endpoint, sizeof(endpoint), LAB_UNDERLAY "%u", 10 + k);
	snprintf(endpoint6, sizeof(endpoint6), LAB_UNDERLAY6 "%u", 10 + k);
	at(l, dir, sizeof(dir), "%s", name);
	at(l, conf, sizeof(conf), "%s/weftd.json", name);
	at(l, sock, sizeof(sock), "%s/weftd.sock", name);
	at(l, log, sizeof(log), "%s/weftd.log", name);
	at(l, state, sizeof(state), "%s/state", name);
	at(l, token, sizeof(token), "join.token");
	if ((ret = labnet_node(k, l->o->ipv6, err, sizeof(err))))
		return failure(l->o, "node %s: %s", name, err);
	if (mkdir(dir, 0700) && errno != EEXIST)
		return failure(l->o, "cannot make %s: %s", dir, strerror(errno));
	c = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "stateDir", state, "socket", sock, "backend",
		      l->o->backend, "hubName", device, "logLevel", "verbose", "manager", jstr(m, "url"), "managerCA",
		      jstr(m, "ca"), "joinTokenFile", token, "nodeName", name, "endpoint", endpoint);
	text = json_dumps(c, JSON_INDENT(2));
	json_decref(c);
	ret = text ? write_text(conf, text, 0600) : -ENOMEM;
	free(text);
	if (ret)
		return failure(l->o, "cannot write %s: %s", conf, strerror(-ret));
	pid = proc_start(lab_netns_path(nspath, sizeof(nspath), ns), argv, log);
	if (pid < 0)
		return failure(l->o, "cannot start %s: %s", l->weftd, strerror((int)-pid));
	json_array_append_new(json_object_get(l->rec, "nodes"),
			      json_pack("{s:s, s:s, s:s, s:s?, s:s, s:s, s:s, s:s, s:i}", "name", name, "netns", ns,
					"address", endpoint, "address6", l->o->ipv6 ? endpoint6 : NULL,
					"device", device, "socket", sock, "config", conf, "log", log, "pid", pid));
	save(l);
	return -1;
}

/* Until the manager lists every node: each weftd has joined. */
static int wait_nodes(struct lab *l)
{
	json_t *nodes = json_object_get(l->rec, "nodes"), *n, *reply = NULL;
	char err[600] = "";
	size_t i, want = json_array_size(nodes);
	int st;

	for (int t = 0; t < NODES_WAIT_S * 10; ++t, sleep_ms(100)) {
		json_array_foreach(nodes, i, n)
			if (exited((pid_t)json_integer_value(json_object_get(n, "pid")), &st)) {
				failure(l->o, "weftd of node %s exited (status %d); the end of %s:", jstr(n, "name"), st,
					jstr(n, "log"));
				log_tail(jstr(n, "log"), 8);
				return EXIT_FAIL;
			}
		if (api(l, "GET", "/v1/nodes", NULL, &reply, err, sizeof(err)) == 200 &&
		    json_array_size(json_object_get(reply, "nodes")) >= want) {
			json_t *r;

			json_array_foreach(json_object_get(reply, "nodes"), i, r)
				say("node %s joined: subnets %s, endpoint %s", jstr(r, "name"),
				    fmt_join(err, sizeof(err), json_object_get(r, "subnets"), " "),
				    json_string_value(json_array_get(json_object_get(r, "endpoints"), 0)) ?: "none");
			json_decref(reply);
			return -1;
		}
		json_decref(reply);
		reply = NULL;
	}
	return failure(l->o, "not every node joined the manager within %d s (see the logs %s/nK/weftd.log)",
		       NODES_WAIT_S, l->dir);
}

static int cni_add(struct lab *l, json_t *node, json_t *pod)
{
	char env_cmd[] = "CNI_COMMAND=ADD", env_id[96], env_ns[128], env_if[32], env_path[PATH_MAX + 16], nspath[128];
	char *env[] = { env_cmd, env_id, env_ns, env_if, env_path, NULL };
	char *argv[] = { l->cni, NULL };
	char dirbuf[PATH_MAX], statedir[PATH_MAX];
	json_t *conf, *result = NULL, *ip, *addrs;
	char *text;
	int ret = -1;
	size_t i;

	snprintf(env_id, sizeof(env_id), "CNI_CONTAINERID=%s", jstr(pod, "containerID"));
	snprintf(env_ns, sizeof(env_ns), "CNI_NETNS=" NETNS_RUN_DIR "/%s", jstr(pod, "netns"));
	snprintf(env_if, sizeof(env_if), "CNI_IFNAME=%s", jstr(pod, "ifname"));
	snprintf(dirbuf, sizeof(dirbuf), "%s", l->cni);
	snprintf(env_path, sizeof(env_path), "CNI_PATH=%s", dirname(dirbuf));
	at(l, statedir, sizeof(statedir), "%s/state", jstr(node, "name"));
	conf = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "cniVersion", "1.0.0", "name", "weft-lab", "type", "weft",
			 "mode", l->o->mode, "agentSocket", jstr(node, "socket"), "agentStateDir", statedir, "backend",
			 l->o->backend);
	text = json_dumps(conf, JSON_COMPACT);
	json_decref(conf);
	/* The agent may still be settling (code 11, try again). */
	for (int t = 0; t < CNI_RETRY_S * 2 && text; ++t, sleep_ms(500)) {
		struct buf out = { 0 };
		int st = proc_run(lab_netns_path(nspath, sizeof(nspath), jstr(node, "netns")), argv, env, text, &out);

		json_decref(result);
		result = out.data ? json_loads(out.data, 0, NULL) : NULL;
		buf_free(&out);
		if (!st && result) {
			ret = 0;
			break;
		}
		if (json_integer_value(json_object_get(result, "code")) != 11)
			break;
	}
	free(text);
	if (ret) {
		ret = failure(l->o, "pod %s: weft-cni ADD failed: %s%s%s", jstr(pod, "name"),
			      jstr(result, "msg") ?: "no answer", jstr(result, "details") ? ": " : "",
			      jstr(result, "details") ?: "");
		json_decref(result);
		return ret;
	}
	addrs = json_array();
	json_array_foreach(json_object_get(result, "ips"), i, ip)
		if (jstr(ip, "address"))
			json_array_append_new(addrs, json_string(jstr(ip, "address")));
	json_object_set_new(pod, "addresses", addrs);
	json_decref(result);
	return -1;
}

static int add_pods(struct lab *l)
{
	json_t *node, *pod;
	char err[600], name[32], ns[48], addrs[256];
	size_t i;
	int ret;

	json_array_foreach(json_object_get(l->rec, "nodes"), i, node) {
		for (unsigned j = 1; j <= l->o->pods; ++j) {
			snprintf(name, sizeof(name), "%s-p%u", jstr(node, "name"), j);
			snprintf(ns, sizeof(ns), LAB_PREFIX "%s", name);
			if (labnet_pod(ns, err, sizeof(err)))
				return failure(l->o, "pod %s: %s", name, err);
			pod = json_pack("{s:s, s:s, s:s, s:s, s:s, s:[]}", "name", name, "node", jstr(node, "name"), "netns",
					ns, "containerID", ns, "ifname", strcmp(l->o->mode, "hub") ? "eth0" : "wg0",
					"addresses");
			json_array_append_new(json_object_get(l->rec, "pods"), pod);
			save(l);
			if ((ret = cni_add(l, node, pod)) >= 0)
				return ret;
			save(l);
			say("pod %s in %s: %s", name, ns, fmt_join(addrs, sizeof(addrs), json_object_get(pod, "addresses"), " "));
		}
	}
	return -1;
}

/* Until every agent has every other node as a peer, so that a check right
 * after up does not race the manager's news. Only a warning if not. */
static void wait_peers(struct lab *l)
{
	json_t *nodes = json_object_get(l->rec, "nodes"), *n, *req = json_pack("{s:s}", "op", "show");
	size_t want = json_array_size(nodes) - 1, i, have = 0;
	const char *late = NULL;

	for (int t = 0; t < PEERS_WAIT_S * 10; ++t, sleep_ms(100)) {
		late = NULL;
		json_array_foreach(nodes, i, n) {
			json_t *show = agent_call(jstr(n, "socket"), req, 5000), *p;
			size_t j;

			if (!json_is_true(json_object_get(show, "ok"))) { /* an agent without "show" */
				json_decref(show);
				json_decref(req);
				return;
			}
			have = 0;
			json_array_foreach(json_object_get(show, "peers"), j, p)
				have += json_is_string(json_object_get(p, "node"));
			json_decref(show);
			if (have < want) {
				late = jstr(n, "name");
				break;
			}
		}
		if (!late)
			break;
	}
	json_decref(req);
	if (late)
		say("warning: after %d s node %s has %zu of %zu other nodes as peers: weft lab check may fail",
		    PEERS_WAIT_S, late, have, want);
	else if (want)
		say("every node has the other %zu as peers", want);
}

static int write_cli_config(struct lab *l)
{
	json_t *m = json_object_get(l->rec, "manager");
	json_t *c = json_pack("{s:s, s:s, s:s}", "manager", jstr(m, "url"), "ca", jstr(m, "ca"), "tokenFile",
			      jstr(m, "adminToken"));
	char path[PATH_MAX], *text = json_dumps(c, JSON_INDENT(2));
	int ret = text ? write_text(at(l, path, sizeof(path), "cli.json"), text, 0600) : -ENOMEM;

	free(text);
	json_decref(c);
	return ret;
}

/* DIR: new, or empty, or a lab's own (its marker); never someone's files. */
static int prepare_dir(struct lab *l)
{
	char marker[PATH_MAX];
	struct stat st;
	DIR *d;
	int n = 0;

	if (mkdir(l->dir, 0700) && errno != EEXIST)
		return failure(l->o, "--dir %s: %s", l->dir, strerror(errno));
	if (stat(l->dir, &st) || !S_ISDIR(st.st_mode))
		return usage_error(l->o, "--dir %s: not a directory", l->dir);
	if (!(d = opendir(l->dir)))
		return failure(l->o, "--dir %s: %s", l->dir, strerror(errno));
	while (readdir(d))
		++n;
	closedir(d);
	at(l, marker, sizeof(marker), ".weft-lab");
	if (n > 2 && access(marker, F_OK))
		return usage_error(l->o, "--dir %s holds files that are not a lab's: give a new or empty directory",
				   l->dir);
	if (n > 2)
		return failure(l->o, "%s holds a lab already (weft lab down --dir %s removes it)", l->dir, l->dir);
	return write_text(marker, "made by weft lab up; weft lab down removes this directory\n", 0600)
		       ? failure(l->o, "cannot write in %s", l->dir)
		       : -1;
}

static void print_hints(struct lab *l);

static int lab_up(int argc, char **argv)
{
	struct opts o;
	struct lab l = { .o = &o, .net_fd = -1 };
	char path[128], err[600];
	int ret;

	if ((ret = opts_parse(&o, "lab up", lab_usage, OPT_LAB | OPT_LAB_UP, argc, argv)) >= 0)
		return ret;
	if (o.nargs)
		return usage_error(&o, "unexpected argument \"%s\"; see weft lab --help", o.args[0]);
	l.dir = o.dir ?: LAB_DIR_DEFAULT;
	if (geteuid())
		return failure(&o, "the lab needs root: it makes network namespaces");
	if ((ret = programs(&l)) >= 0)
		return ret;
	if (!access(lab_netns_path(path, sizeof(path), LAB_NET), F_OK))
		return failure(&o, "a lab is up already (namespace " LAB_NET "): weft lab status shows it, weft lab down "
				   "removes it");
	if ((ret = prepare_dir(&l)) >= 0)
		return ret;
	l.rec = json_pack("{s:s, s:s, s:{s:i, s:i, s:s, s:b, s:s}, s:[], s:[]}", "state", "starting", "dir", l.dir,
			  "settings", "nodes", o.nodes, "pods", o.pods, "mode", o.mode, "ipv6", o.ipv6, "backend",
			  o.backend, "nodes", "pods");
	save(&l);
	if (labnet_underlay(o.ipv6, err, sizeof(err))) {
		ret = failure(&o, "the underlay: %s", err);
		goto out;
	}
	say("underlay " LAB_NET ": bridge " LAB_BRIDGE " " LAB_UNDERLAY "1/24%s", o.ipv6 ? " " LAB_UNDERLAY6 "1/64" : "");
	if ((l.net_fd = netns_open(path)) < 0) {
		ret = failure(&o, "cannot open %s: %s", path, strerror(-l.net_fd));
		goto out;
	}
	if ((ret = start_manager(&l)) >= 0 || (ret = join_token(&l)) >= 0)
		goto out;
	for (unsigned k = 1; k <= o.nodes; ++k)
		if ((ret = start_node(&l, k)) >= 0)
			goto out;
	if ((ret = wait_nodes(&l)) >= 0 || (ret = add_pods(&l)) >= 0)
		goto out;
	wait_peers(&l);
	json_object_set_new(l.rec, "state", json_string("up"));
	save(&l);
	write_cli_config(&l);
	say("up: %u node%s, %u pod%s each, mode %s, %s, backend %s", o.nodes, o.nodes == 1 ? "" : "s", o.pods,
	    o.pods == 1 ? "" : "s", o.mode, o.ipv6 ? "IPv4 and IPv6" : "IPv4", o.backend);
	print_hints(&l);
	ret = EXIT_OK;
out:
	if (ret) {
		json_object_set_new(l.rec, "state", json_string("failed"));
		save(&l);
		fprintf(stderr, "weft lab up: stopped half-way; the logs are in %s; weft lab down%s%s removes all it made\n",
			l.dir, o.dir ? " --dir " : "", o.dir ?: "");
	}
	api_client_free(l.api);
	if (l.net_fd >= 0)
		close(l.net_fd);
	json_decref(l.rec);
	return ret;
}

/* --- status ----------------------------------------------------------------- */

static void print_hints(struct lab *l)
{
	json_t *n1 = json_array_get(json_object_get(l->rec, "nodes"), 0), *pods = json_object_get(l->rec, "pods");
	json_t *p1 = json_array_get(pods, 0), *plast = json_array_get(pods, json_array_size(pods) - 1);
	const char *weft = l->self[0] ? l->self : "weft";
	char cli[PATH_MAX], addr[64];

	if (!n1)
		return;
	at(l, cli, sizeof(cli), "cli.json");
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

static int lab_status(int argc, char **argv)
{
	static const char *const nhead[] = { "NODE", "NAMESPACE", "UNDERLAY", "WEFTD", "SOCKET" };
	static const char *const phead[] = { "POD", "NAMESPACE", "NODE", "ADDRESSES" };
	struct opts o;
	struct lab l = { .o = &o };
	char *names[MAX_NS], pid[48], addrs[256], path[128];
	json_t *m, *n, *p;
	struct table t;
	int ret, nns;
	size_t i;

	if ((ret = opts_parse(&o, "lab status", lab_usage, OPT_LAB | OPT_JSON, argc, argv)) >= 0)
		return ret;
	if (o.nargs)
		return usage_error(&o, "unexpected argument \"%s\"", o.args[0]);
	l.dir = o.dir ?: LAB_DIR_DEFAULT;
	programs(&l); /* for l.self, in the hints */
	nns = labnet_list(names, MAX_NS);
	if (!(l.rec = load(l.dir))) {
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
	print_hints(&l);
	json_decref(l.rec);
	return EXIT_OK;
}

/* --- check ------------------------------------------------------------------- */

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

static int lab_check(int argc, char **argv)
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
	if (!(rec = load(o.dir ?: LAB_DIR_DEFAULT)))
		return failure(&o, "no lab in %s (weft lab up starts one)", o.dir ?: LAB_DIR_DEFAULT);
	if (strcmp(jstr(rec, "state") ?: "", "up")) {
		json_decref(rec);
		return failure(&o, "the lab in %s is not up (its state: %s): weft lab down, then up", o.dir ?: LAB_DIR_DEFAULT,
			       jstr(rec, "state") ?: "unknown");
	}
	pods = json_object_get(rec, "pods");
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
	json_decref(rec);
	return ret;
}

/* --- down ----------------------------------------------------------------------- */

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
		sleep_ms(100);
	}
	return left ? -left : total;
}

static int lab_down(int argc, char **argv)
{
	struct opts o;
	char *names[MAX_NS], path[PATH_MAX];
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
	nns = labnet_list(names, MAX_NS);
	stopped = stop_processes(names, nns);
	if (stopped < 0)
		failure(&o, "%d process%s in the lab's namespaces would not stop", -stopped, stopped == -1 ? "" : "es");
	for (int k = 0; k < nns; ++k) {
		if (!netns_delete(names[k]))
			++removed;
		free(names[k]);
	}
	/* A killed userspace agent leaves its devices' sockets behind. */
	rec = load(dir);
	recorded = rec != NULL;
	json_array_foreach(json_object_get(rec, "nodes"), i, n) {
		snprintf(path, sizeof(path), "/var/run/wireguard/%s.sock", jstr(n, "device") ?: "");
		unlink(path);
	}
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

int lab_main(int argc, char **argv)
{
	static const struct subcommand subs[] = {
		{ "up", lab_up }, { "check", lab_check }, { "status", lab_status }, { "down", lab_down }, { NULL, NULL },
	};

	return subcommand_run("lab", lab_usage, subs, argc, argv);
}
