// SPDX-License-Identifier: MIT
/* A node's record as the store holds it (/weft/nodes/NAME) through
 * cluster_node_parse: any bytes. A record it takes must come back the same
 * from its own JSON, as every edit writes it that way and reads it again. */
#include <stdlib.h>

#include "cluster/cluster.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cluster_node n, again;
	json_t *doc = json_loadb((const char *)data, size, 0, NULL), *out;
	char err[256];
	char *text;

	if (!doc)
		return 0;
	if (cluster_node_parse(doc, &n, err, sizeof(err))) {
		json_decref(doc);
		return 0;
	}
	/* Through text, as the store has it. */
	if (!(out = cluster_node_json(&n)) || !(text = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS)))
		abort();
	json_decref(out);
	if (!(out = json_loads(text, 0, NULL)) || cluster_node_parse(out, &again, err, sizeof(err)) ||
	    !cluster_node_equal(&n, &again) || !cluster_node_equal(&again, &n))
		abort();
	free(text);
	json_decref(out);
	json_decref(doc);
	cluster_node_free(&n);
	cluster_node_free(&again);
	return 0;
}
