// SPDX-License-Identifier: MIT
/* The CNI protocol layer: configurations, versions, results, errors. */
#include "test.h"

#include <stdlib.h>

#include "cni/args.h"
#include "cni/cni.h"

static int parse(const char *text, struct cni_conf *c, struct cni_error *e)
{
	return cni_conf_parse(c, text, strlen(text), e);
}

TEST(cni_conf_versions_and_errors)
{
	struct cni_conf c;
	struct cni_error e;
	const char *ok[] = { "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0" };
	char text[200];

	for (size_t i = 0; i < 5; ++i) {
		snprintf(text, sizeof(text), "{\"cniVersion\":\"%s\",\"name\":\"n\",\"type\":\"weft\"}", ok[i]);
		CHECK(parse(text, &c, &e) == 0);
		cni_conf_free(&c);
	}
	CHECK(parse("{\"cniVersion\":\"0.2.0\",\"name\":\"n\",\"type\":\"weft\"}", &c, &e) == CNI_ERR_INCOMPATIBLE_VERSION);
	CHECK(strstr(e.details, "0.2.0") != NULL);
	cni_conf_free(&c);
	CHECK(parse("{\"name\":\"n\",\"type\":\"weft\"}", &c, &e) == CNI_ERR_INCOMPATIBLE_VERSION);
	cni_conf_free(&c);
	CHECK(parse("{\"cniVersion\":\"1.1.0\",\"type\":\"weft\"}", &c, &e) == CNI_ERR_INVALID_CONFIG);
	CHECK(strstr(e.msg, "name") != NULL);
	cni_conf_free(&c);
	CHECK(parse("{\"cniVersion\":\"1.1.0\",\"name\":\"n\",", &c, &e) == CNI_ERR_DECODE);
	CHECK(strstr(e.details, "line 1") != NULL);
	cni_conf_free(&c);
	CHECK(parse("[1,2]", &c, &e) == CNI_ERR_DECODE);
	cni_conf_free(&c);
	CHECK(parse("{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"name\":\"m\",\"type\":\"weft\"}", &c, &e) == CNI_ERR_DECODE);
	cni_conf_free(&c);
}

/* A 0.4.0 prevResult extended and given back as 1.0.0 and as 0.3.1. */
/* podToPod: a boolean, and only in mode hub; the error names the field. */
TEST(cni_pod_to_pod)
{
	const struct {
		const char *value, *mode;
		int code;
		bool on;
	} cases[] = {
		{ NULL, "hub", 0, false },	  { "true", "hub", 0, true },
		{ "false", "hub", 0, false },	  { "\"true\"", "hub", CNI_ERR_INVALID_CONFIG, false },
		{ "1", "hub", CNI_ERR_INVALID_CONFIG, false }, { "null", "hub", CNI_ERR_INVALID_CONFIG, false },
		{ "true", "mesh", CNI_ERR_INVALID_CONFIG, true }, { "false", NULL, CNI_ERR_INVALID_CONFIG, false },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); ++i) {
		char text[100];
		struct cni_error e = { 0, "", "" };
		json_t *root;
		bool on;

		snprintf(text, sizeof(text), "{\"podToPod\":%s}", cases[i].value ?: "{}");
		root = json_loads(text, 0, NULL);
		if (!cases[i].value)
			json_object_del(root, "podToPod");
		CHECK(cni_pod_to_pod_parse(root, cases[i].mode, &on, &e) == cases[i].code);
		CHECK(on == cases[i].on);
		CHECK(!cases[i].code || strstr(e.details, "podToPod: ") == e.details);
		json_decref(root);
	}
}

