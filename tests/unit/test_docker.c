// SPDX-License-Identifier: MIT
/* Docker's network and IPAM plugin calls: paths, bodies as dockerd 20.10
 * sends them (its encoder ends each with a newline), and the refusals,
 * each naming the field and the value that was wrong. */
#include "test.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <stdlib.h>

#include "docker/docker.h"
#include "util/text.h"

/* Docker's IDs: 64 lowercase hex digits. */
#define NID "8d3f5c0b2a1e4f6789abcdef0123456789abcdef0123456789abcdef01234567"
#define EID "e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70"
#define IDS "\"NetworkID\":\"" NID "\",\"EndpointID\":\"" EID "\""

_Static_assert(sizeof(NID) == 65 && sizeof(EID) == 65, "Docker IDs are 64 characters");

static char err[400];

/* body as dockerd sends it: with the newline its JSON encoder ends with.
 * q is filled with junk first: nothing of it may survive the parse. */
static int parse(enum docker_call c, const char *body, struct docker_request *q)
{
	char buf[4096];
	int n = snprintf(buf, sizeof(buf), "%s\n", body);

	memset(q, 0xa5, sizeof(*q));
	strcpy(err, "(untouched)");
	return docker_request_parse(c, buf, (size_t)n, q, err, sizeof(err));
}

/* Refused, with err holding each of the (up to two) words given. */
static bool refused(enum docker_call c, const char *body, const char *w1, const char *w2)
{
	struct docker_request q;
	int ret = parse(c, body, &q);

	if (ret == -EINVAL && (!w1 || strstr(err, w1)) && (!w2 || strstr(err, w2)))
		return true;
	fprintf(stderr, "  %s %s: returned %d, err \"%s\"; wanted \"%s\" \"%s\"\n", docker_call_name(c), body, ret, err,
		w1 ?: "", w2 ?: "");
	return false;
}

static bool zero(const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; ++i)
		if (b[i])
			return false;
	return true;
}

#define ZERO(field) zero(&(field), sizeof(field))

/* p is the prefix s ("10.0.0.0/24"), of the family that s is. */
static bool is(const struct ipam_prefix *p, const char *s)
{
	char buf[80];
	int family = strchr(s, ':') ? AF_INET6 : AF_INET;

	if (p->family != family || strcmp(ipam_prefix_str(p, buf, sizeof(buf)), s)) {
		fprintf(stderr, "  prefix: got family %d \"%s\", want \"%s\"\n", p->family,
			p->family ? ipam_prefix_str(p, buf, sizeof(buf)) : "", s);
		return false;
	}
	return true;
}

/* Nothing of a NetworkDriver call's fields: what the IPAM calls leave. */
static bool no_network_fields(const struct docker_request *q)
{
	return !q->network_id[0] && !q->endpoint_id[0] && !q->sandbox_key[0] && ZERO(q->net) && ZERO(q->address) &&
	       ZERO(q->mac) && !q->has_mac;
}

/* Nothing of an IpamDriver call's fields. */
static bool no_ipam_fields(const struct docker_request *q)
{
	return !q->pool_id[0] && ZERO(q->pool) && ZERO(q->sub_pool) && !q->v6 && ZERO(q->want) && !q->gateway;
}

TEST(docker_call_paths)
{
	static const char *const bad[] = {
		"",
		"/",
		"Plugin.Activate", /* no slash */
		"//Plugin.Activate",
		"/Plugin.Activate/",
		"/Plugin.Activate ",
		" /Plugin.Activate",
		"/Plugin.Activate?x=1",
		"/plugin.activate",
		"/Plugin.",
		"/Plugin",
		"/NetworkDriver.CreateNetwor",   /* a prefix of a call */
		"/NetworkDriver.CreateNetworkX", /* a call with more */
		"/NetworkDriver.",
		"/NetworkDriver",
		"/IpamDriver.CreateNetwork",     /* the other API's call */
		"/NetworkDriver.RequestPool",
		"/VolumeDriver.Create",
		"/v1.41/NetworkDriver.Join",
		"/NetworkDriver.Join\n",
		"/NetworkDriver.GetCapabilities/IpamDriver.GetCapabilities",
	};
	char path[100];
	int n_net = 0, n_ipam = 0;

	for (int i = 0; i < DOCKER_CALLS; ++i) {
		const char *name = docker_call_name((enum docker_call)i);

		snprintf(path, sizeof(path), "/%s", name);
		CHECK(docker_call_parse(path) == i);
		/* Each API's calls under its own prefix. */
		n_net += !strncmp(name, "NetworkDriver.", 14);
		n_ipam += !strncmp(name, "IpamDriver.", 11);
		CHECK(docker_call_parse(name) == -1);
	}
	CHECK(n_net == DOCKER_REVOKE_EXTERNAL - DOCKER_NET_CAPABILITIES + 1);
	CHECK(n_ipam == DOCKER_RELEASE_ADDRESS - DOCKER_IPAM_CAPABILITIES + 1);
	CHECK(docker_call_parse("/Plugin.Activate") == DOCKER_ACTIVATE);
	CHECK(docker_call_parse("/NetworkDriver.GetCapabilities") == DOCKER_NET_CAPABILITIES);
	CHECK(docker_call_parse("/IpamDriver.GetCapabilities") == DOCKER_IPAM_CAPABILITIES);
	CHECK(docker_call_parse("/NetworkDriver.EndpointOperInfo") == DOCKER_ENDPOINT_INFO);
	CHECK(docker_call_parse("/NetworkDriver.ProgramExternalConnectivity") == DOCKER_PROGRAM_EXTERNAL);
	CHECK(docker_call_parse("/IpamDriver.GetDefaultAddressSpaces") == DOCKER_IPAM_ADDRESS_SPACES);
	CHECK(docker_call_parse("/IpamDriver.ReleaseAddress") == DOCKER_RELEASE_ADDRESS);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
		if (docker_call_parse(bad[i]) != -1)
			fprintf(stderr, "  accepted \"%s\"\n", bad[i]);
		CHECK(docker_call_parse(bad[i]) == -1);
	}
	CHECK(docker_call_parse(NULL) == -1);
	CHECK(!strcmp(docker_call_name(DOCKER_CALLS), "?"));
	CHECK(!strcmp(docker_call_name((enum docker_call)-1), "?"));
}

/* Plugin.Activate and the GetCapabilities of both APIs come with no body
 * at all; "{}" and "null" are taken too. Nothing is set but the call. */
