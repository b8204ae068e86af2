// SPDX-License-Identifier: MIT
/* Asking the node agent (weftd) what it holds, over its UNIX socket. */
#include "weft.h"

#include <errno.h>
#include <string.h>

#include "agent/agent.h"

enum { AGENT_TIMEOUT_MS = 10000 };

json_t *agent_show(const struct opts *o, int *status)
{
	const char *path = o->socket ? o->socket : AGENT_SOCKET_DEFAULT;
	json_t *req = json_pack("{s:s}", "op", "show"), *reply;
	const char *msg, *details;
	int err;

	reply = agent_call(path, req, AGENT_TIMEOUT_MS);
	err = errno;
	json_decref(req);
	*status = EXIT_FAIL;
	if (!reply) {
		if (err == ENOENT)
			failure(o, "no agent at %s (no such socket): is weftd running? give its socket with --socket PATH",
				path);
		else if (err == ECONNREFUSED)
			failure(o, "no agent answers at %s (a socket left by a stopped weftd?): is weftd running?", path);
		else if (err == EACCES || err == EPERM)
			failure(o, "%s: permission denied: the agent answers root only", path);
		else if (err == ETIMEDOUT)
			failure(o, "the agent at %s did not answer within %d s", path, AGENT_TIMEOUT_MS / 1000);
		else
			failure(o, "the agent at %s: %s", path, strerror(err));
		return NULL;
	}
	if (json_is_true(json_object_get(reply, "ok"))) {
		*status = EXIT_OK;
		return reply;
	}
	msg = json_string_value(json_object_get(reply, "msg")) ?: "failed";
	details = json_string_value(json_object_get(reply, "details")) ?: "";
	if (!strcmp(msg, "unknown agent operation"))
		failure(o, "the agent at %s does not know \"show\": it is older than this weft (update weftd)", path);
	else
		failure(o, "the agent at %s: %s%s%s", path, msg, *details ? ": " : "", details);
	json_decref(reply);
	return NULL;
}
