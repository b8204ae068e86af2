// SPDX-License-Identifier: MIT
/* weft token create|list|delete: join tokens, made by an admin; weft token
 * rotate: a new admin or reader token. */
#include "weft.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "util/file.h"

static const char token_usage[] =
	"Usage: weft token create [--ttl SECONDS] [--json]\n"
	"       weft token list [--json]\n"
	"       weft token delete ID [--json]\n"
	"       weft token rotate [--reader [-o FILE]]\n"
	"Join tokens let a node register (weftd --join-token-file). create prints the token alone\n"
	"on stdout, so TOKEN=$(weft token create) works; --ttl takes seconds (60 to 31622400) or\n"
	"90m, 12h, 7d (default: the manager's, 24h).\n"
	"rotate replaces the admin token: the new one is written to the token file in use, then\n"
	"confirmed, and the old one no longer works. With --reader, the new reader token is printed\n"
	"(or written to FILE, 0600); the old one works until the new one is first used.\n"
	"All need the admin token (the manager's STATE/admin.token) and take --manager URLS,\n"
	"--ca FILE, --token-file FILE, --config FILE.\n";

void tokens_print(FILE *f, json_t *reply, int64_t now)
{
	static const char *const header[] = { "ID", "EXPIRES", "LEFT" };
	json_t *tokens = json_object_get(reply, "tokens"), *tok;
	char when[64], left[32];
	struct table t;
	size_t i;

	table_init(&t, 3, header);
	json_array_foreach(tokens, i, tok) {
		int64_t exp = json_integer_value(json_object_get(tok, "expires"));
		int64_t d = exp - now;
		const char *row[3] = { jstr(tok, "id"), exp ? fmt_time(when, sizeof(when), exp) : "never", left };

		if (!exp)
			snprintf(left, sizeof(left), "-");
		else if (d <= 0)
			snprintf(left, sizeof(left), "expired");
		else if (d < 3600)
			snprintf(left, sizeof(left), "%lldm", (long long)(d + 59) / 60);
		else if (d < 86400 * 2)
			snprintf(left, sizeof(left), "%lldh", (long long)(d + 1800) / 3600); /* 23:59:59 is 24h */
		else
			snprintf(left, sizeof(left), "%lldd", (long long)d / 86400);
		table_row(&t, row);
	}
	table_print(&t, f);
	table_free(&t);
}

static void created(struct opts *o, json_t *reply)
{
	char when[64];
	const char *token = jstr(reply, "token");

	if (!token) {
		fprintf(stderr, "weft token create: the manager's answer holds no token\n");
		return;
	}
	printf("%s\n", token);
	/* The token alone on stdout; a person at a terminal is told more. */
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "join token %s, expires %s; weft token delete %s revokes it\n", jstr(reply, "id") ?: "?",
			fmt_time(when, sizeof(when), json_integer_value(json_object_get(reply, "expires"))),
			jstr(reply, "id") ?: "ID");
	/* The reply is freed by the caller; the token in it is wiped here. */
	sodium_memzero((char *)token, strlen(token));
}

static void listed(struct opts *o, json_t *reply)
{
	if (!json_array_size(json_object_get(reply, "tokens")))
		fprintf(stderr, "no join tokens (weft token create makes one)\n");
	else
		tokens_print(stdout, reply, time(NULL));
}

static void deleted(struct opts *o, json_t *reply)
{
	printf("deleted token %s\n", o->args[0]);
}

static int token_create(int argc, char **argv)
{
	struct opts o;
	json_t *body;
	int ret;

	if ((ret = opts_parse(&o, "token create", token_usage, OPT_JSON | OPT_MANAGER | OPT_TTL, argc, argv)) >= 0)
		return ret;
	if (o.nargs)
		return usage_error(&o, "unexpected argument \"%s\" (--ttl SECONDS sets the lifetime)", o.args[0]);
	body = o.ttl ? json_pack("{s:I}", "ttl", (json_int_t)o.ttl) : json_object();
	return manager_run(&o, "POST", "/v1/tokens", body, created);
}

static int token_list(int argc, char **argv)
{
	struct opts o;
	int ret;

	if ((ret = opts_parse(&o, "token list", token_usage, OPT_JSON | OPT_MANAGER, argc, argv)) >= 0)
		return ret;
	if (o.nargs)
		return usage_error(&o, "unexpected argument \"%s\"", o.args[0]);
	return manager_run(&o, "GET", "/v1/tokens", NULL, listed);
}

