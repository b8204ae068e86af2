// SPDX-License-Identifier: MIT
/*
 * How the command line reaches the manager: which URLs, which CA, which
 * token, each from a flag, else the environment, else the config file;
 * and its failures said with what to check.
 */
#include "weft.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

enum { CALL_TIMEOUT_S = 15, TOKEN_MAX = 256 };

static void pick(char *dst, size_t len, char *from, size_t fromlen, const char *flag, const char *flagname,
		 const char *env)
{
	const char *e = getenv(env);

	if (flag) {
		snprintf(dst, len, "%s", flag);
		snprintf(from, fromlen, "%s", flagname);
	} else if (e && *e) {
		snprintf(dst, len, "%s", e);
		snprintf(from, fromlen, "%s", env);
	}
}

/* The config file's settings, where no flag or variable gave one. */
static int from_file(const struct opts *o, struct manager_access *a, const char *path, bool must_exist)
{
	const struct {
		const char *key;
		char *dst, *from;
		size_t len;
	} keys[] = {
		{ "manager", a->manager, a->manager_from, sizeof(a->manager) },
		{ "ca", a->ca, a->ca_from, sizeof(a->ca) },
		{ "tokenFile", a->token_file, a->token_from, sizeof(a->token_file) },
	};
	size_t nkeys = sizeof(keys) / sizeof(keys[0]), i;
	json_error_t jerr;
	json_t *root, *v;
	const char *key;
	int ret = -1;

	if (!must_exist && access(path, F_OK))
		return -1;
	if (!(root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr))) {
		if (jerr.line < 0)
			return usage_error(o, "config %s: %s", path, jerr.text);
		return usage_error(o, "config %s, line %d, column %d: %s", path, jerr.line, jerr.column, jerr.text);
	}
	if (!json_is_object(root)) {
		json_decref(root);
		return usage_error(o, "config %s: give a JSON object: {\"manager\": \"https://HOST:PORT\", \"ca\": FILE, "
				      "\"tokenFile\": FILE}", path);
	}
	json_object_foreach(root, key, v) {
		for (i = 0; i < nkeys && strcmp(keys[i].key, key); ++i)
			;
		if (i == nkeys) {
			ret = usage_error(o, "config %s: \"%s\" is not a setting (the settings: manager, ca, tokenFile)",
					  path, key);
			break;
		}
		if (!json_is_string(v) || !*json_string_value(v)) {
			ret = usage_error(o, "config %s: \"%s\" must be a non-empty string", path, key);
			break;
		}
		if (!keys[i].from[0]) {
			snprintf(keys[i].dst, keys[i].len, "%s", json_string_value(v));
			snprintf(keys[i].from, sizeof(a->ca_from), "%s", path);
		}
	}
	json_decref(root);
	return ret;
}

int manager_access_resolve(const struct opts *o, struct manager_access *a)
{
	const char *conf = o->config;
	bool must = true;

	memset(a, 0, sizeof(*a));
	pick(a->manager, sizeof(a->manager), a->manager_from, sizeof(a->manager_from), o->manager, "--manager",
	     "WEFT_MANAGER");
	pick(a->ca, sizeof(a->ca), a->ca_from, sizeof(a->ca_from), o->ca, "--ca", "WEFT_CA");
	pick(a->token_file, sizeof(a->token_file), a->token_from, sizeof(a->token_from), o->token_file, "--token-file",
	     "WEFT_TOKEN_FILE");
	if (!conf && getenv("WEFT_CONFIG") && *getenv("WEFT_CONFIG"))
		conf = getenv("WEFT_CONFIG");
	if (!conf) {
		conf = CLI_CONFIG_DEFAULT;
		must = false;
	}
	return from_file(o, a, conf, must);
}

