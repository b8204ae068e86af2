/* SPDX-License-Identifier: MIT */
/*
 * A client of weft-manager's API (docs/manager.md): HTTPS with the
 * cluster's CA pinned, a bearer token, JSON both ways. Given several
 * manager URLs it moves to the next when one cannot be reached or answers
 * 5xx, and starts from the one that answered last.
 *
 * One client serves one thread at a time (it keeps one connection alive).
 */
#ifndef WEFT_API_CLIENT_H
#define WEFT_API_CLIENT_H

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>

struct api_client;

/* urls: "https://10.0.0.1:7443[,https://...]"; ca: a PEM file, the PEM
 * text itself ("-----BEGIN CERTIFICATE-----..."), or NULL for the
 * system's CAs. NULL with err filled on bad input. */
struct api_client *api_client_new(const char *urls, const char *ca, char *err, size_t errlen);
void api_client_free(struct api_client *c);
/* The bearer token for later calls (copied; wiped when replaced). */
void api_client_token(struct api_client *c, const char *token);

/* Calls give up (-ECANCELED) once *flag is true: at once when the one who
 * set it then calls api_client_wake (from any thread), else within a
 * second. A long poll need not run out before its thread can stop. */
void api_client_stop_flag(struct api_client *c, const atomic_bool *flag);
void api_client_wake(struct api_client *c);

/* METHOD path (with any query), body (may be NULL), waiting at most
 * timeout_s for each manager (they are tried in turn). Returns the HTTP status, with *reply the JSON answer (NULL if
 * none); or a negative errno when no manager answered, err saying why. On
 * a 4xx/5xx, err holds the manager's "error". */
int api_call(struct api_client *c, const char *method, const char *path, json_t *body, long timeout_s,
	     json_t **reply, char *err, size_t errlen);
/* The same, all of it (every manager tried) within timeout_ms: for an
 * answer that is worth nothing later (a lease's renewal). -EIO with err
 * saying so when no time was left for a manager. */
int api_call_within(struct api_client *c, const char *method, const char *path, json_t *body, long timeout_ms,
		    json_t **reply, char *err, size_t errlen);

#endif
