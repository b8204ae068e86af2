// SPDX-License-Identifier: MIT
/*
 * A node's record (node.h): its checks, shared by the two edges a record
 * crosses, a node's request (cluster_node_fields, the fields a node sets)
 * and the store (cluster_node_parse, every field); and the JSON written
 * back. Fuzzed by fuzz/fuzz_node.c.
 */
#include "cluster/internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/addr.h"
#include "util/key.h"

static const char *const link_names[] = {
	[CLUSTER_LINK_CONNECTED] = "connected",
	[CLUSTER_LINK_CONNECTING] = "connecting",
	[CLUSTER_LINK_ERROR] = "error",
};

const char *cluster_link_name(enum cluster_link link)
{
	return link_names[link];
}

int cluster_link_parse(const char *s, enum cluster_link *link)
{
	for (size_t i = 0; i < sizeof(link_names) / sizeof(link_names[0]); ++i)
		if (s && !strcmp(s, link_names[i])) {
			*link = (enum cluster_link)i;
			return 0;
		}
	return -EINVAL;
}

/* A value for an error message: its JSON, cut short. */
static const char *shown(json_t *v, char *buf, size_t len)
{
	char *text = NULL;

	if (!v)
		return "(missing)";
	if (json_is_string(v))
		snprintf(buf, len, "\"%.64s\"", json_string_value(v));
	else if ((text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)))
		snprintf(buf, len, "%.64s", text);
	else
		snprintf(buf, len, "?");
	free(text);
	return buf;
}

/* --- fields a node sets, in its requests and its record ------------------ */

static int key_field(json_t *key, struct cluster_node *n, char *err, size_t errlen)
{
	if (!json_is_string(key) || !key_from_base64(n->key, json_string_value(key)))
		return cluster_invalid(err, errlen, "publicKey %s: give a WireGuard public key (44 characters of base64)",
				       json_is_string(key) ? json_string_value(key) : "(missing)");
	n->flags |= NODE_HAS_KEY;
	return 0;
}

static int endpoints_field(json_t *eps, struct cluster_node *n, char *err, size_t errlen)
{
	json_t *v;
	size_t i;

	if (!json_is_array(eps) || !json_array_size(eps) || json_array_size(eps) > CLUSTER_MAX_ENDPOINTS)
		return cluster_invalid(err, errlen, "endpoints%s: give 1 to 8 of \"IP:PORT\" or \"[IPv6]:PORT\"",
				       eps ? "" : " (missing)");
	json_array_foreach(eps, i, v) {
		union sockaddr_any sa;

		if (!json_is_string(v) || json_string_length(v) >= CLUSTER_ENDPOINT_LEN ||
		    addr_parse_endpoint(&sa, json_string_value(v)))
			return cluster_invalid(err, errlen, "endpoint %s: give \"IP:PORT\" or \"[IPv6]:PORT\"",
					       json_is_string(v) ? json_string_value(v) : "(not a string)");
		memcpy(n->endpoints[i], json_string_value(v), json_string_length(v) + 1);
	}
	n->nendpoints = json_array_size(eps);
	n->flags |= NODE_HAS_ENDPOINTS;
	return 0;
}

static void labels_free(struct cluster_label *l, size_t n)
{
	for (size_t i = 0; i < n; ++i) {
		free(l[i].key);
		free(l[i].value);
	}
	free(l);
}

/* Replaces n's labels with these, all or none. */
static int labels_field(json_t *labels, struct cluster_node *n, char *err, size_t errlen)
{
	struct cluster_label *l;
	const char *lk;
	size_t count = 0;
	json_t *v;

	if (!json_is_object(labels) || json_object_size(labels) > CLUSTER_MAX_LABELS)
		return cluster_invalid(err, errlen, "labels: give an object of at most 64 strings");
	if (!(l = calloc(json_object_size(labels) + 1, sizeof(*l))))
		return -ENOMEM;
	json_object_foreach(labels, lk, v) {
		if (!*lk || strlen(lk) > CLUSTER_LABEL_LEN || !json_is_string(v) ||
		    strlen(json_string_value(v)) > CLUSTER_LABEL_LEN) {
			labels_free(l, count);
			return cluster_invalid(err, errlen, "label \"%s\": keys and values are strings of 1 to 253 characters",
					       lk);
		}
		l[count].key = strdup(lk);
		l[count].value = strdup(json_string_value(v));
		++count;
		if (!l[count - 1].key || !l[count - 1].value) {
			labels_free(l, count);
			return -ENOMEM;
		}
	}
	labels_free(n->labels, n->nlabels);
	n->labels = l;
	n->nlabels = count;
	n->flags |= NODE_HAS_LABELS;
	return 0;
}

