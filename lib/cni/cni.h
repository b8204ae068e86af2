/* SPDX-License-Identifier: MIT */
/*
 * The CNI protocol, 1.1.0 (github.com/containernetworking/cni SPEC.md),
 * accepting configurations of 0.3.0 to 1.1.0: the environment, the
 * configuration on stdin, results (kept as JSON, so that a prevResult's
 * fields pass through a chain untouched) and errors, which go to stdout.
 */
#ifndef WEFT_CNI_H
#define WEFT_CNI_H

#include <jansson.h>
#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum cni_command { CNI_ADD, CNI_DEL, CNI_CHECK, CNI_VERSION, CNI_STATUS, CNI_GC };

enum cni_code {
	CNI_ERR_INCOMPATIBLE_VERSION = 1,
	CNI_ERR_UNSUPPORTED_FIELD = 2,
	CNI_ERR_UNKNOWN_CONTAINER = 3,
	CNI_ERR_INVALID_ENV = 4,
	CNI_ERR_IO = 5,
	CNI_ERR_DECODE = 6,
	CNI_ERR_INVALID_CONFIG = 7,
	CNI_ERR_TRY_AGAIN = 11,
	CNI_ERR_NOT_AVAILABLE = 50,
	CNI_ERR_LIMITED = 51,
	CNI_ERR_PLUGIN = 100, /* ours: the operation itself failed */
};

struct cni_error {
	int code;
	char msg[200];
	char details[600];
};

struct cni_env {
	enum cni_command cmd;
	char container_id[256];
	char netns[512];
	char ifname[IF_NAMESIZE];
	char args[4096];
};

struct cni_conf {
	json_t *root;
	const char *version; /* "1.1.0" */
	const char *name;
	const char *type;
	json_t *prev_result; /* NULL when not chained */
};

#define CNI_VERSION_LATEST "1.1.0"

bool cni_version_supported(const char *v);
/* Sets err (code, msg, details); returns the code, for "return cni_fail(...)". */
int cni_fail(struct cni_error *err, int code, const char *msg, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Reads and checks the CNI_* variables for the command. */
int cni_env_read(struct cni_env *env, struct cni_error *err);
/* Parses the configuration; checks cniVersion, name and type. */
int cni_conf_parse(struct cni_conf *conf, const char *text, size_t len, struct cni_error *err);
void cni_conf_free(struct cni_conf *conf);

/* A result to extend: a copy of prev (any version from 0.3.0), or empty. */
json_t *cni_result_new(json_t *prev, struct cni_error *err);
/*
 * A link with no hardware address (WireGuard) in a result. podman parses
 * every "mac" of a container's interfaces and refuses the whole result when
 * one is missing; the zero address is what any parser takes and no NIC
 * has (docs/cni.md).
 */
#define CNI_MAC_NONE "00:00:00:00:00:00"
/* "aa:bb:..." for len bytes of addr; CNI_MAC_NONE for none. */
const char *cni_mac_str(const uint8_t *addr, size_t len, char *buf, size_t buflen);
/* Appends an interface; returns its index. mac and sandbox may be NULL; an
 * interface in a sandbox without a mac gets CNI_MAC_NONE. */
int cni_result_add_interface(json_t *res, const char *name, const char *mac, const char *sandbox, unsigned mtu);
void cni_result_add_ip(json_t *res, const char *cidr, const char *gateway, int iface);
void cni_result_add_route(json_t *res, const char *dst, const char *gw);

/* Sets cniVersion and reshapes res for version v. */
void cni_result_finish(json_t *res, const char *v);
/* Prints to stdout: a result in version v (converted), an error, or the
 * VERSION answer. */
void cni_print_result(json_t *res, const char *v);
void cni_print_error(const struct cni_error *err, const char *v);
void cni_print_version(const char *v);

/* How weft gives a container its network (docs/cni.md): the "mode" of a
 * weft network's configuration. */
enum cni_mode {
	CNI_MODE_STATIC, /* a WireGuard interface configured from the configuration */
	CNI_MODE_MESH,	 /* a veth and an address from the node's pod subnet */
	CNI_MODE_HUB,	 /* a WireGuard interface, a spoke of the node's hub */
};

/* 0, or -EINVAL for a name that is no mode. */
int cni_mode_parse(const char *name, enum cni_mode *out);
const char *cni_mode_name(enum cni_mode mode);
/* The configuration's "podToPod" (hub pods peered with each other, not
 * only through the hub): *on, and 0; or CNI_ERR_INVALID_CONFIG with err
 * filled for a value that is not a boolean, or the key in another mode
 * (mode as the configuration says it, "static" if absent). */
int cni_pod_to_pod_parse(json_t *root, const char *mode, bool *on, struct cni_error *err);

#endif
