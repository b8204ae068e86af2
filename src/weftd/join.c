// SPDX-License-Identifier: MIT
/*
 * The node's standing with its manager (member.c follows the manager; this
 * is who we are to it): the files under STATE/cluster/ (the credential and
 * the registration secret 0600, our record, the peers at the last
 * revision), registration with the join token, safe to send again, our
 * key and endpoint told when they change, and our credential rotated when
 * an admin asks.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/client.h"
#include "cluster/cluster.h"
#include "crypto/crypto.h"
#include "util/file.h"
#include "util/key.h"
#include "weftd.h"

/* --- files under STATE/cluster/ --------------------------------------------- */

void member_path(struct weftd *d, char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/cluster/%s", d->state_dir, name);
}

int member_save(struct weftd *d, const char *name, const char *text)
{
	char path[600];

	member_path(d, path, sizeof(path), name);
	return file_replace(path, text, strlen(text), 0600);
}

int member_save_json(struct weftd *d, const char *name, json_t *v)
{
	char *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
	int ret = text ? member_save(d, name, text) : -ENOMEM;

	free(text);
	return ret;
}


/* --- talking to the manager ------------------------------------------------ */

/* Our record as the manager has it. The thread that follows the manager
 * is the only writer; "show" reads it under d->cl.lock. */
static void set_self(struct weftd *d, json_t *rec)
{
	pthread_mutex_lock(&d->cl.lock);
	json_decref(d->cl.self);
	d->cl.self = json_incref(rec);
	pthread_mutex_unlock(&d->cl.lock);
}

void member_note(struct weftd *d, bool ok, const char *err)
{
	pthread_mutex_lock(&d->cl.lock);
	d->cl.connected = ok;
	if (ok)
		d->cl.last_contact = time(NULL);
	snprintf(d->cl.error, sizeof(d->cl.error), "%s", ok ? "" : err);
	pthread_mutex_unlock(&d->cl.lock);
}

static json_t *self_request(struct weftd *d, bool with_name)
{
	char pub[KEY_B64_LEN], ep[96];
	uint8_t raw[32];
	json_t *req;

	hub_public_key(d, raw);
	key_to_base64(pub, raw);
	/* An endpoint without a port takes the hub's. */
	if (strchr(d->cl.endpoint, ']') || (strchr(d->cl.endpoint, '.') && strchr(d->cl.endpoint, ':')))
		snprintf(ep, sizeof(ep), "%s", d->cl.endpoint);
	else if (strchr(d->cl.endpoint, ':'))
		snprintf(ep, sizeof(ep), "[%s]:%u", d->cl.endpoint, d->hub_port);
	else
		snprintf(ep, sizeof(ep), "%s:%u", d->cl.endpoint, d->hub_port);
	/* No gateway label: an admin grants that (weft node gateway NAME
	 * --allow), and the manager keeps it whatever labels we send. */
	req = json_pack("{s:s, s:[s], s:{}}", "publicKey", pub, "endpoints", ep, "labels");
	if (with_name)
		json_object_set_new(req, "name", json_string(d->cl.name));
	return req;
}

/*
 * A new credential, asked for with the current one: written to
 * STATE/cluster/credential before it is used, so that a crash in between
 * leaves a credential that works (the old one still does while the new
 * one is pending, and the new one from the file confirms it). Our next
 * call, with it, confirms it at the manager; the old one is then refused.
 */
void member_rotate_credential(struct weftd *d)
{
	char path[200], err[700];
	json_t *reply = NULL;
	const char *cred;
	int status;

	snprintf(path, sizeof(path), "/v1/nodes/%s/credentials", d->cl.name);
	status = api_call(d->cl.api, "POST", path, NULL, 15, &reply, err, sizeof(err));
	cred = json_string_value(json_object_get(reply, "credential"));
	if (status != 201 || !cred) {
		weftd_log(d, WG_LOG_ERROR, "member: cannot get a new credential (%d %s); trying again at the next answer",
			  status, status == 201 ? "without a credential" : err);
	} else if (member_save(d, "credential", cred)) {
		member_path(d, err, sizeof(err), "credential");
		weftd_log(d, WG_LOG_ERROR, "member: cannot write %s: keeping the old credential, trying again at the "
			  "next answer", err);
	} else {
		api_client_token(d->cl.api, cred);
		d->cl.rotate = false;
		weftd_log(d, WG_LOG_INFO, "member: took a new credential; the next call confirms it");
	}
	if (cred)
		crypto_wipe((char *)cred, strlen(cred));
	json_decref(reply);
}

enum { REGISTRATION_SECRET_BYTES = 32 };

/*
 * The secret that makes our registration safe to send again
 * (STATE/cluster/registration, 0600): made once, written before the
 * first request carries it, so that a registration whose answer was lost
 * (the manager died after committing it) is answered again instead of
 * refused as a name taken. The manager keeps only its hash. NULL when it
 * cannot be read or written.
 */