int cluster_node_fields(json_t *req, struct cluster_node *n, bool partial, char *err, size_t errlen)
{
	json_t *key = json_object_get(req, "publicKey"), *eps = json_object_get(req, "endpoints"),
	       *labels = json_object_get(req, "labels"), *v;
	const char *name;
	int ret;

	json_object_foreach(req, name, v)
		if (strcmp(name, "name") && strcmp(name, "publicKey") && strcmp(name, "endpoints") &&
		    strcmp(name, "labels") && (partial || strcmp(name, "subnets")))
			return cluster_invalid(err, errlen, "unknown field \"%s\": a node sets name, publicKey, endpoints, labels%s",
					       name, partial ? "" : ", subnets");
	if ((key || !partial) && (ret = key_field(key, n, err, errlen)))
		return ret;
	if ((eps || !partial) && (ret = endpoints_field(eps, n, err, errlen)))
		return ret;
	if (labels)
		return labels_field(labels, n, err, errlen);
	if (!partial) {
		labels_free(n->labels, n->nlabels);
		n->labels = NULL;
		n->nlabels = 0;
		n->flags |= NODE_HAS_LABELS;
	}
	return 0;
}

/* --- the other clusters, as a gateway reports them ----------------------- */

int cluster_remotes_parse(json_t *clusters, struct cluster_gateway *gw, char *err, size_t errlen)
{
	struct cluster_remote *r;
	const char *id;
	json_t *cidrs;
	int ret;

	if (!json_is_object(clusters) || json_object_size(clusters) > CLUSTER_MAX_REMOTES)
		return cluster_invalid(err, errlen, "clusters: give an object of at most 256 cluster IDs, each with its CIDRs");
	if (!(r = calloc(json_object_size(clusters) + 1, sizeof(*r))))
		return -ENOMEM;
	free(gw->clusters);
	gw->clusters = r;
	gw->nclusters = 0;
	json_object_foreach(clusters, id, cidrs) {
		struct ipam_prefix p[MAX_CLUSTER_CIDRS];
		json_t *v;
		size_t i;

		if (!cluster_name_valid(id))
			return cluster_invalid(err, errlen, "clusters: \"%s\" is not a cluster ID (a DNS label)", id);
		if ((ret = cluster_cidrs(cidrs, p, &r->ncidrs, err, errlen)))
			return ret;
		json_array_foreach(cidrs, i, v) {
			if (json_string_length(v) >= sizeof(r->cidrs[i]))
				return cluster_invalid(err, errlen, "clusters: CIDR \"%.64s...\" of \"%s\" is too long",
						       json_string_value(v), id);
			memcpy(r->cidrs[i], json_string_value(v), json_string_length(v) + 1);
		}
		snprintf(r->id, sizeof(r->id), "%s", id);
		++r;
		++gw->nclusters;
	}
	return 0;
}

/* --- the record in the store --------------------------------------------- */

static int integer_field(json_t *v, const char *field, int64_t *out, char *err, size_t errlen)
{
	char buf[80];

	if (!json_is_integer(v))
		return cluster_invalid(err, errlen, "%s %s: give an integer (a Unix time)", field, shown(v, buf, sizeof(buf)));
	*out = json_integer_value(v);
	return 0;
}

static int name_field(json_t *v, struct cluster_node *n, char *err, size_t errlen)
{
	char buf[80];

	if (!json_is_string(v) || !cluster_name_valid(json_string_value(v)))
		return cluster_invalid(err, errlen, "name %s: not a DNS label", shown(v, buf, sizeof(buf)));
	snprintf(n->name, sizeof(n->name), "%s", json_string_value(v));
	return 0;
}

