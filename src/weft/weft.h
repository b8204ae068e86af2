/* SPDX-License-Identifier: MIT */
/*
 * weft, the command line: its commands and the parts they share
 * (docs/cli.md). Each command is a NAME_main entered from main.c's table;
 * the formatting of what they print is apart from the fetching, so that
 * tests/unit/test_cli.c can check it on fixed JSON and a fixed clock.
 */
#ifndef WEFT_CLI_H
#define WEFT_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "api/client.h"
#include "cluster/cluster.h"

/* Exit statuses: a usage error (a bad flag or value) is told apart from a
 * failure (the agent or the manager could not do it). */
enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

/* --- options (opts.c) --------------------------------------------------- */

/* Which options a command takes. */
enum {
	OPT_JSON = 1 << 0,
	OPT_SOCKET = 1 << 1,
	OPT_MANAGER = 1 << 2, /* --manager, --ca, --token-file, --config */
	OPT_TTL = 1 << 3,
	OPT_NO_PING = 1 << 4,
	OPT_LAB = 1 << 5,     /* --dir */
	OPT_LAB_UP = 1 << 6,  /* --nodes, --pods, --mode, --no-ipv6, --backend */
	OPT_OUTPUT = 1 << 7,  /* -o, --output */
	OPT_JOIN = 1 << 8,    /* --cluster-id, --cable-driver, --cidr */
	OPT_GRANT = 1 << 9,   /* --allow, --deny */
	OPT_READER = 1 << 10, /* --reader */
	OPT_WAIT = 1 << 11,   /* --wait SECONDS */
};

enum { ARGS_MAX = 8, CIDRS_MAX = 16 };

struct opts {
	const char *cmd; /* "status", "token create": for messages */
	bool json, no_ping, ipv6;
	const char *socket;
	const char *manager, *ca, *token_file, *config;
	int64_t ttl;		/* 0: the manager's default */
	unsigned nodes, pods;
	const char *mode, *backend, *dir;
	const char *output;
	const char *cluster_id, *cable_driver;
	const char *cidrs[CIDRS_MAX]; /* --cidr, each checked */
	int ncidrs;
	int grant; /* --allow 1, --deny -1, neither 0 */
	bool reader;  /* --reader */
	int64_t wait; /* --wait: seconds, 0 for the command's default */
	const char *args[ARGS_MAX];
	int nargs;
};

/* Parses argv[1..] (argv[0] is the command's own name) for the options in
 * `accepts`, with the positional arguments in o->args. Returns -1 to go on,
 * or the status to exit with: EXIT_OK after --help, EXIT_USAGE after an
 * error it has printed. */
