// SPDX-License-Identifier: MIT
#include "agent/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "cluster/cluster.h"
#include "dev/wgdev.h"
#include "util/addr.h"
#include "wg/device.h"

enum { CONFIG_MAX_BYTES = 64 * 1024 };

/* Each setting: its flag name, its key in the file, whether the file may
 * give it as a JSON integer. */
static const struct setting {
	const char *flag, *key;
	bool integer;
} settings[] = {
	{ "state-dir", "stateDir", false }, { "socket", "socket", false },     { "pod-subnet", "podSubnet", false },
	{ "pod-subnet6", "podSubnet6", false }, { "backend", "backend", false }, { "hub-name", "hubName", false },
	{ "hub-port", "hubPort", true },     { "log-level", "logLevel", false },
	{ "manager", "manager", false },      { "manager-ca", "managerCA", false },
	{ "join-token-file", "joinTokenFile", false }, { "node-name", "nodeName", false },
	{ "endpoint", "endpoint", false },    { "metrics-listen", "metricsListen", false },
	{ "gateway", "gateway", false },      { "gateway-device", "gatewayDevice", false },
	{ "gateway-port", "gatewayPort", true },
	{ "docker-plugin", "dockerPlugin", false }, { "docker-socket", "dockerSocket", false },
	{ "ip-masq", "ipMasq", false },
};

void agent_config_defaults(struct agent_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->state_dir, sizeof(c->state_dir), "/var/lib/weft");
	snprintf(c->socket_path, sizeof(c->socket_path), "%s", AGENT_SOCKET_DEFAULT);
	c->backend = WGDEV_AUTO;
	c->log_level = WG_LOG_INFO;
	snprintf(c->hub_name, sizeof(c->hub_name), "weft-hub");
	c->hub_port = 51821;
	snprintf(c->gateway_device, sizeof(c->gateway_device), "submariner");
	snprintf(c->docker_socket, sizeof(c->docker_socket), "%s", AGENT_DOCKER_SOCKET_DEFAULT);
	c->ip_masq = 1;
}

static int copy_path(char *dst, size_t size, const char *name, const char *value, char *err, size_t errlen)
{
	if (!*value || value[0] != '/' || strlen(value) >= size) {
		snprintf(err, errlen, "%s \"%s\": an absolute path of at most %zu characters", name, value, size - 1);
		return -EINVAL;
	}
	memcpy(dst, value, strlen(value) + 1);
	return 0;
}

static int subnet(char dst[64], const char *name, const char *value, int family, char *err, size_t errlen)
{
	uint8_t addr[16], len;
	int fam;

	/* An empty value turns the pool off (a file's IPv6 pool, say). */
	if (*value && (strlen(value) >= 64 || addr_parse_prefix(value, &fam, addr, &len) || fam != family ||
		       len > (family == AF_INET ? 30 : 126))) {
		snprintf(err, errlen, "%s \"%s\": an %s prefix such as %s", name, value,
			 family == AF_INET ? "IPv4" : "IPv6", family == AF_INET ? "10.244.1.0/24" : "fd00:244:1::/64");
		return -EINVAL;
	}
	memcpy(dst, value, strlen(value) + 1);
	return 0;
}

/* The settings that are true or false (a JSON boolean in the file). */
static bool is_switch(const char *name)
{
	return !strcmp(name, "gateway") || !strcmp(name, "docker-plugin") || !strcmp(name, "ip-masq");
}

/* name picks the setting, label names it in a message (the file's key or
 * the flag). */
