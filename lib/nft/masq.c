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

char *nft_masq_format(const struct ipam_prefix *pods, size_t npods, const struct ipam_prefix *keep, size_t nkeep,
		      char *err, size_t errlen)
{
	static const struct {
		int family;
		const char *pods, *keep, *match;
	} fam[] = { { AF_INET, "pods4", "keep4", "ip" }, { AF_INET6, "pods6", "keep6", "ip6" } };
	struct buf b = { 0 };
	bool has[2] = { false, false };
	char text[64];
	int ret = 0;

	for (size_t i = 0; i < npods + nkeep; ++i) {
		const struct ipam_prefix *p = i < npods ? &pods[i] : &keep[i - npods];

		if (!prefix_ok(p)) {
			snprintf(err, errlen, "%s %zu (%s): not an IPv4 or IPv6 network", i < npods ? "pod subnet" :
				 "excluded CIDR", i < npods ? i : i - npods, bad_str(p, text, sizeof(text)));
			errno = EINVAL;
			return NULL;
		}
		if (i < npods)
			has[p->family == AF_INET6] = true;
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
	for (int f = 0; !ret && f < 2; ++f)
		if (has[f] && !(ret = add_set(&b, fam[f].pods, fam[f].family, pods, npods)))
			ret = add_set(&b, fam[f].keep, fam[f].family, keep, nkeep);
	if (!ret)
		ret = buf_printf(&b, "add chain " NFT_MASQ_TABLE " postrouting { type nat hook postrouting priority "
				     "srcnat; policy accept; }\n");
	for (int f = 0; !ret && f < 2; ++f)
		if (has[f])
			ret = buf_printf(&b, "add rule " NFT_MASQ_TABLE " postrouting %s saddr @%s %s daddr != @%s "
					     "masquerade\n", fam[f].match, fam[f].pods, fam[f].match, fam[f].keep);
	if (ret) {
		buf_free(&b);
		snprintf(err, errlen, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	return b.data;
}

int nft_masq_apply(const struct ipam_prefix *pods, size_t npods, const struct ipam_prefix *keep, size_t nkeep,
		   char *err, size_t errlen)
{
	char *cmd = nft_masq_format(pods, npods, keep, nkeep, err, errlen), msg[400];
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
