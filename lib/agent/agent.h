/* SPDX-License-Identifier: MIT */
/*
 * How weft-cni talks to weftd, the node agent: one JSON request and one
 * JSON reply per connection, over a UNIX socket only root may use.
 *
 *   request  {"op": "add"|"del"|"check"|"status"|"gc", "mode": ..., "containerID": ...,
 *             "ifname": ..., "netns": ..., "config": {the CNI configuration}}
 *   reply    {"ok": true, "result": {...}} or
 *            {"ok": false, "code": N, "msg": "...", "details": "..."}
 */
#ifndef WEFT_AGENT_H
#define WEFT_AGENT_H

#include <jansson.h>

#define AGENT_SOCKET_DEFAULT "/run/weft/weftd.sock"

/* Sends req and returns the reply, or NULL with errno set (ENOENT or
 * ECONNREFUSED: no agent there; ETIMEDOUT). */
json_t *agent_call(const char *path, json_t *req, int timeout_ms);

/* Server side: reads one request from fd (bounded in size and time). */
json_t *agent_read(int fd, int timeout_ms);
/* Writes one reply to fd. */
int agent_write(int fd, json_t *reply);

#endif
