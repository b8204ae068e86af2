// SPDX-License-Identifier: MIT
/* rtnetlink routes and policy rules. */
#include <errno.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>

#include "nl.h"

static int route_change(struct nl *nl, uint16_t type, uint16_t flags, const struct nl_route *r)
{
	char buf[NL_BUF];
	struct nlmsghdr *nlh = nl_msg(buf, type, flags);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	size_t len = r->family == AF_INET ? 4 : 16;

	if ((r->family != AF_INET && r->family != AF_INET6) || r->dst_len > len * 8)
		return -EINVAL;
	rtm->rtm_family = (uint8_t)r->family;
	rtm->rtm_dst_len = r->dst_len;
	rtm->rtm_protocol = RTPROT_STATIC;
	rtm->rtm_type = RTN_UNICAST;
	rtm->rtm_scope = r->scope ? r->scope : (r->has_gw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK);
	/* Tables above 255 only fit the attribute. */
	rtm->rtm_table = r->table && r->table < 256 ? (uint8_t)r->table : (r->table ? RT_TABLE_UNSPEC : RT_TABLE_MAIN);
	if (type == RTM_DELROUTE)
		rtm->rtm_scope = RT_SCOPE_NOWHERE;
	if (r->table)
		mnl_attr_put_u32(nlh, RTA_TABLE, r->table);
	if (r->dst_len)
		mnl_attr_put(nlh, RTA_DST, len, &r->dst);
	if (r->has_gw)
		mnl_attr_put(nlh, RTA_GATEWAY, len, &r->gw);
	if (r->oif)
		mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)r->oif);
	if (r->metric)
		mnl_attr_put_u32(nlh, RTA_PRIORITY, r->metric);
	return nl_request(nl, nlh, NULL, NULL);
}

int nl_route_add(struct nl *nl, const struct nl_route *r, bool replace)
{
	return route_change(nl, RTM_NEWROUTE, NLM_F_CREATE | (replace ? NLM_F_REPLACE : NLM_F_EXCL), r);
}

int nl_route_del(struct nl *nl, const struct nl_route *r)
{
	return route_change(nl, RTM_DELROUTE, 0, r);
}

static int rule_change(struct nl *nl, uint16_t type, uint16_t flags, const struct nl_rule *r)
{
	char buf[NL_BUF];
	struct nlmsghdr *nlh = nl_msg(buf, type, flags);
	struct fib_rule_hdr *frh = mnl_nlmsg_put_extra_header(nlh, sizeof(*frh));

	if (r->family != AF_INET && r->family != AF_INET6)
		return -EINVAL;
	frh->family = (uint8_t)r->family;
	frh->action = FR_ACT_TO_TBL;
	frh->table = r->table < 256 ? (uint8_t)r->table : RT_TABLE_UNSPEC;
	if (r->invert)
		frh->flags |= FIB_RULE_INVERT;
	mnl_attr_put_u32(nlh, FRA_TABLE, r->table);
	if (r->priority)
		mnl_attr_put_u32(nlh, FRA_PRIORITY, r->priority);
	if (r->has_fwmark) {
		mnl_attr_put_u32(nlh, FRA_FWMARK, r->fwmark);
		mnl_attr_put_u32(nlh, FRA_FWMASK, r->fwmask ? r->fwmask : 0xffffffff);
	}
	if (r->suppress_prefixlen >= 0)
		mnl_attr_put_u32(nlh, FRA_SUPPRESS_PREFIXLEN, (uint32_t)r->suppress_prefixlen);
	return nl_request(nl, nlh, NULL, NULL);
}

int nl_rule_add(struct nl *nl, const struct nl_rule *r)
{
	return rule_change(nl, RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, r);
}

int nl_rule_del(struct nl *nl, const struct nl_rule *r)
{
	return rule_change(nl, RTM_DELRULE, 0, r);
}

struct lookup_ctx {
	int oif;
	uint32_t table;
};

static int lookup_attr_cb(const struct nlattr *attr, void *data)
{
	struct lookup_ctx *ctx = data;

	if (mnl_attr_get_type(attr) == RTA_OIF && mnl_attr_validate(attr, MNL_TYPE_U32) >= 0)
		ctx->oif = (int)mnl_attr_get_u32(attr);
	else if (mnl_attr_get_type(attr) == RTA_TABLE && mnl_attr_validate(attr, MNL_TYPE_U32) >= 0)
		ctx->table = mnl_attr_get_u32(attr);
	return MNL_CB_OK;
}

static int lookup_cb(const struct nlmsghdr *nlh, void *data)
{
	if (nlh->nlmsg_type == RTM_NEWROUTE)
		mnl_attr_parse(nlh, sizeof(struct rtmsg), lookup_attr_cb, data);
	return MNL_CB_OK;
}

int nl_route_lookup(struct nl *nl, int family, const void *dst, uint32_t mark, int *oif, uint32_t *table)
{
	char buf[NL_BUF];
	struct nlmsghdr *nlh = nl_msg(buf, RTM_GETROUTE, 0);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	struct lookup_ctx ctx = { 0, 0 };
	size_t len = family == AF_INET ? 4 : 16;
	int ret;

	rtm->rtm_family = (uint8_t)family;
	rtm->rtm_dst_len = (uint8_t)(len * 8);
	/* Report the table the lookup ended in, not just "main". */
	rtm->rtm_flags = RTM_F_LOOKUP_TABLE;
	mnl_attr_put(nlh, RTA_DST, len, dst);
	if (mark)
		mnl_attr_put_u32(nlh, RTA_MARK, mark);
	/* The ACK would come after the answer; the answer alone is enough. */
	ret = nl_request(nl, nlh, lookup_cb, &ctx);
	if (ret)
		return ret;
	*oif = ctx.oif;
	if (table)
		*table = ctx.table;
	return 0;
}