TEST(docker_empty_bodies)
{
	static const enum docker_call argless[] = { DOCKER_ACTIVATE, DOCKER_NET_CAPABILITIES, DOCKER_IPAM_CAPABILITIES,
						    DOCKER_IPAM_ADDRESS_SPACES };
	struct docker_request q, z;

	for (size_t i = 0; i < 4; ++i) {
		memset(&q, 0xa5, sizeof(q));
		CHECK(docker_request_parse(argless[i], "", 0, &q, err, sizeof(err)) == 0);
		memset(&z, 0, sizeof(z));
		z.call = argless[i];
		CHECK_MEM(&q, &z, sizeof(q));
		memset(&q, 0xa5, sizeof(q));
		CHECK(docker_request_parse(argless[i], NULL, 0, &q, err, sizeof(err)) == 0);
		CHECK_MEM(&q, &z, sizeof(q));
		CHECK(parse(argless[i], "{}", &q) == 0);
		CHECK_MEM(&q, &z, sizeof(q));
		CHECK(parse(argless[i], "null", &q) == 0);
		CHECK_MEM(&q, &z, sizeof(q));
	}
	/* A call that needs its arguments, without them. */
	memset(&q, 0xa5, sizeof(q));
	CHECK(docker_request_parse(DOCKER_CREATE_NETWORK, "", 0, &q, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "NetworkID") != NULL);
	CHECK(refused(DOCKER_JOIN, "{}", "NetworkID", NULL));
	CHECK(refused(DOCKER_JOIN, "null", "NetworkID", NULL));
	CHECK(refused(DOCKER_LEAVE, "{\"NetworkID\":\"" NID "\"}", "EndpointID", NULL));
	/* Not a call. */
	memset(&q, 0xa5, sizeof(q));
	CHECK(docker_request_parse(DOCKER_CALLS, "{}", 2, &q, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, "unknown call") != NULL);
	CHECK(docker_request_parse((enum docker_call)-1, "", 0, &q, err, sizeof(err)) == -EINVAL);
}

/* `docker network create -d weft -o mode=hub -o mtu=1400 --subnet ...`
 * and a dual-stack one with the defaults, as dockerd 20.10 sends them:
 * Options' map with the generic -o map inside, IPAMData with sorted keys. */
TEST(docker_create_network_as_sent)
{
	struct docker_request q;

	CHECK(parse(DOCKER_CREATE_NETWORK,
		    "{\"NetworkID\":\"" NID "\",\"Options\":{\"com.docker.network.enable_ipv6\":false,"
		    "\"com.docker.network.generic\":{\"mode\":\"hub\",\"mtu\":\"1400\"}},"
		    "\"IPv4Data\":[{\"AddressSpace\":\"weft\",\"AuxAddresses\":{},\"Gateway\":\"10.0.0.1/24\","
		    "\"Pool\":\"10.0.0.0/24\"}],\"IPv6Data\":[]}",
		    &q) == 0);
	CHECK(q.call == DOCKER_CREATE_NETWORK);
	CHECK(!strcmp(q.network_id, NID));
	CHECK(q.net.mode == DOCKER_HUB);
	CHECK(q.net.mtu == 1400);
	CHECK(!q.net.ipv6);
	CHECK(is(&q.net.pool[0], "10.0.0.0/24"));
	CHECK(is(&q.net.gateway[0], "10.0.0.1/24"));
	CHECK(ZERO(q.net.pool[1]) && ZERO(q.net.gateway[1]));
	CHECK(!q.endpoint_id[0] && !q.sandbox_key[0] && ZERO(q.address) && !q.has_mac && ZERO(q.mac));
	CHECK(no_ipam_fields(&q));

	/* Dual stack, no -o: mesh and the default MTU. IPv6Data's pool has
	 * its own gateway. */
	CHECK(parse(DOCKER_CREATE_NETWORK,
		    "{\"NetworkID\":\"" NID "\",\"Options\":{\"com.docker.network.enable_ipv6\":true,"
		    "\"com.docker.network.generic\":{}},"
		    "\"IPv4Data\":[{\"AddressSpace\":\"weft\",\"Gateway\":\"10.42.3.1/24\",\"Pool\":\"10.42.3.0/24\"}],"
		    "\"IPv6Data\":[{\"AddressSpace\":\"weft\",\"Gateway\":\"fd00:42:3::1/64\",\"Pool\":\"fd00:42:3::/64\"}]}",
		    &q) == 0);
	CHECK(q.net.mode == DOCKER_MESH);
	CHECK(q.net.mtu == 0);
	CHECK(q.net.ipv6);
	CHECK(is(&q.net.pool[0], "10.42.3.0/24") && is(&q.net.gateway[0], "10.42.3.1/24"));
	CHECK(is(&q.net.pool[1], "fd00:42:3::/64") && is(&q.net.gateway[1], "fd00:42:3::1/64"));

	/* Go's nil slices are null; a pool Docker's IPAM gave no gateway;
	 * no Options at all. */
	CHECK(parse(DOCKER_CREATE_NETWORK,
		    "{\"NetworkID\":\"" NID "\",\"Options\":null,"
		    "\"IPv4Data\":[{\"AddressSpace\":\"LocalDefault\",\"Pool\":\"172.18.0.0/16\"}],\"IPv6Data\":null}",
		    &q) == 0);
	CHECK(q.net.mode == DOCKER_MESH && q.net.mtu == 0 && !q.net.ipv6);
	CHECK(is(&q.net.pool[0], "172.18.0.0/16"));
	CHECK(ZERO(q.net.gateway[0]) && ZERO(q.net.pool[1]) && ZERO(q.net.gateway[1]));
	CHECK(parse(DOCKER_CREATE_NETWORK, "{\"NetworkID\":\"" NID "\"}", &q) == 0);
	CHECK(ZERO(q.net));

	/* AllocateNetwork (swarm): Options is a map of strings there. */
	CHECK(parse(DOCKER_ALLOCATE_NETWORK,
		    "{\"NetworkID\":\"" NID "\",\"Options\":{\"com.docker.network.enable_ipv6\":\"true\"},"
		    "\"IPv4Data\":[{\"AddressSpace\":\"GlobalDefault\",\"Gateway\":\"10.0.9.1/24\",\"Pool\":\"10.0.9.0/24\"}],"
		    "\"IPv6Data\":[]}",
		    &q) == 0);
	CHECK(q.call == DOCKER_ALLOCATE_NETWORK && !strcmp(q.network_id, NID));
	CHECK(q.net.ipv6 && q.net.mode == DOCKER_MESH && q.net.mtu == 0);
	CHECK(is(&q.net.pool[0], "10.0.9.0/24") && is(&q.net.gateway[0], "10.0.9.1/24"));
	/* Only true (or "true") is true. */
	CHECK(parse(DOCKER_CREATE_NETWORK, "{\"NetworkID\":\"" NID "\",\"Options\":{\"com.docker.network.enable_ipv6\":\"yes\"}}",
		    &q) == 0);
	CHECK(!q.net.ipv6);
	CHECK(parse(DOCKER_CREATE_NETWORK, "{\"NetworkID\":\"" NID "\",\"Options\":{\"com.docker.network.enable_ipv6\":1}}",
		    &q) == 0);
	CHECK(!q.net.ipv6);
	/* The same body without the newline. */
	{
		static const char body[] = "{\"NetworkID\":\"" NID "\",\"Options\":{\"com.docker.network.generic\":{\"mode\":\"hub\"}}}";

		CHECK(docker_request_parse(DOCKER_CREATE_NETWORK, body, strlen(body), &q, err, sizeof(err)) == 0);
		CHECK(q.net.mode == DOCKER_HUB);
	}
}

