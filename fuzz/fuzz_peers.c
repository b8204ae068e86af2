// SPDX-License-Identifier: MIT
/* A manager's change list as weftd's member and gateway read it
 * (lib/agent/reconcile): the input as the JSON reply of GET /v1/peers,
 * taken twice into a peer set (once over nothing, once over what the first
 * made), then planned both ways. What is taken must hold what the checks
 * promise: names unique and sorted, keys and prefixes parsed, and the same
 * list taken again changing nothing. */
#include <stdlib.h>
#include <string.h>

#include "agent/reconcile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static json_t *routed(json_t *rec)
{
	json_t *v = json_object_get(rec, "routed");

	return json_is_array(v) ? json_incref(v) : NULL;
}

static void check_set(const struct peer_set *s)
{
	for (size_t i = 0; i + 1 < s->n; ++i)
		if (strcmp(s->v[i].name, s->v[i + 1].name) >= 0)
			abort();
	for (size_t i = 0; i < s->n; ++i)
		for (size_t j = 0; j < s->v[i].nprefixes; ++j)
			if (s->v[i].prefixes[j].family != AF_INET && s->v[i].prefixes[j].family != AF_INET6)
				abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const keep[] = { "labels", NULL };
	struct peer_take_opts o = { .self = "me", .extra_prefixes = routed, .keep = keep };
	json_t *reply = json_loadb((const char *)data, size, 0, NULL);
	struct peer_set none = { 0 }, one, two;
	uint8_t mine[32] = { 1 };

	if (!reply)
		return 0;
	o.need_endpoint = size & 1;
	if (!peer_set_take(&one, &none, reply, &o)) {
		check_set(&one);
		if (!peer_set_take(&two, &one, reply, &o)) {
			struct reconcile_in in = { .want = &two, .have = &one, .mine = mine, .keepalive = 25,
						   .delay_ms = 500 };
			struct plan p;

			check_set(&two);
			/* The same list again: nothing to do when it is not full. */
			if (!reconcile(&in, &p)) {
				if (!json_is_true(json_object_get(reply, "full")) && !json_array_size(json_object_get(reply, "removed")) &&
				    (p.cfg->first_peer || p.nroute_del))
					abort();
				plan_free(&p);
			}
			in.want = &one;
			in.have = &none;
			if (!reconcile(&in, &p))
				plan_free(&p);
			{
				json_t *saved = peer_set_json(&two);
				struct peer_set back;

				if (!peer_set_from_json(&back, saved, NULL)) {
					if (back.n != two.n)
						abort();
					peer_set_clear(&back);
				}
				json_decref(saved);
			}
			peer_set_clear(&two);
		}
		peer_set_clear(&one);
	}
	json_decref(reply);
	return 0;
}