TEST(cni_result_chained_and_converted)
{
	struct cni_conf c;
	struct cni_error e;
	json_t *res, *ips;
	char *out;
	int idx;

	CHECK(parse("{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"type\":\"weft\",\"prevResult\":{\"cniVersion\":\"0.4.0\","
		    "\"interfaces\":[{\"name\":\"eth0\",\"mac\":\"aa:bb:cc:dd:ee:ff\",\"sandbox\":\"/run/netns/x\"}],"
		    "\"ips\":[{\"version\":\"4\",\"address\":\"10.1.0.5/24\",\"gateway\":\"10.1.0.1\",\"interface\":0}],"
		    "\"dns\":{\"nameservers\":[\"10.1.0.1\"]},\"custom\":7}}",
		    &c, &e) == 0);
	res = cni_result_new(c.prev_result, &e);
	CHECK(res != NULL);
	idx = cni_result_add_interface(res, "wg0", NULL, "/run/netns/x", 1420);
	CHECK(idx == 1);
	cni_result_add_ip(res, "fd00::5/64", NULL, idx);
	cni_result_add_route(res, "0.0.0.0/0", NULL);
	cni_result_finish(res, "1.0.0");
	ips = json_object_get(res, "ips");
	CHECK(json_array_size(ips) == 2);
	CHECK(!json_object_get(json_array_get(ips, 0), "version"));
	CHECK(!json_object_get(json_array_get(json_object_get(res, "interfaces"), 1), "mtu")); /* 1.1 only */
	CHECK(json_integer_value(json_object_get(res, "custom")) == 7);                      /* passed through */
	CHECK(json_array_size(json_object_get(json_object_get(res, "dns"), "nameservers")) == 1);
	out = json_dumps(res, JSON_COMPACT);
	CHECK(strstr(out, "\"cniVersion\":\"1.0.0\"") != NULL);
	free(out);
	cni_result_finish(res, "0.3.1");
	CHECK(!strcmp(json_string_value(json_object_get(json_array_get(ips, 1), "version")), "6"));
	cni_result_finish(res, "1.1.0");
	json_object_set_new(json_array_get(json_object_get(res, "interfaces"), 1), "mtu", json_integer(1420));
	cni_result_finish(res, "1.1.0");
	CHECK(json_integer_value(json_object_get(json_array_get(json_object_get(res, "interfaces"), 1), "mtu")) == 1420);
	json_decref(res);
	cni_conf_free(&c);
}

TEST(cni_env_per_command)
{
	struct cni_env env;
	struct cni_error e;

	unsetenv("CNI_CONTAINERID");
	unsetenv("CNI_NETNS");
	unsetenv("CNI_IFNAME");
	setenv("CNI_COMMAND", "VERSION", 1);
	CHECK(cni_env_read(&env, &e) == 0 && env.cmd == CNI_VERSION);
	setenv("CNI_COMMAND", "ADD", 1);
	CHECK(cni_env_read(&env, &e) == CNI_ERR_INVALID_ENV && strstr(e.details, "CNI_CONTAINERID"));
	setenv("CNI_CONTAINERID", "abc-123", 1);
	setenv("CNI_NETNS", "/run/netns/x", 1);
	setenv("CNI_IFNAME", "eth0", 1);
	CHECK(cni_env_read(&env, &e) == 0 && !strcmp(env.ifname, "eth0"));
	setenv("CNI_IFNAME", "eth0-but-far-too-long", 1);
	CHECK(cni_env_read(&env, &e) == CNI_ERR_INVALID_ENV);
	setenv("CNI_IFNAME", "eth0", 1);
	setenv("CNI_CONTAINERID", "bad id!", 1);
	CHECK(cni_env_read(&env, &e) == CNI_ERR_INVALID_ENV && strstr(e.details, "bad id!"));
	setenv("CNI_CONTAINERID", "abc", 1);
	unsetenv("CNI_NETNS");
	setenv("CNI_COMMAND", "DEL", 1);
	CHECK(cni_env_read(&env, &e) == 0); /* DEL needs no netns */
	setenv("CNI_COMMAND", "GC", 1);
	setenv("CNI_CONTAINERID", "", 1);
	CHECK(cni_env_read(&env, &e) == 0);
	setenv("CNI_COMMAND", "FROB", 1);
	CHECK(cni_env_read(&env, &e) == CNI_ERR_INVALID_ENV && strstr(e.details, "FROB"));
}