static int set(struct agent_config *c, const char *name, const char *label, const char *value, char *err,
	       size_t errlen)
{
	char *end;
	unsigned long port;
	int b;

	if (!strcmp(name, "state-dir"))
		return copy_path(c->state_dir, sizeof(c->state_dir), label, value, err, errlen);
	if (!strcmp(name, "socket"))
		return copy_path(c->socket_path, sizeof(c->socket_path), label, value, err, errlen);
	if (!strcmp(name, "pod-subnet"))
		return subnet(c->pod_subnet, label, value, AF_INET, err, errlen);
	if (!strcmp(name, "pod-subnet6"))
		return subnet(c->pod_subnet6, label, value, AF_INET6, err, errlen);
	if (!strcmp(name, "backend")) {
		if ((b = wgdev_backend_parse(value)) < 0) {
			snprintf(err, errlen, "%s \"%s\": auto, kernel or userspace", label, value);
			return -EINVAL;
		}
		c->backend = b;
		return 0;
	}
	if (!strcmp(name, "hub-name") || !strcmp(name, "gateway-device")) {
		char *dst = !strcmp(name, "hub-name") ? c->hub_name : c->gateway_device;

		if (!*value || strlen(value) >= sizeof(c->hub_name) || strpbrk(value, "/ \t\n:")) {
			snprintf(err, errlen, "%s \"%s\": an interface name, 1 to 15 characters, no '/', ':' or space",
				 label, value);
			return -EINVAL;
		}
		memcpy(dst, value, strlen(value) + 1);
		return 0;
	}
	if (!strcmp(name, "hub-port") || !strcmp(name, "gateway-port")) {
		errno = 0;
		port = strtoul(value, &end, 10);
		if (errno || end == value || *end || port < 1 || port > 65535 || value[0] == '-' || value[0] == '+') {
			snprintf(err, errlen, "%s \"%s\": a UDP port from 1 to 65535", label, value);
			return -EINVAL;
		}
		*(!strcmp(name, "hub-port") ? &c->hub_port : &c->gateway_port) = (uint16_t)port;
		return 0;
	}
	if (is_switch(name)) {
		if (strcmp(value, "true") && strcmp(value, "false")) {
			snprintf(err, errlen, "%s \"%s\": true or false", label, value);
			return -EINVAL;
		}
		*(!strcmp(name, "gateway") ? &c->gateway : !strcmp(name, "docker-plugin") ? &c->docker_plugin : &c->ip_masq) =
			!strcmp(value, "true");
		return 0;
	}
	if (!strcmp(name, "docker-socket")) {
		size_t n = strlen(value);

		/* Docker finds a plugin by its socket's name: NAME.sock. */
		if (n < 6 || strcmp(value + n - 5, ".sock")) {
			snprintf(err, errlen, "%s \"%s\": a path ending in NAME.sock (Docker calls the driver NAME)", label,
				 value);
			return -EINVAL;
		}
		return copy_path(c->docker_socket, sizeof(c->docker_socket), label, value, err, errlen);
	}
	if (!strcmp(name, "log-level")) {
		if (!strcmp(value, "error") || !strcmp(value, "silent"))
			c->log_level = WG_LOG_ERROR;
		else if (!strcmp(value, "warning"))
			c->log_level = WG_LOG_WARNING;
		else if (!strcmp(value, "info"))
			c->log_level = WG_LOG_INFO;
		else if (!strcmp(value, "verbose") || !strcmp(value, "debug"))
			c->log_level = WG_LOG_VERBOSE;
		else {
			snprintf(err, errlen, "%s \"%s\": give error, warning, info or verbose", label, value);
			return -EINVAL;
		}
		return 0;
	}
	if (!strcmp(name, "manager")) {
		if (*value && (strlen(value) >= sizeof(c->manager) || strncmp(value, "https://", 8))) {
			snprintf(err, errlen, "%s \"%.80s\": https://HOST:PORT, several comma-separated", label, value);
			return -EINVAL;
		}
		memcpy(c->manager, value, strlen(value) + 1);
		return 0;
	}
	if (!strcmp(name, "manager-ca"))
		return copy_path(c->manager_ca, sizeof(c->manager_ca), label, value, err, errlen);
	if (!strcmp(name, "join-token-file"))
		return copy_path(c->join_token_file, sizeof(c->join_token_file), label, value, err, errlen);
	if (!strcmp(name, "node-name")) {
		if (!cluster_name_valid(value)) {
			snprintf(err, errlen, "%s \"%.80s\": a DNS label (1 to 63 of a-z, 0-9, '-', not at either end)",
				 label, value);
			return -EINVAL;
		}
		memcpy(c->node_name, value, strlen(value) + 1);
		return 0;
	}
	if (!strcmp(name, "metrics-listen")) {
		union sockaddr_any sa;

		if (*value && (strlen(value) >= sizeof(c->metrics_listen) || addr_parse_endpoint(&sa, value))) {
			snprintf(err, errlen, "%s \"%.80s\": ADDRESS:PORT for Prometheus to scrape (127.0.0.1:9586, [::]:9586)",
				 label, value);
			return -EINVAL;
		}
		memcpy(c->metrics_listen, value, strlen(value) + 1);
		return 0;
	}
	if (!strcmp(name, "endpoint")) {
		union sockaddr_any sa;
		uint8_t raw[16];

		/* ADDR alone takes the hub's port when the node registers. */
		if (strlen(value) >= sizeof(c->endpoint) ||
		    (addr_parse_endpoint(&sa, value) && inet_pton(AF_INET, value, raw) != 1 &&
		     inet_pton(AF_INET6, value, raw) != 1)) {
			snprintf(err, errlen, "%s \"%.80s\": ADDRESS or ADDRESS:PORT ([IPv6]:PORT)", label, value);
			return -EINVAL;
		}
		memcpy(c->endpoint, value, strlen(value) + 1);
		return 0;
	}
	snprintf(err, errlen, "unknown setting \"%s\"", name);
	return -EINVAL;
}

