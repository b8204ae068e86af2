// SPDX-License-Identifier: MIT
/*
 * weft clients, weft client add|config|remove: external clients, machines
 * that dial into the cluster's WireGuard network (docs/clusters.md). The
 * key pair is made here, on the machine that runs the command: only the
 * public key goes to the manager, and the private key goes only into the
 * wg-quick file this writes (0600, replaced whole), from which `config`
 * reads it back to write the file again when the nodes have changed.
 */
#include "weft.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "crypto/crypto.h"
#include "util/buf.h"
#include "util/file.h"
#include "util/key.h"

static const char clients_usage[] =
	"Usage: weft clients [--json] [--manager URLS] [--ca FILE] [--token-file FILE] [--config FILE]\n"
	"The cluster's external clients, from the manager: name, addresses, public key, and the\n"
	"latest handshake any node saw (nodes report them with their heartbeat, every 30 s).\n"
	"A reader token is enough.\n";

static const char client_usage[] =
	"Usage: weft client add NAME [-o FILE] [--manager URLS] [--ca FILE] [--token-file FILE]\n"
	"       weft client config NAME -o FILE [--manager URLS] [--ca FILE] [--token-file FILE]\n"
	"       weft client remove NAME [--json] [--manager URLS] [--ca FILE] [--token-file FILE]\n"
	"add: makes a key pair here, registers the public key with the manager, which gives the\n"
	"client an address in each family, and writes a wg-quick file (FILE, by default NAME.conf;\n"
	"0600) with the private key and a peer for every node: `wg-quick up FILE` dials in. The\n"
	"private key never leaves this machine. FILE must not exist yet. Takes the admin token.\n"
	"config: writes FILE again with the nodes as they are now, keeping its private key (read\n"
	"from FILE, which add wrote). A reader token is enough.\n"
	"remove: revokes the client: every node drops it within seconds. Takes the admin token.\n"
	"NAME is a DNS label (a-z, 0-9 and '-', at most 63). wg-quick names the interface after\n"
	"FILE: keep its name short (at most 15 characters before .conf).\n";

void clients_print(FILE *f, json_t *reply, int64_t now)
{
	static const char *const header[] = { "NAME", "ADDRESSES", "PUBLIC KEY", "LAST HANDSHAKE" };
	json_t *client;
	char addrs[256], ago[32], seen[128];
	struct table t;
	size_t i;

	table_init(&t, 4, header);
	json_array_foreach(json_object_get(reply, "clients"), i, client) {
		json_t *hs = json_object_get(client, "lastHandshake");
		const char *row[4] = {
			jstr(client, "name"),
			fmt_join(addrs, sizeof(addrs), json_object_get(client, "addresses"), ","),
			jstr(client, "publicKey"),
			seen,
		};

		if (jint(hs, "time"))
			snprintf(seen, sizeof(seen), "%s (node %s)", fmt_ago_short(ago, sizeof(ago), jint(hs, "time"), now),
				 jstr(hs, "node") ?: "?");
		else
			snprintf(seen, sizeof(seen), "never");
		table_row(&t, row);
	}
	table_print(&t, f);
	table_free(&t);
}

char *client_config_text(json_t *client, json_t *nodes, const char *private_b64, int64_t now)
{
	struct buf b = { 0 };
	char addrs[256], subnets[512], when[64];
	json_t *node;
	size_t i;
	bool ok;

	ok = buf_printf(&b, "# weft external client %s, written by weft at %s.\n"
		     "# The nodes change: weft client config %s -o THIS-FILE writes it again.\n"
		     "[Interface]\nPrivateKey = %s\nAddress = %s\n",
		 jstr(client, "name") ?: "?", fmt_time(when, sizeof(when), now), jstr(client, "name") ?: "?", private_b64,
		 fmt_join(addrs, sizeof(addrs), json_object_get(client, "addresses"), ", ")) >= 0;
	json_array_foreach(json_object_get(nodes, "nodes"), i, node) {
		const char *ep = json_string_value(json_array_get(json_object_get(node, "endpoints"), 0));

		/* A node without a key or an endpoint cannot be dialed. */
		if (!ok || !jstr(node, "publicKey") || !ep || !json_array_size(json_object_get(node, "subnets")))
			continue;
		ok = buf_printf(&b, "\n[Peer]\n# node %s\nPublicKey = %s\nAllowedIPs = %s\nEndpoint = %s\nPersistentKeepalive = 25\n",
			 jstr(node, "name") ?: "?", jstr(node, "publicKey"),
			 fmt_join(subnets, sizeof(subnets), json_object_get(node, "subnets"), ", "), ep) >= 0;
	}
	if (!ok) {
		crypto_wipe(b.data, b.cap);
		free(b.data);
		return NULL;
	}
	return b.data;
}