static int subnets_field(json_t *v, struct cluster_node *n, char *err, size_t errlen)
{
	return cluster_cidrs(v, n->subnets, &n->nsubnets, err, errlen);
}

/* A node's own address in each of its subnets (at most one per family). */
static int tunnel_field(json_t *addrs, struct cluster_node *n, char *err, size_t errlen)
{
	char buf[80];
	json_t *v;
	size_t i;

	if (!json_is_array(addrs) || json_array_size(addrs) > 2)
		return cluster_invalid(err, errlen, "tunnelAddresses %s: give at most two addresses with their prefix "
						    "lengths", shown(addrs, buf, sizeof(buf)));
	json_array_foreach(addrs, i, v)
		if (!json_is_string(v) || ipam_prefix_parse(&n->tunnel[i], json_string_value(v)))
			return cluster_invalid(err, errlen, "tunnelAddresses: %s is not an address with its prefix length",
					       shown(v, buf, sizeof(buf)));
	n->ntunnel = json_array_size(addrs);
	n->flags |= NODE_HAS_TUNNEL;
	return 0;
}

static int created_field(json_t *v, struct cluster_node *n, char *err, size_t errlen)
{
	return integer_field(v, "created", &n->created, err, errlen);
}

static int status_field(json_t *status, struct cluster_gateway *gw, char *err, size_t errlen)
{
	struct cluster_link_status *s;
	const char *id;
	char buf[80];
	json_t *v;

	if (!json_is_object(status) || json_object_size(status) > CLUSTER_MAX_REMOTES)
		return cluster_invalid(err, errlen, "gateway status %s: give an object of at most 256 cluster IDs",
				       shown(status, buf, sizeof(buf)));
	if (!(s = calloc(json_object_size(status) + 1, sizeof(*s))))
		return -ENOMEM;
	free(gw->status);
	gw->status = s;
	gw->nstatus = 0;
	json_object_foreach(status, id, v) {
		if (!cluster_name_valid(id) || cluster_link_parse(json_string_value(v), &s->link))
			return cluster_invalid(err, errlen, "gateway status of \"%.64s\" %s: give \"connected\", "
							    "\"connecting\" or \"error\" for a cluster ID", id,
					       shown(v, buf, sizeof(buf)));
		snprintf(s->id, sizeof(s->id), "%s", id);
		++s;
		++gw->nstatus;
	}
	return 0;
}

static int gateway_field(json_t *gw, struct cluster_node *n, char *err, size_t errlen)
{
	json_t *since = json_object_get(gw, "since"), *clusters = json_object_get(gw, "clusters"),
	       *status = json_object_get(gw, "status");
	char buf[80];
	int ret;

	if (!json_is_object(gw) || json_object_size(gw) != 3 || !since || !clusters || !status)
		return cluster_invalid(err, errlen, "gateway %s: give {\"since\", \"clusters\", \"status\"}",
				       shown(gw, buf, sizeof(buf)));
	if ((ret = integer_field(since, "gateway since", &n->gateway.since, err, errlen)) ||
	    (ret = cluster_remotes_parse(clusters, &n->gateway, err, errlen)) ||
	    (ret = status_field(status, &n->gateway, err, errlen)))
		return ret;
	n->flags |= NODE_HAS_GATEWAY;
	return 0;
}

static int rotation_field(json_t *rot, struct cluster_node *n, char *err, size_t errlen)
{
	json_t *requested = json_object_get(rot, "requested"), *rotated = json_object_get(rot, "rotated");
	char buf[80];
	int ret;

	if (!json_is_object(rot) || !json_object_size(rot) ||
	    json_object_size(rot) != (size_t)!!requested + (size_t)!!rotated)
		return cluster_invalid(err, errlen, "credentialRotation %s: give {\"requested\"?, \"rotated\"?}",
				       shown(rot, buf, sizeof(buf)));
	if (requested) {
		if ((ret = integer_field(requested, "credentialRotation requested", &n->rotation_requested, err, errlen)))
			return ret;
		n->flags |= NODE_HAS_ROTATION_REQUESTED;
	}
	if (rotated) {
		if ((ret = integer_field(rotated, "credentialRotation rotated", &n->rotation_rotated, err, errlen)))
			return ret;
		n->flags |= NODE_HAS_ROTATION_ROTATED;
	}
	return 0;
}

