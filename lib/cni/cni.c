// SPDX-License-Identifier: MIT
#include "cni.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/text.h"

static const char *const supported[] = { "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0" };

bool cni_version_supported(const char *v)
{
	for (size_t i = 0; v && i < sizeof(supported) / sizeof(supported[0]); ++i)
		if (!strcmp(v, supported[i]))
			return true;
	return false;
}

int cni_fail(struct cni_error *err, int code, const char *msg, const char *fmt, ...)
{
	va_list ap;

	err->code = code;
	snprintf(err->msg, sizeof(err->msg), "%s", msg);
	err->details[0] = '\0';
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(err->details, sizeof(err->details), fmt, ap);
		va_end(ap);
	}
	/* Errors go out as JSON, and may quote a value cut by bytes. */
	text_utf8_clean(err->msg);
	text_utf8_clean(err->details);
	return code;
}

static const char *const commands[] = { "ADD", "DEL", "CHECK", "VERSION", "STATUS", "GC" };

/* A container ID, as the reference plugins accept: letters, digits,
 * underscore, dot and dash, starting with a letter or digit. */
static bool valid_container_id(const char *s)
{
	if (!*s || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')))
		return false;
	for (; *s; ++s)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' ||
		      *s == '.' || *s == '-'))
			return false;
	return true;
}

static int copy_env(struct cni_error *err, const char *name, char *dst, size_t len, bool required)
{
	const char *v = getenv(name);

	/* Runtimes set unused variables to "" (libcni does for STATUS, GC). */
	if (!v || !*v) {
		if (required)
			return cni_fail(err, CNI_ERR_INVALID_ENV, "missing environment variable", "%s is required", name);
		dst[0] = '\0';
		return 0;
	}
	if (strlen(v) >= len)
		return cni_fail(err, CNI_ERR_INVALID_ENV, "environment variable too long", "%s is longer than %zu bytes",
				name, len - 1);
	snprintf(dst, len, "%s", v);
	return 0;
}

int cni_env_read(struct cni_env *env, struct cni_error *err)
{
	const char *cmd = getenv("CNI_COMMAND");
	bool full;
	int ret;

	memset(env, 0, sizeof(*env));
	if (!cmd || !*cmd)
		return cni_fail(err, CNI_ERR_INVALID_ENV, "missing environment variable", "CNI_COMMAND is required");
	for (env->cmd = CNI_ADD; env->cmd <= CNI_GC; ++env->cmd)
		if (!strcmp(cmd, commands[env->cmd]))
			break;
	if (env->cmd > CNI_GC)
		return cni_fail(err, CNI_ERR_INVALID_ENV, "unknown CNI_COMMAND",
				"CNI_COMMAND=%.40s: expected ADD, DEL, CHECK, VERSION, STATUS or GC", cmd);
	full = env->cmd == CNI_ADD || env->cmd == CNI_CHECK;
	if ((ret = copy_env(err, "CNI_CONTAINERID", env->container_id, sizeof(env->container_id),
			    full || env->cmd == CNI_DEL)) ||
	    (ret = copy_env(err, "CNI_NETNS", env->netns, sizeof(env->netns), full)) ||
	    (ret = copy_env(err, "CNI_IFNAME", env->ifname, sizeof(env->ifname), full || env->cmd == CNI_DEL)) ||
	    (ret = copy_env(err, "CNI_ARGS", env->args, sizeof(env->args), false)))
		return ret;
	if (env->container_id[0] && !valid_container_id(env->container_id))
		return cni_fail(err, CNI_ERR_INVALID_ENV, "invalid characters in containerID",
				"CNI_CONTAINERID=%.80s: use letters, digits, '_', '.' and '-'", env->container_id);
	if (env->ifname[0] && (strchr(env->ifname, '/') || !strcmp(env->ifname, ".") || !strcmp(env->ifname, "..")))
		return cni_fail(err, CNI_ERR_INVALID_ENV, "invalid interface name", "CNI_IFNAME=%s", env->ifname);
	return 0;
}