/* CNI_ARGS as Kubernetes, Nomad and podman send it, and what is refused. */
TEST(cni_args_runtimes)
{
	struct cni_owner o;
	struct cni_error e;
	char buf[300];
	json_t *j;

	CHECK(cni_args_parse("", &o, &e) == 0 && cni_owner_empty(&o));
	CHECK(cni_args_parse("IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;"
			     "K8S_POD_INFRA_CONTAINER_ID=abc123;K8S_POD_UID=0f1e-22",
			     &o, &e) == 0);
	CHECK(!strcmp(o.pod_namespace, "default") && !strcmp(o.pod_name, "web-0") && !strcmp(o.pod_uid, "0f1e-22") &&
	      !strcmp(o.pod_infra_id, "abc123"));
	CHECK(!strcmp(cni_owner_str(&o, buf, sizeof(buf)), "default/web-0"));
	CHECK(cni_args_parse("IgnoreUnknown=true;NOMAD_REGION=global;NOMAD_NAMESPACE=default;NOMAD_JOB_ID=example;"
			     "NOMAD_GROUP_NAME=cache;NOMAD_ALLOC_ID=5b3d1c2e-8a0f-4b7c-9d11-0a2b3c4d5e6f",
			     &o, &e) == 0);
	CHECK(!strcmp(cni_owner_str(&o, buf, sizeof(buf)), "example.cache alloc 5b3d1c2e"));
	/* podman: IgnoreUnknown=1 and the container's name, its static IP
	 * and MAC (unknown to weft, ignored as asked). */
	CHECK(cni_args_parse("IgnoreUnknown=1;K8S_POD_NAME=c1;IP=10.0.0.5;MAC=aa:bb:cc:dd:ee:ff", &o, &e) == 0);
	CHECK(!strcmp(cni_owner_str(&o, buf, sizeof(buf)), "c1"));
	/* A value may hold '=' (split at the first). */
	CHECK(cni_args_parse("K8S_POD_NAME=a=b", &o, &e) == 0 && !strcmp(o.pod_name, "a=b"));
	/* Trailing separator, as some runtimes write. */
	CHECK(cni_args_parse("K8S_POD_NAME=x;", &o, &e) == 0 && !strcmp(o.pod_name, "x"));
	/* Unknown keys are refused unless ignored, wherever IgnoreUnknown is. */
	CHECK(cni_args_parse("FOO=1;K8S_POD_NAME=x", &o, &e) == CNI_ERR_INVALID_ENV && strstr(e.details, "FOO"));
	CHECK(cni_args_parse("FOO=1;IgnoreUnknown=TRUE", &o, &e) == 0);
	CHECK(cni_args_parse("FOO=1;IgnoreUnknown=0", &o, &e) == CNI_ERR_INVALID_ENV);
	CHECK(cni_args_parse("IgnoreUnknown=yes", &o, &e) == CNI_ERR_INVALID_ENV && strstr(e.details, "yes"));
	CHECK(cni_args_parse("K8S_POD_NAME", &o, &e) == CNI_ERR_INVALID_ENV && strstr(e.details, "K8S_POD_NAME"));
	CHECK(cni_args_parse("=x", &o, &e) == CNI_ERR_INVALID_ENV);
	CHECK(cni_args_parse("K8S_POD_NAME=a\nb", &o, &e) == CNI_ERR_INVALID_ENV);
	memset(buf, 'n', 100);
	memcpy(buf, "K8S_POD_NAMESPACE=", 18);
	buf[100] = '\0';
	CHECK(cni_args_parse(buf, &o, &e) == CNI_ERR_INVALID_ENV && strstr(e.details, "K8S_POD_NAMESPACE"));
	/* Round trip through a record. */
	CHECK(cni_args_parse("K8S_POD_NAMESPACE=kube-system;K8S_POD_NAME=dns", &o, &e) == 0);
	j = cni_owner_json(&o);
	CHECK(json_object_size(j) == 2);
	memset(&o, 0, sizeof(o));
	cni_owner_from_json(j, &o);
	CHECK(!strcmp(o.pod_namespace, "kube-system") && !strcmp(o.pod_name, "dns"));
	json_decref(j);
}

/* Every interface in the container has a "mac": podman refuses a result
 * with one missing. */
TEST(cni_result_macs)
{
	static const uint8_t mac[6] = { 0x0a, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f };
	json_t *res = json_object(), *ifs;
	char buf[64];

	CHECK(!strcmp(cni_mac_str(mac, 6, buf, sizeof(buf)), "0a:1b:2c:3d:4e:5f"));
	CHECK(!strcmp(cni_mac_str(NULL, 0, buf, sizeof(buf)), CNI_MAC_NONE));
	cni_result_add_interface(res, "wg0", NULL, "/run/netns/x", 1420);
	cni_result_add_interface(res, "weft1234", NULL, NULL, 0);
	cni_result_add_interface(res, "eth0", "0a:1b:2c:3d:4e:5f", "/run/netns/x", 0);
	ifs = json_object_get(res, "interfaces");
	CHECK(!strcmp(json_string_value(json_object_get(json_array_get(ifs, 0), "mac")), "00:00:00:00:00:00"));
	CHECK(!json_object_get(json_array_get(ifs, 1), "mac")); /* on the host: nothing to say */
	CHECK(!strcmp(json_string_value(json_object_get(json_array_get(ifs, 2), "mac")), "0a:1b:2c:3d:4e:5f"));
	json_decref(res);
}

TEST(cni_modes_by_name)
{
	enum cni_mode m;

	CHECK(cni_mode_parse("mesh", &m) == 0 && m == CNI_MODE_MESH);
	CHECK(cni_mode_parse("hub", &m) == 0 && m == CNI_MODE_HUB);
	CHECK(cni_mode_parse("static", &m) == 0 && m == CNI_MODE_STATIC);
	CHECK(cni_mode_parse("Mesh", &m) == -EINVAL && cni_mode_parse("", &m) == -EINVAL);
	CHECK(cni_mode_parse(NULL, &m) == -EINVAL);
	CHECK(!strcmp(cni_mode_name(CNI_MODE_HUB), "hub"));
}
