// SPDX-License-Identifier: MIT
/*
 * Mode "static" (seed 002's wg-cni): the container's own WireGuard
 * interface, configured entirely from the CNI configuration.
 */
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "crypto/crypto.h"
#include "util/netns.h"
#include "nl/nl.h"
#include "nl/wgnl.h"
#include "plugin.h"
#include "util/key.h"

/* The agent's socket: "agentSocket" in the configuration, or the default. */
static const char *agent_path(struct plugin *p)
{
	const char *s = json_string_value(json_object_get(p->conf.root, "agentSocket"));

	return s ? s : AGENT_SOCKET_DEFAULT;
}

/* One request to weftd; its reply's result (if any) in *result. */
int agent(struct plugin *p, const char *op, json_t **result, struct cni_error *err)
{
	json_t *req = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:O}", "op", op, "mode", p->mode, "containerID",
				p->env.container_id, "ifname", p->env.ifname, "interface", p->ifname, "netns",
				p->env.netns, "owner", cni_owner_json(&p->owner), "config", p->conf.root);
	json_t *reply = agent_call(agent_path(p), req, 60000);
	int ret = 0;

	json_decref(req);
	if (!reply && errno == EACCES)
		return cni_fail(err, CNI_ERR_TRY_AGAIN, "the node agent is not reachable",
				"%s: %s; only root may use the node agent", agent_path(p), strerror(errno));
	if (!reply)
		return cni_fail(err, CNI_ERR_TRY_AGAIN, "the node agent is not reachable",
				"%s: %s; start weftd (it hosts userspace WireGuard devices)", agent_path(p), strerror(errno));
	if (!json_is_true(json_object_get(reply, "ok"))) {
		ret = cni_fail(err, (int)json_integer_value(json_object_get(reply, "code")) ?: CNI_ERR_PLUGIN, "%s",
			       NULL);
		snprintf(err->msg, sizeof(err->msg), "%s", json_string_value(json_object_get(reply, "msg")) ?: "agent error");
		snprintf(err->details, sizeof(err->details), "%s",
			 json_string_value(json_object_get(reply, "details")) ?: "");
	} else if (result) {
		*result = json_incref(json_object_get(reply, "result"));
	}
	json_decref(reply);
	return ret;
}

int static_add(struct plugin *p, struct cni_error *err)
{
	struct wgdev_opts opts = {
		.name = p->ifname,
		.netns = p->env.netns,
		.backend = p->backend == WGDEV_AUTO ? WGDEV_KERNEL : p->backend,
		.load_module = true,
	};
	struct wgdev_err werr = { "", 0 };
	struct wgdev *d;
	json_t *res;
	int ret;

	if (opts.backend == WGDEV_USERSPACE)
		goto userspace;
	res = cni_result_new(p->conf.prev_result, err);
	if (!res)
		return err->code;
	d = wgdev_open(&opts, &werr);
	if (!d && werr.error == EOPNOTSUPP && p->backend == WGDEV_AUTO) {
		json_decref(res);
		goto userspace;
	}
	if (!d) {
		json_decref(res);
		return cni_fail(err, CNI_ERR_PLUGIN, "cannot create the WireGuard interface", "%s", werr.msg);
	}
	if (wgdev_adopted(d)) {
		wgdev_close(d);
		json_decref(res);
		return cni_fail(err, CNI_ERR_PLUGIN, "interface already exists",
				"%s already exists in the container: %s", p->ifname,
				p->conf.prev_result ? "name weft's interface with \"interface\" in its configuration"
						    : "pick another CNI_IFNAME");
	}
	if (wgdev_set(d, p->wg.wg, &werr)) {
		cni_fail(err, CNI_ERR_PLUGIN, "cannot configure the WireGuard interface", "%s", werr.msg);
		goto fail;
	}
	if ((ret = cni_wgcfg_apply_link(&p->wg, p->env.netns, wgdev_ifindex(d), err)))
		goto fail;
	cni_wgcfg_result(&p->wg, res, p->ifname, p->env.netns);
	wgdev_close(d); /* the kernel interface stays; the handle goes */
	cni_print_result(res, p->conf.version);
	json_decref(res);
	return 0;
fail:
	/* Nothing left behind. */
	wgdev_delete(d);
	json_decref(res);
	return err->code;

userspace:
	/* A userspace device needs a process that outlives this one: the
	 * node agent hosts it. */
	ret = agent(p, "add", &res, err);
	if (ret)
		return ret;
	cni_print_result(res, p->conf.version);
	json_decref(res);
	return 0;
}

/* The agent forgets a device it hosts. If it is not running, its device
 * is gone with it; only a record it would rebuild from matters. */
static int agent_del(struct plugin *p, struct cni_error *err)
{
	char record[700];
	const char *dir = json_string_value(json_object_get(p->conf.root, "agentStateDir"));
	int ret = agent(p, "del", NULL, err);

	if (ret != CNI_ERR_TRY_AGAIN)
		return ret;
	snprintf(record, sizeof(record), "%s/attachments/%s@%s.json", dir ? dir : "/var/lib/weft", p->env.container_id,
		 p->env.ifname);
	return access(record, F_OK) ? 0 : ret;
}