int cni_conf_parse(struct cni_conf *conf, const char *text, size_t len, struct cni_error *err)
{
	json_error_t je;
	json_t *v;

	memset(conf, 0, sizeof(*conf));
	conf->root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!conf->root)
		return cni_fail(err, CNI_ERR_DECODE, "error decoding network configuration",
				"%s (line %d, column %d)", je.text, je.line, je.column);
	if (!json_is_object(conf->root))
		return cni_fail(err, CNI_ERR_DECODE, "error decoding network configuration",
				"the configuration must be a JSON object");
	v = json_object_get(conf->root, "cniVersion");
	conf->version = json_string_value(v);
	if (!conf->version)
		return cni_fail(err, CNI_ERR_INCOMPATIBLE_VERSION, "incompatible CNI versions",
				"cniVersion is missing (0.1.0 is implied, which this plugin does not support: use "
				"one of 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0)");
	if (!cni_version_supported(conf->version))
		return cni_fail(err, CNI_ERR_INCOMPATIBLE_VERSION, "incompatible CNI versions",
				"config is \"%.20s\", plugin supports [0.3.0 0.3.1 0.4.0 1.0.0 1.1.0]", conf->version);
	conf->name = json_string_value(json_object_get(conf->root, "name"));
	if (!conf->name || !*conf->name)
		return cni_fail(err, CNI_ERR_INVALID_CONFIG, "missing network name",
				"\"name\" must be a non-empty string");
	conf->type = json_string_value(json_object_get(conf->root, "type"));
	if (!conf->type)
		return cni_fail(err, CNI_ERR_INVALID_CONFIG, "missing plugin type", "\"type\" must be a string");
	v = json_object_get(conf->root, "prevResult");
	if (v && !json_is_null(v)) {
		if (!json_is_object(v))
			return cni_fail(err, CNI_ERR_DECODE, "error decoding prevResult", "prevResult must be an object");
		conf->prev_result = v;
	}
	return 0;
}

void cni_conf_free(struct cni_conf *conf)
{
	json_decref(conf->root);
	memset(conf, 0, sizeof(*conf));
}

static json_t *array_of(json_t *res, const char *key)
{
	json_t *a = json_object_get(res, key);

	if (!json_is_array(a)) {
		a = json_array();
		json_object_set_new(res, key, a);
	}
	return a;
}

json_t *cni_result_new(json_t *prev, struct cni_error *err)
{
	json_t *res;

	if (!prev)
		return json_object();
	/* 0.1.0/0.2.0 results (ip4/ip6) never reach us: we reject those
	 * configuration versions. */
	if (json_object_get(prev, "ip4") || json_object_get(prev, "ip6")) {
		cni_fail(err, CNI_ERR_INCOMPATIBLE_VERSION, "incompatible prevResult",
			 "prevResult is in the 0.2.0 form (ip4/ip6); use cniVersion 0.3.0 or later");
		return NULL;
	}
	res = json_deep_copy(prev);
	json_object_del(res, "cniVersion");
	return res;
}

const char *cni_mac_str(const uint8_t *addr, size_t len, char *buf, size_t buflen)
{
	size_t at = 0;

	if (!len || buflen < 3 * len)
		return snprintf(buf, buflen, "%s", CNI_MAC_NONE), buf;
	for (size_t i = 0; i < len; ++i)
		at += (size_t)snprintf(buf + at, buflen - at, "%s%02x", i ? ":" : "", addr[i]);
	return buf;
}

int cni_result_add_interface(json_t *res, const char *name, const char *mac, const char *sandbox, unsigned mtu)
{
	json_t *a = array_of(res, "interfaces"), *i = json_object();

	json_object_set_new(i, "name", json_string(name));
	if ((!mac || !*mac) && sandbox && *sandbox)
		mac = CNI_MAC_NONE;
	if (mac && *mac)
		json_object_set_new(i, "mac", json_string(mac));
	if (sandbox && *sandbox)
		json_object_set_new(i, "sandbox", json_string(sandbox));
	if (mtu)
		json_object_set_new(i, "mtu", json_integer(mtu));
	json_array_append_new(a, i);
	return (int)json_array_size(a) - 1;
}

void cni_result_add_ip(json_t *res, const char *cidr, const char *gateway, int iface)
{
	json_t *ip = json_object();

	json_object_set_new(ip, "address", json_string(cidr));
	if (gateway && *gateway)
		json_object_set_new(ip, "gateway", json_string(gateway));
	if (iface >= 0)
		json_object_set_new(ip, "interface", json_integer(iface));
	json_array_append_new(array_of(res, "ips"), ip);
}

