// SPDX-License-Identifier: MIT
/*
 * weft broker-info create: what a cluster needs to join the broker, in one
 * file (docs/clusters.md), as subctl's broker-info.subm holds it: base64 of
 * {"broker": URL, "ca": PEM, "token": T}. The token lets anyone holding the
 * file register a cluster, so the file is 0600, the token is never printed,
 * and every copy of it in memory is wiped once used.
 */
#include "weft.h"

#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "crypto/crypto.h"
#include "util/file.h"

#define BROKER_INFO_DEFAULT "broker-info.subm"
#define PEM_CERT "-----BEGIN CERTIFICATE-----"

static const char broker_info_usage[] =
	"Usage: weft broker-info create [--ttl DURATION] [-o FILE] [--manager URL] [--ca FILE]\n"
	"                               [--token-file FILE] [--config FILE]\n"
	"Makes a join token on the broker (a weft-manager --role broker, named by the manager\n"
	"settings, with its admin token) and writes FILE: base64 of {\"broker\": URL, \"ca\": the\n"
	"broker's CA certificate, \"token\": the token}. Each cluster joins with it:\n"
	"weft join FILE --cluster-id ID (docs/clusters.md). FILE is mode 0600: it holds the token.\n"
	"  --ttl DURATION      the token's lifetime: seconds (60 to 31622400), or 90m, 12h, 7d\n"
	"                      (default: the broker's, 24h)\n"
	"  -o, --output FILE   the file to write (default ./" BROKER_INFO_DEFAULT "; replaced if it exists)\n"
	"  --ca FILE           the broker's ca.crt (its STATE/ca.crt): required, it goes in FILE\n";

/* A whole small file as a string (to free), or NULL with err saying why. */
static char *read_small(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	char *text = NULL;
	size_t n = 0;

	if (!f) {
		snprintf(err, errlen, "%s", strerror(errno));
		return NULL;
	}
	if (!(text = malloc(BROKER_INFO_MAX + 1))) {
		snprintf(err, errlen, "%s", strerror(errno));
	} else {
		n = fread(text, 1, BROKER_INFO_MAX + 1, f);
		if (ferror(f)) {
			snprintf(err, errlen, "%s", strerror(errno));
		} else if (n > BROKER_INFO_MAX) {
			snprintf(err, errlen, "larger than %d KiB, which no CA or broker-info is", BROKER_INFO_MAX / 1024);
		} else {
			text[n] = '\0';
			fclose(f);
			return text;
		}
	}
	fclose(f);
	if (text)
		sodium_memzero(text, n);
	free(text);
	return NULL;
}

char *broker_info_read(const char *path, char *err, size_t errlen)
{
	char *text = read_small(path, err, errlen);
	size_t start, end, len, n;

	if (!text)
		return NULL;
	start = strspn(text, " \t\r\n");
	end = len = strlen(text);
	while (end > start && strchr(" \t\r\n", text[end - 1]))
		--end;
	if (end == start) {
		snprintf(err, errlen, "the file is empty");
		free(text);
		return NULL;
	}
	n = end - start;
	memmove(text, text + start, n);
	sodium_memzero(text + n, len - n); /* the terminator, and what the move left behind */
	return text;
}

/* Refuses, before a token is made for nothing, a file that cannot be
 * written: -1 to go on, or EXIT_USAGE. */
static int output_check(const struct opts *o, const char *path)
{
	char copy[4096], *dir;
	struct stat st;

	if (strlen(path) >= sizeof(copy) - 8)
		return usage_error(o, "--output \"%.80s...\": give a shorter path", path);
	if (!stat(path, &st) && S_ISDIR(st.st_mode))
		return usage_error(o, "--output %s is a directory: give a file, such as %s/" BROKER_INFO_DEFAULT, path,
				   path);
	snprintf(copy, sizeof(copy), "%s", path);
	dir = dirname(copy);
	if (access(dir, W_OK | X_OK))
		return usage_error(o, "--output %s: cannot write in %s: %s; give a file in a directory of yours", path, dir,
				   strerror(errno));
	return -1;
}

