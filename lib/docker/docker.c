// SPDX-License-Identifier: MIT
#include "docker.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/addr.h"
#include "util/text.h"

static const char *const calls[DOCKER_CALLS] = {
	[DOCKER_ACTIVATE] = "Plugin.Activate",
	[DOCKER_NET_CAPABILITIES] = "NetworkDriver.GetCapabilities",
	[DOCKER_CREATE_NETWORK] = "NetworkDriver.CreateNetwork",
	[DOCKER_DELETE_NETWORK] = "NetworkDriver.DeleteNetwork",
	[DOCKER_ALLOCATE_NETWORK] = "NetworkDriver.AllocateNetwork",
	[DOCKER_FREE_NETWORK] = "NetworkDriver.FreeNetwork",
	[DOCKER_CREATE_ENDPOINT] = "NetworkDriver.CreateEndpoint",
	[DOCKER_ENDPOINT_INFO] = "NetworkDriver.EndpointOperInfo",
	[DOCKER_DELETE_ENDPOINT] = "NetworkDriver.DeleteEndpoint",
	[DOCKER_JOIN] = "NetworkDriver.Join",
	[DOCKER_LEAVE] = "NetworkDriver.Leave",
	[DOCKER_DISCOVER_NEW] = "NetworkDriver.DiscoverNew",
	[DOCKER_DISCOVER_DELETE] = "NetworkDriver.DiscoverDelete",
	[DOCKER_PROGRAM_EXTERNAL] = "NetworkDriver.ProgramExternalConnectivity",
	[DOCKER_REVOKE_EXTERNAL] = "NetworkDriver.RevokeExternalConnectivity",
	[DOCKER_IPAM_CAPABILITIES] = "IpamDriver.GetCapabilities",
	[DOCKER_IPAM_ADDRESS_SPACES] = "IpamDriver.GetDefaultAddressSpaces",
	[DOCKER_REQUEST_POOL] = "IpamDriver.RequestPool",
	[DOCKER_RELEASE_POOL] = "IpamDriver.ReleasePool",
	[DOCKER_REQUEST_ADDRESS] = "IpamDriver.RequestAddress",
	[DOCKER_RELEASE_ADDRESS] = "IpamDriver.ReleaseAddress",
};

int docker_call_parse(const char *path)
{
	if (!path || path[0] != '/')
		return -1;
	for (int i = 0; i < DOCKER_CALLS; ++i)
		if (!strcmp(path + 1, calls[i]))
			return i;
	return -1;
}

const char *docker_call_name(enum docker_call c)
{
	return (unsigned)c < DOCKER_CALLS ? calls[c] : "?";
}

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	/* It quotes what Docker sent, cut by bytes, or jansson's raw text:
	 * it goes back in JSON, so it must stay UTF-8. */
	text_utf8_clean(err);
	return -EINVAL;
}

/* A string field: absent or "" gives "" (Go's zero value); anything but a
 * string, or a string too long for out, is refused. */
static int string(json_t *o, const char *key, char *out, size_t len, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);
	const char *s;

	out[0] = '\0';
	if (!v || json_is_null(v))
		return 0;
	if (!(s = json_string_value(v)))
		return fail(err, errlen, "%s: not a string", key);
	if (strlen(s) >= len)
		return fail(err, errlen, "%s: longer than %zu characters", key, len - 1);
	memcpy(out, s, strlen(s) + 1);
	return 0;
}

/* Docker's IDs: 64 lowercase hex digits. */
static int id(json_t *o, const char *key, char out[65], char *err, size_t errlen)
{
	int ret = string(o, key, out, 65, err, errlen);

	if (ret)
		return ret;
	if (strlen(out) != 64 || strspn(out, "0123456789abcdef") != 64)
		return fail(err, errlen, "%s \"%.70s\": not a Docker ID (64 hex digits)", key, out);
	return 0;
}

/* "10.0.0.5/24": an address with its prefix length, as Docker writes one;
 * "" is none. family 0 takes either. */
static int prefix(json_t *o, const char *key, int family, struct ipam_prefix *out, char *err, size_t errlen)
{
	char s[80];
	int ret = string(o, key, s, sizeof(s), err, errlen);

	memset(out, 0, sizeof(*out));
	if (ret || !s[0])
		return ret;
	if (ipam_prefix_parse(out, s) || (family && out->family != family))
		return fail(err, errlen, "%s \"%s\": not an %saddress with a prefix length (10.0.0.5/24)", key, s,
			    family == AF_INET ? "IPv4 " : family == AF_INET6 ? "IPv6 " : "");
	return 0;
}

