// SPDX-License-Identifier: MIT
/* weft, the command line: what it prints for fixed answers on a fixed
 * clock, its options and its settings, its refusals. */
#include "test.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <sodium.h>

#include "../../src/weft/weft.h"
#include "crypto/crypto.h"

enum { NOW = 1800000000 };

/* What f() prints for the JSON text, as a string to free. */
static char *printed(void (*f)(FILE *, json_t *, int64_t), const char *text)
{
	json_t *v = json_loads(text, 0, NULL);
	char *out = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&out, &len);

	f(mem, v, NOW);
	fclose(mem);
	json_decref(v);
	return out;
}

static bool same(const char *got, const char *want)
{
	if (!strcmp(got, want))
		return true;
	fprintf(stderr, "  got:\n%s  want:\n%s", got, want);
	return false;
}

TEST(cli_ago_as_wg_says_it)
{
	char b[128];

	CHECK(!strcmp(fmt_ago(b, sizeof(b), NOW - 63, NOW), "1 minute, 3 seconds ago"));
	CHECK(!strcmp(fmt_ago(b, sizeof(b), NOW - 1, NOW), "1 second ago"));
	CHECK(!strcmp(fmt_ago(b, sizeof(b), NOW - (2 * 86400 + 3600 + 5), NOW), "2 days, 1 hour, 5 seconds ago"));
	CHECK(!strcmp(fmt_ago(b, sizeof(b), NOW - 400 * 86400, NOW), "1 year, 35 days ago"));
	CHECK(!strcmp(fmt_ago(b, sizeof(b), NOW, NOW), "Now"));
	CHECK(!strcmp(fmt_ago(b, sizeof(b), 0, NOW), "never"));
	CHECK(!strncmp(fmt_ago(b, sizeof(b), NOW + 5, NOW), "(in the future", 14));
	CHECK(!strcmp(fmt_ago_short(b, sizeof(b), NOW - 12, NOW), "12s ago"));
	CHECK(!strcmp(fmt_ago_short(b, sizeof(b), NOW - 200, NOW), "3m ago"));
	CHECK(!strcmp(fmt_ago_short(b, sizeof(b), NOW - 7300, NOW), "2h ago"));
	CHECK(!strcmp(fmt_ago_short(b, sizeof(b), NOW - 3 * 86400, NOW), "3d ago"));
	CHECK(!strcmp(fmt_ago_short(b, sizeof(b), 0, NOW), "never"));
}

TEST(cli_bytes_as_wg_says_them)
{
	char b[32];

	CHECK(!strcmp(fmt_bytes(b, sizeof(b), 0), "0 B"));
	CHECK(!strcmp(fmt_bytes(b, sizeof(b), 1023), "1023 B"));
	CHECK(!strcmp(fmt_bytes(b, sizeof(b), 1024), "1.00 KiB"));
	CHECK(!strcmp(fmt_bytes(b, sizeof(b), 1268776), "1.21 MiB"));
	CHECK(!strcmp(fmt_bytes(b, sizeof(b), 3565158), "3.40 MiB"));
	CHECK(!strcmp(fmt_bytes(b, sizeof(b), 5ULL << 30), "5.00 GiB"));
	CHECK(!strcmp(fmt_bytes(b, sizeof(b), 3ULL << 40), "3.00 TiB"));
}

static const char show_fixture[] =
	"{\"ok\":true,"
	" \"node\":{\"name\":\"n1\",\"publicKey\":\"NODEKEY=\",\"subnets\":[\"10.244.0.0/24\",\"fd00:244::/64\"],"
	"  \"tunnelAddresses\":[\"10.244.0.1/32\",\"fd00:244::1/128\"],\"endpoints\":[\"192.168.77.11:51821\"]},"
	" \"manager\":{\"urls\":\"https://192.168.77.1:7443\",\"revision\":42,\"connected\":false,"
	"  \"lastContact\":1799999990,\"error\":\"connection refused\"},"
	" \"device\":{\"name\":\"weft-hub\",\"backend\":\"userspace\",\"listenPort\":51821,\"publicKey\":\"NODEKEY=\"},"
	" \"peers\":[{\"publicKey\":\"PODKEY=\",\"pod\":{\"containerID\":\"c1\",\"ifname\":\"wg0\"},"
	"   \"allowedIPs\":[\"10.244.0.5/32\"],\"latestHandshake\":0,\"rxBytes\":0,\"txBytes\":0,\"persistentKeepalive\":0},"
	"  {\"publicKey\":\"N2KEY=\",\"node\":\"n2\",\"endpoint\":\"192.168.77.12:51821\","
	"   \"allowedIPs\":[\"10.244.1.0/24\",\"fd00:244:0:1::/64\"],\"latestHandshake\":1799999937,"
	"   \"rxBytes\":1268776,\"txBytes\":3565158,\"persistentKeepalive\":25}],"
	" \"pods\":[{\"containerID\":\"c1\",\"ifname\":\"wg0\",\"netns\":\"/var/run/netns/p1\",\"mode\":\"hub\","
	"   \"network\":\"spokes\",\"addresses\":[\"10.244.0.5/32\"]},"
	"  {\"containerID\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\",\"ifname\":\"eth0\","
	"   \"netns\":\"/proc/77/ns/net\",\"mode\":\"mesh\",\"network\":\"pods\","
	"   \"owner\":{\"podNamespace\":\"default\",\"podName\":\"web-0\"},"
	"   \"addresses\":[\"10.244.0.6/32\",\"fd00:244::6/128\"]},"
	"  {\"containerID\":\"a1\",\"ifname\":\"eth0\",\"interface\":\"wg0\",\"netns\":\"/run/netns/a1\","
	"   \"mode\":\"static\",\"network\":\"chain\",\"owner\":{\"nomadJobID\":\"example\","
	"   \"nomadGroupName\":\"cache\",\"nomadAllocID\":\"5b3d1c2e-8a0f-4b7c\"},\"addresses\":[]}]}";

