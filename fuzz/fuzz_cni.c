// SPDX-License-Identifier: MIT
/* CNI configurations from stdin: the protocol layer, a prevResult carried
 * through and reshaped for every version, and static mode's parser; and
 * the same bytes as weftd's settings file and as CNI_ARGS. */
#include <stdlib.h>
#include <string.h>

#include "../src/weft-cni/plugin.h"
#include "agent/config.h"
#include "crypto/crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *versions[] = { "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0" };
	struct plugin p;
	struct cni_error err;
	struct agent_config ac;
	char msg[400];
	json_t *res;

	crypto_init();
	memset(&p, 0, sizeof(p));
	if (!cni_conf_parse(&p.conf, (const char *)data, size, &err)) {
		res = cni_result_new(p.conf.prev_result, &err);
		if (res) {
			cni_result_add_interface(res, "wg0", NULL, "/run/netns/x", 1420);
			cni_result_add_ip(res, "10.0.0.1/24", NULL, 0);
			for (int i = 0; i < 5; ++i)
				cni_result_finish(res, versions[i]);
			json_decref(res);
		}
		bool on;

		cni_pod_to_pod_parse(p.conf.root, json_string_value(json_object_get(p.conf.root, "mode")), &on, &err);
		/* Files named in the input are not read by the fuzzer. */
		if (!json_object_get(p.conf.root, "privateKeyFile"))
			cni_wgcfg_parse(&p.wg, p.conf.root, &err);
	}
	/* The same bytes as CNI_ARGS, and what is kept of them as a record. */
	if (size < 8192) {
		char args[8192];
		struct cni_owner o, back;

		memcpy(args, data, size);
		args[size] = '\0';
		if (!cni_args_parse(args, &o, &err)) {
			json_t *j = cni_owner_json(&o);

			cni_owner_from_json(j, &back);
			if (memcmp(&o, &back, sizeof(o)))
				__builtin_trap(); /* a record must give back what was parsed */
			json_decref(j);
			cni_owner_str(&o, msg, sizeof(msg));
		}
	}
	agent_config_defaults(&ac);
	agent_config_parse(&ac, (const char *)data, size, msg, sizeof(msg));
	cni_wgcfg_free(&p.wg);
	cni_conf_free(&p.conf);
	return 0;
}
