// SPDX-License-Identifier: MIT
/*
 * The manager follows the store's /weft/ with one watch and keeps what the
 * agents need of it: every node's and every external client's record with
 * its mod_rev, and the revision at which each removed one left. A long
 * poll asking for changes after revision R gets the nodes and clients
 * changed and removed since R, not the whole cluster; one that fell behind
 * the cache's memory, or asks about a revision the store has not reached,
 * gets everything, marked "full". On etcd, changes made through another
 * manager arrive the same way, so every manager answers alike.
 *
 * The rest of /weft/ (heartbeats, the gateway lease, subnets) passes
 * through the watch without moving the revision the agents are told:
 * a heartbeat must not wake every long poll.
 */
#include "api.h"
#include "manager.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
	WATCH_WAIT_MS = 1000, /* also how often stopping is noticed */
	REMOVED_KEEP = 10000, /* removals remembered for deltas */
};

static pthread_t thread;

/* Reads the records under prefix into recs (name -> {"rev", field: record}). */
static int load(struct manager *m, const char *prefix, json_t *recs, const char *field, int64_t *rev)
{
	struct kv_list l;
	int ret = kv_range(m->kv, prefix, &l);

	if (ret)
		return ret;
	for (size_t i = 0; i < l.n; ++i) {
		json_t *rec = json_loads(l.items[i].value, 0, NULL);

		if (rec)
			json_object_set_new(recs, l.items[i].key + strlen(prefix),
					    json_pack("{s:I, s:o}", "rev", (json_int_t)l.items[i].mod_rev, field, rec));
	}
	*rev = l.rev;
	kv_list_free(&l);
	return 0;
}

/* Reads every node and client afresh: at start, and when the store's
 * history no longer reaches back to what we saw (-ERANGE). The watch goes
 * on from the first read's revision: what changed between the two reads
 * comes again, and is taken again alike. With m->lock held. */
static int reload(struct manager *m)
{
	int64_t rev, rev2;
	int ret;

	json_object_clear(m->nodes);
	json_object_clear(m->removed);
	json_object_clear(m->clients);
	json_object_clear(m->clients_removed);
	if ((ret = load(m, CLUSTER_NODES, m->nodes, "node", &rev)) ||
	    (ret = load(m, CLUSTER_CLIENTS, m->clients, "client", &rev2)))
		return ret;
	m->rev = m->base = m->watched = rev;
	pthread_cond_broadcast(&m->changed);
	return 0;
}

/* A client's record changed or went. */
static void apply_client(struct manager *m, const struct kv_event *e)
{
	const char *name = e->item.key + strlen(CLUSTER_CLIENTS);
	json_t *rec;

	if (e->deleted) {
		json_object_del(m->clients, name);
		json_object_set_new(m->clients_removed, name, json_integer(e->item.mod_rev));
	} else if ((rec = json_loads(e->item.value, 0, NULL))) {
		json_object_del(m->clients_removed, name);
		json_object_set_new(m->clients, name,
				    json_pack("{s:I, s:o}", "rev", (json_int_t)e->item.mod_rev, "client", rec));
	}
}

/* Removals older than REMOVED_KEEP revisions are forgotten; the base
 * moves past them: older pollers get everything. */
static void forget(struct manager *m, json_t *removed)
{
	const char *name;
	json_t *rev;
	void *tmp;

	if (json_object_size(removed) <= REMOVED_KEEP)
		return;
	json_object_foreach_safe(removed, tmp, name, rev) {
		if (json_integer_value(rev) <= m->rev - REMOVED_KEEP) {
			if (json_integer_value(rev) > m->base)
				m->base = json_integer_value(rev);
			json_object_del(removed, name);
		}
	}
}

static void apply(struct manager *m, const struct kv_events *ev)
{
	bool news = false;

	for (size_t i = 0; i < ev->n; ++i) {
		const struct kv_event *e = &ev->events[i];
		const char *name = e->item.key + strlen(CLUSTER_NODES);
		json_t *rec;

		if (!strncmp(e->item.key, CLUSTER_CLIENTS, strlen(CLUSTER_CLIENTS))) {
			apply_client(m, e);
			news = true;
			continue;
		}
		if (strncmp(e->item.key, CLUSTER_NODES, strlen(CLUSTER_NODES)))
			continue; /* not the agents' business */
		news = true;
		if (e->deleted) {
			auth_forget_node(name);
			json_object_del(m->nodes, name);
			json_object_set_new(m->removed, name, json_integer(e->item.mod_rev));
		} else if ((rec = json_loads(e->item.value, 0, NULL))) {
			json_t *had = json_object_get(json_object_get(json_object_get(m->nodes, name), "node"),
						      "credentialRotation"),
			       *has = json_object_get(rec, "credentialRotation");

			/* A credential rotated (here or on another manager):
			 * the old one must not live on in our cache. */
			if ((had || has) && !json_equal(had, has))
				auth_forget_node(name);
			json_object_del(m->removed, name);
			json_object_set_new(m->nodes, name,
					    json_pack("{s:I, s:o}", "rev", (json_int_t)e->item.mod_rev, "node", rec));
		}
	}
	m->watched = ev->rev;
	if (!news)
		return;
	m->rev = ev->rev;
	forget(m, m->removed);
	forget(m, m->clients_removed);
	pthread_cond_broadcast(&m->changed);
}