TEST(cli_status_reads_like_wg_show)
{
	char *out = printed(status_print, show_fixture);

	CHECK(same(out, "node: n1\n"
			"  subnets: 10.244.0.0/24, fd00:244::/64\n"
			"  tunnel addresses: 10.244.0.1/32, fd00:244::1/128\n"
			"  endpoints: 192.168.77.11:51821\n"
			"  public key: NODEKEY=\n"
			"manager: https://192.168.77.1:7443\n"
			"  connected: no, revision 42\n"
			"  last contact: 10 seconds ago\n"
			"  last error: connection refused\n"
			"device: weft-hub\n"
			"  backend: userspace\n"
			"  public key: NODEKEY=\n"
			"  listening port: 51821\n"
			"pods: 3 (weft pods lists them)\n"
			"\n"
			"peer: N2KEY=\n"
			"  node: n2\n"
			"  endpoint: 192.168.77.12:51821\n"
			"  allowed ips: 10.244.1.0/24, fd00:244:0:1::/64\n"
			"  latest handshake: 1 minute, 3 seconds ago\n"
			"  transfer: 1.21 MiB received, 3.40 MiB sent\n"
			"  persistent keepalive: every 25 seconds\n"
			"\n"
			"peer: PODKEY=\n"
			"  pod: c1/wg0\n"
			"  allowed ips: 10.244.0.5/32\n"
			"  latest handshake: never\n"
			"  transfer: 0 B received, 0 B sent\n"));
	free(out);
	/* Outside a cluster, before any device. */
	out = printed(status_print, "{\"ok\":true,\"peers\":[],\"pods\":[]}");
	CHECK(same(out, "node: not in a cluster (weftd runs without --manager)\ndevice: none yet\npods: 0\n"));
	free(out);
	/* An external client's peer, as weftd names it. */
	out = printed(status_print, "{\"ok\":true,\"pods\":[],\"peers\":[{\"publicKey\":\"CKEY=\",\"node\":\"client:laptop\","
				    "\"allowedIPs\":[\"10.244.2.1/32\"],\"latestHandshake\":0}]}");
	CHECK(strstr(out, "\npeer: CKEY=\n  external client: laptop\n  allowed ips: 10.244.2.1/32\n"));
	free(out);
	/* Pods' egress: on, failed with its error, off. */
	out = printed(status_print, "{\"ok\":true,\"peers\":[],\"pods\":[],\"masquerade\":{\"enabled\":true,"
				    "\"applied\":true,\"table\":\"inet weft\",\"podSubnets\":[\"10.244.1.0/24\"],"
				    "\"excluded\":[\"10.244.0.0/24\",\"10.244.1.0/24\"],\"direct\":[\"10.244.1.9/32\"],"
				    "\"nodes\":[\"192.168.1.12/32\"]}}");
	CHECK(same(out, "node: not in a cluster (weftd runs without --manager)\n"
			"masquerade: on (table inet weft)\n"
			"  from: 10.244.1.0/24\n"
			"  except to: 10.244.0.0/24, 10.244.1.0/24\n"
			"  and from: 10.244.1.9/32\n"
			"  always to nodes: 192.168.1.12/32\n"
			"device: none yet\npods: 0\n"));
	free(out);
	out = printed(status_print, "{\"ok\":true,\"peers\":[],\"pods\":[],\"masquerade\":{\"enabled\":true,"
				    "\"applied\":false,\"table\":\"inet weft\",\"podSubnets\":[\"10.244.1.0/24\"],"
				    "\"excluded\":[],\"error\":\"cannot replace table inet weft: Error: x\"}}");
	CHECK(strstr(out, "masquerade: failed (table inet weft)\n  from: 10.244.1.0/24\n"
			  "  error: cannot replace table inet weft: Error: x\n"));
	free(out);
	out = printed(status_print, "{\"ok\":true,\"peers\":[],\"pods\":[],\"masquerade\":{\"enabled\":false,"
				    "\"applied\":false,\"podSubnets\":[],\"excluded\":[]}}");
	CHECK(strstr(out, "masquerade: off (pods' egress keeps its pod address)\ndevice"));
	free(out);
	out = printed(status_print, "{\"ok\":true,\"peers\":[],\"pods\":[],\"masquerade\":{\"enabled\":false,"
				    "\"applied\":true,\"podSubnets\":[\"10.244.1.0/24\"],\"nodes\":[\"192.168.1.12/32\"]}}");
	CHECK(strstr(out, "masquerade: off (pods' egress keeps its pod address, but to the cluster's nodes)\n"
			  "  from: 10.244.1.0/24\n  always to nodes: 192.168.1.12/32\n"));
	free(out);
}

static void pods_print3(FILE *f, json_t *v, int64_t now)
{
	pods_print(f, v);
}

TEST(cli_pods_table)
{
	char *out = printed(pods_print3, show_fixture);

	/* A chained interface shows under its own name, not CNI_IFNAME. */
	CHECK(same(out, "CONTAINER     POD                           IFNAME  MODE    NETWORK  ADDRESSES                      NETNS\n"
			"c1                                          wg0     hub     spokes   10.244.0.5/32                  /var/run/netns/p1\n"
			"0123456789ab  default/web-0                 eth0    mesh    pods     10.244.0.6/32,fd00:244::6/128  /proc/77/ns/net\n"
			"a1            example.cache alloc 5b3d1c2e  wg0     static  chain                                   /run/netns/a1\n"));
	CHECK(!strstr(out, "0123456789abc")); /* a runtime's ID, shortened */
	free(out);
}

