// SPDX-License-Identifier: MIT
/*
 * weft-cni: WireGuard for containers, as a CNI 1.1 plugin (type "weft",
 * or "wg-cni" for configurations written for seed 002's plugin).
 *
 * The runtime runs it with the CNI_* environment and the configuration on
 * stdin; results and errors are JSON on stdout (docs/cni.md).
 */
#include <errno.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "plugin.h"

enum { MAX_STDIN = 1 << 20 };

static char *read_stdin(size_t *len)
{
	size_t cap = 4096;
	char *buf = malloc(cap);

	*len = 0;
	while (buf) {
		ssize_t n = read(STDIN_FILENO, buf + *len, cap - *len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? (free(buf), NULL) : buf;
		*len += (size_t)n;
		if (*len == cap) {
			char *more = cap < MAX_STDIN ? realloc(buf, cap * 2) : NULL;

			if (!more) {
				free(buf);
				return NULL;
			}
			buf = more;
			cap *= 2;
		}
	}
	return NULL;
}

/* A name the kernel takes for a link: what dev_valid_name() allows. */
static bool valid_ifname(const char *s)
{
	size_t n = strlen(s);

	if (!n || n >= IF_NAMESIZE || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (; *s; ++s)
		if (*s == '/' || *s == ':' || *s <= ' ' || *s == 0x7f)
			return false;
	return true;
}

/*
 * The interface weft makes. A runtime gives every plugin of a list the same
 * CNI_IFNAME (eth0), and in a chain that name is the earlier plugins'
 * interface (a bridge's veth): weft's own is then "interface", by default
 * wg0 (a veth of mode mesh: weft0). Alone, weft's interface is CNI_IFNAME.
 */
static int pick_ifname(struct plugin *p, struct cni_error *err)
{
	json_t *v = json_object_get(p->conf.root, "interface");
	const char *chained = !strcmp(p->mode, "mesh") ? "weft0" : "wg0";

	if (v) {
		chained = json_string_value(v);
		if (!chained || !valid_ifname(chained))
			return cni_fail(err, CNI_ERR_INVALID_CONFIG, "invalid network configuration",
					"interface: %s%.40s%s is not an interface name (1 to 15 characters, no '/', ':' or "
					"spaces)",
					chained ? "\"" : "", chained ? chained : "not a string", chained ? "\"" : "");
	}
	snprintf(p->chained_ifname, sizeof(p->chained_ifname), "%s", chained);
	snprintf(p->ifname, sizeof(p->ifname), "%s", p->conf.prev_result ? chained : p->env.ifname);
	return 0;
}

static int run(struct plugin *p, struct cni_error *err)
{
	json_t *v;
	bool on;
	int b;

	if (strcmp(p->conf.type, "weft") && strcmp(p->conf.type, "wg-cni"))
		return cni_fail(err, CNI_ERR_INVALID_CONFIG, "invalid network configuration",
				"type \"%.40s\": this plugin is \"weft\" (or \"wg-cni\")", p->conf.type);
	v = json_object_get(p->conf.root, "mode");
	p->mode = v ? json_string_value(v) : "static";
	if (!p->mode || (strcmp(p->mode, "static") && strcmp(p->mode, "hub") && strcmp(p->mode, "mesh")))
		return cni_fail(err, CNI_ERR_INVALID_CONFIG, "invalid network configuration",
				"mode: \"%.40s\" is not one of \"static\", \"hub\", \"mesh\"", p->mode ? p->mode : "(not a string)");
	if ((b = cni_pod_to_pod_parse(p->conf.root, p->mode, &on, err)))
		return b;
	v = json_object_get(p->conf.root, "backend");
	p->backend = WGDEV_AUTO;
	if (v && (!json_is_string(v) || (b = wgdev_backend_parse(json_string_value(v))) < 0))
		return cni_fail(err, CNI_ERR_INVALID_CONFIG, "invalid network configuration",
				"backend: must be \"auto\", \"kernel\" or \"userspace\"");
	if (v)
		p->backend = (enum wgdev_backend)b;
	p->wg.mtu = 1420;
	if ((v = json_object_get(p->conf.root, "mtu"))) {
		if (!json_is_integer(v) || json_integer_value(v) < 1280 || json_integer_value(v) > 65535)
			return cni_fail(err, CNI_ERR_INVALID_CONFIG, "invalid network configuration",
					"mtu: a number from 1280 to 65535");
		p->wg.mtu = (uint32_t)json_integer_value(v);
	}
	/* weftd's: it masquerades pods' egress unless their network says
	 * not to (docs/cni.md); a static container's addresses are its own. */
	if ((v = json_object_get(p->conf.root, "ipMasq")) && !json_is_boolean(v))
		return cni_fail(err, CNI_ERR_INVALID_CONFIG, "invalid network configuration",
				"ipMasq: true or false, not a JSON %s", json_is_string(v) ? "string" : json_is_number(v) ? "number" : "object, array or null");
	if (v && !strcmp(p->mode, "static"))
		return cni_fail(err, CNI_ERR_INVALID_CONFIG, "invalid network configuration",
				"ipMasq: only modes \"mesh\" and \"hub\" have pod addresses to masquerade; remove it");
	if ((b = pick_ifname(p, err)))
		return b;
	/* Whose container it is. DEL goes ahead whatever it says: a refusal
	 * there would leave the attachment behind for good. */
	if ((b = cni_args_parse(p->env.args, &p->owner, err))) {
		if (p->env.cmd != CNI_DEL)
			return b;
		memset(&p->owner, 0, sizeof(p->owner));
		memset(err, 0, sizeof(*err));
	}
	if (p->env.cmd == CNI_CHECK) {
		if (!strcmp(p->conf.version, "0.3.0") || !strcmp(p->conf.version, "0.3.1"))
			return cni_fail(err, CNI_ERR_INCOMPATIBLE_VERSION, "config version does not allow CHECK",
					"CHECK needs cniVersion 0.4.0 or later");
		if (!p->conf.prev_result)
			return cni_fail(err, CNI_ERR_INVALID_CONFIG, "required prevResult missing",
					"CHECK needs the result of ADD as prevResult");
	}
	if (!strcmp(p->mode, "mesh") || !strcmp(p->mode, "hub"))
		return agent_mode(p, err);
	switch (p->env.cmd) {
	case CNI_ADD:
		return cni_wgcfg_parse(&p->wg, p->conf.root, err) ?: static_add(p, err);
	case CNI_DEL:
		return static_del(p, err);
	case CNI_CHECK:
		return cni_wgcfg_parse(&p->wg, p->conf.root, err) ?: static_check(p, err);
	case CNI_STATUS:
		return static_status(p, err);
	case CNI_GC:
		return static_gc(p, err);
	default:
		return 0;
	}
}

int main(void)
{
	struct plugin p;
	struct cni_error err = { 0, "", "" };
	char *in;
	size_t len;
	int ret;

	memset(&p, 0, sizeof(p));
	if (crypto_init()) {
		cni_fail(&err, CNI_ERR_IO, "the crypto libraries failed to initialize", NULL);
		cni_print_error(&err, NULL);
		return 1;
	}
	ret = cni_env_read(&p.env, &err);
	if (ret) {
		cni_print_error(&err, NULL);
		return 1;
	}
	in = read_stdin(&len);
	if (!in) {
		cni_fail(&err, CNI_ERR_IO, "cannot read the configuration from stdin", "%s", strerror(errno));
		cni_print_error(&err, NULL);
		return 1;
	}
	if (p.env.cmd == CNI_VERSION) {
		struct cni_conf c;
		struct cni_error ignored;

		cni_conf_parse(&c, in, len, &ignored);
		cni_print_version(c.version);
		cni_conf_free(&c);
		free(in);
		return 0;
	}
	ret = cni_conf_parse(&p.conf, in, len, &err);
	crypto_wipe(in, len); /* it may hold a private key */
	free(in);
	if (!ret)
		ret = run(&p, &err);
	if (ret)
		cni_print_error(&err, p.conf.version);
	cni_wgcfg_free(&p.wg);
	cni_conf_free(&p.conf);
	return ret ? 1 : 0;
}