static void *run(void *arg)
{
	struct manager *m = arg;

	for (;;) {
		struct kv_events ev = { 0 };
		int64_t after;
		bool stop;
		int ret;

		pthread_mutex_lock(&m->lock);
		after = m->watched;
		stop = m->stopping;
		pthread_mutex_unlock(&m->lock);
		if (stop)
			break;
		ret = kv_watch(m->kv, CLUSTER_PREFIX, after, WATCH_WAIT_MS, &ev);
		pthread_mutex_lock(&m->lock);
		if (!ret && ev.n)
			apply(m, &ev);
		else if (ret == -ERANGE)
			ret = reload(m);
		pthread_mutex_unlock(&m->lock);
		kv_events_free(&ev);
		server_wake(m, false); /* the changed, and those whose time is up */
		if (ret && ret != -ERANGE) {
			manager_logl(m, LOG_WARNING, "watching the store: %s; retrying", kv_error());
			sleep(1);
		}
	}
	return NULL;
}

int watch_start(struct manager *m, char *err, size_t errlen)
{
	int ret;

	m->nodes = json_object();
	m->removed = json_object();
	m->clients = json_object();
	m->clients_removed = json_object();
	pthread_mutex_lock(&m->lock);
	ret = reload(m);
	pthread_mutex_unlock(&m->lock);
	if (ret) {
		snprintf(err, errlen, "reading the nodes and clients: %s", kv_error());
		return ret;
	}
	if ((ret = pthread_create(&thread, NULL, run, m))) {
		snprintf(err, errlen, "cannot start the watch: %s", strerror(ret));
		return -ret;
	}
	return 0;
}

/* Stops following the store; the cache stays for the API until
 * watch_free(). */
void watch_stop(struct manager *m)
{
	pthread_mutex_lock(&m->lock);
	m->stopping = true;
	pthread_mutex_unlock(&m->lock);
	pthread_join(thread, NULL);
}

void watch_free(struct manager *m)
{
	for (unsigned i = 0; i < TEXT_CACHE; ++i) {
		text_put(m->cache[i].text);
		m->cache[i].text = NULL;
	}
	json_decref(m->nodes);
	json_decref(m->removed);
	json_decref(m->clients);
	json_decref(m->clients_removed);
	m->nodes = m->removed = m->clients = m->clients_removed = NULL;
}

/* With m->lock held. */
json_t *watch_changes(struct manager *m, int64_t since)
{
	/* Before what we know, or after it (a store that went back: restored
	 * from a backup, or a manager lagging behind another): everything. */
	bool full = since < m->base || since > m->rev;
	json_t *nodes = json_array(), *removed = json_array(), *clients = json_array(), *gone = json_array(), *v;
	const char *name;

	json_object_foreach(m->nodes, name, v)
		if (full || json_integer_value(json_object_get(v, "rev")) > since)
			json_array_append(nodes, json_object_get(v, "node"));
	json_object_foreach(m->clients, name, v)
		if (full || json_integer_value(json_object_get(v, "rev")) > since)
			json_array_append(clients, json_object_get(v, "client"));
	if (!full) {
		json_object_foreach(m->removed, name, v)
			if (json_integer_value(v) > since)
				json_array_append_new(removed, json_string(name));
		json_object_foreach(m->clients_removed, name, v)
			if (json_integer_value(v) > since)
				json_array_append_new(gone, json_string(name));
	}
	return json_pack("{s:I, s:b, s:o, s:o, s:o, s:o, s:o*}", "revision", (json_int_t)m->rev, "full", full, "nodes",
			 nodes, "removed", removed, "clients", clients, "removedClients", gone, "clusterCIDRs",
			 full ? nodes_cluster_cidrs(m) : NULL);
}

void text_put(struct text *t)
{
	if (t && atomic_fetch_sub(&t->refs, 1) == 1)
		free(t);
}

static struct text *text_of(json_t *body)
{
	char *s = json_dumps(body, JSON_COMPACT);
	size_t len = s ? strlen(s) : 0;
	struct text *t = s ? malloc(sizeof(*t) + len + 1) : NULL;

	if (t) {
		atomic_init(&t->refs, 1);
		memcpy(t->data, s, len);
		t->data[len] = '\n';
		t->len = len + 1;
	}
	free(s);
	return t;
}

struct text *watch_changes_text(struct manager *m, int64_t since)
{
	struct text *t;
	json_t *body;
	unsigned slot;

	if (since < m->base || since > m->rev)
		since = -1; /* everything: one answer for all who need it */
	if (m->cache_rev != m->rev) {
		for (unsigned i = 0; i < TEXT_CACHE; ++i) {
			text_put(m->cache[i].text);
			m->cache[i].text = NULL;
		}
		m->cache_rev = m->rev;
	}
	for (unsigned i = 0; i < TEXT_CACHE; ++i)
		if (m->cache[i].text && m->cache[i].since == since) {
			atomic_fetch_add(&m->cache[i].text->refs, 1);
			return m->cache[i].text;
		}
	body = watch_changes(m, since < 0 ? m->base - 1 : since);
	t = text_of(body);
	json_decref(body);
	if (!t)
		return NULL;
	slot = m->cache_next++ % TEXT_CACHE;
	text_put(m->cache[slot].text);
	m->cache[slot].since = since;
	m->cache[slot].text = t;
	atomic_fetch_add(&t->refs, 1);
	return t;
}