TEST(cli_nodes_and_tokens_tables)
{
	char *out = printed(nodes_print, "{\"revision\":3,\"nodes\":["
					 "{\"name\":\"n1\",\"publicKey\":\"K1=\",\"endpoints\":[\"192.168.77.11:51821\"],"
					 "\"subnets\":[\"10.244.0.0/24\",\"fd00:244::/64\"],\"lastSeen\":1799999988},"
					 "{\"name\":\"node-two\",\"publicKey\":\"K2=\",\"endpoints\":[],\"subnets\":[]}]}");

	CHECK(same(out, "NAME      ENDPOINT             SUBNETS                      PUBLIC KEY  LAST SEEN\n"
			"n1        192.168.77.11:51821  10.244.0.0/24,fd00:244::/64  K1=         12s ago\n"
			"node-two                                                    K2=         never\n"));
	free(out);
	out = printed(tokens_print, "{\"tokens\":[{\"id\":\"ab12\",\"expires\":1800086400},"
				    "{\"id\":\"cd34\",\"expires\":1799999000},{\"id\":\"ef56\",\"expires\":1800000600},"
				    "{\"id\":\"gh78\",\"expires\":1800086399}]}");
	CHECK(same(out, "ID    EXPIRES                  LEFT\n"
			"ab12  2027-01-16 08:00:00 UTC  24h\n"
			"cd34  2027-01-15 07:43:20 UTC  expired\n"
			"ef56  2027-01-15 08:10:00 UTC  10m\n"
			"gh78  2027-01-16 07:59:59 UTC  24h\n"));
	free(out);
}

TEST(cli_clients_table)
{
	char *out = printed(clients_print, "{\"revision\":9,\"clients\":["
					   "{\"name\":\"laptop\",\"publicKey\":\"K1=\",\"addresses\":[\"10.244.2.1/32\","
					   "\"fd00:244:0:2::1/128\"],\"created\":1799990000,"
					   "\"lastHandshake\":{\"time\":1799999988,\"node\":\"n2\"}},"
					   "{\"name\":\"ci\",\"publicKey\":\"K2=\",\"addresses\":[\"10.244.2.2/32\"],"
					   "\"created\":1799990000}]}");

	CHECK(same(out, "NAME    ADDRESSES                          PUBLIC KEY  LAST HANDSHAKE\n"
			"laptop  10.244.2.1/32,fd00:244:0:2::1/128  K1=         12s ago (node n2)\n"
			"ci      10.244.2.2/32                      K2=         never\n"));
	free(out);
}

/* The wg-quick file: the key and addresses, then a peer per node that can
 * be dialed (a node without an endpoint cannot). */
TEST(cli_client_config_file)
{
	json_t *client = json_loads("{\"name\":\"laptop\",\"publicKey\":\"K1=\",\"addresses\":[\"10.244.2.1/32\","
				    "\"fd00:244:0:2::1/128\"],\"created\":1799990000}", 0, NULL);
	json_t *nodes = json_loads("{\"revision\":3,\"nodes\":["
				   "{\"name\":\"n1\",\"publicKey\":\"N1=\",\"endpoints\":[\"192.168.77.11:51821\","
				   "\"[fd77::11]:51821\"],\"subnets\":[\"10.244.0.0/24\",\"fd00:244::/64\"]},"
				   "{\"name\":\"n2\",\"publicKey\":\"N2=\",\"endpoints\":[],\"subnets\":[\"10.244.1.0/24\"]},"
				   "{\"name\":\"n3\",\"publicKey\":\"N3=\",\"endpoints\":[\"[fd77::13]:51821\"],"
				   "\"subnets\":[\"10.244.3.0/24\"]}]}", 0, NULL);
	char *text = client_config_text(client, nodes, "PRIVATE=", NOW);

	CHECK(text && same(text, "# weft external client laptop, written by weft at 2027-01-15 08:00:00 UTC.\n"
				 "# The nodes change: weft client config laptop -o THIS-FILE writes it again.\n"
				 "[Interface]\nPrivateKey = PRIVATE=\nAddress = 10.244.2.1/32, fd00:244:0:2::1/128\n"
				 "\n[Peer]\n# node n1\nPublicKey = N1=\nAllowedIPs = 10.244.0.0/24, fd00:244::/64\n"
				 "Endpoint = 192.168.77.11:51821\nPersistentKeepalive = 25\n"
				 "\n[Peer]\n# node n3\nPublicKey = N3=\nAllowedIPs = 10.244.3.0/24\n"
				 "Endpoint = [fd77::13]:51821\nPersistentKeepalive = 25\n"));
	crypto_free_string(text);
	json_decref(client);
	json_decref(nodes);
}

TEST(cli_durations)
{
	CHECK(opts_duration("3600", 60, 86400) == 3600);
	CHECK(opts_duration("90m", 60, 86400) == 5400);
	CHECK(opts_duration("12h", 60, 86400) == 43200);
	CHECK(opts_duration("1d", 60, 86400) == 86400);
	CHECK(opts_duration("2d", 60, 86400) == -1); /* over the top */
	CHECK(opts_duration("59", 60, 86400) == -1);
	CHECK(opts_duration("", 60, 86400) == -1);
	CHECK(opts_duration("h", 60, 86400) == -1);
	CHECK(opts_duration("-5", 60, 86400) == -1);
	CHECK(opts_duration("10x", 60, 86400) == -1);
	CHECK(opts_duration("99999999999999999999", 60, 86400) == -1);
}

static int parse(struct opts *o, unsigned accepts, const char *const *args)
{
	char *argv[16];
	int argc = 0;

	for (; *args && argc < 15; ++args)
		argv[argc++] = (char *)*args;
	argv[argc] = NULL;
	return opts_parse(o, "test", "usage\n", accepts, argc, argv);
}

