// SPDX-License-Identifier: MIT
/* rtnetlink links. */
#include <errno.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <stdio.h>
#include <string.h>

#include "nl.h"

static struct ifinfomsg *put_ifinfo(struct nlmsghdr *nlh, int ifindex)
{
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));

	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	return ifi;
}

int nl_link_add(struct nl *nl, const struct nl_link_spec *spec)
{
	char buf[NL_BUF];
	struct nlmsghdr *nlh = nl_msg(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
	struct nlattr *linkinfo, *data, *peer;

	if (!spec->name || strlen(spec->name) >= IF_NAMESIZE || !spec->kind)
		return -EINVAL;
	put_ifinfo(nlh, 0);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, spec->name);
	if (spec->mtu)
		mnl_attr_put_u32(nlh, IFLA_MTU, spec->mtu);
	if (spec->address)
		mnl_attr_put(nlh, IFLA_ADDRESS, 6, spec->address);
	if (spec->ns_fd >= 0)
		mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)spec->ns_fd);
	linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, spec->kind);
	if (!strcmp(spec->kind, "veth") && spec->peer_name) {
		data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
		peer = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
		put_ifinfo(nlh, 0);
		mnl_attr_put_strz(nlh, IFLA_IFNAME, spec->peer_name);
		if (spec->peer_ns_fd >= 0)
			mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)spec->peer_ns_fd);
		mnl_attr_nest_end(nlh, peer);
		mnl_attr_nest_end(nlh, data);
	}
	mnl_attr_nest_end(nlh, linkinfo);
	return nl_request(nl, nlh, NULL, NULL);
}

struct get_ctx {
	struct nl_link *out;
	bool found;
};

static int linkinfo_cb(const struct nlattr *attr, void *data)
{
	struct nl_link *l = data;

	if (mnl_attr_get_type(attr) == IFLA_INFO_KIND && mnl_attr_validate(attr, MNL_TYPE_STRING) >= 0)
		snprintf(l->kind, sizeof(l->kind), "%.*s", (int)mnl_attr_get_payload_len(attr),
			 (const char *)mnl_attr_get_payload(attr));
	return MNL_CB_OK;
}

static int link_attr_cb(const struct nlattr *attr, void *data)
{
	struct nl_link *l = data;

	switch (mnl_attr_get_type(attr)) {
	case IFLA_IFNAME:
		if (mnl_attr_validate(attr, MNL_TYPE_STRING) >= 0)
			snprintf(l->name, sizeof(l->name), "%s", mnl_attr_get_str(attr));
		break;
	case IFLA_MTU:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) >= 0)
			l->mtu = mnl_attr_get_u32(attr);
		break;
	case IFLA_MASTER:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) >= 0)
			l->master = (int)mnl_attr_get_u32(attr);
		break;
	case IFLA_ADDRESS:
		if (mnl_attr_get_payload_len(attr) <= sizeof(l->address)) {
			l->address_len = (uint8_t)mnl_attr_get_payload_len(attr);
			memcpy(l->address, mnl_attr_get_payload(attr), l->address_len);
		}
		break;
	case IFLA_LINKINFO:
		if (mnl_attr_validate(attr, MNL_TYPE_NESTED) >= 0)
			mnl_attr_parse_nested(attr, linkinfo_cb, l);
		break;
	}
	return MNL_CB_OK;
}

static int link_cb(const struct nlmsghdr *nlh, void *data)
{
	struct get_ctx *ctx = data;
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);

	if (nlh->nlmsg_type != RTM_NEWLINK || mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifi))
		return MNL_CB_OK;
	memset(ctx->out, 0, sizeof(*ctx->out));
	ctx->out->ifindex = ifi->ifi_index;
	ctx->out->flags = ifi->ifi_flags;
	mnl_attr_parse(nlh, sizeof(*ifi), link_attr_cb, ctx->out);
	ctx->found = true;
	return MNL_CB_OK;
}

int nl_link_get(struct nl *nl, const char *name, int ifindex, struct nl_link *out)
{
	char buf[NL_BUF];
	struct nlmsghdr *nlh = nl_msg(buf, RTM_GETLINK, 0);
	struct get_ctx ctx = { out, false };
	int ret;

	if (name && strlen(name) >= IF_NAMESIZE)
		return -EINVAL;
	put_ifinfo(nlh, ifindex);
	if (name && !ifindex)
		mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	ret = nl_request(nl, nlh, link_cb, &ctx);
	if (ret)
		return ret;
	return ctx.found ? 0 : -ENODEV;
}

int nl_link_del(struct nl *nl, int ifindex)
{
	char buf[NL_BUF];
	struct nlmsghdr *nlh = nl_msg(buf, RTM_DELLINK, 0);

	put_ifinfo(nlh, ifindex);
	return nl_request(nl, nlh, NULL, NULL);
}

static int link_change(struct nl *nl, int ifindex, uint32_t flags, uint32_t change, uint16_t attr,
		       uint32_t value, bool has_attr)
{
	char buf[NL_BUF];
	struct nlmsghdr *nlh = nl_msg(buf, RTM_NEWLINK, 0);
	struct ifinfomsg *ifi = put_ifinfo(nlh, ifindex);

	ifi->ifi_flags = flags;
	ifi->ifi_change = change;
	if (has_attr)
		mnl_attr_put_u32(nlh, attr, value);
	return nl_request(nl, nlh, NULL, NULL);
}

int nl_link_set_up(struct nl *nl, int ifindex, bool up)
{
	return link_change(nl, ifindex, up ? IFF_UP : 0, IFF_UP, 0, 0, false);
}

int nl_link_set_mtu(struct nl *nl, int ifindex, uint32_t mtu)
{
	return link_change(nl, ifindex, 0, 0, IFLA_MTU, mtu, true);
}

int nl_link_set_master(struct nl *nl, int ifindex, int master)
{
	return link_change(nl, ifindex, 0, 0, IFLA_MASTER, (uint32_t)master, true);
}

int nl_link_set_netns(struct nl *nl, int ifindex, int ns_fd)
{
	return link_change(nl, ifindex, 0, 0, IFLA_NET_NS_FD, (uint32_t)ns_fd, true);
}

int nl_link_move(struct nl *nl, int ifindex, int ns_fd, const char *name)
{
	char buf[NL_BUF];
	struct nlmsghdr *nlh = nl_msg(buf, RTM_NEWLINK, 0);

	if (strlen(name) >= IF_NAMESIZE)
		return -EINVAL;
	put_ifinfo(nlh, ifindex);
	mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)ns_fd);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	return nl_request(nl, nlh, NULL, NULL);
}