#define GENERIC(o) "{\"NetworkID\":\"" NID "\",\"Options\":{\"com.docker.network.generic\":{" o "}}}"

/* -o KEY=VALUE: mode and mtu, what Docker adds itself, and typos. */
TEST(docker_create_network_options)
{
	struct docker_request q;

	CHECK(parse(DOCKER_CREATE_NETWORK, GENERIC("\"mode\":\"mesh\""), &q) == 0 && q.net.mode == DOCKER_MESH);
	CHECK(parse(DOCKER_CREATE_NETWORK, GENERIC("\"mode\":\"hub\""), &q) == 0 && q.net.mode == DOCKER_HUB);
	CHECK(parse(DOCKER_CREATE_NETWORK, GENERIC("\"mtu\":\"1280\""), &q) == 0 && q.net.mtu == 1280);
	CHECK(parse(DOCKER_CREATE_NETWORK, GENERIC("\"mtu\":\"65535\""), &q) == 0 && q.net.mtu == 65535);
	CHECK(parse(DOCKER_CREATE_NETWORK, GENERIC("\"com.docker.network.driver.mtu\":\"1420\""), &q) == 0 &&
	      q.net.mtu == 1420);
	/* Docker's own keys (-o com.docker.network.*, the labels Docker
	 * itself adds) are not the driver's business. */
	CHECK(parse(DOCKER_CREATE_NETWORK,
		    GENERIC("\"com.docker.network.bridge.name\":\"br-weft\",\"com.docker.network.container_iface_prefix\":"
			    "\"eth\",\"mode\":\"hub\",\"mtu\":\"1400\""),
		    &q) == 0);
	CHECK(q.net.mode == DOCKER_HUB && q.net.mtu == 1400);
	/* generic null is no -o at all. */
	CHECK(parse(DOCKER_CREATE_NETWORK, "{\"NetworkID\":\"" NID "\",\"Options\":{\"com.docker.network.generic\":null}}",
		    &q) == 0);
	CHECK(q.net.mode == DOCKER_MESH && q.net.mtu == 0);

	CHECK(refused(DOCKER_CREATE_NETWORK, GENERIC("\"mode\":\"tunnel\""), "-o mode=tunnel", "mode=hub"));
	CHECK(refused(DOCKER_CREATE_NETWORK, GENERIC("\"mode\":\"HUB\""), "mode=HUB", NULL));
	CHECK(refused(DOCKER_CREATE_NETWORK, GENERIC("\"mode\":\"\""), "-o mode=", NULL));
	CHECK(refused(DOCKER_CREATE_NETWORK, GENERIC("\"mode\":1"), "-o mode=", "not a string"));
	CHECK(refused(DOCKER_CREATE_NETWORK, GENERIC("\"mtu\":\"99\""), "-o mtu=99", "1280"));
	CHECK(refused(DOCKER_CREATE_NETWORK, GENERIC("\"mtu\":\"abc\""), "-o mtu=abc", NULL));
	CHECK(refused(DOCKER_CREATE_NETWORK, GENERIC("\"mtu\":\"1279\""), "mtu=1279", NULL));
	CHECK(refused(DOCKER_CREATE_NETWORK, GENERIC("\"mtu\":\"65536\""), "mtu=65536", NULL));
	CHECK(refused(DOCKER_CREATE_NETWORK, GENERIC("\"mtu\":\"99999999999999999999999\""), "mtu=9999", NULL));
	CHECK(refused(DOCKER_CREATE_NETWORK, GENERIC("\"mtu\":\"-1400\""), "mtu=-1400", NULL));
	CHECK(refused(DOCKER_CREATE_NETWORK, GENERIC("\"mtu\":\"1400 \""), "mtu=1400 ", NULL));
	CHECK(refused(DOCKER_CREATE_NETWORK, GENERIC("\"mtu\":\"\""), "-o mtu=", NULL));
	CHECK(refused(DOCKER_CREATE_NETWORK, GENERIC("\"mtu\":1400"), "-o mtu=", "not a string"));
	CHECK(refused(DOCKER_CREATE_NETWORK, GENERIC("\"com.docker.network.driver.mtu\":\"576\""),
		      "com.docker.network.driver.mtu=576", NULL));
	/* Not weft's: a typo must not silently be a default. */
	CHECK(refused(DOCKER_CREATE_NETWORK, GENERIC("\"mdoe\":\"hub\""), "-o mdoe", NULL));
	CHECK(refused(DOCKER_CREATE_NETWORK, GENERIC("\"mode\":\"hub\",\"vni\":\"7\""), "-o vni", NULL));
	CHECK(refused(DOCKER_CREATE_NETWORK, GENERIC("\"com.docker\":\"x\""), "-o com.docker", NULL));
	CHECK(refused(DOCKER_CREATE_NETWORK, "{\"NetworkID\":\"" NID "\",\"Options\":{\"com.docker.network.generic\":\"mode=hub\"}}",
		      "com.docker.network.generic", "not an object"));
	/* AllocateNetwork reads the same options. */
	CHECK(refused(DOCKER_ALLOCATE_NETWORK, GENERIC("\"mode\":\"tunnel\""), "-o mode=tunnel", NULL));
}

#define POOLS(v4, v6) "{\"NetworkID\":\"" NID "\",\"IPv4Data\":" v4 ",\"IPv6Data\":" v6 "}"