/* The private key of a wg-quick file (its PrivateKey line), into key. */
static int read_private_key(const char *path, uint8_t key[32], char *err, size_t errlen)
{
	char line[512];
	bool found = false;
	FILE *f = fopen(path, "re");

	if (!f) {
		snprintf(err, errlen, "cannot read %s: %s (it is the file weft client add wrote)", path, strerror(errno));
		return -errno;
	}
	while (!found && fgets(line, sizeof(line), f)) {
		char *p = line, *v;

		p += strspn(p, " \t");
		if (strncasecmp(p, "PrivateKey", 10))
			continue;
		p += 10;
		p += strspn(p, " \t");
		if (*p++ != '=')
			continue;
		v = p + strspn(p, " \t");
		v[strcspn(v, " \t\r\n")] = '\0';
		found = key_from_base64(key, v);
		if (!found)
			snprintf(err, errlen, "%s: its PrivateKey is not a base64 WireGuard key", path);
	}
	crypto_wipe(line, sizeof(line));
	fclose(f);
	if (!found && !*err)
		snprintf(err, errlen, "%s has no PrivateKey line: give the file weft client add wrote", path);
	return found ? 0 : -EINVAL;
}

/* Writes the client's wg-quick file with the nodes the manager has now. */
static int write_config(struct manager *m, json_t *client, const uint8_t priv[32], const char *path)
{
	char priv_b64[KEY_B64_LEN], *text;
	json_t *nodes = NULL;
	int ret;

	if ((ret = manager_call(m, "GET", "/v1/nodes", NULL, &nodes)))
		return ret;
	key_to_base64(priv_b64, priv);
	text = client_config_text(client, nodes, priv_b64, time(NULL));
	crypto_wipe(priv_b64, sizeof(priv_b64));
	json_decref(nodes);
	if (!text)
		return failure(m->o, "out of memory");
	ret = file_replace(path, text, strlen(text), 0600);
	crypto_free_string(text);
	if (ret)
		return failure(m->o, "cannot write %s: %s", path, strerror(-ret));
	return EXIT_OK;
}

static int client_add(int argc, char **argv)
{
	char path[512], pub_b64[KEY_B64_LEN], url[128];
	uint8_t priv[32], pub[32];
	struct manager m;
	struct opts o;
	struct stat st;
	json_t *rec = NULL, *gone = NULL, *body;
	int ret;

	if ((ret = opts_parse(&o, "client add", client_usage, OPT_MANAGER | OPT_OUTPUT, argc, argv)) >= 0)
		return ret;
	if ((ret = opts_one_name(&o, "client", "weft clients")) >= 0)
		return ret;
	snprintf(path, sizeof(path), "%s", o.output ?: "");
	if (!o.output)
		snprintf(path, sizeof(path), "%s.conf", o.args[0]);
	/* It would hold another key pair: its client would be locked out. */
	if (!stat(path, &st))
		return usage_error(&o, "%s exists: give another file (-o FILE), or write it again with weft client "
				   "config %s -o %s", path, o.args[0], path);
	if ((ret = manager_open(&m, &o, true)) >= 0)
		return ret;
	x25519_generate_private(priv);
	x25519_public(pub, priv);
	key_to_base64(pub_b64, pub);
	body = json_pack("{s:s, s:s}", "name", o.args[0], "publicKey", pub_b64);
	ret = manager_call(&m, "POST", "/v1/clients", body, &rec);
	json_decref(body);
	if (ret)
		goto out;
	if ((ret = write_config(&m, rec, priv, path))) {
		/* Nothing half-done: a client whose key is lost is no use. */
		snprintf(url, sizeof(url), "/v1/clients/%s", o.args[0]);
		if (manager_call(&m, "DELETE", url, NULL, &gone))
			fprintf(stderr, "weft client add: client %s is registered without its file: remove it (weft "
				"client remove %s)\n", o.args[0], o.args[0]);
		goto out;
	}
	printf("added client %s (%s): wg-quick up %s\n", o.args[0],
	       fmt_join(url, sizeof(url), json_object_get(rec, "addresses"), ", "), path);
out:
	crypto_wipe(priv, sizeof(priv));
	json_decref(rec);
	json_decref(gone);
	manager_close(&m);
	return ret;
}

