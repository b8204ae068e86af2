// SPDX-License-Identifier: MIT
/*
 * What a cluster joins the broker with (docs/clusters.md): the broker-info
 * text `weft broker-info create` writes, and the join request a cluster's
 * manager checks before it calls the broker. Shared by the CLI, which
 * checks a file before sending it, and the manager, which must not trust
 * what it is sent; both parsers are fuzzed (fuzz/fuzz_federation.c).
 */
#include "cluster.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define PEM_CERT "-----BEGIN CERTIFICATE-----"

static const char *str(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

char *broker_info_encode(const char *broker, const char *ca, const char *token)
{
	json_t *info = json_pack("{s:s, s:s, s:s}", "broker", broker, "ca", ca, "token", token);
	char *json = info ? json_dumps(info, JSON_COMPACT) : NULL, *text = NULL;
	size_t n, size;

	broker_info_free(info);
	if (!json)
		return NULL;
	n = strlen(json);
	size = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
	if ((text = malloc(size + 1))) {
		sodium_bin2base64(text, size, (const unsigned char *)json, n, sodium_base64_VARIANT_ORIGINAL);
		strcat(text, "\n");
	}
	sodium_memzero(json, n);
	free(json);
	return text;
}

int broker_info_decode(const char *text, json_t **out, char *err, size_t errlen)
{
	size_t n = strlen(text), cap = n / 4 * 3 + 3, len = 0;
	unsigned char *bin;
	json_t *info = NULL;
	const char *s;
	int ret = -EINVAL;

	*out = NULL;
	if (n > BROKER_INFO_MAX) {
		snprintf(err, errlen, "%zu characters, more than a broker-info's %d", n, BROKER_INFO_MAX);
		return -EINVAL;
	}
	if (!(bin = malloc(cap)))
		return -ENOMEM;
	/* Lines broken by a mail or an editor still decode. */
	if (!n || strspn(text, " \t\r\n") == n)
		snprintf(err, errlen, "empty");
	else if (sodium_base642bin(bin, cap, text, n, " \t\r\n", &len, NULL, sodium_base64_VARIANT_ORIGINAL))
		snprintf(err, errlen, "not base64, as weft broker-info create writes it");
	/* jansson's message would quote the text it stopped at, which may be
	 * the token: say only what is wrong. */
	else if (!(info = json_loadb((const char *)bin, len, JSON_REJECT_DUPLICATES, NULL)) || !json_is_object(info))
		snprintf(err, errlen, "its base64 holds no JSON object {\"broker\", \"ca\", \"token\"}");
	else if (!(s = str(info, "broker")))
		snprintf(err, errlen, "no \"broker\" (the broker's https:// URL)");
	else if (strncmp(s, "https://", 8) || !s[8] || strlen(s) > 512)
		snprintf(err, errlen, "\"broker\" \"%.100s\" is not an https:// URL", s);
	else if (!(s = str(info, "ca")) || !strstr(s, PEM_CERT))
		snprintf(err, errlen, "\"ca\" holds no PEM certificate (" PEM_CERT ")");
	else if (!(s = str(info, "token")) || !*s)
		snprintf(err, errlen, "no \"token\" (a non-empty string)");
	else
		ret = 0;
	sodium_memzero(bin, cap);
	free(bin);
	if (ret)
		broker_info_free(info);
	else
		*out = info;
	return ret;
}

void broker_info_free(json_t *info)
{
	const char *token = str(info, "token");

	/* Freed with the object: wiped first, as its holder cannot. */
	if (token)
		sodium_memzero((char *)token, strlen(token));
	json_decref(info);
}

void cluster_join_free(struct cluster_join *j)
{
	broker_info_free(j->info);
	json_decref(j->cidrs);
	j->info = j->cidrs = NULL;
}

static int refuse(struct cluster_join *j, char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int refuse(struct cluster_join *j, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	cluster_join_free(j);
	return -EINVAL;
}

/* The CIDRs the cluster joins with: those asked, else its cluster CIDRs. */
static int join_cidrs(const struct cluster *c, json_t *asked, struct cluster_join *j, char *err, size_t errlen)
{
	struct ipam_prefix p[MAX_CLUSTER_CIDRS];
	char buf[64];
	json_t *v;
	size_t i;

	j->cidrs = json_array();
	if (!asked) {
		for (int f = 0; f < 2; ++f)
			if (c->pool[f].count)
				json_array_append_new(j->cidrs, json_string(ipam_prefix_str(&c->pool[f].cidr, buf,
											   sizeof(buf))));
		return 0;
	}
	if (!json_is_array(asked) || !json_array_size(asked) || json_array_size(asked) > MAX_CLUSTER_CIDRS)
		return refuse(j, err, errlen, "cidrs: give 1 to %d CIDRs, or none for the cluster CIDRs",
			      MAX_CLUSTER_CIDRS);
	json_array_foreach(asked, i, v) {
		if (!json_is_string(v))
			return refuse(j, err, errlen, "cidrs: entry %zu is not a string", i);
		if (cluster_cidr_parse(&p[i], json_string_value(v), err, errlen)) {
			cluster_join_free(j);
			return -EINVAL;
		}
		for (size_t k = 0; k < i; ++k)
			if (cluster_prefix_overlap(&p[k], &p[i]))
				return refuse(j, err, errlen, "cidrs: %s overlaps %s; give each network once",
					      json_string_value(v), json_string_value(json_array_get(asked, k)));
		json_array_append_new(j->cidrs, json_string(ipam_prefix_str(&p[i], buf, sizeof(buf))));
	}
	return 0;
}

int cluster_join_parse(const struct cluster *c, json_t *req, struct cluster_join *j, char *err, size_t errlen)
{
	const char *key, *text;
	json_t *v;
	char why[256];

	memset(j, 0, sizeof(*j));
	if (!json_is_object(req))
		return refuse(j, err, errlen, "give a JSON object {brokerInfo, clusterID, cableDriver, cidrs}");
	json_object_foreach(req, key, v)
		if (strcmp(key, "brokerInfo") && strcmp(key, "clusterID") && strcmp(key, "cableDriver") &&
		    strcmp(key, "cidrs"))
			return refuse(j, err, errlen, "unknown field \"%.64s\": give brokerInfo, clusterID, cableDriver, cidrs",
				      key);
	if (!(text = str(req, "brokerInfo")))
		return refuse(j, err, errlen, "brokerInfo: missing; give the text of broker-info.subm");
	j->id = str(req, "clusterID");
	if (!j->id || !cluster_name_valid(j->id))
		return refuse(j, err, errlen, "clusterID \"%.64s\": give a DNS label (1 to 63 of a-z, 0-9 and '-')",
			      j->id ? j->id : "(missing)");
	j->driver = json_object_get(req, "cableDriver") ? str(req, "cableDriver") : "wireguard";
	if (!j->driver || strcmp(j->driver, "wireguard"))
		return refuse(j, err, errlen, "cableDriver \"%.64s\": weft has the wireguard cable driver only",
			      j->driver ? j->driver : "(not a string)");
	if (join_cidrs(c, json_object_get(req, "cidrs"), j, err, errlen))
		return -EINVAL;
	if (!json_array_size(j->cidrs))
		return refuse(j, err, errlen, "cidrs: this cluster has no cluster CIDR; give the CIDRs to join with");
	if (broker_info_decode(text, &j->info, why, sizeof(why)))
		return refuse(j, err, errlen, "brokerInfo: %s; give the text of broker-info.subm as "
					      "\"weft broker-info create\" wrote it", why);
	return 0;
}
