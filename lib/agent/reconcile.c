// SPDX-License-Identifier: MIT
/*
 * A device kept equal to a set of remote peers (reconcile.h): the typed
 * peer set, the change lists that move it, and the plan that brings a
 * device from one set to the next.
 */
#include "agent/reconcile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/key.h"

/* --- records ------------------------------------------------------------------------ */

void peer_rec_clear(struct peer_rec *r)
{
	free(r->prefixes);
	json_decref(r->extra);
	memset(r, 0, sizeof(*r));
}

static bool prefix_equal(const struct ipam_prefix *a, const struct ipam_prefix *b)
{
	return a->family == b->family && a->len == b->len &&
	       !memcmp(&a->addr, &b->addr, a->family == AF_INET ? 4 : 16);
}

static bool endpoint_equal(const struct peer_rec *a, const struct peer_rec *b)
{
	if (a->has_endpoint != b->has_endpoint)
		return false;
	if (!a->has_endpoint)
		return true;
	if (a->endpoint.sa.sa_family != b->endpoint.sa.sa_family)
		return false;
	if (a->endpoint.sa.sa_family == AF_INET)
		return a->endpoint.in4.sin_port == b->endpoint.in4.sin_port &&
		       a->endpoint.in4.sin_addr.s_addr == b->endpoint.in4.sin_addr.s_addr;
	return a->endpoint.in6.sin6_port == b->endpoint.in6.sin6_port &&
	       !memcmp(&a->endpoint.in6.sin6_addr, &b->endpoint.in6.sin6_addr, 16) &&
	       a->endpoint.in6.sin6_scope_id == b->endpoint.in6.sin6_scope_id;
}

static bool prefixes_equal(const struct peer_rec *a, const struct peer_rec *b)
{
	if (a->nprefixes != b->nprefixes)
		return false;
	for (size_t i = 0; i < a->nprefixes; ++i)
		if (!prefix_equal(&a->prefixes[i], &b->prefixes[i]))
			return false;
	return true;
}

bool peer_rec_equal(const struct peer_rec *a, const struct peer_rec *b)
{
	return !strcmp(a->name, b->name) && !memcmp(a->key, b->key, 32) && endpoint_equal(a, b) &&
	       prefixes_equal(a, b) && (json_equal(a->extra, b->extra) || (!a->extra && !b->extra));
}

static int rec_copy(struct peer_rec *dst, const struct peer_rec *src)
{
	*dst = *src;
	dst->prefixes = NULL;
	dst->extra = src->extra ? json_deep_copy(src->extra) : NULL;
	if (src->nprefixes) {
		dst->prefixes = malloc(src->nprefixes * sizeof(*dst->prefixes));
		if (!dst->prefixes) {
			json_decref(dst->extra);
			return -ENOMEM;
		}
		memcpy(dst->prefixes, src->prefixes, src->nprefixes * sizeof(*dst->prefixes));
	}
	return 0;
}

static int add_prefixes(struct peer_rec *r, json_t *list, const char *what, char *err, size_t errlen)
{
	size_t i;
	json_t *v;

	if (!list)
		return 0;
	if (!json_is_array(list)) {
		snprintf(err, errlen, "\"%s\" is not a list of prefixes", what);
		return -EINVAL;
	}
	json_array_foreach(list, i, v) {
		struct ipam_prefix p, *grown;

		if (!json_is_string(v) || ipam_prefix_parse(&p, json_string_value(v))) {
			char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);

			snprintf(err, errlen, "%s[%zu] %.80s is not a prefix (ADDRESS/LENGTH)", what, i, text ?: "?");
			free(text);
			return -EINVAL;
		}
		if (!(grown = realloc(r->prefixes, (r->nprefixes + 1) * sizeof(*grown))))
			return -ENOMEM;
		r->prefixes = grown;
		r->prefixes[r->nprefixes++] = p;
	}
	return 0;
}

