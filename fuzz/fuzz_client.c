// SPDX-License-Identifier: MIT
/* An external client's record (/weft/clients/NAME, and each of "clients"
 * in the long poll's answer that weftd takes) through cluster_client_parse:
 * any bytes. A record it takes must come back the same from its own JSON,
 * as the manager writes it and every node reads it again. */
#include <stdlib.h>

#include "cluster/cluster.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cluster_client c, again;
	json_t *doc = json_loadb((const char *)data, size, 0, NULL), *out;
	char err[256];
	char *text;

	if (!doc)
		return 0;
	if (cluster_client_parse(doc, &c, err, sizeof(err))) {
		json_decref(doc);
		return 0;
	}
	if (!(out = cluster_client_json(&c)) || !(text = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS)))
		abort();
	json_decref(out);
	if (!(out = json_loads(text, 0, NULL)) || cluster_client_parse(out, &again, err, sizeof(err)) ||
	    !cluster_client_equal(&c, &again) || !cluster_client_equal(&again, &c))
		abort();
	free(text);
	json_decref(out);
	json_decref(doc);
	return 0;
}