static const struct {
	const char *name;
	int (*parse)(json_t *v, struct cluster_node *n, char *err, size_t errlen);
	bool required;
} record_fields[] = {
	{ "name", name_field, true },
	{ "publicKey", key_field, false },
	{ "endpoints", endpoints_field, false },
	{ "labels", labels_field, false },
	{ "subnets", subnets_field, true },
	{ "tunnelAddresses", tunnel_field, false },
	{ "created", created_field, true },
	{ "gateway", gateway_field, false },
	{ "credentialRotation", rotation_field, false },
};

int cluster_node_parse(json_t *doc, struct cluster_node *n, char *err, size_t errlen)
{
	const size_t count = sizeof(record_fields) / sizeof(record_fields[0]);
	bool seen[sizeof(record_fields) / sizeof(record_fields[0])] = { false };
	const char *field;
	json_t *v;
	int ret = 0;

	memset(n, 0, sizeof(*n));
	if (!json_is_object(doc))
		return cluster_invalid(err, errlen, "not a JSON object");
	json_object_foreach(doc, field, v) {
		size_t i;

		for (i = 0; i < count && strcmp(field, record_fields[i].name); ++i)
			;
		if (i == count) {
			/* A newer manager's: kept, not judged. */
			if (!n->extra && !(n->extra = json_object())) {
				ret = -ENOMEM;
				break;
			}
			if (json_object_size(n->extra) >= CLUSTER_MAX_EXTRA) {
				ret = cluster_invalid(err, errlen, "field \"%.64s\": more than %d fields this version does not know",
						      field, CLUSTER_MAX_EXTRA);
				break;
			}
			if (json_object_set(n->extra, field, v)) {
				ret = -ENOMEM;
				break;
			}
			continue;
		}
		seen[i] = true;
		if ((ret = record_fields[i].parse(v, n, err, errlen)))
			break;
	}
	for (size_t i = 0; i < count && !ret; ++i)
		if (record_fields[i].required && !seen[i])
			ret = cluster_invalid(err, errlen, "%s (missing)", record_fields[i].name);
	if (ret)
		cluster_node_free(n);
	return ret;
}

/* --- back to JSON -------------------------------------------------------- */

static json_t *prefixes_json(const struct ipam_prefix *p, size_t n)
{
	json_t *a = json_array();
	char buf[64];

	for (size_t i = 0; i < n; ++i)
		json_array_append_new(a, json_string(ipam_prefix_str(&p[i], buf, sizeof(buf))));
	return a;
}

static json_t *gateway_json(const struct cluster_gateway *gw)
{
	json_t *clusters = json_object(), *status = json_object();

	for (size_t i = 0; i < gw->nclusters; ++i) {
		json_t *cidrs = json_array();

		for (size_t k = 0; k < gw->clusters[i].ncidrs; ++k)
			json_array_append_new(cidrs, json_string(gw->clusters[i].cidrs[k]));
		json_object_set_new(clusters, gw->clusters[i].id, cidrs);
	}
	for (size_t i = 0; i < gw->nstatus; ++i)
		json_object_set_new(status, gw->status[i].id, json_string(link_names[gw->status[i].link]));
	return json_pack("{s:I, s:o, s:o}", "since", (json_int_t)gw->since, "clusters", clusters, "status", status);
}