/* The network's ID, and the pools IPAM gave it: one per family. */
TEST(docker_create_network_refusals)
{
	CHECK(refused(DOCKER_CREATE_NETWORK, "{\"NetworkID\":\"not-hex-at-all\"}", "NetworkID", "not-hex-at-all"));
	/* 63 digits, 64 with an uppercase one, 64 with a 'g'. */
	CHECK(refused(DOCKER_CREATE_NETWORK,
		      "{\"NetworkID\":\"8d3f5c0b2a1e4f6789abcdef0123456789abcdef0123456789abcdef0123456\"}", "NetworkID",
		      "8d3f5c0b2a1e4f6789abcdef0123456789abcdef0123456789abcdef0123456\""));
	CHECK(refused(DOCKER_CREATE_NETWORK,
		      "{\"NetworkID\":\"8D3F5C0B2A1E4F6789ABCDEF0123456789ABCDEF0123456789ABCDEF01234567\"}", "NetworkID",
		      "8D3F5C0B2A1E"));
	CHECK(refused(DOCKER_CREATE_NETWORK,
		      "{\"NetworkID\":\"gd3f5c0b2a1e4f6789abcdef0123456789abcdef0123456789abcdef01234567\"}", "NetworkID",
		      "gd3f5c0b"));
	CHECK(refused(DOCKER_CREATE_NETWORK,
		      "{\"NetworkID\":\"8d3f5c0b2a1e4f6789abcdef0123456789abcdef0123456789abcdef012345678\"}", "NetworkID",
		      "64"));
	CHECK(refused(DOCKER_CREATE_NETWORK, "{\"NetworkID\":\"\"}", "NetworkID", NULL));
	CHECK(refused(DOCKER_CREATE_NETWORK, "{\"NetworkID\":12}", "NetworkID", "not a string"));
	CHECK(refused(DOCKER_CREATE_NETWORK, "{\"networkid\":\"" NID "\"}", "NetworkID", NULL)); /* exact Go names */

	CHECK(refused(DOCKER_CREATE_NETWORK, POOLS("[{\"Pool\":\"10.0.0.0/33\"}]", "[]"), "Pool", "10.0.0.0/33"));
	CHECK(refused(DOCKER_CREATE_NETWORK, POOLS("[{\"Pool\":\"10.0.0.256/24\"}]", "[]"), "Pool", "10.0.0.256/24"));
	CHECK(refused(DOCKER_CREATE_NETWORK, POOLS("[{\"Pool\":\"10.0.0.0\"}]", "[]"), "Pool", "\"10.0.0.0\""));
	CHECK(refused(DOCKER_CREATE_NETWORK, POOLS("[{\"Pool\":\"10.0.0.0/24\",\"Gateway\":\"10.0.0.1\"}]", "[]"),
		      "Gateway", "\"10.0.0.1\""));
	CHECK(refused(DOCKER_CREATE_NETWORK, POOLS("[{\"Pool\":\"fd00::/64\"}]", "[]"), "Pool \"fd00::/64\"", "IPv4"));
	CHECK(refused(DOCKER_CREATE_NETWORK, POOLS("[{\"Pool\":\"10.0.0.0/24\",\"Gateway\":\"fd00::1/64\"}]", "[]"),
		      "Gateway \"fd00::1/64\"", "IPv4"));
	CHECK(refused(DOCKER_CREATE_NETWORK, POOLS("[]", "[{\"Pool\":\"10.1.0.0/16\"}]"), "Pool \"10.1.0.0/16\"", "IPv6"));
	CHECK(refused(DOCKER_CREATE_NETWORK,
		      POOLS("[{\"Pool\":\"10.0.0.0/24\",\"Gateway\":\"10.0.0.1/24\"},{\"Pool\":\"10.0.1.0/24\",\"Gateway\":"
			    "\"10.0.1.1/24\"}]",
			    "[]"),
		      "IPv4Data", "2 pools"));
	CHECK(refused(DOCKER_CREATE_NETWORK, POOLS("[]", "[{\"Pool\":\"fd00::/64\"},{\"Pool\":\"fd01::/64\"}]"), "IPv6Data",
		      "2 pools"));
	CHECK(refused(DOCKER_CREATE_NETWORK, POOLS("{\"Pool\":\"10.0.0.0/24\"}", "[]"), "IPv4Data", "not a list"));
	CHECK(refused(DOCKER_CREATE_NETWORK, POOLS("\"10.0.0.0/24\"", "[]"), "IPv4Data", "not a list"));
	CHECK(refused(DOCKER_CREATE_NETWORK, POOLS("[]", "7"), "IPv6Data", "not a list"));
	CHECK(refused(DOCKER_CREATE_NETWORK, POOLS("[\"10.0.0.0/24\"]", "[]"), "IPv4Data[0]", "not an object"));
	CHECK(refused(DOCKER_CREATE_NETWORK, POOLS("[{\"Pool\":24}]", "[]"), "Pool", "not a string"));
}