/* IPv4Data / IPv6Data: weft takes one pool per family, as its IPAM gives. */
static int pool_data(json_t *o, const char *key, int f, struct docker_net_opts *net, char *err, size_t errlen)
{
	json_t *a = json_object_get(o, key);
	int ret;

	if (!a || json_is_null(a) || !json_array_size(a))
		return json_is_array(a) || !a || json_is_null(a) ? 0 : fail(err, errlen, "%s: not a list", key);
	if (json_array_size(a) > 1)
		return fail(err, errlen, "%s: %zu pools; a weft network has one per address family (the node's pod subnet)",
			    key, json_array_size(a));
	if (!json_is_object(json_array_get(a, 0)))
		return fail(err, errlen, "%s[0]: not an object", key);
	if ((ret = prefix(json_array_get(a, 0), "Pool", f ? AF_INET6 : AF_INET, &net->pool[f], err, errlen)) ||
	    (ret = prefix(json_array_get(a, 0), "Gateway", f ? AF_INET6 : AF_INET, &net->gateway[f], err, errlen)))
		return ret;
	return 0;
}

/* A boolean Docker may send as true or as "true". */
static bool truthy(json_t *v)
{
	return json_is_true(v) || (json_is_string(v) && !strcmp(json_string_value(v), "true"));
}

/* -o KEY=VALUE of `docker network create`, in Options' generic map. */
static int net_options(json_t *options, struct docker_net_opts *net, char *err, size_t errlen)
{
	json_t *generic = json_object_get(options, "com.docker.network.generic"), *v;
	const char *key;

	net->mode = DOCKER_MESH;
	net->ipv6 = truthy(json_object_get(options, "com.docker.network.enable_ipv6"));
	if (generic && !json_is_object(generic) && !json_is_null(generic))
		return fail(err, errlen, "Options.com.docker.network.generic: not an object");
	json_object_foreach(generic, key, v) {
		const char *s = json_string_value(v);

		if (!strcmp(key, "mode")) {
			if (s && !strcmp(s, "mesh"))
				net->mode = DOCKER_MESH;
			else if (s && !strcmp(s, "hub"))
				net->mode = DOCKER_HUB;
			else
				return fail(err, errlen, "-o mode=%.40s: use mode=mesh (a veth, the default) or mode=hub (the container's own WireGuard interface)",
					    s ? s : "(not a string)");
		} else if (!strcmp(key, "mtu") || !strcmp(key, "com.docker.network.driver.mtu")) {
			uint64_t m;

			if (!s || addr_parse_u64(s, 65535, &m) || m < 1280)
				return fail(err, errlen, "-o %s=%.40s: give an MTU from 1280 to 65535", key, s ? s : "(not a string)");
			net->mtu = (unsigned)m;
		} else if (strncmp(key, "com.docker.", 11)) {
			return fail(err, errlen, "-o %.60s: not an option of the weft driver (it takes mode=mesh|hub and mtu=N)", key);
		}
	}
	return 0;
}