TEST(cli_options)
{
	struct opts o;

	CHECK(parse(&o, OPT_JSON | OPT_TTL | OPT_MANAGER, (const char *const[]){ "create", "--ttl", "2h", "--json",
										 "extra", "--manager", "https://m:1", NULL }) == -1);
	CHECK(o.ttl == 7200 && o.json && o.nargs == 1 && !strcmp(o.args[0], "extra") && !strcmp(o.manager, "https://m:1"));
	CHECK(parse(&o, OPT_JSON, (const char *const[]){ "x", "--ttl", "60", NULL }) == EXIT_USAGE);
	CHECK(parse(&o, OPT_JSON, (const char *const[]){ "x", "--frobnicate", NULL }) == EXIT_USAGE);
	CHECK(parse(&o, OPT_JSON, (const char *const[]){ "x", "-z", NULL }) == EXIT_USAGE);
	CHECK(parse(&o, OPT_JSON, (const char *const[]){ "x", "--json=yes", NULL }) == EXIT_USAGE);
	CHECK(parse(&o, OPT_SOCKET, (const char *const[]){ "x", "--socket", NULL }) == EXIT_USAGE);
	CHECK(parse(&o, OPT_TTL, (const char *const[]){ "x", "--ttl", "soon", NULL }) == EXIT_USAGE);
	CHECK(parse(&o, OPT_JSON, (const char *const[]){ "x", "--help", NULL }) == EXIT_OK);
	CHECK(parse(&o, OPT_LAB | OPT_LAB_UP, (const char *const[]){ "up", NULL }) == -1);
	CHECK(o.nodes == 3 && o.pods == 2 && !strcmp(o.mode, "mesh") && o.ipv6 && !strcmp(o.backend, "auto") && !o.dir);
	CHECK(parse(&o, OPT_LAB | OPT_LAB_UP,
		    (const char *const[]){ "up", "--nodes", "5", "--pods", "0", "--mode", "hub", "--no-ipv6", "--backend",
					   "userspace", "--dir", "/tmp/lab", NULL }) == -1);
	CHECK(o.nodes == 5 && o.pods == 0 && !strcmp(o.mode, "hub") && !o.ipv6 && !strcmp(o.backend, "userspace"));
	CHECK(parse(&o, OPT_LAB_UP, (const char *const[]){ "up", "--nodes", "0", NULL }) == EXIT_USAGE);
	CHECK(parse(&o, OPT_LAB_UP, (const char *const[]){ "up", "--nodes", "51", NULL }) == EXIT_USAGE);
	CHECK(parse(&o, OPT_LAB_UP, (const char *const[]){ "up", "--mode", "static", NULL }) == EXIT_USAGE);
	CHECK(parse(&o, OPT_LAB_UP, (const char *const[]){ "up", "--backend", "fast", NULL }) == EXIT_USAGE);
	CHECK(parse(&o, OPT_LAB, (const char *const[]){ "up", "--dir", "relative", NULL }) == EXIT_USAGE);
}

static char *temp_file(const char *text)
{
	char *path = strdup("/tmp/weft-test-cli.XXXXXX");
	int fd = mkstemp(path);

	if (fd < 0 || write(fd, text, strlen(text)) < 0)
		abort();
	close(fd);
	return path;
}

TEST(cli_manager_settings_flag_env_file)
{
	char *conf = temp_file("{\"manager\":\"https://file:1\",\"ca\":\"/file/ca\",\"tokenFile\":\"/file/token\"}");
	struct manager_access a;
	struct opts o = { .cmd = "test", .config = conf };

	unsetenv("WEFT_MANAGER");
	unsetenv("WEFT_CA");
	unsetenv("WEFT_TOKEN_FILE");
	CHECK(manager_access_resolve(&o, &a) == -1);
	CHECK(!strcmp(a.manager, "https://file:1") && !strcmp(a.ca, "/file/ca") && !strcmp(a.token_file, "/file/token"));
	CHECK(!strcmp(a.manager_from, conf));
	setenv("WEFT_MANAGER", "https://env:1", 1);
	setenv("WEFT_TOKEN_FILE", "/env/token", 1);
	o.ca = "/flag/ca";
	CHECK(manager_access_resolve(&o, &a) == -1);
	CHECK(!strcmp(a.manager, "https://env:1") && !strcmp(a.manager_from, "WEFT_MANAGER"));
	CHECK(!strcmp(a.ca, "/flag/ca") && !strcmp(a.ca_from, "--ca"));
	CHECK(!strcmp(a.token_file, "/env/token"));
	o.manager = "https://flag:1";
	CHECK(manager_access_resolve(&o, &a) == -1 && !strcmp(a.manager, "https://flag:1"));
	unsetenv("WEFT_MANAGER");
	unsetenv("WEFT_TOKEN_FILE");
	unlink(conf);
	free(conf);

	/* A bad file is refused, naming it. */
	o = (struct opts){ .cmd = "test" };
	conf = temp_file("{\"manager\": \"https://x:1\", \"tokenfile\": \"/t\"}");
	o.config = conf;
	CHECK(manager_access_resolve(&o, &a) == EXIT_USAGE);
	unlink(conf);
	free(conf);
	conf = temp_file("{\"manager\": 7}");
	o.config = conf;
	CHECK(manager_access_resolve(&o, &a) == EXIT_USAGE);
	unlink(conf);
	free(conf);
	conf = temp_file("{\"manager\": ");
	o.config = conf;
	CHECK(manager_access_resolve(&o, &a) == EXIT_USAGE);
	unlink(conf);
	free(conf);
	o.config = "/nonexistent/cli.json"; /* named: must exist */
	CHECK(manager_access_resolve(&o, &a) == EXIT_USAGE);
}

TEST(cli_token_file)
{
	char tok[300], err[200];
	char *good = temp_file("wefta1:abcDEF_-123\n"), *empty = temp_file("\n\n"), *two = temp_file("wefta1:a b\n");

	CHECK(!token_file_read(good, tok, sizeof(tok), err, sizeof(err)) && !strcmp(tok, "wefta1:abcDEF_-123"));
	CHECK(token_file_read(empty, tok, sizeof(tok), err, sizeof(err)) == -EINVAL && strstr(err, "empty"));
	CHECK(token_file_read(two, tok, sizeof(tok), err, sizeof(err)) == -EINVAL && strstr(err, "one line"));
	CHECK(token_file_read("/nonexistent/token", tok, sizeof(tok), err, sizeof(err)) == -ENOENT);
	unlink(good);
	unlink(empty);
	unlink(two);
	free(good);
	free(empty);
	free(two);
}