TEST(docker_create_endpoint)
{
	static const uint8_t mac[6] = { 0x02, 0x42, 0x0a, 0x00, 0x00, 0x02 };
	static const uint8_t upper[6] = { 0x02, 0x42, 0xac, 0x11, 0xff, 0x0e };
	struct docker_request q;

	/* Docker's IPAM has given the address; no MAC, no IPv6. */
	CHECK(parse(DOCKER_CREATE_ENDPOINT,
		    "{" IDS ",\"Interface\":{\"Address\":\"10.0.0.2/24\",\"AddressIPv6\":\"\",\"MacAddress\":\"\"},"
		    "\"Options\":{\"com.docker.network.endpoint.exposedports\":[],\"com.docker.network.portmap\":[]}}",
		    &q) == 0);
	CHECK(q.call == DOCKER_CREATE_ENDPOINT);
	CHECK(!strcmp(q.network_id, NID) && !strcmp(q.endpoint_id, EID));
	CHECK(is(&q.address[0], "10.0.0.2/24"));
	CHECK(ZERO(q.address[1]));
	CHECK(!q.has_mac && ZERO(q.mac));
	CHECK(!q.sandbox_key[0] && ZERO(q.net) && no_ipam_fields(&q));

	/* --mac-address and dual stack. */
	CHECK(parse(DOCKER_CREATE_ENDPOINT,
		    "{" IDS ",\"Interface\":{\"Address\":\"10.0.0.2/32\",\"AddressIPv6\":\"fd00:1::2/64\","
		    "\"MacAddress\":\"02:42:0a:00:00:02\"},\"Options\":{}}",
		    &q) == 0);
	CHECK(is(&q.address[0], "10.0.0.2/32") && is(&q.address[1], "fd00:1::2/64"));
	CHECK(q.has_mac);
	CHECK_MEM(q.mac, mac, 6);
	CHECK(parse(DOCKER_CREATE_ENDPOINT, "{" IDS ",\"Interface\":{\"MacAddress\":\"02:42:AC:11:FF:0E\"}}", &q) == 0);
	CHECK(q.has_mac);
	CHECK_MEM(q.mac, upper, 6);
	CHECK(ZERO(q.address));

	/* No Interface: the driver is to choose (null, or absent). */
	CHECK(parse(DOCKER_CREATE_ENDPOINT, "{" IDS ",\"Interface\":null,\"Options\":{}}", &q) == 0);
	CHECK(ZERO(q.address) && !q.has_mac && ZERO(q.mac));
	CHECK(parse(DOCKER_CREATE_ENDPOINT, "{" IDS "}", &q) == 0);
	CHECK(ZERO(q.address) && !q.has_mac);

	CHECK(refused(DOCKER_CREATE_ENDPOINT, "{\"NetworkID\":\"" NID "\",\"EndpointID\":\"abc\"}", "EndpointID", "abc"));
	CHECK(refused(DOCKER_CREATE_ENDPOINT, "{\"NetworkID\":\"" NID "\"}", "EndpointID", NULL));
	CHECK(refused(DOCKER_CREATE_ENDPOINT, "{\"NetworkID\":\"x\",\"EndpointID\":\"" EID "\"}", "NetworkID \"x\"", NULL));
	CHECK(refused(DOCKER_CREATE_ENDPOINT, "{" IDS ",\"Interface\":[]}", "Interface", "not an object"));
	CHECK(refused(DOCKER_CREATE_ENDPOINT, "{" IDS ",\"Interface\":{\"Address\":\"10.0.0.2\"}}", "Address \"10.0.0.2\"",
		      "IPv4"));
	CHECK(refused(DOCKER_CREATE_ENDPOINT, "{" IDS ",\"Interface\":{\"Address\":\"fd00::2/64\"}}", "Address \"fd00::2/64\"",
		      NULL));
	CHECK(refused(DOCKER_CREATE_ENDPOINT, "{" IDS ",\"Interface\":{\"AddressIPv6\":\"10.0.0.2/24\"}}",
		      "AddressIPv6 \"10.0.0.2/24\"", "IPv6"));
	CHECK(refused(DOCKER_CREATE_ENDPOINT, "{" IDS ",\"Interface\":{\"MacAddress\":\"02:42:0a:00:00\"}}", "MacAddress",
		      "02:42:0a:00:00\""));
	CHECK(refused(DOCKER_CREATE_ENDPOINT, "{" IDS ",\"Interface\":{\"MacAddress\":\"02:42:0a:00:00:02:03\"}}",
		      "MacAddress", "02:42:0a:00:00:02:03"));
	CHECK(refused(DOCKER_CREATE_ENDPOINT, "{" IDS ",\"Interface\":{\"MacAddress\":\"02-42-0a-00-00-02\"}}", "MacAddress",
		      "02-42-0a-00-00-02"));
	CHECK(refused(DOCKER_CREATE_ENDPOINT, "{" IDS ",\"Interface\":{\"MacAddress\":\"zz:42:0a:00:00:02\"}}", "MacAddress",
		      "zz:42"));
	CHECK(refused(DOCKER_CREATE_ENDPOINT, "{" IDS ",\"Interface\":{\"MacAddress\":\"2:42:a:0:0:2\"}}", "MacAddress",
		      "2:42:a:0:0:2"));
	CHECK(refused(DOCKER_CREATE_ENDPOINT, "{" IDS ",\"Interface\":{\"MacAddress\":\"02:42:0a:00:00:0g\"}}", "MacAddress",
		      "0g"));
	CHECK(refused(DOCKER_CREATE_ENDPOINT, "{" IDS ",\"Interface\":{\"MacAddress\":\"0242.0a00.0002\"}}", "MacAddress",
		      "0242.0a00.0002"));
	/* What sscanf's %x would take: spaces, signs, a 0x. */
	CHECK(refused(DOCKER_CREATE_ENDPOINT, "{" IDS ",\"Interface\":{\"MacAddress\":\" 2:42:0a:00:00:02\"}}", "MacAddress",
		      " 2:42"));
	CHECK(refused(DOCKER_CREATE_ENDPOINT, "{" IDS ",\"Interface\":{\"MacAddress\":\"02:42:0a: 0:00:02\"}}", "MacAddress",
		      "0a: 0"));
	CHECK(refused(DOCKER_CREATE_ENDPOINT, "{" IDS ",\"Interface\":{\"MacAddress\":\"-2:42:0a:00:00:02\"}}", "MacAddress",
		      "-2:42"));
	CHECK(refused(DOCKER_CREATE_ENDPOINT, "{" IDS ",\"Interface\":{\"MacAddress\":\"+2:42:0a:00:00:02\"}}", "MacAddress",
		      "+2:42"));
	CHECK(refused(DOCKER_CREATE_ENDPOINT, "{" IDS ",\"Interface\":{\"MacAddress\":\"0x:42:0a:00:00:02\"}}", "MacAddress",
		      "0x:42"));
	CHECK(refused(DOCKER_CREATE_ENDPOINT, "{" IDS ",\"Interface\":{\"MacAddress\":\"-0:-0:-0:-0:-0:-0\"}}", "MacAddress",
		      "-0:-0"));
}

#define SANDBOX(k) "{" IDS ",\"SandboxKey\":\"" k "\",\"Options\":{}}"

TEST(docker_join_sandbox_key)
{
	struct docker_request q;
	char body[600];

	CHECK(parse(DOCKER_JOIN, SANDBOX("/var/run/docker/netns/abcdef012345"), &q) == 0);
	CHECK(q.call == DOCKER_JOIN);
	CHECK(!strcmp(q.network_id, NID) && !strcmp(q.endpoint_id, EID));
	CHECK(!strcmp(q.sandbox_key, "/var/run/docker/netns/abcdef012345"));
	CHECK(ZERO(q.net) && ZERO(q.address) && !q.has_mac && no_ipam_fields(&q));
	/* Docker's other shapes of a namespace path. */
	CHECK(parse(DOCKER_JOIN, SANDBOX("/var/run/docker/netns/default"), &q) == 0);
	CHECK(parse(DOCKER_JOIN, SANDBOX("/run/docker/netns/1-ab_cd.ef"), &q) == 0);
	CHECK(!strcmp(q.sandbox_key, "/run/docker/netns/1-ab_cd.ef"));

	CHECK(refused(DOCKER_JOIN, SANDBOX("var/run/docker/netns/abcdef012345"), "SandboxKey",
		      "\"var/run/docker/netns/abcdef012345\""));
	CHECK(refused(DOCKER_JOIN, SANDBOX("../netns/abcdef012345"), "SandboxKey", "../netns/abcdef012345"));
	CHECK(refused(DOCKER_JOIN, SANDBOX("/var/run/docker/netns/../../../etc/shadow"), "SandboxKey",
		      "/var/run/docker/netns/../../../etc/shadow"));
	CHECK(refused(DOCKER_JOIN, SANDBOX("/../etc"), "SandboxKey", "/../etc"));
	CHECK(refused(DOCKER_JOIN, SANDBOX("/var/run/docker/netns/.."), "SandboxKey", "netns/.."));
	CHECK(refused(DOCKER_JOIN, SANDBOX("/.."), "SandboxKey", "/.."));
	CHECK(refused(DOCKER_JOIN, SANDBOX("/var/run/./netns/x"), "SandboxKey", "run/./netns"));
	CHECK(refused(DOCKER_JOIN, SANDBOX("/var/run/docker/netns/a b"), "SandboxKey", "netns/a b"));
	CHECK(refused(DOCKER_JOIN, SANDBOX("/var/run/docker/netns/$(reboot)"), "SandboxKey", "$(reboot)"));
	CHECK(refused(DOCKER_JOIN, SANDBOX("/var/run/docker/netns/x;y"), "SandboxKey", "x;y"));
	CHECK(refused(DOCKER_JOIN, SANDBOX("/var/run/docker/netns/x\\ny"), "SandboxKey", "netns/x"));
	CHECK(refused(DOCKER_JOIN, SANDBOX("/var/run/docker/netns/\\u00e9"), "SandboxKey", "netns/\xc3\xa9"));
	CHECK(refused(DOCKER_JOIN, SANDBOX(""), "SandboxKey", NULL));
	CHECK(refused(DOCKER_JOIN, "{" IDS "}", "SandboxKey", NULL));
	CHECK(refused(DOCKER_JOIN, "{" IDS ",\"SandboxKey\":5}", "SandboxKey", "not a string"));
	/* 255 characters fit; 256 do not. */
	snprintf(body, sizeof(body), "{" IDS ",\"SandboxKey\":\"/%0254d\"}", 0);
	CHECK(parse(DOCKER_JOIN, body, &q) == 0 && strlen(q.sandbox_key) == 255);
	snprintf(body, sizeof(body), "{" IDS ",\"SandboxKey\":\"/%0255d\"}", 0);
	CHECK(refused(DOCKER_JOIN, body, "SandboxKey", "255"));
}