static int create(int argc, char **argv)
{
	char url[1024], err[600], when[64], *ca = NULL, *text = NULL;
	const char *path, *token, *id;
	struct manager m = { 0 };
	json_t *body, *reply = NULL;
	struct opts o;
	int ret;

	if ((ret = opts_parse(&o, "broker-info create", broker_info_usage, OPT_MANAGER | OPT_TTL | OPT_OUTPUT, argc,
			      argv)) >= 0)
		return ret;
	if (o.nargs)
		return usage_error(&o, "unexpected argument \"%s\" (-o FILE names the file to write)", o.args[0]);
	path = o.output ? o.output : "./" BROKER_INFO_DEFAULT;
	if ((ret = output_check(&o, path)) >= 0)
		return ret;
	if ((ret = manager_open(&m, &o, true)) >= 0)
		return ret;
	/* The clusters' managers reach the broker with the CA in the file, so
	 * the system's CAs (what no --ca means elsewhere) will not do. */
	if (!m.a.ca[0]) {
		ret = usage_error(&o, "no CA given: give --ca the broker's ca.crt (its STATE/ca.crt); it goes in %s, "
				      "for the clusters to check the broker with", path);
		goto out;
	}
	if (!(ca = read_small(m.a.ca, err, sizeof(err)))) {
		ret = usage_error(&o, "%s %s: %s; give the broker's ca.crt", m.a.ca_from, m.a.ca, err);
		goto out;
	}
	if (!strstr(ca, PEM_CERT)) {
		ret = usage_error(&o, "%s %s holds no PEM certificate (" PEM_CERT "): give the broker's ca.crt",
				  m.a.ca_from, m.a.ca);
		goto out;
	}
	/* A certificate and its key in one file: the key must not travel. */
	if (strstr(ca, "PRIVATE KEY")) {
		ret = usage_error(&o, "%s %s holds a private key as well: give the broker's ca.crt, the certificate "
				      "alone", m.a.ca_from, m.a.ca);
		goto out;
	}
	/* The broker as this command reached it; with several, the first. */
	snprintf(url, sizeof(url), "%.*s", (int)strcspn(m.a.manager, ", "), m.a.manager);

	body = o.ttl ? json_pack("{s:I}", "ttl", (json_int_t)o.ttl) : json_object();
	ret = manager_call(&m, "POST", "/v1/tokens", body, &reply);
	json_decref(body);
	if (ret)
		goto out;
	id = jstr(reply, "id") ?: "?";
	if (!(token = jstr(reply, "token")) || !*token) {
		ret = failure(&o, "the broker's answer holds no token: is %s a weft-manager?", url);
		goto out;
	}
	text = broker_info_encode(url, ca, token);
	sodium_memzero((char *)token, strlen(token));
	if (!text) {
		ret = failure(&o, "out of memory");
		goto out;
	}
	if ((ret = file_replace(path, text, strlen(text), 0600))) {
		ret = failure(&o, "%s: %s; the token made for it is left unused (weft token delete %s on the broker "
				  "revokes it)", path, strerror(-ret), id);
		goto out;
	}
	printf("wrote %s (broker %s, token %s expires %s)\n", path, url, id,
	       fmt_time(when, sizeof(when), jint(reply, "expires")));
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "each cluster joins with it: weft join %s --cluster-id ID, against its own manager\n",
			path);
out:
	crypto_free_string(text);
	crypto_free_string(ca);
	json_decref(reply);
	manager_close(&m);
	return ret;
}

int broker_info_main(int argc, char **argv)
{
	static const struct subcommand subs[] = { { "create", create }, { NULL, NULL } };

	return subcommand_run("broker-info", broker_info_usage, subs, argc, argv);
}
