// SPDX-License-Identifier: MIT
/* weft token create|list|delete: join tokens, made by an admin. */
#include "weft.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

static const char token_usage[] =
	"Usage: weft token create [--ttl SECONDS] [--json]\n"
	"       weft token list [--json]\n"
	"       weft token delete ID [--json]\n"
	"Join tokens let a node register (weftd --join-token-file). create prints the token alone\n"
	"on stdout, so TOKEN=$(weft token create) works; --ttl takes seconds (60 to 31622400) or\n"
	"90m, 12h, 7d (default: the manager's, 24h). All three need the admin token\n"
	"(the manager's STATE/admin.token) and take --manager URLS, --ca FILE, --token-file FILE,\n"
	"--config FILE.\n";

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

int token_main(int argc, char **argv)
{
	static const struct subcommand subs[] = {
		{ "create", token_create }, { "list", token_list }, { "delete", token_delete }, { NULL, NULL },
	};

	return subcommand_run("token", token_usage, subs, argc, argv);
}