/* The calls that name only a network, or a network and an endpoint. */
TEST(docker_endpoint_calls)
{
	static const enum docker_call both[] = { DOCKER_ENDPOINT_INFO, DOCKER_DELETE_ENDPOINT, DOCKER_LEAVE,
						 DOCKER_PROGRAM_EXTERNAL, DOCKER_REVOKE_EXTERNAL };
	static const enum docker_call net_only[] = { DOCKER_DELETE_NETWORK, DOCKER_FREE_NETWORK };
	struct docker_request q;

	for (size_t i = 0; i < 5; ++i) {
		CHECK(parse(both[i], "{" IDS "}", &q) == 0);
		CHECK(q.call == both[i]);
		CHECK(!strcmp(q.network_id, NID) && !strcmp(q.endpoint_id, EID));
		CHECK(!q.sandbox_key[0] && ZERO(q.net) && ZERO(q.address) && !q.has_mac && ZERO(q.mac));
		CHECK(no_ipam_fields(&q));
		CHECK(refused(both[i], "{\"NetworkID\":\"" NID "\"}", "EndpointID", NULL));
		CHECK(refused(both[i], "{\"NetworkID\":\"" NID "\",\"EndpointID\":\"" EID "0\"}", "EndpointID", "64"));
		CHECK(refused(both[i], "{\"NetworkID\":\"" NID "z\",\"EndpointID\":\"" EID "\"}", "NetworkID", NULL));
	}
	/* ProgramExternalConnectivity with the ports Docker publishes. */
	CHECK(parse(DOCKER_PROGRAM_EXTERNAL,
		    "{" IDS ",\"Options\":{\"com.docker.network.endpoint.exposedports\":[{\"Proto\":6,\"Port\":80}],"
		    "\"com.docker.network.portmap\":[{\"Proto\":6,\"IP\":\"\",\"Port\":80,\"HostIP\":\"\",\"HostPort\":8080,"
		    "\"HostPortEnd\":8080}]}}",
		    &q) == 0);
	CHECK(!strcmp(q.endpoint_id, EID));
	for (size_t i = 0; i < 2; ++i) {
		CHECK(parse(net_only[i], "{\"NetworkID\":\"" NID "\"}", &q) == 0);
		CHECK(q.call == net_only[i] && !strcmp(q.network_id, NID));
		CHECK(!q.endpoint_id[0] && ZERO(q.net) && no_ipam_fields(&q));
		CHECK(refused(net_only[i], "{\"NetworkID\":\"abc\"}", "NetworkID", "\"abc\""));
	}
	/* DiscoverNew/DiscoverDelete: accepted, nothing read. */
	CHECK(parse(DOCKER_DISCOVER_NEW,
		    "{\"DiscoveryType\":1,\"DiscoveryData\":{\"Address\":\"192.168.1.10\",\"BindAddress\":\"192.168.1.10\","
		    "\"Self\":true}}",
		    &q) == 0);
	CHECK(q.call == DOCKER_DISCOVER_NEW && no_network_fields(&q) && no_ipam_fields(&q));
	CHECK(parse(DOCKER_DISCOVER_DELETE, "{\"DiscoveryType\":1,\"DiscoveryData\":{\"Address\":\"192.168.1.10\"}}", &q) == 0);
}

