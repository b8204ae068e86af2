// SPDX-License-Identifier: MIT
#include "allowedips.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/*
 * Every node holds a prefix (key, cidr). A node either has an owner or is a
 * branch point with two children; no ownerless node has fewer than two
 * children, so the trie never holds more than 2n - 1 nodes. Children are
 * indexed by the key's bit at position cidr.
 */
struct wg_aip_node {
	struct wg_aip_node *child[2];
	struct wg_aip_node *parent;
	struct wg_aip_owner *owner;
	struct list owner_link;
	uint8_t cidr;
	uint8_t family;
	uint8_t key[16];
};

static unsigned bits_of(int family)
{
	return family == AF_INET ? 32 : 128;
}

static unsigned bit_at(const uint8_t *key, unsigned i)
{
	return (key[i / 8] >> (7 - i % 8)) & 1;
}

static void mask(uint8_t *out, const uint8_t *in, unsigned cidr, unsigned len)
{
	for (unsigned i = 0; i < len; ++i) {
		if (cidr >= 8 * (i + 1))
			out[i] = in[i];
		else if (cidr <= 8 * i)
			out[i] = 0;
		else
			out[i] = in[i] & (uint8_t)(0xff << (8 - (cidr - 8 * i)));
	}
}

/* Number of leading bits a and b share, at most max. */
static unsigned common_bits(const uint8_t *a, const uint8_t *b, unsigned max)
{
	unsigned n = 0;

	for (unsigned i = 0; n < max; ++i, n += 8) {
		uint8_t x = a[i] ^ b[i];

		if (x) {
			n += (unsigned)__builtin_clz(x) - 24;
			break;
		}
	}
	return n < max ? n : max;
}

void wg_allowedips_init(struct wg_allowedips *t)
{
	t->root4 = t->root6 = NULL;
	t->count = 0;
}

void wg_aip_owner_init(struct wg_aip_owner *o)
{
	list_init(&o->nodes);
}

static void free_subtree(struct wg_aip_node *n)
{
	/* Iterative, so a deep IPv6 trie cannot exhaust the stack. */
	while (n) {
		if (n->child[0]) {
			n = n->child[0];
			n->parent->child[0] = NULL;
		} else if (n->child[1]) {
			n = n->child[1];
			n->parent->child[1] = NULL;
		} else {
			struct wg_aip_node *p = n->parent;

			if (n->owner)
				list_del(&n->owner_link);
			free(n);
			n = p;
		}
	}
}

void wg_allowedips_free(struct wg_allowedips *t)
{
	free_subtree(t->root4);
	free_subtree(t->root6);
	wg_allowedips_init(t);
}

static struct wg_aip_node **root_of(struct wg_allowedips *t, int family)
{
	return family == AF_INET ? &t->root4 : &t->root6;
}

static struct wg_aip_node **link_of(struct wg_allowedips *t, struct wg_aip_node *n)
{
	if (!n->parent)
		return root_of(t, n->family);
	return &n->parent->child[n->parent->child[1] == n];
}

static struct wg_aip_node *node_new(int family, const uint8_t *key, unsigned cidr)
{
	struct wg_aip_node *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->family = (uint8_t)family;
	n->cidr = (uint8_t)cidr;
	mask(n->key, key, cidr, bits_of(family) / 8);
	list_init(&n->owner_link);
	return n;
}

static void set_owner(struct wg_allowedips *t, struct wg_aip_node *n, struct wg_aip_owner *owner)
{
	if (n->owner)
		list_del(&n->owner_link);
	else
		++t->count;
	n->owner = owner;
	list_add_tail(&n->owner_link, &owner->nodes);
}

static void attach(struct wg_aip_node *parent, struct wg_aip_node *child)
{
	parent->child[bit_at(child->key, parent->cidr)] = child;
	child->parent = parent;
}

int wg_allowedips_insert(struct wg_allowedips *t, int family, const void *addr, uint8_t cidr,
			 struct wg_aip_owner *owner)
{
	unsigned maxbits, c;
	uint8_t key[16];
	struct wg_aip_node **link, *n, *parent = NULL, *fresh, *branch;