int peer_rec_parse(struct peer_rec *r, const char *name, json_t *rec, json_t *extra_prefixes, char *err,
		   size_t errlen)
{
	json_t *eps = json_object_get(rec, "endpoints");
	const char *pub = json_string_value(json_object_get(rec, "publicKey"));
	int ret;

	memset(r, 0, sizeof(*r));
	if (!name || !*name || strlen(name) >= sizeof(r->name)) {
		snprintf(err, errlen, "a record without a usable name");
		return -EINVAL;
	}
	snprintf(r->name, sizeof(r->name), "%s", name);
	if (!pub || !key_from_base64(r->key, pub)) {
		snprintf(err, errlen, "\"publicKey\" is %s", pub ? "not a base64 WireGuard key" : "missing");
		return -EINVAL;
	}
	if (eps && (!json_is_array(eps) || (json_array_size(eps) && !json_is_string(json_array_get(eps, 0))))) {
		snprintf(err, errlen, "\"endpoints\" is not a list of HOST:PORT");
		return -EINVAL;
	}
	if (json_array_size(eps)) {
		const char *ep = json_string_value(json_array_get(eps, 0));

		if (addr_parse_endpoint(&r->endpoint, ep)) {
			snprintf(err, errlen, "endpoint \"%.80s\" is not ADDRESS:PORT", ep);
			return -EINVAL;
		}
		r->has_endpoint = true;
	}
	if ((ret = add_prefixes(r, json_object_get(rec, "subnets"), "subnets", err, errlen)) ||
	    (ret = add_prefixes(r, extra_prefixes, "routed", err, errlen))) {
		peer_rec_clear(r);
		return ret;
	}
	return 0;
}

json_t *peer_rec_json(const struct peer_rec *r)
{
	char key[KEY_B64_LEN], ep[ADDR_STRLEN], pfx[64];
	json_t *out, *subs = json_array();

	key_to_base64(key, r->key);
	for (size_t i = 0; i < r->nprefixes; ++i)
		json_array_append_new(subs, json_string(ipam_prefix_str(&r->prefixes[i], pfx, sizeof(pfx))));
	out = json_pack("{s:s, s:o, s:o}", "publicKey", key, "subnets", subs, "endpoints", json_array());
	if (out && r->has_endpoint)
		json_array_append_new(json_object_get(out, "endpoints"),
				      json_string(addr_format_endpoint(ep, &r->endpoint.sa)));
	if (out && r->extra)
		json_object_update_missing(out, r->extra);
	return out;
}

/* --- sets ------------------------------------------------------------------------------ */