TEST(docker_request_pool)
{
	struct docker_request q;

	/* docker network create --ipam-driver weft: no --subnet. */
	CHECK(parse(DOCKER_REQUEST_POOL, "{\"AddressSpace\":\"weft\",\"Pool\":\"\",\"SubPool\":\"\",\"Options\":{},\"V6\":false}",
		    &q) == 0);
	CHECK(q.call == DOCKER_REQUEST_POOL);
	CHECK(ZERO(q.pool) && ZERO(q.sub_pool) && !q.v6);
	CHECK(!q.pool_id[0] && ZERO(q.want) && !q.gateway && no_network_fields(&q));
	/* --subnet and --ip-range; Options null (Go's nil map). */
	CHECK(parse(DOCKER_REQUEST_POOL,
		    "{\"AddressSpace\":\"weft\",\"Pool\":\"10.42.0.0/16\",\"SubPool\":\"10.42.7.0/24\",\"Options\":null,"
		    "\"V6\":false}",
		    &q) == 0);
	CHECK(is(&q.pool, "10.42.0.0/16") && is(&q.sub_pool, "10.42.7.0/24") && !q.v6);
	/* --ipv6. */
	CHECK(parse(DOCKER_REQUEST_POOL, "{\"AddressSpace\":\"weft\",\"Pool\":\"\",\"SubPool\":\"\",\"Options\":{},\"V6\":true}",
		    &q) == 0);
	CHECK(q.v6 && ZERO(q.pool) && ZERO(q.sub_pool));
	CHECK(parse(DOCKER_REQUEST_POOL,
		    "{\"AddressSpace\":\"weft\",\"Pool\":\"fd00:42::/48\",\"SubPool\":\"\",\"Options\":{},\"V6\":true}",
		    &q) == 0);
	CHECK(q.v6 && is(&q.pool, "fd00:42::/48") && ZERO(q.sub_pool));
	/* Only true is true. */
	CHECK(parse(DOCKER_REQUEST_POOL, "{\"Pool\":\"10.42.0.0/16\",\"V6\":\"false\"}", &q) == 0 && !q.v6);

	CHECK(refused(DOCKER_REQUEST_POOL, "{\"AddressSpace\":\"weft\",\"Pool\":\"10.42.0.0/16\",\"V6\":true}",
		      "Pool \"10.42.0.0/16\"", "IPv6"));
	CHECK(refused(DOCKER_REQUEST_POOL, "{\"AddressSpace\":\"weft\",\"Pool\":\"fd00:42::/48\",\"V6\":false}",
		      "Pool \"fd00:42::/48\"", "IPv4"));
	CHECK(refused(DOCKER_REQUEST_POOL, "{\"AddressSpace\":\"weft\",\"Pool\":\"\",\"SubPool\":\"10.42.7.0/24\",\"V6\":false}",
		      "SubPool", "Pool"));
	CHECK(refused(DOCKER_REQUEST_POOL, "{\"Pool\":\"10.42.0.0/40\"}", "Pool", "10.42.0.0/40"));
	CHECK(refused(DOCKER_REQUEST_POOL, "{\"Pool\":\"10.42.0.0\"}", "Pool", "\"10.42.0.0\""));
	CHECK(refused(DOCKER_REQUEST_POOL, "{\"Pool\":\"weft\"}", "Pool", "\"weft\""));
	CHECK(refused(DOCKER_REQUEST_POOL, "{\"Pool\":\"10.42.0.0/16\",\"SubPool\":\"10.42.7.0/\"}", "SubPool",
		      "10.42.7.0/"));
	CHECK(refused(DOCKER_REQUEST_POOL, "{\"Pool\":[\"10.42.0.0/16\"]}", "Pool", "not a string"));
}

TEST(docker_pool_and_address)
{
	struct docker_request q;
	char body[300];

	CHECK(parse(DOCKER_RELEASE_POOL, "{\"PoolID\":\"weft4/10.42.0.0/16@10.42.7.0/24\"}", &q) == 0);
	CHECK(q.call == DOCKER_RELEASE_POOL && !strcmp(q.pool_id, "weft4/10.42.0.0/16@10.42.7.0/24"));
	CHECK(ZERO(q.pool) && ZERO(q.want) && !q.gateway && !q.v6 && no_network_fields(&q));
	CHECK(refused(DOCKER_RELEASE_POOL, "{\"PoolID\":4}", "PoolID", "not a string"));
	/* 159 characters fit; 160 do not. */
	snprintf(body, sizeof(body), "{\"PoolID\":\"weft4/%0153d\"}", 0);
	CHECK(parse(DOCKER_RELEASE_POOL, body, &q) == 0 && strlen(q.pool_id) == 159);
	snprintf(body, sizeof(body), "{\"PoolID\":\"weft4/%0154d\"}", 0);
	CHECK(refused(DOCKER_RELEASE_POOL, body, "PoolID", "159"));

	/* Any address of the pool. */
	CHECK(parse(DOCKER_REQUEST_ADDRESS, "{\"PoolID\":\"weft4\",\"Address\":\"\",\"Options\":null}", &q) == 0);
	CHECK(q.call == DOCKER_REQUEST_ADDRESS && !strcmp(q.pool_id, "weft4"));
	CHECK(ZERO(q.want) && !q.gateway);
	CHECK(ZERO(q.pool) && ZERO(q.sub_pool) && !q.v6 && no_network_fields(&q));
	/* --ip 10.42.0.7. */
	CHECK(parse(DOCKER_REQUEST_ADDRESS, "{\"PoolID\":\"weft4/10.42.0.0/16\",\"Address\":\"10.42.0.7\",\"Options\":{}}",
		    &q) == 0);
	CHECK(is(&q.want, "10.42.0.7/32") && !q.gateway);
	/* --ip6. */
	CHECK(parse(DOCKER_REQUEST_ADDRESS, "{\"PoolID\":\"weft6\",\"Address\":\"fd00:42::7\",\"Options\":null}", &q) == 0);
	CHECK(is(&q.want, "fd00:42::7/128") && !q.gateway);
	/* The network's gateway, as Docker asks for it (with or without
	 * --gateway). */
	CHECK(parse(DOCKER_REQUEST_ADDRESS,
		    "{\"PoolID\":\"weft4\",\"Address\":\"\",\"Options\":{\"RequestAddressType\":\"com.docker.network.gateway\"}}",
		    &q) == 0);
	CHECK(q.gateway && ZERO(q.want));
	CHECK(parse(DOCKER_REQUEST_ADDRESS,
		    "{\"PoolID\":\"weft4\",\"Address\":\"10.42.0.1\",\"Options\":{\"RequestAddressType\":"
		    "\"com.docker.network.gateway\"}}",
		    &q) == 0);
	CHECK(q.gateway && is(&q.want, "10.42.0.1/32"));
	CHECK(parse(DOCKER_REQUEST_ADDRESS, "{\"PoolID\":\"weft4\",\"Options\":{\"RequestAddressType\":\"gateway\"}}", &q) == 0);
	CHECK(!q.gateway);
	CHECK(parse(DOCKER_REQUEST_ADDRESS, "{\"PoolID\":\"weft4\",\"Options\":{\"RequestAddressType\":1}}", &q) == 0);
	CHECK(!q.gateway);

	CHECK(refused(DOCKER_REQUEST_ADDRESS, "{\"PoolID\":\"weft4\",\"Address\":\"10.42.0.300\"}", "Address \"10.42.0.300\"",
		      NULL));
	CHECK(refused(DOCKER_REQUEST_ADDRESS, "{\"PoolID\":\"weft4\",\"Address\":\"10.42.0.7/24\"}", "Address",
		      "10.42.0.7/24"));
	CHECK(refused(DOCKER_REQUEST_ADDRESS, "{\"PoolID\":\"weft4\",\"Address\":\"abc\"}", "Address \"abc\"", NULL));
	CHECK(refused(DOCKER_REQUEST_ADDRESS, "{\"PoolID\":\"weft4\",\"Address\":\" 10.42.0.7\"}", "Address", " 10.42.0.7"));
	CHECK(refused(DOCKER_REQUEST_ADDRESS, "{\"PoolID\":\"weft6\",\"Address\":\"fd00::7%eth0\"}", "Address",
		      "fd00::7%eth0"));
	CHECK(refused(DOCKER_REQUEST_ADDRESS, "{\"PoolID\":\"weft4\",\"Address\":7}", "Address", "not a string"));

	/* ReleaseAddress: the IP alone. */
	CHECK(parse(DOCKER_RELEASE_ADDRESS, "{\"PoolID\":\"weft4\",\"Address\":\"10.42.0.7\"}", &q) == 0);
	CHECK(q.call == DOCKER_RELEASE_ADDRESS && !strcmp(q.pool_id, "weft4"));
	CHECK(is(&q.want, "10.42.0.7/32") && !q.gateway);
	CHECK(ZERO(q.pool) && !q.v6 && no_network_fields(&q));
	CHECK(parse(DOCKER_RELEASE_ADDRESS, "{\"PoolID\":\"weft6\",\"Address\":\"fd00:42::7\"}", &q) == 0);
	CHECK(is(&q.want, "fd00:42::7/128"));
	CHECK(refused(DOCKER_RELEASE_ADDRESS, "{\"PoolID\":\"weft4\",\"Address\":\"10.42.0.7/16\"}", "Address",
		      "10.42.0.7/16"));
}

