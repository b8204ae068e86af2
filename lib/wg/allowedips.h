/* SPDX-License-Identifier: MIT */
/*
 * Cryptokey routing: a path-compressed binary trie per address family that
 * maps prefixes to their owner (a peer), with longest-prefix match. An owner
 * embeds a struct wg_aip_owner, which lists its prefixes in insertion order.
 * Not thread-safe: the device serializes writers against readers.
 */
#ifndef WEFT_WG_ALLOWEDIPS_H
#define WEFT_WG_ALLOWEDIPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/list.h"

struct wg_aip_node;

struct wg_aip_owner {
	struct list nodes;
};

struct wg_allowedips {
	struct wg_aip_node *root4, *root6;
	size_t count;
};

void wg_allowedips_init(struct wg_allowedips *t);
void wg_allowedips_free(struct wg_allowedips *t);
void wg_aip_owner_init(struct wg_aip_owner *o);

/* Maps family/addr/cidr to owner, taking the prefix from any previous owner.
 * Host bits beyond cidr are ignored. Returns 0, -EINVAL or -ENOMEM. */
int wg_allowedips_insert(struct wg_allowedips *t, int family, const void *addr, uint8_t cidr,
			 struct wg_aip_owner *owner);
/* Removes the exact prefix if owner holds it; returns true if it did. */
bool wg_allowedips_remove(struct wg_allowedips *t, int family, const void *addr, uint8_t cidr,
			  struct wg_aip_owner *owner);
void wg_allowedips_remove_owner(struct wg_allowedips *t, struct wg_aip_owner *owner);
/* Longest-prefix match of a full address (4 or 16 bytes). */
struct wg_aip_owner *wg_allowedips_lookup(const struct wg_allowedips *t, int family, const void *addr);

/* Iterates over an owner's prefixes in insertion order. */
typedef int (*wg_aip_visit_fn)(void *ctx, int family, const uint8_t *addr, uint8_t cidr);
int wg_allowedips_walk_owner(const struct wg_aip_owner *owner, wg_aip_visit_fn fn, void *ctx);

#endif