json_t *cluster_node_json(const struct cluster_node *n)
{
	json_t *o = n->extra ? json_deep_copy(n->extra) : json_object();
	int bad = !o;

	bad |= json_object_set_new(o, "name", json_string(n->name));
	if (n->flags & NODE_HAS_KEY) {
		char b64[KEY_B64_LEN];

		key_to_base64(b64, n->key);
		bad |= json_object_set_new(o, "publicKey", json_string(b64));
	}
	if (n->flags & NODE_HAS_ENDPOINTS) {
		json_t *a = json_array();

		for (size_t i = 0; i < n->nendpoints; ++i)
			bad |= json_array_append_new(a, json_string(n->endpoints[i]));
		bad |= json_object_set_new(o, "endpoints", a);
	}
	if (n->flags & NODE_HAS_LABELS) {
		json_t *l = json_object();

		for (size_t i = 0; i < n->nlabels; ++i)
			bad |= json_object_set_new(l, n->labels[i].key, json_string(n->labels[i].value));
		bad |= json_object_set_new(o, "labels", l);
	}
	bad |= json_object_set_new(o, "subnets", prefixes_json(n->subnets, n->nsubnets));
	if (n->flags & NODE_HAS_TUNNEL) /* host addresses: ipam_prefix_str keeps the host bits */
		bad |= json_object_set_new(o, "tunnelAddresses", prefixes_json(n->tunnel, n->ntunnel));
	bad |= json_object_set_new(o, "created", json_integer(n->created));
	if (n->flags & NODE_HAS_GATEWAY)
		bad |= json_object_set_new(o, "gateway", gateway_json(&n->gateway));
	if (n->flags & (NODE_HAS_ROTATION_REQUESTED | NODE_HAS_ROTATION_ROTATED)) {
		json_t *r = json_object();

		if (n->flags & NODE_HAS_ROTATION_REQUESTED)
			bad |= json_object_set_new(r, "requested", json_integer(n->rotation_requested));
		if (n->flags & NODE_HAS_ROTATION_ROTATED)
			bad |= json_object_set_new(r, "rotated", json_integer(n->rotation_rotated));
		bad |= json_object_set_new(o, "credentialRotation", r);
	}
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

char *cluster_node_text(const struct cluster_node *n)
{
	json_t *o = cluster_node_json(n);
	char *text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

	json_decref(o);
	return text;
}

void cluster_gateway_free(struct cluster_gateway *gw)
{
	free(gw->clusters);
	free(gw->status);
	memset(gw, 0, sizeof(*gw));
}

void cluster_node_free(struct cluster_node *n)
{
	if (!n)
		return;
	labels_free(n->labels, n->nlabels);
	cluster_gateway_free(&n->gateway);
	json_decref(n->extra);
	memset(n, 0, sizeof(*n));
}

/* --- comparing, and labels ----------------------------------------------- */

bool cluster_prefix_equal(const struct ipam_prefix *a, const struct ipam_prefix *b)
{
	/* Field by field: the padding and a v4 address's unused bytes may
	 * differ. */
	return a->family == b->family && a->len == b->len &&
	       !memcmp(&a->addr, &b->addr, a->family == AF_INET ? sizeof(a->addr.v4) : sizeof(a->addr.v6));
}

static bool prefixes_equal(const struct ipam_prefix *a, size_t na, const struct ipam_prefix *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; ++i)
		if (!cluster_prefix_equal(&a[i], &b[i]))
			return false;
	return true;
}

static const struct cluster_remote *remote_find(const struct cluster_gateway *gw, const char *id)
{
	for (size_t i = 0; i < gw->nclusters; ++i)
		if (!strcmp(gw->clusters[i].id, id))
			return &gw->clusters[i];
	return NULL;
}

static const struct cluster_link_status *status_find(const struct cluster_gateway *gw, const char *id)
{
	for (size_t i = 0; i < gw->nstatus; ++i)
		if (!strcmp(gw->status[i].id, id))
			return &gw->status[i];
	return NULL;
}

/* IDs are unique within each (they were an object's keys): the same count,
 * and each of a's found in b alike, is the same set. */
bool cluster_gateway_equal(const struct cluster_gateway *a, const struct cluster_gateway *b)
{
	if (a->since != b->since || a->nclusters != b->nclusters || a->nstatus != b->nstatus)
		return false;
	for (size_t i = 0; i < a->nclusters; ++i) {
		const struct cluster_remote *r = remote_find(b, a->clusters[i].id);

		if (!r || r->ncidrs != a->clusters[i].ncidrs)
			return false;
		for (size_t k = 0; k < r->ncidrs; ++k)
			if (strcmp(r->cidrs[k], a->clusters[i].cidrs[k]))
				return false;
	}
	for (size_t i = 0; i < a->nstatus; ++i) {
		const struct cluster_link_status *s = status_find(b, a->status[i].id);

		if (!s || s->link != a->status[i].link)
			return false;
	}
	return true;
}