int opts_parse(struct opts *o, const char *cmd, const char *usage, unsigned accepts, int argc, char **argv);
/* Prints "weft CMD: ..." to stderr and returns EXIT_USAGE. */
int usage_error(const struct opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "weft CMD: ..." to stderr and returns EXIT_FAIL. */
int failure(const struct opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* weft CMD SUB ...: runs the subcommand named by argv[1] (with argv[1] as
 * its argv[0]), or says which there are. subs ends with a NULL name. */
struct subcommand {
	const char *name;
	int (*fn)(int argc, char **argv);
};

int subcommand_run(const char *cmd, const char *usage, const struct subcommand *subs, int argc, char **argv);
/* The one name a command takes (a node's, a client's: a DNS label, as the
 * manager takes them; it also goes in a URL): -1 to go on, or EXIT_USAGE
 * after saying what is wrong and which command (`lister`) lists them. */
int opts_one_name(const struct opts *o, const char *what, const char *lister);
/* "3600", "90m", "12h", "7d" as seconds from min to max; -1 if not one. */
int64_t opts_duration(const char *s, int64_t min, int64_t max);

/* --- the manager (manager.c) -------------------------------------------- */

#define CLI_CONFIG_DEFAULT "/etc/weft/cli.json"

/* Where the manager is and how to be let in: flags, then WEFT_MANAGER,
 * WEFT_CA, WEFT_TOKEN_FILE, then the config file (--config, WEFT_CONFIG,
 * or /etc/weft/cli.json if it exists), each setting on its own. */
struct manager_access {
	char manager[1024], ca[512], token_file[512];
	char manager_from[256], ca_from[256], token_from[256]; /* "--manager", "WEFT_MANAGER", "/etc/weft/cli.json" */
};

/* Fills *a; on a bad config file, prints why and returns EXIT_USAGE. */
int manager_access_resolve(const struct opts *o, struct manager_access *a);
/* Reads a token: one line of printable characters. 0, or a negative
 * errno with err saying what is wrong. */
int token_file_read(const char *path, char *out, size_t len, char *err, size_t errlen);
/* A connection to the manager, the token loaded. */
struct manager {
	const struct opts *o;
	struct manager_access a;
	struct api_client *c;
};

/* Returns -1 when connected, or the status to exit with after printing
 * what to do. need_token: the command cannot work without one. */
int manager_open(struct manager *m, const struct opts *o, bool need_token);
void manager_close(struct manager *m);
/* One call; prints the failure and returns EXIT_FAIL, or EXIT_OK with
 * *reply (the caller's, may be NULL). */
int manager_call(struct manager *m, const char *method, const char *path, json_t *body, json_t **reply);
/* As manager_call, but an answer of status `quiet` (404, say: "not
 * joined") is returned as it is, unprinted, with *reply the manager's. */
int manager_call_except(struct manager *m, const char *method, const char *path, json_t *body, json_t **reply,
			int quiet);
/* All of a command's dealing with the manager: connects, makes one call
 * (body is consumed), prints the answer as --json asks or through show().
 * Returns the status to exit with. */
int manager_run(struct opts *o, const char *method, const char *path, json_t *body,
		void (*show)(struct opts *o, json_t *reply));

/* --- broker-info (brokerinfo.c) ----------------------------------------- */

/* broker_info_encode, _decode and _free are in lib/cluster (cluster.h). */
/* A broker-info file's text, its surrounding white space trimmed (to free
 * with crypto_free_string), or NULL with err saying why. */
char *broker_info_read(const char *path, char *err, size_t errlen);

/* --- the node agent (agent.c) ------------------------------------------- */

/* {"op": "show"} to the agent at o->socket (or the default): the reply, or
 * NULL after printing why, with *status set. */
json_t *agent_show(const struct opts *o, int *status);

/* --- formatting (format.c) ---------------------------------------------- */

/* "1 minute, 3 seconds ago", as wg(8) says it; "Now"; "never" for 0. */
const char *fmt_ago(char *buf, size_t len, int64_t then, int64_t now);
/* "12s ago", "3m ago", "5h ago", "2d ago"; "never" for 0. */
const char *fmt_ago_short(char *buf, size_t len, int64_t then, int64_t now);
/* "1.21 MiB", as wg(8) says it. */
const char *fmt_bytes(char *buf, size_t len, uint64_t bytes);
/* A JSON array of strings joined by sep; "" for none. */
const char *fmt_join(char *buf, size_t len, json_t *array, const char *sep);
/* A UTC time: "2026-11-23 10:00:00 UTC". */
const char *fmt_time(char *buf, size_t len, int64_t t);

/* A table printed with its columns aligned, two spaces apart. */
enum { TABLE_COLS_MAX = 8 };

struct table {
	size_t ncols, nrows, cap;
	char **cells; /* row by row, the header first */
	char **notes; /* a line under each row, or NULL */
	int indent;   /* spaces before every line; 0 from table_init */
};

void table_init(struct table *t, size_t ncols, const char *const *header);
/* Adds a row of ncols strings (copied). */
void table_row(struct table *t, const char *const *cells);
/* A line printed under the last row as it is (copied), outside the
 * columns: what does not fit a cell, such as why a connection failed. */
void table_note(struct table *t, const char *text);
void table_print(struct table *t, FILE *f);
void table_free(struct table *t);

/* A member of a JSON object: its string (NULL if none) or integer (0). */
const char *jstr(json_t *obj, const char *key);
int64_t jint(json_t *obj, const char *key);

/* Prints JSON as --json does: indented, one document. */
void json_print(FILE *f, json_t *v);

/* --- what the commands print, apart from where it comes from ------------ */

void status_print(FILE *f, json_t *show, int64_t now);
void pods_print(FILE *f, json_t *show);
void nodes_print(FILE *f, json_t *reply, int64_t now);
void tokens_print(FILE *f, json_t *reply, int64_t now);
/* weft clients: GET /v1/clients's answer. */
void clients_print(FILE *f, json_t *reply, int64_t now);
/* An external client's wg-quick file: its record, GET /v1/nodes's answer
 * and its private key (base64), written at `now`. NULL out of memory; it
 * holds the key: crypto_free_string it. */
char *client_config_text(json_t *client, json_t *nodes, const char *private_b64, int64_t now);
/* weft join's and weft leave's line, from the manager's answer (id and
 * broker stand in for what it lacks). */
void joined_print(FILE *f, json_t *reply, const char *id, const char *broker);
void left_print(FILE *f, json_t *reply);
/* weft clusters: GET /v1/federation's answer. */
void clusters_print(FILE *f, json_t *fed, int64_t now);
/* A gateway's connections to other clusters, one a row, each line after
 * indent spaces (weft status, from the agent). */
void connections_print(FILE *f, json_t *connections, int indent, int64_t now);

/* --- the commands ------------------------------------------------------- */

int status_main(int argc, char **argv);
int pods_main(int argc, char **argv);
int nodes_main(int argc, char **argv);
int node_main(int argc, char **argv);
int clients_main(int argc, char **argv);
int client_main(int argc, char **argv);
int token_main(int argc, char **argv);
int diagnose_main(int argc, char **argv);
int lab_main(int argc, char **argv);
int broker_info_main(int argc, char **argv);
int join_main(int argc, char **argv);
int leave_main(int argc, char **argv);
int clusters_main(int argc, char **argv);

#endif