/* What a parse says on stderr (its status in *ret), as a string to free. */
static char *parse_said(struct opts *o, unsigned accepts, const char *const *args, int *ret)
{
	char *path = temp_file(""), *out = calloc(1, 1024);
	int saved = dup(STDERR_FILENO), fd = open(path, O_WRONLY);

	fflush(stderr);
	dup2(fd, STDERR_FILENO);
	close(fd);
	*ret = parse(o, accepts, args);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	fd = open(path, O_RDONLY);
	if (read(fd, out, 1023) < 0)
		abort();
	close(fd);
	unlink(path);
	free(path);
	return out;
}

TEST(cli_join_options)
{
	struct opts o;
	char *said;
	int ret;

	CHECK(parse(&o, OPT_JOIN | OPT_MANAGER,
		    (const char *const[]){ "join", "broker-info.subm", "--cluster-id", "east-1", "--cable-driver",
					   "wireguard", "--cidr", "10.245.0.0/16", "--cidr", "fd00:245::/48", NULL }) == -1);
	CHECK(o.nargs == 1 && !strcmp(o.cluster_id, "east-1") && !strcmp(o.cable_driver, "wireguard"));
	CHECK(o.ncidrs == 2 && !strcmp(o.cidrs[0], "10.245.0.0/16") && !strcmp(o.cidrs[1], "fd00:245::/48"));
	said = parse_said(&o, OPT_JOIN, (const char *const[]){ "join", "--cable-driver", "libreswan", NULL }, &ret);
	CHECK(ret == EXIT_USAGE);
	CHECK(same(said, "weft test: --cable-driver \"libreswan\": weft has the wireguard cable driver only\n"));
	free(said);
	said = parse_said(&o, OPT_JOIN, (const char *const[]){ "join", "--cidr", "10.245.0.1/16", NULL }, &ret);
	CHECK(ret == EXIT_USAGE && strstr(said, "give the network, 10.245.0.0/16"));
	free(said);
	said = parse_said(&o, OPT_JOIN, (const char *const[]){ "join", "--cidr", "fd00:245::1/48", NULL }, &ret);
	CHECK(ret == EXIT_USAGE && strstr(said, "give the network, fd00:245::/48"));
	free(said);
	CHECK(parse(&o, OPT_JOIN, (const char *const[]){ "join", "--cidr", "10.245.0.0", NULL }) == EXIT_USAGE);
	CHECK(parse(&o, OPT_JOIN, (const char *const[]){ "join", "--cidr", "10.245.0.0/33", NULL }) == EXIT_USAGE);
	CHECK(parse(&o, OPT_JOIN, (const char *const[]){ "join", "--cidr", "east", NULL }) == EXIT_USAGE);
	CHECK(parse(&o, OPT_JOIN, (const char *const[]){ "join", "--cluster-id", "East", NULL }) == EXIT_USAGE);
	CHECK(parse(&o, OPT_JOIN, (const char *const[]){ "join", "--cluster-id", "-east", NULL }) == EXIT_USAGE);
	CHECK(parse(&o, OPT_JOIN, (const char *const[]){ "join", "--cluster-id", "east-", NULL }) == EXIT_USAGE);
	CHECK(parse(&o, OPT_JOIN, (const char *const[]){ "join", "--cluster-id", "", NULL }) == EXIT_USAGE);
	CHECK(parse(&o, OPT_JOIN,
		    (const char *const[]){ "join", "--cluster-id",
					   "a234567890123456789012345678901234567890123456789012345678901234", NULL }) ==
	      EXIT_USAGE);
	/* One CIDR more than a cluster may give is refused. */
	{
		char *many[2 * CIDRS_MAX + 4] = { "join" };
		int n = 1;

		for (int i = 0; i < CIDRS_MAX + 1; ++i) {
			many[n++] = "--cidr";
			many[n++] = "10.0.0.0/8";
		}
		CHECK(opts_parse(&o, "test", "usage\n", OPT_JOIN, n - 2, many) == -1 && o.ncidrs == CIDRS_MAX);
		CHECK(opts_parse(&o, "test", "usage\n", OPT_JOIN, n, many) == EXIT_USAGE);
	}
	/* Each command's own flags only. */
	said = parse_said(&o, OPT_MANAGER, (const char *const[]){ "leave", "--cluster-id", "east", NULL }, &ret);
	CHECK(ret == EXIT_USAGE && strstr(said, "--cluster-id is not an option of \"weft test\""));
	free(said);
	said = parse_said(&o, OPT_MANAGER, (const char *const[]){ "leave", "-o", "x", NULL }, &ret);
	CHECK(ret == EXIT_USAGE && strstr(said, "--output is not an option of \"weft test\""));
	free(said);
	CHECK(parse(&o, OPT_OUTPUT, (const char *const[]){ "create", "-o", "/tmp/b.subm", NULL }) == -1);
	CHECK(!strcmp(o.output, "/tmp/b.subm"));
	CHECK(parse(&o, OPT_OUTPUT, (const char *const[]){ "create", "--output", "b.subm", NULL }) == -1);
	CHECK(!strcmp(o.output, "b.subm"));
	CHECK(parse(&o, OPT_OUTPUT, (const char *const[]){ "create", "-o", NULL }) == EXIT_USAGE);
	CHECK(parse(&o, OPT_OUTPUT, (const char *const[]){ "create", "--output", "", NULL }) == EXIT_USAGE);
}

