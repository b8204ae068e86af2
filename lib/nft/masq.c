// SPDX-License-Identifier: MIT
#include "nft/masq.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nft/nft.h"
#include "util/buf.h"

/* A network of its family: what nft's interval sets take without
 * complaint, and the only thing we ever format into a command. */
static bool prefix_ok(const struct ipam_prefix *p)
{
	const uint8_t *b;
	unsigned bytes;

	if (p->family == AF_INET && p->len <= 32) {
		b = (const uint8_t *)&p->addr.v4;
		bytes = 4;
	} else if (p->family == AF_INET6 && p->len <= 128) {
		b = p->addr.v6.s6_addr;
		bytes = 16;
	} else {
		return false;
	}
	for (unsigned i = 0; i < bytes; ++i) {
		unsigned keep = p->len >= (i + 1) * 8 ? 8 : p->len > i * 8 ? p->len - i * 8 : 0;
		uint8_t host = keep == 8 ? 0 : (uint8_t)(0xff >> keep);

		if (b[i] & host)
			return false;
	}
	return true;
}

/* A refused prefix, for the message: its address and length when the
 * family is one we can print, else the family's number. */
static const char *bad_str(const struct ipam_prefix *p, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if ((p->family == AF_INET || p->family == AF_INET6) && inet_ntop(p->family, &p->addr, a, sizeof(a)))
		snprintf(buf, len, "%s/%u", a, p->len);
	else
		snprintf(buf, len, "family %d", p->family);
	return buf;
}

static bool same(const struct ipam_prefix *a, const struct ipam_prefix *b)
{
	return a->family == b->family && a->len == b->len &&
	       !memcmp(&a->addr, &b->addr, a->family == AF_INET ? 4 : 16);
}

/* "add set inet weft NAME {...}" and its elements of family, if any. */
static int add_set(struct buf *b, const char *name, int family, const struct ipam_prefix *v, size_t n)
{
	char text[64];
	bool first = true;
	int ret;

	ret = buf_printf(b, "add set " NFT_MASQ_TABLE " %s { type %s; flags interval; auto-merge; }\n", name,
			 family == AF_INET ? "ipv4_addr" : "ipv6_addr");
	for (size_t i = 0; !ret && i < n; ++i) {
		bool dup = false;

		if (v[i].family != family)
			continue;
		for (size_t k = 0; k < i; ++k)
			dup |= same(&v[k], &v[i]);
		if (dup)
			continue;
		if (first)
			ret = buf_printf(b, "add element " NFT_MASQ_TABLE " %s { ", name);
		if (!ret)
			ret = buf_printf(b, "%s%s", first ? "" : ", ", ipam_prefix_str(&v[i], text, sizeof(text)));
		first = false;
	}
	if (!ret && !first)
		ret = buf_printf(b, " }\n");
	return ret;
}

char *nft_masq_format(const struct nft_masq *m, char *err, size_t errlen)
{
	static const char *const what[] = { "pod subnet", "node address", "excluded CIDR", "direct pod address" };
	static const char *const set[] = { "pods", "nodes", "keep", "direct" };
	static const struct {
		int family;
		const char *match, *digit;
	} fam[] = { { AF_INET, "ip", "4" }, { AF_INET6, "ip6", "6" } };
	/* In the order of what[] and set[]. */
	const struct {
		const struct ipam_prefix *v;
		size_t n;
	} list[] = { { m->pods, m->npods }, { m->nodes, m->nnodes }, { m->keep, m->nkeep }, { m->direct, m->ndirect } };
	struct buf b = { 0 };
	bool has[2] = { false, false };
	char text[64];
	int ret = 0;

	for (int l = 0; l < 4; ++l) {
		size_t n = list[l].n;
		const struct ipam_prefix *v = list[l].v;

		for (size_t i = 0; i < n; ++i) {
			if (!prefix_ok(&v[i])) {
				snprintf(err, errlen, "%s %zu (%s): not an IPv4 or IPv6 network", what[l], i,
					 bad_str(&v[i], text, sizeof(text)));
				errno = EINVAL;
				return NULL;
			}
			if (l == 0)
				has[v[i].family == AF_INET6] = true;
		}
	}
	if (!has[0] && !has[1]) {
		snprintf(err, errlen, "no pod subnet to masquerade from");
		errno = EINVAL;
		return NULL;
	}
	/* Added first, so the delete finds it: the whole replacement is one
	 * transaction, which the kernel applies entirely or not at all. */
	ret = buf_printf(&b, "add table " NFT_MASQ_TABLE "\ndelete table " NFT_MASQ_TABLE "\nadd table " NFT_MASQ_TABLE
			     "\n");
	for (int f = 0; !ret && f < 2; ++f) {
		for (int l = 0; !ret && has[f] && l < (m->everywhere ? 4 : 2); ++l) {
			char name[16];

			snprintf(name, sizeof(name), "%s%s", set[l], fam[f].digit);
			ret = add_set(&b, name, fam[f].family, list[l].v, list[l].n);
		}
	}
	if (!ret)
		ret = buf_printf(&b, "add chain " NFT_MASQ_TABLE " postrouting { type nat hook postrouting priority "
				     "srcnat; policy accept; }\n");
	for (int f = 0; !ret && f < 2; ++f) {
		const char *ip = fam[f].match, *d = fam[f].digit;

		if (!has[f])
			continue;
		ret = buf_printf(&b, "add rule " NFT_MASQ_TABLE " postrouting %s saddr @pods%s %s daddr @nodes%s masquerade\n",
				 ip, d, ip, d);
		if (!ret && m->everywhere)
			ret = buf_printf(&b, "add rule " NFT_MASQ_TABLE " postrouting %s saddr @pods%s %s saddr != @direct%s "
					     "%s daddr != @keep%s masquerade\n", ip, d, ip, d, ip, d);
	}
	if (ret) {
		buf_free(&b);
		snprintf(err, errlen, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	return b.data;
}

int nft_masq_apply(const struct nft_masq *m, char *err, size_t errlen)
{
	char *cmd = nft_masq_format(m, err, errlen), msg[400];
	int ret;

	if (!cmd)
		return -errno;
	if ((ret = nft_run(cmd, NULL, msg, sizeof(msg))))
		snprintf(err, errlen, "cannot replace table %s: %s", NFT_MASQ_TABLE, msg);
	free(cmd);
	return ret;
}

int nft_masq_remove(char *err, size_t errlen)
{
	char msg[400];
	int ret;

	/* Added first, so deleting what is not there succeeds. */
	ret = nft_run("add table " NFT_MASQ_TABLE "\ndelete table " NFT_MASQ_TABLE "\n", NULL, msg, sizeof(msg));
	if (ret)
		snprintf(err, errlen, "cannot delete table %s: %s", NFT_MASQ_TABLE, msg);
	return ret;
}
