// SPDX-License-Identifier: MIT
/*
 * weft lab up: the underlay, the manager, the nodes and their pods. What it
 * makes it records in DIR/lab.json as it goes, so that `down` can take it
 * all away even after an `up` that failed half-way.
 */
#include "lab.h"

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "agent/agent.h"
#include "util/netns.h"
#include "proc.h"
#include "util/file.h"

enum {
	MANAGER_WAIT_S = 20,
	NODES_WAIT_S = 30,
	PEERS_WAIT_S = 20,
	CNI_RETRY_S = 15,
};

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

static int save(struct lab *l)
{
	char path[PATH_MAX], tmp[PATH_MAX];

	lab_path(l, path, sizeof(path), "lab.json");
	lab_path(l, tmp, sizeof(tmp), "lab.json.tmp");
	if (json_dump_file(l->rec, tmp, JSON_INDENT(2)) || rename(tmp, path))
		return -errno;
	return 0;
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
	lab_path(l, state, sizeof(state), "manager");
	lab_path(l, log, sizeof(log), "manager.log");
	lab_path(l, ca, sizeof(ca), "manager/ca.crt");
	lab_path(l, token, sizeof(token), "manager/admin.token");
	snprintf(url, sizeof(url), "https://" LAB_UNDERLAY "1:%d", LAB_MANAGER_PORT);
	pid = proc_start(lab_netns_path(nspath, sizeof(nspath), LAB_NET), argv, log);
	if (pid < 0)
		return failure(l->o, "cannot start %s: %s", l->manager, strerror((int)-pid));
	json_object_set_new(l->rec, "manager",
			    json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:s}", "url", url, "netns", LAB_NET, "pid", pid,
				      "stateDir", state, "ca", ca, "adminToken", token, "readerToken",
				      lab_path(l, err, sizeof(err), "manager/reader.token"), "log", log));
	save(l);
	for (int i = 0; i < MANAGER_WAIT_S * 10; ++i, lab_sleep_ms(100)) {
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
	ret = file_replace(lab_path(l, path, sizeof(path), "join.token"), text, strlen(text), 0600);
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
	lab_path(l, dir, sizeof(dir), "%s", name);
	lab_path(l, conf, sizeof(conf), "%s/weftd.json", name);
	lab_path(l, sock, sizeof(sock), "%s/weftd.sock", name);
	lab_path(l, log, sizeof(log), "%s/weftd.log", name);
	lab_path(l, state, sizeof(state), "%s/state", name);
	lab_path(l, token, sizeof(token), "join.token");
	if ((ret = labnet_node(k, l->o->ipv6, err, sizeof(err))))
		return failure(l->o, "node %s: %s", name, err);
	if (mkdir(dir, 0700) && errno != EEXIST)
		return failure(l->o, "cannot make %s: %s", dir, strerror(errno));
	c = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "stateDir", state, "socket", sock, "backend",
		      l->o->backend, "hubName", device, "logLevel", "verbose", "manager", jstr(m, "url"), "managerCA",
		      jstr(m, "ca"), "joinTokenFile", token, "nodeName", name, "endpoint", endpoint);
	text = json_dumps(c, JSON_INDENT(2));
	json_decref(c);
	ret = text ? file_replace(conf, text, strlen(text), 0600) : -ENOMEM;
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

	for (int t = 0; t < NODES_WAIT_S * 10; ++t, lab_sleep_ms(100)) {
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
	lab_path(l, statedir, sizeof(statedir), "%s/state", jstr(node, "name"));
	conf = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "cniVersion", "1.0.0", "name", "weft-lab", "type", "weft",
			 "mode", l->o->mode, "agentSocket", jstr(node, "socket"), "agentStateDir", statedir, "backend",
			 l->o->backend);
	text = json_dumps(conf, JSON_COMPACT);
	json_decref(conf);
	/* The agent may still be settling (code 11, try again). */
	for (int t = 0; t < CNI_RETRY_S * 2 && text; ++t, lab_sleep_ms(500)) {
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

	for (int t = 0; t < PEERS_WAIT_S * 10; ++t, lab_sleep_ms(100)) {
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
	int ret = text ? file_replace(lab_path(l, path, sizeof(path), "cli.json"), text, strlen(text), 0600) : -ENOMEM;

	free(text);
	json_decref(c);
	return ret;
}

/* DIR: new, or empty, or a lab's own (its marker); never someone's files. */
static int prepare_dir(struct lab *l)
{
	static const char note[] = "made by weft lab up; weft lab down removes this directory\n";
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
	lab_path(l, marker, sizeof(marker), ".weft-lab");
	if (n > 2 && access(marker, F_OK))
		return usage_error(l->o, "--dir %s holds files that are not a lab's: give a new or empty directory",
				   l->dir);
	if (n > 2)
		return failure(l->o, "%s holds a lab already (weft lab down --dir %s removes it)", l->dir, l->dir);
	return file_replace(marker, note, sizeof(note) - 1, 0600)
		       ? failure(l->o, "cannot write in %s", l->dir)
		       : -1;
}

int lab_up(int argc, char **argv)
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
	if ((ret = lab_programs(&l)) >= 0)
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
	/* What a pod reaches beyond the cluster: no route to the pods, so
	 * it answers only what leaves masqueraded (weft lab check). */
	if (labnet_outside(o.ipv6, err, sizeof(err))) {
		ret = failure(&o, "the host outside the cluster: %s", err);
		goto out;
	}
	json_object_set_new(l.rec, "outside",
			    json_pack("{s:s, s:s, s:s?}", "netns", LAB_OUTSIDE, "address", LAB_UNDERLAY "200", "address6",
				      o.ipv6 ? LAB_UNDERLAY6 "200" : NULL));
	save(&l);
	say("outside the cluster " LAB_OUTSIDE ": " LAB_UNDERLAY "200%s", o.ipv6 ? " " LAB_UNDERLAY6 "200" : "");
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
	lab_print_hints(&l);
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
