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

int member_parse_self(struct weftd *d, json_t *doc, const char *from, struct cluster_node *n)
{
	char err[300] = "";
	int ret = cluster_node_parse(doc, n, err, sizeof(err));

	if (ret)
		weftd_log(d, WG_LOG_WARNING, "member: ignoring our record in %s: %s", from,
			  ret == -ENOMEM ? "out of memory" : err);
	return ret;
}

/* Our record as the manager has it, taking n's contents. The thread that
 * follows the manager is the only writer (and member_start, before it
 * runs); "show" reads it under d->cl.lock. */
void member_set_self(struct weftd *d, struct cluster_node *n)
{
	pthread_mutex_lock(&d->cl.lock);
	cluster_node_free(&d->cl.self);
	d->cl.self = *n;
	d->cl.has_self = true;
	pthread_mutex_unlock(&d->cl.lock);
	memset(n, 0, sizeof(*n));
}

/* STATE/cluster/node.json: the record as the manager writes it, so that
 * a file an older weftd saved reads the same. */
static int save_self(struct weftd *d, const struct cluster_node *n)
{
	json_t *doc = cluster_node_json(n);
	int ret = doc ? member_save_json(d, "node.json", doc) : -ENOMEM;

	json_decref(doc);
	return ret;
}

int member_take_self(struct weftd *d, json_t *doc, const char *from)
{
	struct cluster_node n;
	bool same;
	int ret;

	if ((ret = member_parse_self(d, doc, from, &n)))
		return ret;
	same = d->cl.has_self && cluster_node_equal(&n, &d->cl.self);
	if (!same && save_self(d, &n))
		weftd_log(d, WG_LOG_ERROR, "member: cannot write %s/cluster/node.json", d->state_dir);
	if (same)
		cluster_node_free(&n);
	else
		member_set_self(d, &n);
	return 0;
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

/* What we tell the manager about us: our hub's key and endpoint, and no
 * labels. No gateway label: an admin grants that (weft node gateway NAME
 * --allow), and the manager keeps it whatever labels we send. */
static void self_wanted(struct weftd *d, struct cluster_node *want)
{
	const char *ep = d->cl.endpoint;

	memset(want, 0, sizeof(*want));
	want->flags = NODE_HAS_KEY | NODE_HAS_ENDPOINTS | NODE_HAS_LABELS;
	hub_public_key(d, want->key);
	/* An endpoint without a port takes the hub's. */
	if (strchr(ep, ']') || (strchr(ep, '.') && strchr(ep, ':')))
		snprintf(want->endpoints[0], sizeof(want->endpoints[0]), "%s", ep);
	else if (strchr(ep, ':'))
		snprintf(want->endpoints[0], sizeof(want->endpoints[0]), "[%s]:%u", ep, d->hub_port);
	else
		snprintf(want->endpoints[0], sizeof(want->endpoints[0]), "%s:%u", ep, d->hub_port);
	want->nendpoints = 1;
}

static json_t *self_request(struct weftd *d, const struct cluster_node *want, bool with_name)
{
	char pub[KEY_B64_LEN];
	json_t *req;

	key_to_base64(pub, want->key);
	req = json_pack("{s:s, s:[s], s:{}}", "publicKey", pub, "endpoints", want->endpoints[0], "labels");
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
	char path[600], err[700], sub[2][64] = { "", "" };
	char *token = weftd_read_secret(d->cl.token_file), *secret;
	struct cluster_node want, got;
	json_t *req, *reply = NULL;
	int status;

	if (!token || !*token) {
		weftd_log(d, WG_LOG_ERROR, "member: cannot read the join token %s: %s", d->cl.token_file,
			  token ? "empty" : strerror(errno));
		crypto_free_string(token);
		return d->cl.has_self ? RETRY : FATAL;
	}
	if (!(secret = registration_secret(d))) {
		crypto_free_string(token);
		return d->cl.has_self ? RETRY : FATAL;
	}
	self_wanted(d, &want);
	req = self_request(d, &want, true);
	if (d->cl.has_self) {
		json_t *subs = json_array();
		char buf[64];

		for (size_t i = 0; i < d->cl.self.nsubnets; ++i)
			json_array_append_new(subs, json_string(ipam_prefix_str(&d->cl.self.subnets[i], buf,
										sizeof(buf))));
		json_object_set_new(req, "subnets", subs);
	}
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
		/* A record we cannot read gives us no subnets: the answer is
		 * dropped, and our registration secret has the manager answer
		 * the same again next time. */
		if (member_parse_self(d, json_object_get(reply, "node"), "the manager's answer to our registration",
				      &got)) {
			snprintf(err, sizeof(err), "the manager's record of us is unreadable");
			wipe_credential(reply);
			json_decref(reply);
			reply = NULL;
			status = 503;
			goto refused;
		}
		if (member_save(d, "credential", json_string_value(json_object_get(reply, "credential"))) ||
		    save_self(d, &got)) {
			member_path(d, path, sizeof(path), "credential");
			weftd_log(d, WG_LOG_ERROR, "member: cannot write %s", path);
			cluster_node_free(&got);
			wipe_credential(reply);
			json_decref(reply);
			return FATAL;
		}
		api_client_token(d->cl.api, json_string_value(json_object_get(reply, "credential")));
		member_set_self(d, &got);
		member_note(d, true, NULL);
		for (size_t i = 0; i < d->cl.self.nsubnets && i < 2; ++i)
			ipam_prefix_str(&d->cl.self.subnets[i], sub[i], sizeof(sub[i]));
		weftd_log(d, WG_LOG_INFO, "member: joined as node %s, subnets %s %s", d->cl.name, sub[0], sub[1]);
		wipe_credential(reply);
		json_decref(reply);
		return JOINED;
	}
refused:
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
	return d->cl.has_self ? RETRY : FATAL;
}

/* Tells the manager our key and endpoint if they differ from its record. */
int member_update_self(struct weftd *d)
{
	char path[80], err[700];
	struct cluster_node want;
	json_t *req, *reply = NULL;
	int status;

	self_wanted(d, &want);
	if (d->cl.has_self && cluster_node_holds(&d->cl.self, &want))
		return 200;
	req = self_request(d, &want, false);
	snprintf(path, sizeof(path), "/v1/nodes/%s", d->cl.name);
	status = api_call(d->cl.api, "PATCH", path, req, 30, &reply, err, sizeof(err));
	json_decref(req);
	if (status == 200 && json_is_object(reply)) {
		if (!member_take_self(d, reply, "the manager's answer to our PATCH"))
			weftd_log(d, WG_LOG_VERBOSE, "member: told the manager our key, endpoint and labels");
	} else {
		member_note(d, false, err);
	}
	json_decref(reply);
	return status;
}