	if ((family != AF_INET && family != AF_INET6) || !owner)
		return -EINVAL;
	maxbits = bits_of(family);
	if (cidr > maxbits)
		return -EINVAL;
	mask(key, addr, cidr, maxbits / 8);

	link = root_of(t, family);
	for (n = *link; n; parent = n, link = &n->child[bit_at(key, n->cidr)], n = *link) {
		c = common_bits(n->key, key, n->cidr < cidr ? n->cidr : cidr);
		if (c == n->cidr && c == cidr) {
			set_owner(t, n, owner);
			return 0;
		}
		if (c == n->cidr)
			continue; /* n is a strict prefix of key: descend */
		/* The new prefix diverges from n, or contains it. */
		fresh = node_new(family, key, cidr);
		if (!fresh)
			return -ENOMEM;
		if (c == cidr) {
			/* key/cidr contains n: it becomes n's parent. */
			*link = fresh;
			fresh->parent = parent;
			attach(fresh, n);
		} else {
			branch = node_new(family, key, c);
			if (!branch) {
				free(fresh);
				return -ENOMEM;
			}
			*link = branch;
			branch->parent = parent;
			attach(branch, n);
			attach(branch, fresh);
		}
		set_owner(t, fresh, owner);
		return 0;
	}
	fresh = node_new(family, key, cidr);
	if (!fresh)
		return -ENOMEM;
	*link = fresh;
	fresh->parent = parent;
	set_owner(t, fresh, owner);
	return 0;
}

/* Drops n's owner and removes whatever nodes are no longer needed. */
static void release(struct wg_allowedips *t, struct wg_aip_node *n)
{
	list_del(&n->owner_link);
	n->owner = NULL;
	--t->count;
	while (n && !n->owner) {
		struct wg_aip_node *parent = n->parent, **link = link_of(t, n);

		if (n->child[0] && n->child[1])
			return;
		if (n->child[0] || n->child[1]) {
			struct wg_aip_node *only = n->child[0] ? n->child[0] : n->child[1];

			*link = only;
			only->parent = parent;
			free(n);
			return;
		}
		*link = NULL;
		free(n);
		n = parent;
	}
}

bool wg_allowedips_remove(struct wg_allowedips *t, int family, const void *addr, uint8_t cidr,
			  struct wg_aip_owner *owner)
{
	unsigned maxbits;
	uint8_t key[16];
	struct wg_aip_node *n;

	if (family != AF_INET && family != AF_INET6)
		return false;
	maxbits = bits_of(family);
	if (cidr > maxbits)
		return false;
	mask(key, addr, cidr, maxbits / 8);
	for (n = *root_of(t, family); n; n = n->child[bit_at(key, n->cidr)]) {
		if (n->cidr > cidr || common_bits(n->key, key, n->cidr) != n->cidr)
			return false;
		if (n->cidr == cidr) {
			if (n->owner != owner)
				return false;
			release(t, n);
			return true;
		}
	}
	return false;
}

void wg_allowedips_remove_owner(struct wg_allowedips *t, struct wg_aip_owner *owner)
{
	while (!list_empty(&owner->nodes))
		release(t, list_entry(owner->nodes.next, struct wg_aip_node, owner_link));
}

struct wg_aip_owner *wg_allowedips_lookup(const struct wg_allowedips *t, int family, const void *addr)
{
	const struct wg_aip_node *n = family == AF_INET ? t->root4 : family == AF_INET6 ? t->root6 : NULL;
	struct wg_aip_owner *best = NULL;
	unsigned maxbits = bits_of(family);

	while (n && common_bits(n->key, addr, n->cidr) == n->cidr) {
		if (n->owner)
			best = n->owner;
		if (n->cidr == maxbits)
			break;
		n = n->child[bit_at(addr, n->cidr)];
	}
	return best;
}

int wg_allowedips_walk_owner(const struct wg_aip_owner *owner, wg_aip_visit_fn fn, void *ctx)
{
	const struct list *pos;
	int ret;

	list_for_each(pos, &owner->nodes) {
		const struct wg_aip_node *n = list_entry(pos, struct wg_aip_node, owner_link);

		ret = fn(ctx, n->family, n->key, n->cidr);
		if (ret)
			return ret;
	}
	return 0;
}