int static_del(struct plugin *p, struct cni_error *err)
{
	const char *name = p->ifname;
	struct nl_link l;
	struct nl nl;
	int ns, ret;

	/* Gone already is done: DEL must succeed when repeated, and when the
	 * namespace went with its container. */
	if (!p->env.netns[0] || (ns = netns_open(p->env.netns)) < 0)
		return agent_del(p, err);
	ret = nl_open(&nl, NETLINK_ROUTE, ns);
	close(ns);
	if (ret)
		return cni_fail(err, CNI_ERR_IO, "cannot open netlink in the container", "%s", strerror(-ret));
	/* Without a prevResult (libcni sends none to 0.3.x, nor when its
	 * cache is gone) a chain shows itself by CNI_IFNAME being another
	 * plugin's link: weft's is then the chained name. */
	if (!p->conf.prev_result && !nl_link_get(&nl, name, 0, &l) && strcmp(l.kind, "wireguard"))
		name = p->chained_ifname;
	if (!nl_link_get(&nl, name, 0, &l) && !strcmp(l.kind, "wireguard") &&
	    (ret = nl_link_del(&nl, l.ifindex)) && ret != -ENODEV)
		cni_fail(err, CNI_ERR_PLUGIN, "cannot delete the interface", "%s: %s", name, strerror(-ret));
	else
		ret = 0;
	nl_close(&nl);
	return ret ? err->code : agent_del(p, err);
}

int static_check(struct plugin *p, struct cni_error *err)
{
	struct wgdev_opts opts = { .name = p->ifname, .netns = p->env.netns, .backend = WGDEV_KERNEL };
	struct wgdev_err werr;
	struct wgdev *d;
	struct wg_config *got;
	uint8_t pub[32];
	int ret = 0;

	/* Opening adopts an existing interface; creating one would be wrong. */
	if (access(p->env.netns, F_OK))
		return cni_fail(err, CNI_ERR_UNKNOWN_CONTAINER, "container unknown", "%s does not exist", p->env.netns);
	d = wgdev_open(&opts, &werr);
	if (d && !wgdev_adopted(d)) {
		wgdev_delete(d);
		return cni_fail(err, CNI_ERR_PLUGIN, "interface missing", "%s is not in the container", p->ifname);
	}
	/* A userspace device (a TUN) is the agent's to vouch for. */
	if (!d && (strstr(werr.msg, "kind \"tun\"") || werr.error == EOPNOTSUPP))
		return agent(p, "check", NULL, err);
	if (!d)
		return cni_fail(err, CNI_ERR_PLUGIN, "interface missing or not WireGuard", "%s", werr.msg);
	got = wgdev_get(d, &werr);
	x25519_public(pub, p->wg.wg->private_key);
	if (!got) {
		ret = cni_fail(err, CNI_ERR_PLUGIN, "cannot read the interface", "%s", werr.msg);
	} else if (!crypto_equal(got->public_key, pub, 32)) {
		ret = cni_fail(err, CNI_ERR_PLUGIN, "wrong key", "%s does not hold the configured private key",
			       p->ifname);
	} else {
		for (struct wg_config_peer *want = p->wg.wg->first_peer; want && !ret; want = want->next) {
			bool found = false;

			for (struct wg_config_peer *have = got->first_peer; have && !found; have = have->next)
				found = !memcmp(have->public_key, want->public_key, 32);
			if (!found) {
				char b64[KEY_B64_LEN];

				key_to_base64(b64, want->public_key);
				ret = cni_fail(err, CNI_ERR_PLUGIN, "peer missing", "%s has no peer %s", p->ifname, b64);
			}
		}
	}
	wg_config_free(got);
	wgdev_close(d);
	return ret;
}

int static_status(struct plugin *p, struct cni_error *err)
{
	struct nl nl;
	int ret;

	/* Ready when the kernel has WireGuard, or the agent answers. */
	if (p->backend != WGDEV_USERSPACE && !nl_open(&nl, NETLINK_GENERIC, -1)) {
		ret = wgnl_family(&nl);
		nl_close(&nl);
		if (!ret)
			return 0;
	}
	if (agent(p, "status", NULL, err)) {
		char why[sizeof(err->msg) + sizeof(err->details) + 2];

		snprintf(why, sizeof(why), "%s: %s", err->msg, err->details);
		return cni_fail(err, CNI_ERR_NOT_AVAILABLE, "the plugin is not available",
				"no kernel WireGuard here, and the node agent (weftd) does not serve: %s", why);
	}
	return 0;
}

int static_gc(struct plugin *p, struct cni_error *err)
{
	char dir[600];
	const char *state = json_string_value(json_object_get(p->conf.root, "agentStateDir"));
	int ret = agent(p, "gc", NULL, err);
	DIR *d;
	struct dirent *de;
	bool any = false;

	if (ret != CNI_ERR_TRY_AGAIN)
		return ret;
	/* No agent: fine if it holds nothing; else it must run to collect. */
	snprintf(dir, sizeof(dir), "%s/attachments", state ? state : "/var/lib/weft");
	if ((d = opendir(dir))) {
		while ((de = readdir(d)))
			any |= de->d_name[0] != '.';
		closedir(d);
	}
	return any ? ret : 0;
}

/* Modes hub and mesh live in the agent: it owns the addresses (IPAM) and,
 * for hub, the node's device and the containers' keys. */
int agent_mode(struct plugin *p, struct cni_error *err)
{
	json_t *res = NULL;
	int ret;

	switch (p->env.cmd) {
	case CNI_ADD:
		ret = agent(p, "add", &res, err);
		if (!ret) {
			cni_print_result(res, p->conf.version);
			json_decref(res);
		}
		return ret;
	case CNI_DEL:
		return agent_del(p, err);
	case CNI_CHECK:
		return agent(p, "check", NULL, err);
	case CNI_STATUS:
		return agent(p, "status", NULL, err) ? cni_fail(err, CNI_ERR_NOT_AVAILABLE, "the plugin is not available",
								"mode %s needs the node agent (weftd) at %s", p->mode,
								agent_path(p))
						     : 0;
	case CNI_GC:
		return static_gc(p, err);
	default:
		return 0;
	}
}