static const char ca_pem[] = "-----BEGIN CERTIFICATE-----\nMIIBlTCCATugAwIBAgIU\n-----END CERTIFICATE-----\n";

/* A broker-info's text for any JSON text, as a string to free. */
static char *base64_of(const char *json)
{
	size_t n = strlen(json), size = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
	char *out = malloc(size);

	sodium_bin2base64(out, size, (const unsigned char *)json, n, sodium_base64_VARIANT_ORIGINAL);
	return out;
}

TEST(cli_broker_info_round_trip)
{
	char *text = broker_info_encode("https://broker:7443", ca_pem, "wefta1:SECRET"), *json, *wrapped;
	unsigned char bin[1024];
	size_t len = 0, n;
	json_t *info;
	char err[256];

	/* One line of standard base64, then its newline. */
	CHECK(text && strchr(text, '\n') == text + strlen(text) - 1);
	CHECK(strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") == strlen(text) - 1);
	CHECK(!sodium_base642bin(bin, sizeof(bin) - 1, text, strlen(text), "\n", &len, NULL,
				 sodium_base64_VARIANT_ORIGINAL));
	bin[len] = '\0';
	json = "{\"broker\":\"https://broker:7443\",\"ca\":\"-----BEGIN CERTIFICATE-----\\nMIIBlTCCATugAwIBAgIU\\n"
	       "-----END CERTIFICATE-----\\n\",\"token\":\"wefta1:SECRET\"}";
	CHECK(same((char *)bin, json));
	CHECK(!broker_info_decode(text, &info, err, sizeof(err)));
	CHECK(!strcmp(jstr(info, "broker"), "https://broker:7443") && !strcmp(jstr(info, "ca"), ca_pem));
	CHECK(!strcmp(jstr(info, "token"), "wefta1:SECRET"));
	broker_info_free(info);
	/* Broken into lines of 76, as base64(1) writes it. */
	n = strlen(text);
	wrapped = calloc(1, n * 2);
	for (size_t i = 0, o = 0; i < n; ++i) {
		wrapped[o++] = text[i];
		if (i % 76 == 75)
			wrapped[o++] = '\n';
	}
	CHECK(!broker_info_decode(wrapped, &info, err, sizeof(err)) && !strcmp(jstr(info, "token"), "wefta1:SECRET"));
	broker_info_free(info);
	free(wrapped);
	crypto_free_string(text);
	broker_info_free(NULL);
}

/* Whether the JSON text's broker-info is refused, saying `why` and never
 * the token (SECRET, whenever there is one). */
static bool refused(const char *json, const char *why)
{
	char *text = json ? base64_of(json) : strdup("not base64!");
	json_t *info = (json_t *)1;
	char err[256] = "";
	bool ok = broker_info_decode(text, &info, err, sizeof(err)) == -EINVAL && !info && strstr(err, why) &&
		  !strstr(err, "SECRET");

	if (!ok)
		fprintf(stderr, "  %s: \"%s\", not \"%s\"\n", json ? json : "not base64", err, why);
	free(text);
	return ok;
}

TEST(cli_broker_info_refusals)
{
	char err[256];
	json_t *info;

	CHECK(broker_info_decode("", &info, err, sizeof(err)) == -EINVAL && strstr(err, "empty"));
	CHECK(broker_info_decode(" \n", &info, err, sizeof(err)) == -EINVAL && strstr(err, "empty"));
	CHECK(refused(NULL, "not base64"));
	CHECK(refused("[\"https://b:1\"]", "no JSON object"));
	CHECK(refused("{\"broker\":\"https://b:1\",\"token\":\"SECRET", "no JSON object")); /* cut short */
	CHECK(refused("{\"broker\":\"https://b:1\",\"ca\":\"-----BEGIN CERTIFICATE-----\",\"token\":\"SECRET\","
		      "\"token\":\"SECRET\"}", "no JSON object"));
	CHECK(refused("{\"ca\":\"-----BEGIN CERTIFICATE-----\",\"token\":\"SECRET\"}", "no \"broker\""));
	CHECK(refused("{\"broker\":7,\"ca\":\"-----BEGIN CERTIFICATE-----\",\"token\":\"SECRET\"}", "no \"broker\""));
	CHECK(refused("{\"broker\":\"http://b:1\",\"ca\":\"-----BEGIN CERTIFICATE-----\",\"token\":\"SECRET\"}",
		      "\"broker\" \"http://b:1\" is not an https:// URL"));
	CHECK(refused("{\"broker\":\"https://\",\"ca\":\"-----BEGIN CERTIFICATE-----\",\"token\":\"SECRET\"}",
		      "is not an https:// URL"));
	CHECK(refused("{\"broker\":\"https://b:1\",\"token\":\"SECRET\"}", "\"ca\" holds no PEM certificate"));
	CHECK(refused("{\"broker\":\"https://b:1\",\"ca\":\"MIIB\",\"token\":\"SECRET\"}", "\"ca\" holds no PEM"));
	CHECK(refused("{\"broker\":\"https://b:1\",\"ca\":\"-----BEGIN CERTIFICATE-----\"}", "no \"token\""));
	CHECK(refused("{\"broker\":\"https://b:1\",\"ca\":\"-----BEGIN CERTIFICATE-----\",\"token\":\"\"}", "no \"token\""));
	CHECK(refused("{\"broker\":\"https://b:1\",\"ca\":\"-----BEGIN CERTIFICATE-----\",\"token\":7}", "no \"token\""));
}

TEST(cli_broker_info_read)
{
	char *good = temp_file("\n  QUJD\n\n"), *line = temp_file("QUJD\n"), *blank = temp_file(" \n\t\n"), *text;
	char err[256];

	text = broker_info_read(good, err, sizeof(err));
	CHECK(text && !strcmp(text, "QUJD"));
	crypto_free_string(text);
	text = broker_info_read(line, err, sizeof(err));
	CHECK(text && !strcmp(text, "QUJD"));
	crypto_free_string(text);
	unlink(line);
	free(line);
	CHECK(!broker_info_read(blank, err, sizeof(err)) && strstr(err, "empty"));
	CHECK(!broker_info_read("/nonexistent/broker-info.subm", err, sizeof(err)) && strstr(err, "No such file"));
	unlink(good);
	unlink(blank);
	free(good);
	free(blank);
}

static const char federation_fixture[] =
	"{\"clusterID\":\"east\",\"broker\":\"https://192.168.77.1:7443\",\"cableDriver\":\"wireguard\","
	" \"cidrs\":[\"10.244.0.0/16\",\"fd00:244::/48\"],\"joined\":1799992800,"
	" \"gateway\":{\"node\":\"a1\",\"since\":1799996280,\"until\":1800000004,\"connections\":["
	"  {\"cluster\":\"west\",\"status\":\"connected\",\"endpoint\":\"192.168.77.21:4500\",\"publicKey\":\"WK=\","
	"   \"hostname\":\"b1\",\"established\":1799996400,\"latestHandshake\":1799999995,"
	"   \"rxBytes\":1268776,\"txBytes\":3565158},"
	"  {\"cluster\":\"south\",\"status\":\"error\",\"reason\":\"no handshake in 45 s (check that UDP 4500 is open to "
	"192.168.77.31)\",\"endpoint\":\"192.168.77.31:4500\",\"publicKey\":\"SK=\",\"hostname\":\"c1\","
	"   \"established\":0,\"latestHandshake\":0,\"rxBytes\":0,\"txBytes\":1480},"
	"  {\"cluster\":\"gone\",\"status\":\"connecting\",\"endpoint\":\"192.168.77.41:4500\",\"publicKey\":\"GK=\","
	"   \"hostname\":\"d1\",\"established\":0,\"latestHandshake\":0,\"rxBytes\":0,\"txBytes\":0}]},"
	" \"clusters\":{\"east\":[\"10.244.0.0/16\",\"fd00:244::/48\"],\"west\":[\"10.245.0.0/16\"],"
	"  \"south\":[\"10.246.0.0/16\",\"fd00:246::/48\"],\"north\":[\"10.247.0.0/16\"]}}";

TEST(cli_clusters)
{
	char *out = printed(clusters_print, federation_fixture);

	/* By ID: a cluster with no connection yet, and a connection to one
	 * no longer at the broker, each have their row. */
	CHECK(same(out, "cluster: east\n"
			"  broker: https://192.168.77.1:7443\n"
			"  cable driver: wireguard\n"
			"  cidrs: 10.244.0.0/16, fd00:244::/48\n"
			"  joined: 2 hours ago\n"
			"gateway: a1\n"
			"  since: 1 hour, 2 minutes ago\n"
			"  lease until: 2027-01-15 08:00:04 UTC (4s left)\n"
			"\n"
			"CLUSTER  CIDRS                        GATEWAY  ENDPOINT            STATUS      ESTABLISHED  "
			"HANDSHAKE  TRANSFER\n"
			"gone     -                            d1       192.168.77.41:4500  connecting  never        "
			"never      rx 0 B, tx 0 B\n"
			"north    10.247.0.0/16                -        -                   -           -            "
			"-          -\n"
			"south    10.246.0.0/16,fd00:246::/48  c1       192.168.77.31:4500  error       never        "
			"never      rx 0 B, tx 1.45 KiB\n"
			"  error: no handshake in 45 s (check that UDP 4500 is open to 192.168.77.31)\n"
			"west     10.245.0.0/16                b1       192.168.77.21:4500  connected   1h ago       "
			"5s ago     rx 1.21 MiB, tx 3.40 MiB\n"));
	free(out);

	/* No gateway, and a lease that ran out. */
	out = printed(clusters_print, "{\"clusterID\":\"east\",\"broker\":\"https://b:1\",\"cableDriver\":\"wireguard\","
				      "\"cidrs\":[\"10.244.0.0/16\"],\"gateway\":null,"
				      "\"clusters\":{\"east\":[\"10.244.0.0/16\"],\"west\":[\"10.245.0.0/16\"]}}");
	CHECK(same(out, "cluster: east\n"
			"  broker: https://b:1\n"
			"  cable driver: wireguard\n"
			"  cidrs: 10.244.0.0/16\n"
			"no active gateway: start weftd --gateway on a node and allow it (weft node gateway NAME --allow)\n"
			"\n"
			"CLUSTER  CIDRS          GATEWAY  ENDPOINT  STATUS  ESTABLISHED  HANDSHAKE  TRANSFER\n"
			"west     10.245.0.0/16  -        -         -       -            -          -\n"));
	free(out);
	out = printed(clusters_print, "{\"clusterID\":\"east\",\"broker\":\"https://b:1\",\"cidrs\":[],"
				      "\"gateway\":{\"node\":\"a1\",\"since\":1799999900,\"until\":1799999990,"
				      "\"connections\":[]},\"clusters\":{\"east\":[]}}");
	CHECK(same(out, "cluster: east\n"
			"  broker: https://b:1\n"
			"  cable driver: wireguard\n"
			"  cidrs: (none)\n"
			"gateway: a1\n"
			"  since: 1 minute, 40 seconds ago\n"
			"  lease until: 2027-01-15 07:59:50 UTC (ran out 10 seconds ago)\n"
			"no other cluster has joined the broker yet\n"));
	free(out);
}

/* What f() prints for the JSON text and the two strings. */
static char *printed_line(const char *text, const char *id, const char *broker)
{
	json_t *v = json_loads(text, 0, NULL);
	char *out = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&out, &len);

	if (id)
		joined_print(mem, v, id, broker);
	else
		left_print(mem, v);
	fclose(mem);
	json_decref(v);
	return out;
}