static int client_config(int argc, char **argv)
{
	char path[160], err[600] = "", have[KEY_B64_LEN];
	uint8_t priv[32], pub[32];
	struct manager m;
	struct opts o;
	json_t *rec = NULL;
	int ret;

	if ((ret = opts_parse(&o, "client config", client_usage, OPT_MANAGER | OPT_OUTPUT, argc, argv)) >= 0)
		return ret;
	if ((ret = opts_one_name(&o, "client", "weft clients")) >= 0)
		return ret;
	if (!o.output)
		return usage_error(&o, "give -o FILE: the file weft client add wrote (its private key is read from it)");
	if (read_private_key(o.output, priv, err, sizeof(err)))
		return failure(&o, "%s", err);
	x25519_public(pub, priv);
	if ((ret = manager_open(&m, &o, true)) >= 0) {
		crypto_wipe(priv, sizeof(priv));
		return ret;
	}
	snprintf(path, sizeof(path), "/v1/clients/%s", o.args[0]);
	if ((ret = manager_call(&m, "GET", path, NULL, &rec)))
		goto out;
	key_to_base64(have, pub);
	if (strcmp(jstr(rec, "publicKey") ?: "", have)) {
		ret = failure(&o, "%s holds the key of another client than %s (its public key is %s, the manager's is "
				  "%s): give the file weft client add %s wrote", o.output, o.args[0], have,
			      jstr(rec, "publicKey") ?: "none", o.args[0]);
		goto out;
	}
	if (!(ret = write_config(&m, rec, priv, o.output)))
		printf("wrote %s for client %s\n", o.output, o.args[0]);
out:
	crypto_wipe(priv, sizeof(priv));
	json_decref(rec);
	manager_close(&m);
	return ret;
}

static void removed(struct opts *o, json_t *reply)
{
	printf("removed client %s: every node drops it within seconds\n", o->args[0]);
}

static int client_remove(int argc, char **argv)
{
	char path[128];
	struct opts o;
	int ret;

	if ((ret = opts_parse(&o, "client remove", client_usage, OPT_JSON | OPT_MANAGER, argc, argv)) >= 0)
		return ret;
	if ((ret = opts_one_name(&o, "client", "weft clients")) >= 0)
		return ret;
	snprintf(path, sizeof(path), "/v1/clients/%s", o.args[0]);
	return manager_run(&o, "DELETE", path, NULL, removed);
}

int client_main(int argc, char **argv)
{
	static const struct subcommand subs[] = {
		{ "add", client_add },
		{ "config", client_config },
		{ "remove", client_remove },
		{ NULL, NULL },
	};

	return subcommand_run("client", client_usage, subs, argc, argv);
}

static void listed(struct opts *o, json_t *reply)
{
	if (!json_array_size(json_object_get(reply, "clients")))
		fprintf(stderr, "no clients (weft client add NAME adds one)\n");
	else
		clients_print(stdout, reply, time(NULL));
}

int clients_main(int argc, char **argv)
{
	struct opts o;
	int ret;

	if ((ret = opts_parse(&o, "clients", clients_usage, OPT_JSON | OPT_MANAGER, argc, argv)) >= 0)
		return ret;
	if (o.nargs)
		return usage_error(&o, "unexpected argument \"%s\"; see weft clients --help", o.args[0]);
	return manager_run(&o, "GET", "/v1/clients", NULL, listed);
}