bool cluster_node_equal(const struct cluster_node *a, const struct cluster_node *b)
{
	if (a->flags != b->flags || strcmp(a->name, b->name) || a->created != b->created ||
	    !prefixes_equal(a->subnets, a->nsubnets, b->subnets, b->nsubnets))
		return false;
	if ((a->flags & NODE_HAS_KEY) && memcmp(a->key, b->key, sizeof(a->key)))
		return false;
	if (a->flags & NODE_HAS_ENDPOINTS) {
		if (a->nendpoints != b->nendpoints)
			return false;
		for (size_t i = 0; i < a->nendpoints; ++i)
			if (strcmp(a->endpoints[i], b->endpoints[i]))
				return false;
	}
	if (a->nlabels != b->nlabels)
		return false;
	for (size_t i = 0; i < a->nlabels; ++i) {
		const char *v = cluster_node_label(b, a->labels[i].key);

		if (!v || strcmp(v, a->labels[i].value))
			return false;
	}
	if ((a->flags & NODE_HAS_TUNNEL) && !prefixes_equal(a->tunnel, a->ntunnel, b->tunnel, b->ntunnel))
		return false;
	if ((a->flags & NODE_HAS_GATEWAY) && !cluster_gateway_equal(&a->gateway, &b->gateway))
		return false;
	if ((a->flags & NODE_HAS_ROTATION_REQUESTED) && a->rotation_requested != b->rotation_requested)
		return false;
	if (!a->extra != !b->extra || (a->extra && !json_equal(a->extra, b->extra)))
		return false;
	return !(a->flags & NODE_HAS_ROTATION_ROTATED) || a->rotation_rotated == b->rotation_rotated;
}

/* Labels but the gateway label. */
static size_t own_labels(const struct cluster_node *n)
{
	size_t count = 0;

	for (size_t i = 0; i < n->nlabels; ++i)
		count += !!strcmp(n->labels[i].key, CLUSTER_GATEWAY_LABEL);
	return count;
}

bool cluster_node_holds(const struct cluster_node *n, const struct cluster_node *req)
{
	if ((req->flags & NODE_HAS_KEY) &&
	    (!(n->flags & NODE_HAS_KEY) || memcmp(n->key, req->key, sizeof(n->key))))
		return false;
	if (req->flags & NODE_HAS_ENDPOINTS) {
		if (!(n->flags & NODE_HAS_ENDPOINTS) || n->nendpoints != req->nendpoints)
			return false;
		for (size_t i = 0; i < n->nendpoints; ++i)
			if (strcmp(n->endpoints[i], req->endpoints[i]))
				return false;
	}
	if (!(req->flags & NODE_HAS_LABELS))
		return true;
	/* Keys are unique on each side: the same count, and each of req's
	 * found in n alike, is the same set. */
	if (own_labels(n) != own_labels(req))
		return false;
	for (size_t i = 0; i < req->nlabels; ++i) {
		const char *v = cluster_node_label(n, req->labels[i].key);

		if (strcmp(req->labels[i].key, CLUSTER_GATEWAY_LABEL) && (!v || strcmp(v, req->labels[i].value)))
			return false;
	}
	return true;
}

const char *cluster_node_label(const struct cluster_node *n, const char *key)
{
	for (size_t i = 0; i < n->nlabels; ++i)
		if (!strcmp(n->labels[i].key, key))
			return n->labels[i].value;
	return NULL;
}

int cluster_node_set_label(struct cluster_node *n, const char *key, const char *value)
{
	struct cluster_label *l;
	char *v = NULL;
	size_t i;

	for (i = 0; i < n->nlabels && strcmp(n->labels[i].key, key); ++i)
		;
	if (value && !(v = strdup(value)))
		return -ENOMEM;
	n->flags |= NODE_HAS_LABELS;
	if (i < n->nlabels) {
		free(n->labels[i].value);
		if (v) {
			n->labels[i].value = v;
			return 0;
		}
		free(n->labels[i].key);
		n->labels[i] = n->labels[--n->nlabels];
		return 0;
	}
	if (!v)
		return 0;
	if (!(l = realloc(n->labels, (n->nlabels + 1) * sizeof(*l))) || !(l[n->nlabels].key = strdup(key))) {
		if (l)
			n->labels = l;
		free(v);
		return -ENOMEM;
	}
	l[n->nlabels++].value = v;
	n->labels = l;
	return 0;
}