void peer_set_clear(struct peer_set *s)
{
	for (size_t i = 0; i < s->n; ++i)
		peer_rec_clear(&s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* Where name is, or would go. */
static size_t locate(const struct peer_set *s, const char *name, bool *found)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(s->v[mid].name, name);

		if (!c) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

const struct peer_rec *peer_set_find(const struct peer_set *s, const char *name)
{
	bool found;
	size_t at = locate(s, name, &found);

	return found ? &s->v[at] : NULL;
}

const struct peer_rec *peer_set_find_key(const struct peer_set *s, const uint8_t key[32])
{
	for (size_t i = 0; i < s->n; ++i)
		if (!memcmp(s->v[i].key, key, 32))
			return &s->v[i];
	return NULL;
}

int peer_set_put(struct peer_set *s, struct peer_rec *r)
{
	bool found;
	size_t at = locate(s, r->name, &found);

	if (found) {
		peer_rec_clear(&s->v[at]);
	} else {
		if (s->n == s->cap) {
			size_t cap = s->cap ? s->cap * 2 : 16;
			struct peer_rec *v = realloc(s->v, cap * sizeof(*v));

			if (!v)
				return -ENOMEM;
			s->v = v;
			s->cap = cap;
		}
		memmove(&s->v[at + 1], &s->v[at], (s->n - at) * sizeof(*s->v));
		s->n++;
	}
	s->v[at] = *r;
	memset(r, 0, sizeof(*r));
	return 0;
}

void peer_set_del(struct peer_set *s, const char *name)
{
	bool found;
	size_t at = locate(s, name, &found);

	if (!found)
		return;
	peer_rec_clear(&s->v[at]);
	memmove(&s->v[at], &s->v[at + 1], (s->n - at - 1) * sizeof(*s->v));
	s->n--;
}

int peer_set_copy(struct peer_set *dst, const struct peer_set *src)
{
	memset(dst, 0, sizeof(*dst));
	if (!src->n)
		return 0;
	if (!(dst->v = calloc(src->n, sizeof(*dst->v))))
		return -ENOMEM;
	dst->cap = src->n;
	for (; dst->n < src->n; dst->n++)
		if (rec_copy(&dst->v[dst->n], &src->v[dst->n])) {
			peer_set_clear(dst);
			return -ENOMEM;
		}
	return 0;
}

json_t *peer_set_json(const struct peer_set *s)
{
	json_t *out = json_object();

	for (size_t i = 0; out && i < s->n; ++i)
		json_object_set_new(out, s->v[i].name, peer_rec_json(&s->v[i]));
	return out;
}

int peer_set_from_json(struct peer_set *s, json_t *obj, size_t *skipped)
{
	const char *name;
	json_t *rec;

	memset(s, 0, sizeof(*s));
	if (skipped)
		*skipped = 0;
	json_object_foreach(obj, name, rec) {
		struct peer_rec r;
		char err[200];
		json_t *extra = json_deep_copy(rec);

		if (peer_rec_parse(&r, name, rec, NULL, err, sizeof(err))) {
			json_decref(extra);
			if (skipped)
				++*skipped;
			continue;
		}
		json_object_del(extra, "publicKey");
		json_object_del(extra, "endpoints");
		json_object_del(extra, "subnets");
		if (json_object_size(extra))
			r.extra = extra;
		else
			json_decref(extra);
		if (peer_set_put(s, &r)) {
			peer_rec_clear(&r);
			peer_set_clear(s);
			return -ENOMEM;
		}
	}
	return 0;
}

/* --- change lists -------------------------------------------------------------------- */

static int take_one(struct peer_set *next, json_t *rec, const struct peer_take_opts *o)
{
	const char *name = json_string_value(json_object_get(rec, "name"));
	json_t *extra_prefixes = NULL;
	struct peer_rec r;
	char err[300];
	int ret;

	if (!name || (o->self && !strcmp(name, o->self)))
		return 0;
	if (o->need_endpoint && (!json_is_string(json_object_get(rec, "publicKey")) ||
				 !json_array_size(json_object_get(rec, "endpoints")))) {
		peer_set_del(next, name);
		return 0;
	}
	if (o->extra_prefixes)
		extra_prefixes = o->extra_prefixes(rec);
	ret = peer_rec_parse(&r, name, rec, extra_prefixes, err, sizeof(err));
	json_decref(extra_prefixes);
	if (ret == -ENOMEM)
		return ret;
	if (ret) {
		if (o->bad)
			o->bad(o->ctx, name, err);
		return 0;
	}
	for (const char *const *k = o->keep; k && *k; ++k) {
		json_t *v = json_object_get(rec, *k);

		if (!v)
			continue;
		if (!r.extra)
			r.extra = json_object();
		json_object_set_new(r.extra, *k, json_deep_copy(v));
	}
	if ((ret = peer_set_put(next, &r)))
		peer_rec_clear(&r);
	return ret;
}

int peer_set_take(struct peer_set *next, const struct peer_set *have, json_t *reply, const struct peer_take_opts *o)
{
	bool full = json_is_true(json_object_get(reply, "full"));
	json_t *rec, *v;
	size_t i;
	int ret;

	if (full) {
		/* A full list names every peer: what it leaves out has gone.
		 * A record it gets wrong keeps what we had for that name. */
		memset(next, 0, sizeof(*next));
		json_array_foreach(json_object_get(reply, "nodes"), i, rec) {
			const char *name = json_string_value(json_object_get(rec, "name"));
			const struct peer_rec *old = name ? peer_set_find(have, name) : NULL;
			struct peer_rec keep;

			if (!old)
				continue;
			if (rec_copy(&keep, old) || peer_set_put(next, &keep)) {
				peer_set_clear(next);
				return -ENOMEM;
			}
		}
	} else if ((ret = peer_set_copy(next, have))) {
		return ret;
	}
	json_array_foreach(json_object_get(reply, "nodes"), i, rec)
		if ((ret = take_one(next, rec, o))) {
			peer_set_clear(next);
			return ret;
		}
	json_array_foreach(json_object_get(reply, "removed"), i, v)
		if (json_is_string(v))
			peer_set_del(next, json_string_value(v));
	return 0;
}

/* --- the plan ------------------------------------------------------------------------------ */

static int push(void *vp, size_t *n, size_t size, const void *item)
{
	void **v = vp;
	char *grown = realloc(*v, (*n + 1) * size);

	if (!grown)
		return -ENOMEM;
	memcpy(grown + *n * size, item, size);
	*v = grown;
	++*n;
	return 0;
}

static int event(struct plan *p, enum peer_event_kind kind, const char *name)
{
	struct peer_event e = { .kind = kind };

	snprintf(e.name, sizeof(e.name), "%s", name);
	return push(&p->events, &p->nevents, sizeof(e), &e);
}

static int remove_peer(struct plan *p, const uint8_t key[32])
{
	struct wg_config_peer *wp = wg_config_add_peer(p->cfg);

	if (!wp)
		return -ENOMEM;
	memcpy(wp->public_key, key, 32);
	wp->flags = WG_PEER_REMOVE_ME;
	return 0;
}

static int set_peer(struct plan *p, const struct peer_rec *r, uint16_t keepalive)
{
	struct wg_config_peer *wp = wg_config_add_peer(p->cfg);

	if (!wp)
		return -ENOMEM;
	memcpy(wp->public_key, r->key, 32);
	wp->flags = WG_PEER_REPLACE_ALLOWEDIPS;
	if (keepalive) {
		wp->flags |= WG_PEER_HAS_PERSISTENT_KEEPALIVE;
		wp->persistent_keepalive = keepalive;
	}
	if (r->has_endpoint) {
		wp->flags |= WG_PEER_HAS_ENDPOINT;
		memcpy(&wp->endpoint, &r->endpoint, sizeof(wp->endpoint));
	}
	for (size_t i = 0; i < r->nprefixes; ++i)
		if (!wg_config_add_ip(wp, r->prefixes[i].family, &r->prefixes[i].addr, r->prefixes[i].len))
			return -ENOMEM;
	return 0;
}

static bool routes_prefix(const struct peer_rec *r, const struct ipam_prefix *x)
{
	for (size_t i = 0; r && i < r->nprefixes; ++i)
		if (prefix_equal(&r->prefixes[i], x))
			return true;
	return false;
}

static bool key_listed(const uint8_t (*keys)[32], size_t n, const uint8_t key[32])
{
	for (size_t i = 0; i < n; ++i)
		if (!memcmp(keys[i], key, 32))
			return true;
	return false;
}

/* Keys are ordered as their base64 texts, as weft has always ordered them:
 * nodes of two versions still agree which of them starts. */
static bool key_after(const uint8_t a[32], const uint8_t b[32])
{
	char ta[KEY_B64_LEN], tb[KEY_B64_LEN];

	key_to_base64(ta, a);
	key_to_base64(tb, b);
	return strcmp(ta, tb) > 0;
}

static int plan_make(const struct reconcile_in *in, struct plan *p)
{
	const struct peer_set *want = in->want, *have = in->have;
	int ret;

	/* Peers gone, or there under a new key. */
	for (size_t i = 0; i < have->n; ++i) {
		const struct peer_rec *old = &have->v[i], *rec = peer_set_find(want, old->name);

		if (!rec || memcmp(rec->key, old->key, 32)) {
			/* The key may have moved to another name: then it stays. */
			if (!peer_set_find_key(want, old->key) && (ret = remove_peer(p, old->key)))
				return ret;
			if (!rec && (ret = event(p, PEER_LEFT, old->name)))
				return ret;
		}
		/* Its routes no peer routes any more. */
		for (size_t j = 0; !in->no_routes && j < old->nprefixes; ++j) {
			const struct ipam_prefix *x = &old->prefixes[j];
			bool kept = false;

			if (routes_prefix(rec, x))
				continue;
			for (size_t k = 0; k < want->n && !kept; ++k)
				kept = routes_prefix(&want->v[k], x);
			if (!kept && (ret = push(&p->route_del, &p->nroute_del, sizeof(*x), x)))
				return ret;
		}
	}
	/* Strays: on the device, in no set. */
	for (size_t i = 0; in->device && i < in->ndevice; ++i) {
		const uint8_t *key = in->device[i];

		if (peer_set_find_key(want, key) || key_listed(in->others, in->nothers, key) ||
		    (peer_set_find_key(have, key) && !peer_set_find_key(want, key)))
			continue;
		if ((ret = remove_peer(p, key)) || (ret = event(p, PEER_STRAY, "")))
			return ret;
	}
	/* Peers new or changed. */
	for (size_t i = 0; i < want->n; ++i) {
		const struct peer_rec *rec = &want->v[i], *old = peer_set_find(have, rec->name);
		bool fresh, later;

		if (old && peer_rec_equal(old, rec)) {
			if (!in->all_routes)
				continue;
		} else {
			fresh = !old || memcmp(old->key, rec->key, 32);
			/* The smaller key starts at once; the greater waits. A
			 * peer with no endpoint (an external client, which dials
			 * in) is not kept alive: there is nowhere to send to. */
			later = fresh && rec->has_endpoint && in->mine && key_after(in->mine, rec->key);
			if ((ret = set_peer(p, rec, !rec->has_endpoint || later ? 0 : in->keepalive)))
				return ret;
			if (later) {
				struct kickoff k = { .due_ms = in->now_ms + in->delay_ms };

				memcpy(k.key, rec->key, 32);
				if ((ret = kickoff_add(&p->kickoffs, &p->nkickoffs, &k)))
					return ret;
			}
			if ((ret = event(p, !old ? PEER_JOINED : fresh ? PEER_REKEYED : PEER_MOVED, rec->name)))
				return ret;
		}
		for (size_t j = 0; !in->no_routes && j < rec->nprefixes; ++j)
			if ((ret = push(&p->route_add, &p->nroute_add, sizeof(rec->prefixes[j]), &rec->prefixes[j])))
				return ret;
	}
	return 0;
}

int reconcile(const struct reconcile_in *in, struct plan *out)
{
	int ret;

	memset(out, 0, sizeof(*out));
	if (!(out->cfg = wg_config_new()))
		return -ENOMEM;
	if ((ret = plan_make(in, out)))
		plan_free(out);
	return ret;
}

void plan_free(struct plan *p)
{
	wg_config_free(p->cfg);
	free(p->route_del);
	free(p->route_add);
	free(p->kickoffs);
	free(p->events);
	memset(p, 0, sizeof(*p));
}

/* --- delayed keepalives ----------------------------------------------------------------- */

void kickoff_drop(struct kickoff *pending, size_t *n, const uint8_t key[32])
{
	for (size_t i = 0; i < *n; ++i)
		if (!memcmp(pending[i].key, key, 32)) {
			memmove(&pending[i], &pending[i + 1], (*n - i - 1) * sizeof(*pending));
			--*n;
			return;
		}
}

int kickoff_add(struct kickoff **pending, size_t *n, const struct kickoff *k)
{
	kickoff_drop(*pending, n, k->key);
	return push(pending, n, sizeof(*k), k);
}

int64_t kickoff_due(struct kickoff *pending, size_t *n, int64_t now_ms, uint16_t keepalive, struct wg_config *cfg)
{
	int64_t next = INT64_MAX;

	for (size_t i = 0; i < *n;) {
		struct wg_config_peer *wp;

		if (pending[i].due_ms > now_ms) {
			if (pending[i].due_ms < next)
				next = pending[i].due_ms;
			++i;
			continue;
		}
		if (cfg && (wp = wg_config_add_peer(cfg))) {
			memcpy(wp->public_key, pending[i].key, 32);
			wp->flags = WG_PEER_UPDATE_ONLY | WG_PEER_HAS_PERSISTENT_KEEPALIVE;
			wp->persistent_keepalive = keepalive;
		}
		memmove(&pending[i], &pending[i + 1], (*n - i - 1) * sizeof(*pending));
		--*n;
	}
	return next;
}

const char *peer_event_name(enum peer_event_kind k)
{
	switch (k) {
	case PEER_JOINED:
		return "joined";
	case PEER_REKEYED:
		return "has a new key";
	case PEER_MOVED:
		return "moved";
	case PEER_LEFT:
		return "left";
	case PEER_STRAY:
		return "stray";
	}
	return "?";
}