TEST(cli_joined_and_left)
{
	char *out;

	out = printed_line("{\"clusterID\":\"east\",\"broker\":\"https://b:7443\",\"cableDriver\":\"wireguard\","
			   "\"cidrs\":[\"10.244.0.0/16\",\"fd00:244::/48\",\"10.96.0.0/12\"]}",
			   "ignored", "https://ignored:1");
	CHECK(same(out, "cluster east joined the broker at https://b:7443 with CIDRs 10.244.0.0/16, fd00:244::/48, "
			"10.96.0.0/12\n"));
	free(out);
	/* What the reply lacks, the command knows. */
	out = printed_line("{}", "east", "https://b:7443");
	CHECK(same(out, "cluster east joined the broker at https://b:7443\n"));
	free(out);
	out = printed_line("{\"clusterID\":\"east\",\"broker\":\"https://b:7443\"}", NULL, NULL);
	CHECK(same(out, "cluster east left the broker at https://b:7443\n"));
	free(out);
	out = printed_line("null", NULL, NULL);
	CHECK(same(out, "left the broker\n"));
	free(out);
}

TEST(cli_status_clusters)
{
	char *out = printed(status_print,
			    "{\"ok\":true,\"node\":{\"name\":\"a3\"},\"clusters\":{\"gateway\":\"a1\",\"since\":1799999940,"
			    "\"connections\":[{\"cluster\":\"b\",\"subnets\":[\"10.92.0.0/16\",\"fd92::/48\"],"
			    "\"status\":\"connected\"},{\"cluster\":\"c\",\"subnets\":[\"10.93.0.0/16\"]}]},"
			    "\"peers\":[],\"pods\":[]}");

	CHECK(same(out, "node: a3\n"
			"clusters: through gateway a1 (since 1 minute ago)\n"
			"  b: connected, 10.92.0.0/16, fd92::/48\n"
			"  c: unknown, 10.93.0.0/16\n"
			"device: none yet\n"
			"pods: 0\n"));
	free(out);
	/* On the active gateway the gateway section says it all. */
	out = printed(status_print, "{\"ok\":true,\"clusters\":{\"gateway\":\"a1\",\"connections\":[]},"
				    "\"gateway\":{\"active\":true,\"device\":\"submariner\"},\"peers\":[],\"pods\":[]}");
	CHECK(!strstr(out, "through gateway"));
	free(out);
	out = printed(status_print, "{\"ok\":true,\"clusters\":{\"gateway\":\"a1\",\"connections\":[]},"
				    "\"peers\":[],\"pods\":[]}");
	CHECK(strstr(out, "clusters: through gateway a1\n  no other cluster has an active gateway\n"));
	free(out);
}

