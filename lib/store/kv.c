// SPDX-License-Identifier: MIT
/* The store's front: picks a backend from the URL, and the shorthands. */
#include "store/kv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static __thread char error[512];

const char *kv_error(void)
{
	return error;
}

int kv_fail(int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(error, sizeof(error), fmt, ap);
	va_end(ap);
	return ret;
}

struct kv *kv_open(const char *url, char *err, size_t errlen)
{
	if (!strncmp(url, "sqlite:", 7))
		return kv_sqlite_open(url + 7, err, errlen);
	if (!strncmp(url, "etcd:", 5))
		return kv_etcd_open(url + 5, err, errlen);
	snprintf(err, errlen, "store \"%s\": say sqlite:PATH or etcd:http://HOST:PORT[,...]", url);
	errno = EINVAL;
	return NULL;
}

void kv_close(struct kv *kv)
{
	if (kv)
		kv->ops->close(kv);
}

int kv_get(struct kv *kv, const char *key, struct kv_item *out)
{
	memset(out, 0, sizeof(*out));
	return kv->ops->get(kv, key, out);
}

int kv_range(struct kv *kv, const char *prefix, struct kv_list *out)
{
	memset(out, 0, sizeof(*out));
	return kv->ops->range(kv, prefix, out);
}

int kv_revision(struct kv *kv, int64_t *rev)
{
	return kv->ops->revision(kv, rev);
}

int kv_txn(struct kv *kv, const struct kv_cond *conds, size_t nconds, const struct kv_op *ops, size_t nops,
	   int64_t *rev)
{
	int64_t dummy;

	return kv->ops->txn(kv, conds, nconds, ops, nops, rev ? rev : &dummy);
}

int kv_watch(struct kv *kv, const char *prefix, int64_t after, int timeout_ms, struct kv_events *out)
{
	memset(out, 0, sizeof(*out));
	return kv->ops->watch(kv, prefix, after, timeout_ms, out);
}

int kv_put(struct kv *kv, const char *key, const char *value, size_t len, int64_t *rev)
{
	struct kv_op op = { KV_PUT, key, value, len };

	return kv_txn(kv, NULL, 0, &op, 1, rev);
}

int kv_create(struct kv *kv, const char *key, const char *value, size_t len, int64_t *rev)
{
	struct kv_cond cond = { key, 0 };
	struct kv_op op = { KV_PUT, key, value, len };

	return kv_txn(kv, &cond, 1, &op, 1, rev);
}

int kv_delete(struct kv *kv, const char *key, int64_t *rev)
{
	struct kv_op op = { KV_DELETE, key, NULL, 0 };

	return kv_txn(kv, NULL, 0, &op, 1, rev);
}

void kv_item_free(struct kv_item *item)
{
	if (!item)
		return;
	free(item->key);
	free(item->value);
	item->key = item->value = NULL;
}

void kv_list_free(struct kv_list *list)
{
	if (!list)
		return;
	for (size_t i = 0; i < list->n; ++i)
		kv_item_free(&list->items[i]);
	free(list->items);
	list->items = NULL;
	list->n = 0;
}

void kv_events_free(struct kv_events *ev)
{
	if (!ev)
		return;
	for (size_t i = 0; i < ev->n; ++i)
		kv_item_free(&ev->events[i].item);
	free(ev->events);
	ev->events = NULL;
	ev->n = 0;
}