static char *registration_secret(struct weftd *d)
{
	uint8_t raw[REGISTRATION_SECRET_BYTES];
	char path[600], *hex;

	member_path(d, path, sizeof(path), "registration");
	if ((hex = weftd_read_secret(path)) && strlen(hex) == 2 * sizeof(raw))
		return hex;
	crypto_free_string(hex);
	if (!hex && access(path, F_OK) == 0) {
		/* There but unreadable now: made anew, the manager's hash of
		 * the old one would never match again. */
		weftd_log(d, WG_LOG_ERROR, "member: cannot read %s: %s", path, strerror(errno));
		return NULL;
	}
	if (!(hex = malloc(2 * sizeof(raw) + 1)))
		return NULL;
	crypto_random(raw, sizeof(raw));
	for (size_t i = 0; i < sizeof(raw); ++i)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	crypto_wipe(raw, sizeof(raw));
	if (member_save(d, "registration", hex)) {
		weftd_log(d, WG_LOG_ERROR, "member: cannot write %s: %s", path, strerror(errno));
		crypto_free_string(hex);
		return NULL;
	}
	return hex;
}

/* The credential in an answer, wiped before the answer is freed. */
static void wipe_credential(json_t *reply)
{
	const char *cred = json_string_value(json_object_get(reply, "credential"));

	if (cred)
		crypto_wipe((char *)cred, strlen(cred));
}

/* Registers with the join token: a first start, or a node the manager
 * removed (its lease ran out) coming back, asking for its old subnets. */
enum join_result member_join(struct weftd *d)
{
	char path[600], err[700];
	char *token = weftd_read_secret(d->cl.token_file), *secret;
	json_t *req, *reply = NULL, *subs;
	int status;

	if (!token || !*token) {
		weftd_log(d, WG_LOG_ERROR, "member: cannot read the join token %s: %s", d->cl.token_file,
			  token ? "empty" : strerror(errno));
		crypto_free_string(token);
		return d->cl.self ? RETRY : FATAL;
	}
	if (!(secret = registration_secret(d))) {
		crypto_free_string(token);
		return d->cl.self ? RETRY : FATAL;
	}
	req = self_request(d, true);
	if (d->cl.self && (subs = json_object_get(d->cl.self, "subnets")))
		json_object_set(req, "subnets", subs);
	json_object_set_new(req, "registrationSecret", json_string(secret));
	crypto_free_string(secret);
	api_client_token(d->cl.api, token);
	crypto_free_string(token);
	status = api_call(d->cl.api, "POST", "/v1/nodes", req, 30, &reply, err, sizeof(err));
	api_client_token(d->cl.api, NULL);
	secret = (char *)json_string_value(json_object_get(req, "registrationSecret"));
	crypto_wipe(secret, strlen(secret));
	json_decref(req);
	if (status == 201 && json_is_string(json_object_get(reply, "credential")) &&
	    json_is_object(json_object_get(reply, "node"))) {
		if (member_save(d, "credential", json_string_value(json_object_get(reply, "credential"))) ||
		    member_save_json(d, "node.json", json_object_get(reply, "node"))) {
			member_path(d, path, sizeof(path), "credential");
			weftd_log(d, WG_LOG_ERROR, "member: cannot write %s", path);
			wipe_credential(reply);
			json_decref(reply);
			return FATAL;
		}
		api_client_token(d->cl.api, json_string_value(json_object_get(reply, "credential")));
		set_self(d, json_object_get(reply, "node"));
		member_note(d, true, NULL);
		weftd_log(d, WG_LOG_INFO, "member: joined as node %s, subnets %s %s", d->cl.name,
			  json_string_value(json_array_get(json_object_get(d->cl.self, "subnets"), 0)) ?: "",
			  json_string_value(json_array_get(json_object_get(d->cl.self, "subnets"), 1)) ?: "");
		wipe_credential(reply);
		json_decref(reply);
		return JOINED;
	}
	json_decref(reply);
	/* The credential we had goes on being used: the manager may know
	 * it again (a refusal that was the store's hiccup, say). */
	member_path(d, path, sizeof(path), "credential");
	if ((secret = weftd_read_secret(path))) {
		api_client_token(d->cl.api, secret);
		crypto_free_string(secret);
	}
	member_note(d, false, err);
	weftd_log(d, WG_LOG_ERROR, "member: cannot join: %s", err);
	if (status < 0 || status >= 500)
		return RETRY;
	/* Refused: a bad or expired token, a name or key taken, no subnet
	 * left. Trying again changes nothing until someone acts. */
	return d->cl.self ? RETRY : FATAL;
}

/* Tells the manager our key and endpoint if they differ from its record. */
int member_update_self(struct weftd *d)
{
	char path[80], err[700];
	json_t *req = self_request(d, false), *reply = NULL;
	json_t *ours = json_deep_copy(json_object_get(d->cl.self, "labels"));
	bool same;
	int status;

	json_object_del(ours, CLUSTER_GATEWAY_LABEL); /* the admin's, not ours */
	same = d->cl.self && json_equal(json_object_get(req, "publicKey"), json_object_get(d->cl.self, "publicKey")) &&
	       json_equal(json_object_get(req, "endpoints"), json_object_get(d->cl.self, "endpoints")) &&
	       json_equal(json_object_get(req, "labels"), ours ?: json_object_get(req, "labels"));
	json_decref(ours);
	if (same) {
		json_decref(req);
		return 200;
	}
	snprintf(path, sizeof(path), "/v1/nodes/%s", d->cl.name);
	status = api_call(d->cl.api, "PATCH", path, req, 30, &reply, err, sizeof(err));
	json_decref(req);
	if (status == 200 && json_is_object(reply)) {
		set_self(d, reply);
		member_save_json(d, "node.json", reply);
		weftd_log(d, WG_LOG_VERBOSE, "member: told the manager our key, endpoint and labels");
	} else {
		member_note(d, false, err);
	}
	json_decref(reply);
	return status;
}