int token_file_read(const char *path, char *out, size_t len, char *err, size_t errlen)
{
	char buf[TOKEN_MAX + 2];
	FILE *f = fopen(path, "re");
	size_t n;
	int ret = 0;

	if (!f) {
		ret = -errno;
		snprintf(err, errlen, "%s", strerror(errno));
		return ret;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n && isspace((unsigned char)buf[n - 1]))
		buf[--n] = '\0';
	if (!n) {
		snprintf(err, errlen, "the file is empty");
		ret = -EINVAL;
	} else if (n > TOKEN_MAX || n >= len) {
		snprintf(err, errlen, "longer than a token (%d characters at most)", TOKEN_MAX);
		ret = -EINVAL;
	} else {
		for (size_t i = 0; i < n; ++i)
			if (!isgraph((unsigned char)buf[i])) {
				snprintf(err, errlen, "not one line of printable characters, as a token is (wefta1:..., "
						      "weftr1:...)");
				ret = -EINVAL;
				break;
			}
	}
	if (!ret)
		memcpy(out, buf, n + 1);
	sodium_memzero(buf, sizeof(buf));
	return ret;
}

int manager_open(struct manager *m, const struct opts *o, bool need_token)
{
	char err[600], token[TOKEN_MAX + 1];
	int ret;

	memset(m, 0, sizeof(*m));
	m->o = o;
	if ((ret = manager_access_resolve(o, &m->a)) >= 0)
		return ret;
	if (!m->a.manager[0])
		return usage_error(o, "no manager given: use --manager https://HOST:PORT, WEFT_MANAGER, "
				      "or \"manager\" in %s", o->config ? o->config : CLI_CONFIG_DEFAULT);
	if (m->a.ca[0] && access(m->a.ca, R_OK))
		return usage_error(o, "%s %s: %s; give the cluster's CA certificate (the manager's STATE/ca.crt)",
				   m->a.ca_from, m->a.ca, strerror(errno));
	if (!(m->c = api_client_new(m->a.manager, m->a.ca[0] ? m->a.ca : NULL, err, sizeof(err))))
		return usage_error(o, "%s: %s", m->a.manager_from, err);
	if (!m->a.token_file[0]) {
		if (!need_token)
			return -1;
		manager_close(m);
		return usage_error(o, "no token given: use --token-file FILE (the manager writes admin.token and "
				      "reader.token in its state directory), WEFT_TOKEN_FILE, or \"tokenFile\" in %s",
				   o->config ? o->config : CLI_CONFIG_DEFAULT);
	}
	if (token_file_read(m->a.token_file, token, sizeof(token), err, sizeof(err))) {
		manager_close(m);
		return usage_error(o, "%s %s: %s", m->a.token_from, m->a.token_file, err);
	}
	api_client_token(m->c, token);
	sodium_memzero(token, sizeof(token));
	return -1;
}

void manager_close(struct manager *m)
{
	api_client_free(m->c);
	m->c = NULL;
}

int manager_call(struct manager *m, const char *method, const char *path, json_t *body, json_t **reply)
{
	return manager_call_except(m, method, path, body, reply, 0);
}

int manager_call_except(struct manager *m, const char *method, const char *path, json_t *body, json_t **reply,
			int quiet)
{
	char err[800];
	int status = api_call(m->c, method, path, body, CALL_TIMEOUT_S, reply, err, sizeof(err));

	if (status < 0) {
		bool tls = strstr(err, "certificate") || strstr(err, "SSL");

		return failure(m->o, "cannot reach the manager: %s (%s)", err,
			       tls ? "is the CA the cluster's? give --ca with the manager's STATE/ca.crt"
				   : "is weft-manager running there, and is the URL right?");
	}
	if (status == 401)
		return failure(m->o, "%s (token from %s %s)", err, m->a.token_from, m->a.token_file);
	/* What the manager's router says of a path it has no handler for:
	 * before a caller takes a 404 for an answer ("not joined"). */
	if (status == 404 && strstr(err, ": no such resource"))
		return failure(m->o, "%s (a manager older than this weft? update weft-manager)", err);
	if (status == quiet)
		return status;
	if (status >= 400)
		return failure(m->o, "%s", err);
	return EXIT_OK;
}

int manager_run(struct opts *o, const char *method, const char *path, json_t *body,
		void (*show)(struct opts *o, json_t *reply))
{
	struct manager m;
	json_t *reply = NULL;
	int ret;

	if ((ret = manager_open(&m, o, true)) >= 0) {
		json_decref(body);
		return ret;
	}
	ret = manager_call(&m, method, path, body, &reply);
	json_decref(body);
	if (!ret && o->json)
		json_print(stdout, reply);
	else if (!ret)
		show(o, reply);
	json_decref(reply);
	manager_close(&m);
	return ret;
}