/* What is not a JSON object is refused, saying where it went wrong;
 * unknown fields are ignored, as Go's decoder does. */
TEST(docker_bodies_not_objects)
{
	struct docker_request q;

	CHECK(refused(DOCKER_CREATE_NETWORK, "{\"NetworkID\":}", "not JSON", "line 1, column 14"));
	CHECK(strstr(err, "NetworkDriver.CreateNetwork") != NULL);
	/* Cut short: the end is past Docker's newline. */
	CHECK(refused(DOCKER_CREATE_NETWORK, "{\"NetworkID\":", "not JSON", "line 2"));
	CHECK(refused(DOCKER_JOIN, "{\n  \"NetworkID\": \"" NID "\",\n  \"EndpointID\": oops\n}", "line 3", "column"));
	CHECK(refused(DOCKER_LEAVE, "{" IDS "} trailing", "not JSON", "line 1"));
	CHECK(refused(DOCKER_LEAVE, "{'NetworkID':'x'}", "not JSON", NULL));
	CHECK(refused(DOCKER_ACTIVATE, "{", "Plugin.Activate", "not JSON"));
	CHECK(refused(DOCKER_CREATE_NETWORK, "[{\"NetworkID\":\"" NID "\"}]", "not a JSON object", NULL));
	CHECK(refused(DOCKER_REQUEST_POOL, "[]", "IpamDriver.RequestPool", "not a JSON object"));
	CHECK(refused(DOCKER_ACTIVATE, "\"Plugin.Activate\"", "not a JSON object", NULL));
	CHECK(refused(DOCKER_ACTIVATE, "42", "not a JSON object", NULL));
	CHECK(refused(DOCKER_ACTIVATE, "true", "not a JSON object", NULL));
	/* Fields weft does not read, and a Go name in another case than
	 * Docker's (not the field). */
	CHECK(parse(DOCKER_LEAVE, "{" IDS ",\"Options\":{\"x\":[1,{\"y\":null}]},\"Extra\":true}", &q) == 0);
	CHECK(!strcmp(q.network_id, NID) && !strcmp(q.endpoint_id, EID));
	CHECK(parse(DOCKER_RELEASE_POOL, "{\"poolid\":\"weft4\"}", &q) == 0 && !q.pool_id[0]);
	/* A NUL byte in the body. */
	{
		static const char body[] = "{\"NetworkID\":\"" NID "\"}\0{}";

		CHECK(docker_request_parse(DOCKER_DELETE_NETWORK, body, sizeof(body) - 1, &q, err, sizeof(err)) == -EINVAL);
	}
	/* err as small as the caller gives it. */
	{
		char small[8];

		CHECK(docker_request_parse(DOCKER_DELETE_NETWORK, "{}", 2, &q, small, sizeof(small)) == -EINVAL);
		CHECK(strlen(small) == sizeof(small) - 1);
	}
}

/* An error body reads back, through a JSON parser, as the message. */
static bool error_round_trip(const char *msg, const char *want)
{
	char *body = docker_error_body(msg);
	json_t *o = body ? json_loads(body, 0, NULL) : NULL;
	bool ok = body && (!want || !strcmp(body, want)) && json_is_object(o) && json_object_size(o) == 1 &&
		  json_is_string(json_object_get(o, "Err")) && !strcmp(json_string_value(json_object_get(o, "Err")), msg);

	if (!ok)
		fprintf(stderr, "  docker_error_body(\"%s\"): %s\n", msg, body ?: "NULL");
	json_decref(o);
	free(body);
	return ok;
}

TEST(docker_error_body)
{
	struct docker_request q;

	CHECK(error_round_trip("boom", "{\"Err\":\"boom\"}"));
	CHECK(error_round_trip("", "{\"Err\":\"\"}"));
	CHECK(error_round_trip("-o mode=\"tunnel\": use mode=mesh", "{\"Err\":\"-o mode=\\\"tunnel\\\": use mode=mesh\"}"));
	CHECK(error_round_trip("a\\b\nc\td\r\x01/e", "{\"Err\":\"a\\\\b\\nc\\td\\r\\u0001/e\"}"));
	CHECK(error_round_trip("caf\xc3\xa9 \xe2\x9c\x93", NULL));
	CHECK(error_round_trip("</script>&", NULL));
	/* Every refusal above can be Docker's error. */
	CHECK(parse(DOCKER_JOIN, SANDBOX("/var/run/docker/netns/\\\"x\\\\"), &q) == -EINVAL);
	CHECK(strstr(err, "\"x\\") != NULL);
	CHECK(error_round_trip(err, NULL));
	CHECK(parse(DOCKER_CREATE_NETWORK, "{\"NetworkID\":", &q) == -EINVAL);
	CHECK(error_round_trip(err, NULL));
	/* A value cut inside a character by a %.40s, and jansson quoting a
	 * raw byte: the message stays UTF-8, the stray bytes made '?'. */
	CHECK(parse(DOCKER_CREATE_NETWORK,
		    "{\"NetworkID\":\"" NID "\",\"Options\":{\"com.docker.network.generic\":"
		    "{\"mode\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\u00e9\"}}}",
		    &q) == -EINVAL);
	CHECK(text_utf8_valid(err) && strstr(err, "aaa?"));
	CHECK(parse(DOCKER_DELETE_NETWORK, "{\"\\\xc3\xa9\"}\n", &q) == -EINVAL);
	CHECK(text_utf8_valid(err));
	CHECK(error_round_trip(err, NULL));
	/* docker_error_body itself takes any bytes. */
	{
		char *body = docker_error_body("bad \xc3 byte");

		CHECK(body && !strcmp(body, "{\"Err\":\"bad ? byte\"}"));
		free(body);
	}
}