int agent_config_check(const struct agent_config *c, char *err, size_t errlen)
{
	if (!c->manager[0]) {
		if (c->gateway) {
			snprintf(err, errlen, "a gateway joins its cluster to others: give the cluster's manager too "
					      "(--manager URL)");
			return -EINVAL;
		}
		if (c->join_token_file[0] || c->endpoint[0] || c->manager_ca[0]) {
			snprintf(err, errlen, "%s is for joining a cluster: give the manager too (--manager URL)",
				 c->join_token_file[0] ? "a join token" : c->endpoint[0] ? "an endpoint" : "a manager CA");
			return -EINVAL;
		}
		return 0;
	}
	if (c->pod_subnet[0] || c->pod_subnet6[0]) {
		snprintf(err, errlen, "pod subnet %s: in a cluster the manager hands out the node's subnets; "
				      "leave out --pod-subnet and --pod-subnet6",
			 c->pod_subnet[0] ? c->pod_subnet : c->pod_subnet6);
		return -EINVAL;
	}
	if (!c->endpoint[0]) {
		snprintf(err, errlen, "joining a cluster needs the address other nodes reach this one at: "
				      "give --endpoint ADDRESS[:PORT]");
		return -EINVAL;
	}
	if (c->gateway && !strcmp(c->gateway_device, c->hub_name)) {
		snprintf(err, errlen, "gateway device %s: the hub has that name; give --gateway-device another",
			 c->gateway_device);
		return -EINVAL;
	}
	return 0;
}

int agent_config_set(struct agent_config *c, const char *name, const char *value, char *err, size_t errlen)
{
	return set(c, name, name, value, err, errlen);
}

int agent_config_parse(struct agent_config *c, const char *text, size_t len, char *err, size_t errlen)
{
	struct agent_config next = *c;
	json_error_t jerr;
	json_t *root, *v;
	const char *key;
	char buf[32];
	int ret = 0;

	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		snprintf(err, errlen, "not JSON: %s (line %d, column %d)", jerr.text, jerr.line, jerr.column);
		return -EINVAL;
	}
	if (!json_is_object(root)) {
		snprintf(err, errlen, "the settings must be a JSON object");
		json_decref(root);
		return -EINVAL;
	}
	json_object_foreach(root, key, v)
	{
		const struct setting *s = NULL;
		const char *value;

		for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); ++i)
			if (!strcmp(settings[i].key, key))
				s = &settings[i];
		if (!s) {
			snprintf(err, errlen, "unknown key \"%.64s\" (known: stateDir, socket, podSubnet, podSubnet6, "
					      "backend, hubName, hubPort, logLevel, manager, managerCA, joinTokenFile, "
					      "nodeName, endpoint, metricsListen, gateway, gatewayDevice, gatewayPort, "
					      "dockerPlugin, dockerSocket, ipMasq)", key);
			ret = -EINVAL;
			break;
		}
		if (s->integer && json_is_integer(v)) {
			snprintf(buf, sizeof(buf), "%lld", (long long)json_integer_value(v));
			value = buf;
		} else if (json_is_boolean(v) && is_switch(s->flag)) {
			value = json_is_true(v) ? "true" : "false";
		} else if (json_is_string(v)) {
			value = json_string_value(v);
		} else {
			snprintf(err, errlen, "%s: a %s", key, s->integer ? "number" : "string");
			ret = -EINVAL;
			break;
		}
		if ((ret = set(&next, s->flag, key, value, err, errlen)))
			break;
	}
	json_decref(root);
	if (!ret)
		*c = next;
	return ret;
}

int agent_config_load(struct agent_config *c, const char *path, char *err, size_t errlen)
{
	char *text;
	struct stat st;
	ssize_t n;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size > CONFIG_MAX_BYTES) {
		snprintf(err, errlen, "%s: not a regular file of at most %d bytes", path, CONFIG_MAX_BYTES);
		close(fd);
		return -EINVAL;
	}
	text = malloc((size_t)st.st_size + 1);
	if (!text) {
		close(fd);
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	n = read(fd, text, (size_t)st.st_size);
	close(fd);
	if (n != st.st_size) {
		snprintf(err, errlen, "%s: short read", path);
		free(text);
		return -EIO;
	}
	ret = agent_config_parse(c, text, (size_t)n, err, errlen);
	if (ret) {
		char msg[400];

		snprintf(msg, sizeof(msg), "%s", err);
		snprintf(err, errlen, "%s: %s", path, msg);
	}
	free(text);
	return ret;
}
