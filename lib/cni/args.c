// SPDX-License-Identifier: MIT
#include "args.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The keys weft keeps, and where. */
static const struct {
	const char *key, *json;
	size_t off, len;
} fields[] = {
#define F(k, j, m) { k, j, offsetof(struct cni_owner, m), sizeof(((struct cni_owner *)0)->m) }
	F("K8S_POD_NAMESPACE", "podNamespace", pod_namespace),
	F("K8S_POD_NAME", "podName", pod_name),
	F("K8S_POD_UID", "podUID", pod_uid),
	F("K8S_POD_INFRA_CONTAINER_ID", "podInfraContainerID", pod_infra_id),
	F("NOMAD_REGION", "nomadRegion", nomad_region),
	F("NOMAD_NAMESPACE", "nomadNamespace", nomad_namespace),
	F("NOMAD_JOB_ID", "nomadJobID", nomad_job),
	F("NOMAD_GROUP_NAME", "nomadGroupName", nomad_group),
	F("NOMAD_ALLOC_ID", "nomadAllocID", nomad_alloc),
#undef F
};
enum { NFIELDS = sizeof(fields) / sizeof(fields[0]) };

static char *field(struct cni_owner *o, size_t i)
{
	return (char *)o + fields[i].off;
}

static bool printable(const char *s, size_t n)
{
	for (size_t i = 0; i < n; ++i)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

int cni_args_parse(const char *text, struct cni_owner *out, struct cni_error *err)
{
	const char *p = text, *unknown = NULL;
	size_t unknown_len = 0;
	bool ignore_unknown = false;

	memset(out, 0, sizeof(*out));
	while (p && *p) {
		const char *end = strchr(p, ';'), *eq;
		size_t n = end ? (size_t)(end - p) : strlen(p), klen, vlen, i;

		eq = memchr(p, '=', n);
		if (!eq || eq == p)
			return cni_fail(err, CNI_ERR_INVALID_ENV, "invalid CNI_ARGS",
					"CNI_ARGS: \"%.*s\" is not KEY=VALUE (pairs are separated by ';')", (int)(n > 80 ? 80 : n), p);
		klen = (size_t)(eq - p);
		vlen = n - klen - 1;
		if (!printable(p, n))
			return cni_fail(err, CNI_ERR_INVALID_ENV, "invalid CNI_ARGS",
					"CNI_ARGS: %.*s has a control character in its value", (int)(klen > 60 ? 60 : klen), p);
		if (klen == 13 && !strncmp(p, "IgnoreUnknown", 13)) {
			if ((vlen == 1 && eq[1] == '1') || (vlen == 4 && !strncasecmp(eq + 1, "true", 4)))
				ignore_unknown = true;
			else if ((vlen == 1 && eq[1] == '0') || (vlen == 5 && !strncasecmp(eq + 1, "false", 5)))
				ignore_unknown = false;
			else
				return cni_fail(err, CNI_ERR_INVALID_ENV, "invalid CNI_ARGS",
						"CNI_ARGS: IgnoreUnknown=%.*s: use 1, true, 0 or false", (int)(vlen > 40 ? 40 : vlen),
						eq + 1);
			p = end ? end + 1 : NULL;
			continue;
		}
		for (i = 0; i < NFIELDS; ++i)
			if (strlen(fields[i].key) == klen && !strncmp(p, fields[i].key, klen))
				break;
		if (i == NFIELDS) {
			if (!unknown) {
				unknown = p;
				unknown_len = klen;
			}
		} else if (vlen >= fields[i].len) {
			return cni_fail(err, CNI_ERR_INVALID_ENV, "invalid CNI_ARGS", "CNI_ARGS: %s is longer than %zu bytes",
					fields[i].key, fields[i].len - 1);
		} else {
			json_t *utf8;

			/* A repeated key: the last one wins, whole. */
			memset(field(out, i), 0, fields[i].len);
			memcpy(field(out, i), eq + 1, vlen);
			/* Kept in JSON records: it must be UTF-8. */
			if (!(utf8 = json_string(field(out, i))))
				return cni_fail(err, CNI_ERR_INVALID_ENV, "invalid CNI_ARGS",
						"CNI_ARGS: %s is not UTF-8 text", fields[i].key);
			json_decref(utf8);
		}
		p = end ? end + 1 : NULL;
	}
	/* Checked at the end: IgnoreUnknown may come after the key. */
	if (unknown && !ignore_unknown)
		return cni_fail(err, CNI_ERR_INVALID_ENV, "invalid CNI_ARGS",
				"CNI_ARGS: unknown key %.*s; weft knows K8S_POD_* and NOMAD_*, or add IgnoreUnknown=1",
				(int)(unknown_len > 60 ? 60 : unknown_len), unknown);
	return 0;
}

bool cni_owner_empty(const struct cni_owner *o)
{
	for (size_t i = 0; i < NFIELDS; ++i)
		if (field((struct cni_owner *)o, i)[0])
			return false;
	return true;
}

json_t *cni_owner_json(const struct cni_owner *o)
{
	json_t *j = json_object();

	for (size_t i = 0; j && i < NFIELDS; ++i) {
		const char *v = field((struct cni_owner *)o, i);

		if (*v)
			json_object_set_new(j, fields[i].json, json_string(v));
	}
	return j;
}

void cni_owner_from_json(json_t *j, struct cni_owner *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; json_is_object(j) && i < NFIELDS; ++i) {
		const char *v = json_string_value(json_object_get(j, fields[i].json));

		if (v && strlen(v) < fields[i].len && printable(v, strlen(v)))
			snprintf(field(out, i), fields[i].len, "%s", v);
	}
}

const char *cni_owner_str(const struct cni_owner *o, char *buf, size_t len)
{
	if (o->nomad_alloc[0])
		snprintf(buf, len, "%s%s%s alloc %.8s", o->nomad_job, o->nomad_group[0] ? "." : "", o->nomad_group,
			 o->nomad_alloc);
	else if (o->pod_name[0])
		snprintf(buf, len, "%s%s%s", o->pod_namespace, o->pod_namespace[0] ? "/" : "", o->pod_name);
	else
		snprintf(buf, len, "%s", "");
	return buf;
}