TEST(cli_status_gateway)
{
	static const char fixture[] =
		"{\"ok\":true,\"node\":{\"name\":\"a1\"},"
		" \"manager\":{\"urls\":\"https://m:7443\",\"connected\":true,\"revision\":7,\"lastContact\":1799999999},"
		" \"gateway\":{\"active\":true,\"device\":\"submariner\",\"port\":4500,\"publicKey\":\"GWKEY=\","
		"  \"cluster\":\"east\",\"connections\":["
		"   {\"cluster\":\"west\",\"status\":\"connected\",\"endpoint\":\"192.168.77.21:4500\",\"publicKey\":\"WK=\","
		"    \"hostname\":\"b1\",\"established\":1799996400,\"latestHandshake\":1799999995,"
		"    \"rxBytes\":1268776,\"txBytes\":3565158},"
		"   {\"cluster\":\"south\",\"status\":\"error\",\"reason\":\"no packets for 40 s\","
		"    \"endpoint\":\"192.168.77.31:4500\",\"hostname\":\"c1\",\"established\":1799990000,"
		"    \"latestHandshake\":1799999900,\"rxBytes\":2048,\"txBytes\":4096}]},"
		" \"device\":{\"name\":\"weft-hub\",\"backend\":\"kernel\"},\"peers\":[],\"pods\":[]}";
	char *out = printed(status_print, fixture);

	CHECK(same(out, "node: a1\n"
			"manager: https://m:7443\n"
			"  connected: yes, revision 7\n"
			"  last contact: 1 second ago\n"
			"gateway: active, cluster east\n"
			"  device: submariner\n"
			"  listening port: 4500\n"
			"  public key: GWKEY=\n"
			"  CLUSTER  GATEWAY  ENDPOINT            STATUS     ESTABLISHED  HANDSHAKE  TRANSFER\n"
			"  south    c1       192.168.77.31:4500  error      2h ago       1m ago     rx 2.00 KiB, tx 4.00 KiB\n"
			"    error: no packets for 40 s\n"
			"  west     b1       192.168.77.21:4500  connected  1h ago       5s ago     rx 1.21 MiB, tx 3.40 MiB\n"
			"device: weft-hub\n"
			"  backend: kernel\n"
			"pods: 0\n"));
	free(out);
	/* A candidate without the lease; an active one with no one to talk to. */
	out = printed(status_print, "{\"ok\":true,\"gateway\":{\"active\":false,\"port\":4500,\"connections\":[]},"
				    "\"peers\":[],\"pods\":[]}");
	CHECK(same(out, "node: not in a cluster (weftd runs without --manager)\n"
			"gateway: standby (not holding the gateway lease)\n"
			"  listening port: 4500\n"
			"device: none yet\n"
			"pods: 0\n"));
	free(out);
	out = printed(status_print, "{\"ok\":true,\"gateway\":{\"active\":true,\"device\":\"submariner\"},"
				    "\"peers\":[],\"pods\":[]}");
	CHECK(same(out, "node: not in a cluster (weftd runs without --manager)\n"
			"gateway: active\n"
			"  device: submariner\n"
			"  connections: none (no other cluster has an active gateway)\n"
			"device: none yet\n"
			"pods: 0\n"));
	free(out);
}