static int hex(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* "aa:bb:cc:dd:ee:ff", as Docker writes a MAC: six pairs of hex digits. */
static int mac(json_t *o, const char *key, struct docker_request *req, char *err, size_t errlen)
{
	char s[40];
	int ret = string(o, key, s, sizeof(s), err, errlen);

	req->has_mac = false;
	if (ret || !s[0])
		return ret;
	for (int i = 0; i < 6; ++i) {
		int hi = hex(s[3 * i]), lo = hi < 0 ? -1 : hex(s[3 * i + 1]);

		if (lo < 0 || s[3 * i + 2] != (i < 5 ? ':' : '\0'))
			return fail(err, errlen, "%s \"%s\": not a MAC address (aa:bb:cc:dd:ee:ff)", key, s);
		req->mac[i] = (uint8_t)(hi << 4 | lo);
	}
	req->has_mac = true;
	return 0;
}

/* A path to a namespace file: absolute, of plain names, none of them "."
 * or "..". */
static bool ns_path(const char *s)
{
	if (s[0] != '/' || strspn(s, "/abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != strlen(s))
		return false;
	for (const char *p = s; *p;) {
		size_t n;

		while (*p == '/')
			++p;
		n = strcspn(p, "/");
		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		p += n;
	}
	return true;
}

static int parse(json_t *o, struct docker_request *req, char *err, size_t errlen)
{
	json_t *iface, *opts;
	char addr[80];
	int ret = 0;

	switch (req->call) {
	case DOCKER_CREATE_NETWORK:
	case DOCKER_ALLOCATE_NETWORK:
		if ((ret = id(o, "NetworkID", req->network_id, err, errlen)) ||
		    (ret = net_options(json_object_get(o, "Options"), &req->net, err, errlen)) ||
		    (ret = pool_data(o, "IPv4Data", 0, &req->net, err, errlen)) ||
		    (ret = pool_data(o, "IPv6Data", 1, &req->net, err, errlen)))
			return ret;
		return 0;
	case DOCKER_DELETE_NETWORK:
	case DOCKER_FREE_NETWORK:
		return id(o, "NetworkID", req->network_id, err, errlen);
	case DOCKER_CREATE_ENDPOINT:
		if ((ret = id(o, "NetworkID", req->network_id, err, errlen)) ||
		    (ret = id(o, "EndpointID", req->endpoint_id, err, errlen)))
			return ret;
		iface = json_object_get(o, "Interface");
		if (iface && !json_is_object(iface) && !json_is_null(iface))
			return fail(err, errlen, "Interface: not an object");
		if ((ret = prefix(iface, "Address", AF_INET, &req->address[0], err, errlen)) ||
		    (ret = prefix(iface, "AddressIPv6", AF_INET6, &req->address[1], err, errlen)) ||
		    (ret = mac(iface, "MacAddress", req, err, errlen)))
			return ret;
		return 0;
	case DOCKER_JOIN:
		if ((ret = id(o, "NetworkID", req->network_id, err, errlen)) ||
		    (ret = id(o, "EndpointID", req->endpoint_id, err, errlen)) ||
		    (ret = string(o, "SandboxKey", req->sandbox_key, sizeof(req->sandbox_key), err, errlen)))
			return ret;
		if (!ns_path(req->sandbox_key))
			return fail(err, errlen, "SandboxKey \"%.80s\": not a namespace path", req->sandbox_key);
		return 0;
	case DOCKER_ENDPOINT_INFO:
	case DOCKER_DELETE_ENDPOINT:
	case DOCKER_LEAVE:
	case DOCKER_PROGRAM_EXTERNAL:
	case DOCKER_REVOKE_EXTERNAL:
		if ((ret = id(o, "NetworkID", req->network_id, err, errlen)) ||
		    (ret = id(o, "EndpointID", req->endpoint_id, err, errlen)))
			return ret;
		return 0;
	case DOCKER_REQUEST_POOL:
		if ((ret = prefix(o, "Pool", 0, &req->pool, err, errlen)) ||
		    (ret = prefix(o, "SubPool", 0, &req->sub_pool, err, errlen)))
			return ret;
		req->v6 = json_is_true(json_object_get(o, "V6"));
		if (req->pool.family && req->pool.family != (req->v6 ? AF_INET6 : AF_INET))
			return fail(err, errlen, "Pool \"%s\": not an IPv%d prefix", ipam_prefix_str(&req->pool, addr, sizeof(addr)),
				    req->v6 ? 6 : 4);
		if (req->sub_pool.family && !req->pool.family)
			return fail(err, errlen, "SubPool (--ip-range) needs a Pool (--subnet)");
		return 0;
	case DOCKER_RELEASE_POOL:
		return string(o, "PoolID", req->pool_id, sizeof(req->pool_id), err, errlen);
	case DOCKER_REQUEST_ADDRESS:
	case DOCKER_RELEASE_ADDRESS:
		if ((ret = string(o, "PoolID", req->pool_id, sizeof(req->pool_id), err, errlen)) ||
		    (ret = string(o, "Address", addr, sizeof(addr), err, errlen)))
			return ret;
		/* A bare address (RequestAddress's preference, ReleaseAddress's
		 * IP): as a host prefix. */
		if (addr[0]) {
			char host[90];

			snprintf(host, sizeof(host), "%s/%d", addr, strchr(addr, ':') ? 128 : 32);
			if (strchr(addr, '/') || ipam_prefix_parse(&req->want, host))
				return fail(err, errlen, "Address \"%s\": not an IP address", addr);
		}
		opts = json_object_get(o, "Options");
		req->gateway = !strcmp(json_string_value(json_object_get(opts, "RequestAddressType")) ?: "",
				       "com.docker.network.gateway");
		return 0;
	default:
		return 0;
	}
}

int docker_request_parse(enum docker_call call, const char *body, size_t len, struct docker_request *req,
			 char *err, size_t errlen)
{
	json_error_t je;
	json_t *o;
	int ret;

	memset(req, 0, sizeof(*req));
	req->call = call;
	if ((unsigned)call >= DOCKER_CALLS)
		return fail(err, errlen, "unknown call");
	/* Calls without arguments come with an empty body, "{}" or "null". */
	if (!len)
		return parse(NULL, req, err, errlen);
	o = json_loadb(body, len, JSON_DECODE_ANY, &je);
	if (!o)
		return fail(err, errlen, "%s: the body is not JSON: %s (line %d, column %d)", calls[call], je.text, je.line,
			    je.column);
	if (!json_is_object(o) && !json_is_null(o)) {
		json_decref(o);
		return fail(err, errlen, "%s: the body is not a JSON object", calls[call]);
	}
	ret = parse(json_is_object(o) ? o : NULL, req, err, errlen);
	json_decref(o);
	return ret;
}

char *docker_error_body(const char *msg)
{
	char *clean = strdup(msg), *s = NULL;
	json_t *o;

	if (!clean)
		return NULL;
	text_utf8_clean(clean);
	o = json_pack("{s:s}", "Err", clean);
	s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	free(clean);
	return s;
}