void cni_result_add_route(json_t *res, const char *dst, const char *gw)
{
	json_t *r = json_object();

	json_object_set_new(r, "dst", json_string(dst));
	if (gw && *gw)
		json_object_set_new(r, "gw", json_string(gw));
	json_array_append_new(array_of(res, "routes"), r);
}

static bool pre_1_0(const char *v)
{
	return v[0] == '0';
}

/* The same result, in the requested version's shape: 0.3.x and 0.4.0
 * carry "version" in each IP, 1.x does not; fields new in 1.1 (interface
 * mtu and the like) stay only for 1.1.0. */
static void convert(json_t *res, const char *v)
{
	json_t *ips = json_object_get(res, "ips"), *ifs = json_object_get(res, "interfaces"), *x;
	size_t i;

	json_array_foreach(ips, i, x) {
		const char *addr = json_string_value(json_object_get(x, "address"));

		if (pre_1_0(v))
			json_object_set_new(x, "version", json_string(addr && strchr(addr, ':') ? "6" : "4"));
		else
			json_object_del(x, "version");
	}
	if (strcmp(v, "1.1.0")) {
		json_array_foreach(ifs, i, x) {
			json_object_del(x, "mtu");
			json_object_del(x, "socketPath");
			json_object_del(x, "pciID");
		}
	}
	if (!json_object_get(res, "dns"))
		json_object_set_new(res, "dns", json_object());
}

void cni_result_finish(json_t *res, const char *v)
{
	json_object_set_new(res, "cniVersion", json_string(v));
	convert(res, v);
}

void cni_print_result(json_t *res, const char *v)
{
	cni_result_finish(res, v);
	json_dumpf(res, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	fflush(stdout);
}

void cni_print_error(const struct cni_error *err, const char *v)
{
	json_t *e = json_object();

	json_object_set_new(e, "cniVersion", json_string(v && cni_version_supported(v) ? v : CNI_VERSION_LATEST));
	json_object_set_new(e, "code", json_integer(err->code));
	json_object_set_new(e, "msg", json_string(err->msg));
	if (err->details[0])
		json_object_set_new(e, "details", json_string(err->details));
	json_dumpf(e, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	fflush(stdout);
	json_decref(e);
}

void cni_print_version(const char *v)
{
	json_t *o = json_object(), *a = json_array();

	for (size_t i = 0; i < sizeof(supported) / sizeof(supported[0]); ++i)
		json_array_append_new(a, json_string(supported[i]));
	json_object_set_new(o, "cniVersion", json_string(v && cni_version_supported(v) ? v : CNI_VERSION_LATEST));
	json_object_set_new(o, "supportedVersions", a);
	json_dumpf(o, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	fflush(stdout);
	json_decref(o);
}

int cni_mode_parse(const char *name, enum cni_mode *out)
{
	for (enum cni_mode m = CNI_MODE_STATIC; m <= CNI_MODE_HUB; ++m)
		if (name && !strcmp(name, cni_mode_name(m))) {
			*out = m;
			return 0;
		}
	return -EINVAL;
}

int cni_pod_to_pod_parse(json_t *root, const char *mode, bool *on, struct cni_error *err)
{
	json_t *v = json_object_get(root, "podToPod");

	*on = json_is_true(v);
	if (!v)
		return 0;
	if (!json_is_boolean(v)) {
		char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
		int ret = cni_fail(err, CNI_ERR_INVALID_CONFIG, "invalid network configuration",
				   "podToPod: %.40s is not a boolean (true or false, unquoted)", text ? text : "the value");

		free(text);
		return ret;
	}
	/* Only a hub's pods have peers the node gives them. */
	if (!mode || strcmp(mode, "hub"))
		return cni_fail(err, CNI_ERR_INVALID_CONFIG, "invalid network configuration",
				"podToPod: only mode \"hub\" has it (mode is \"%.40s\"); remove it or use mode \"hub\"",
				mode ? mode : "static");
	return 0;
}

const char *cni_mode_name(enum cni_mode mode)
{
	switch (mode) {
	case CNI_MODE_STATIC:
		return "static";
	case CNI_MODE_MESH:
		return "mesh";
	case CNI_MODE_HUB:
		return "hub";
	}
	return "?";
}