static int token_delete(int argc, char **argv)
{
	char path[64];
	struct opts o;
	int ret;

	if ((ret = opts_parse(&o, "token delete", token_usage, OPT_JSON | OPT_MANAGER, argc, argv)) >= 0)
		return ret;
	if (o.nargs != 1)
		return usage_error(&o, "give one token ID (weft token list shows them)");
	if (!strncmp(o.args[0], "weft", 4) && strchr(o.args[0], ':')) /* never quote a secret */
		return usage_error(&o, "that is a token, not its ID: give the ID that weft token list shows");
	if (!*o.args[0] || strlen(o.args[0]) > 32 ||
	    strspn(o.args[0], "abcdefghijklmnopqrstuvwxyz0123456789") != strlen(o.args[0]))
		return usage_error(&o, "\"%.40s\" is not a token ID (lower-case letters and digits, as weft token list "
				       "shows; not the token itself)", o.args[0]);
	snprintf(path, sizeof(path), "/v1/tokens/%s", o.args[0]);
	return manager_run(&o, "DELETE", path, NULL, deleted);
}

/* A token into a file of its own: one line, 0600, replaced whole. */
static int write_token(const char *path, const char *token)
{
	size_t n = strlen(token);
	char *line = malloc(n + 2);
	int ret;

	if (!line)
		return -ENOMEM;
	memcpy(line, token, n);
	memcpy(line + n, "\n", 2);
	ret = file_replace(path, line, n + 1, 0600);
	sodium_memzero(line, n + 1);
	free(line);
	return ret;
}

/* The new admin token goes where the old one was read from, and is
 * confirmed by one call made with it: from then on the old one is refused. */
static int rotated_admin(struct opts *o, struct manager *m, const char *token)
{
	json_t *probe = NULL;
	int ret;

	if ((ret = write_token(m->a.token_file, token)))
		return failure(o, "cannot write %s: %s; the new token is pending and the old one still works: fix that "
				  "and run weft token rotate again", m->a.token_file, strerror(-ret));
	api_client_token(m->c, token);
	ret = manager_call(m, "GET", "/v1/tokens", NULL, &probe);
	json_decref(probe);
	if (ret)
		return failure(o, "the new admin token is in %s but could not be confirmed; its first use confirms it "
				  "(the old one works until then)", m->a.token_file);
	printf("rotated the admin token: the new one is in %s and confirmed; the old one no longer works\n",
	       m->a.token_file);
	return EXIT_OK;
}

static int rotated_reader(struct opts *o, const char *token)
{
	int ret;

	if (!o->output) {
		printf("%s\n", token);
		if (isatty(STDERR_FILENO))
			fprintf(stderr, "the new reader token; the old one works until this one is first used\n");
		return EXIT_OK;
	}
	if ((ret = write_token(o->output, token)))
		return failure(o, "cannot write %s: %s; the old reader token still works: run weft token rotate --reader "
				  "again", o->output, strerror(-ret));
	printf("wrote the new reader token to %s; the old one works until this one is first used\n", o->output);
	return EXIT_OK;
}

static int token_rotate(int argc, char **argv)
{
	struct manager m;
	struct opts o;
	json_t *body, *reply = NULL;
	const char *token;
	int ret;

	if ((ret = opts_parse(&o, "token rotate", token_usage, OPT_MANAGER | OPT_READER | OPT_OUTPUT, argc, argv)) >= 0)
		return ret;
	if (o.nargs)
		return usage_error(&o, "unexpected argument \"%.40s\" (--reader rotates the reader token)", o.args[0]);
	if (o.output && !o.reader)
		return usage_error(&o, "-o is for --reader: the new admin token replaces the token file in use");
	if ((ret = manager_open(&m, &o, true)) >= 0)
		return ret;
	body = json_pack("{s:s}", "role", o.reader ? "reader" : "admin");
	ret = manager_call(&m, "POST", "/v1/tokens/rotate", body, &reply);
	json_decref(body);
	token = jstr(reply, "token");
	if (!ret && (!token || strncmp(token, o.reader ? "weftr1:" : "wefta1:", 7)))
		ret = failure(&o, "the manager's answer holds no %s token", o.reader ? "reader" : "admin");
	else if (!ret)
		ret = o.reader ? rotated_reader(&o, token) : rotated_admin(&o, &m, token);
	if (token)
		sodium_memzero((char *)token, strlen(token));
	json_decref(reply);
	manager_close(&m);
	return ret;
}

int token_main(int argc, char **argv)
{
	static const struct subcommand subs[] = {
		{ "create", token_create }, { "list", token_list },     { "delete", token_delete },
		{ "rotate", token_rotate }, { NULL, NULL },
	};

	return subcommand_run("token", token_usage, subs, argc, argv);
}
