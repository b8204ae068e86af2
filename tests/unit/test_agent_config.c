// SPDX-License-Identifier: MIT
/* weftd's settings: the file, the flags over it, and refusals that name
 * the setting and change nothing. */
#include "test.h"

#include <stdlib.h>
#include <unistd.h>

#include "agent/config.h"
#include "dev/wgdev.h"
#include "wg/device.h"

static int parse(struct agent_config *c, const char *text, char *err, size_t len)
{
	return agent_config_parse(c, text, strlen(text), err, len);
}

TEST(agent_config_file_then_flags)
{
	struct agent_config c;
	char err[400];

	agent_config_defaults(&c);
	CHECK(!strcmp(c.state_dir, "/var/lib/weft") && c.hub_port == 51821 && c.backend == WGDEV_AUTO);
	CHECK(!parse(&c,
		     "{\"stateDir\":\"/tmp/w\",\"socket\":\"/run/w.sock\",\"podSubnet\":\"10.244.1.0/24\","
		     "\"podSubnet6\":\"fd00:244:1::/64\",\"backend\":\"userspace\",\"hubName\":\"hub0\","
		     "\"hubPort\":51000,\"logLevel\":\"verbose\"}",
		     err, sizeof(err)));
	CHECK(!strcmp(c.state_dir, "/tmp/w") && !strcmp(c.socket_path, "/run/w.sock"));
	CHECK(!strcmp(c.pod_subnet, "10.244.1.0/24") && !strcmp(c.pod_subnet6, "fd00:244:1::/64"));
	CHECK(c.backend == WGDEV_USERSPACE && !strcmp(c.hub_name, "hub0") && c.hub_port == 51000);
	CHECK(c.log_level == WG_LOG_VERBOSE);
	/* A port as a string is fine too; a flag overrides the file. */
	CHECK(!parse(&c, "{\"hubPort\":\"51001\"}", err, sizeof(err)) && c.hub_port == 51001);
	CHECK(!agent_config_set(&c, "hub-port", "4242", err, sizeof(err)) && c.hub_port == 4242);
	/* An empty pool turns it off. */
	CHECK(!agent_config_set(&c, "pod-subnet6", "", err, sizeof(err)) && !c.pod_subnet6[0]);
	/* Docker's plugin: off, at Docker's place for "weft", unless set. */
	CHECK(!c.docker_plugin && !strcmp(c.docker_socket, "/run/docker/plugins/weft.sock"));
	CHECK(!parse(&c, "{\"dockerPlugin\":true,\"dockerSocket\":\"/run/docker/plugins/weft-b.sock\"}", err,
		     sizeof(err)));
	CHECK(c.docker_plugin && !strcmp(c.docker_socket, "/run/docker/plugins/weft-b.sock"));
	CHECK(!agent_config_set(&c, "docker-plugin", "false", err, sizeof(err)) && !c.docker_plugin);
	/* Pods' egress is masqueraded unless turned off, in the file or by flag. */
	CHECK(c.ip_masq);
	CHECK(!parse(&c, "{\"ipMasq\":false}", err, sizeof(err)) && !c.ip_masq);
	CHECK(!agent_config_set(&c, "ip-masq", "true", err, sizeof(err)) && c.ip_masq);
	CHECK(agent_config_set(&c, "ip-masq", "yes", err, sizeof(err)) == -EINVAL && c.ip_masq);
	CHECK(strstr(err, "ip-masq \"yes\": true or false"));
}

TEST(agent_config_refusals_name_the_setting_and_change_nothing)
{
	static const struct {
		const char *text, *expect;
	} bad[] = {
		{ "{\"podSubnet\":\"10.244.1.0/24\",\"hubPort\":70000}", "hubPort \"70000\"" },
		{ "{\"hubPort\":0}", "hubPort \"0\"" },
		{ "{\"hubPort\":\"-1\"}", "hubPort \"-1\"" },
		{ "{\"hubPort\":true}", "hubPort: a number" },
		{ "{\"podSubnet\":\"fd00::/64\"}", "podSubnet \"fd00::/64\": an IPv4 prefix" },
		{ "{\"podSubnet6\":\"10.0.0.0/8\"}", "podSubnet6 \"10.0.0.0/8\": an IPv6 prefix" },
		{ "{\"podSubnet\":\"10.0.0.0/31\"}", "podSubnet \"10.0.0.0/31\"" },
		{ "{\"backend\":\"bpf\"}", "backend \"bpf\": auto, kernel or userspace" },
		{ "{\"hubName\":\"a-very-long-interface\"}", "hubName \"a-very-long-interface\"" },
		{ "{\"hubName\":\"a/b\"}", "hubName \"a/b\"" },
		{ "{\"stateDir\":\"relative\"}", "stateDir \"relative\": an absolute path" },
		{ "{\"logLevel\":\"loud\"}", "logLevel \"loud\"" },
		{ "{\"podSubnt\":\"10.0.0.0/24\"}", "unknown key \"podSubnt\"" },
		{ "{\"socket\":1}", "socket: a string" },
		{ "{\"dockerPlugin\":\"yes\"}", "dockerPlugin \"yes\": true or false" },
		{ "{\"dockerSocket\":\"/run/docker/plugins/weft\"}", "dockerSocket \"/run/docker/plugins/weft\": a path ending in NAME.sock" },
		{ "{\"dockerSocket\":\"weft.sock\"}", "dockerSocket \"weft.sock\": an absolute path" },
		{ "[1]", "a JSON object" },
		{ "{\"socket\":", "not JSON" },
		{ "{\"socket\":\"/a\",\"socket\":\"/b\"}", "not JSON" },
	};
	struct agent_config c, before;
	char err[400];

	agent_config_defaults(&c);
	CHECK(!parse(&c, "{\"podSubnet\":\"10.9.0.0/24\",\"hubPort\":1234}", err, sizeof(err)));
	before = c;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
		err[0] = '\0';
		CHECK(parse(&c, bad[i].text, err, sizeof(err)) == -EINVAL);
		if (!strstr(err, bad[i].expect))
			printf("# %s -> %s (expected %s)\n", bad[i].text, err, bad[i].expect);
		CHECK(strstr(err, bad[i].expect));
		CHECK(!memcmp(&c, &before, sizeof(c)));
	}
	CHECK(agent_config_set(&c, "no-such", "x", err, sizeof(err)) == -EINVAL && strstr(err, "no-such"));
	CHECK(!memcmp(&c, &before, sizeof(c)));
}

TEST(agent_config_load_file)
{
	struct agent_config c;
	char path[] = "/tmp/weft-config-test.XXXXXX", err[400];
	int fd = mkstemp(path);
	const char *text = "{\"podSubnet\": \"10.7.0.0/16\"}\n";

	CHECK(fd >= 0);
	CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	agent_config_defaults(&c);
	CHECK(!agent_config_load(&c, path, err, sizeof(err)) && !strcmp(c.pod_subnet, "10.7.0.0/16"));
	unlink(path);
	CHECK(agent_config_load(&c, path, err, sizeof(err)) == -ENOENT && strstr(err, path));
	CHECK(agent_config_load(&c, "/tmp", err, sizeof(err)) == -EINVAL && strstr(err, "regular file"));
}
